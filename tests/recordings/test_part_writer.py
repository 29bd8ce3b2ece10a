"""The upload's part file as the socket path writes it: bytes moved in by the kernel from a
pipe, after bytes already in memory, hashed by reading them back (recordings.uploads)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from recordings.uploads import CHUNK, PartWriter


def _past(counts: list[int], done: int) -> bool:
    return bool(counts) and counts[-1] > done


def _through_pipe(writer: PartWriter, data: bytes, step: int = 50_000,
                  after_each: Callable[[], None] = lambda: None) -> None:
    """Feed `data` to the writer through a pipe, in pieces smaller than the pipe."""
    read_fd, write_fd = os.pipe()
    try:
        for at in range(0, len(data), step):
            piece = data[at:at + step]
            os.write(write_fd, piece)
            writer.put_from_pipe(read_fd, len(piece))
            after_each()
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_a_body_put_then_moved_from_a_pipe_lands_whole_after_what_was_there(
        tmp_path: Path) -> None:
    part = tmp_path / "u.part"
    before = os.urandom(1000)
    part.write_bytes(before)
    head, body = os.urandom(7_000), os.urandom(3 * CHUNK + 12_345)
    whole = hashlib.sha256(before)
    writer = PartWriter(part, whole, hashlib.sha256())
    assert writer.start == len(before)
    writer.put(memoryview(head))
    _through_pipe(writer, body)
    # The hash reads back what was written, in steps that need not match the writes.
    writer.hash_through(5_000)
    writer.hash_through(len(head) + 2 * CHUNK)
    writer.hash_through(len(head) + len(body))
    writer.close()
    assert part.read_bytes() == before + head + body
    assert writer.written == len(head) + len(body)
    assert whole.hexdigest() == hashlib.sha256(before + head + body).hexdigest()
    assert writer.body_digest.hexdigest() == hashlib.sha256(head + body).hexdigest()


def test_hashing_behind_the_writer_in_another_thread_sees_every_byte_once(
        tmp_path: Path) -> None:
    part = tmp_path / "u.part"
    part.touch()
    body = os.urandom(2 * CHUNK + 777)
    digest = hashlib.sha256()
    writer = PartWriter(part, digest)
    counts: list[int] = []
    ready = threading.Condition()

    def hash_behind() -> None:
        done = 0
        while done < len(body):
            with ready:
                assert ready.wait_for(partial(_past, counts, done), timeout=10)
                done = counts[-1]
            writer.hash_through(done)

    def tell() -> None:
        with ready:
            counts.append(writer.written)
            ready.notify()

    follower = threading.Thread(target=hash_behind)
    follower.start()
    _through_pipe(writer, body, 40_000, tell)
    follower.join(timeout=30)
    writer.close()
    assert not follower.is_alive()
    assert digest.hexdigest() == hashlib.sha256(body).hexdigest()


def test_a_pipe_holding_less_than_it_was_said_to_is_an_error_not_a_hang(
        tmp_path: Path) -> None:
    part = tmp_path / "u.part"
    part.touch()
    writer = PartWriter(part, hashlib.sha256())
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, b"x" * 10)
        os.close(write_fd)  # the writing end is gone: the pipe reads as ended, not as empty
        write_fd = -1
        with pytest.raises(OSError, match="ran dry"):
            writer.put_from_pipe(read_fd, 20)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
        writer.close()
    assert part.read_bytes() == b"x" * 10


def test_hashing_past_the_end_of_the_file_is_an_error(tmp_path: Path) -> None:
    part = tmp_path / "u.part"
    part.touch()
    writer = PartWriter(part, hashlib.sha256())
    writer.put(memoryview(b"abc"))
    try:
        with pytest.raises(OSError, match="ends before byte 10"):
            writer.hash_through(10)
    finally:
        writer.close()
