"""A request body moved from the socket to the disk by the kernel, not by the event loop.

aiohttp hands a body to the event loop piece by piece: a recv, the parser, a bytes object and
a future per piece, about 2.5 ms of the loop's CPU per MiB. That caps a node's uploads well
below the disk's speed, and the live relay waits behind them on the same loop. Copying the
bytes through a thread of our own instead (recv into a buffer, write it out) still costs
two copies and about 2.5 ms per MiB. For a large body of known length on a plain TCP
connection this module does instead:

1. It takes what aiohttp has already buffered of the body, then pauses the transport's reading
   with no await in between, so that no byte goes past it.
2. A thread moves the bytes from a duplicate of the connection's socket (a duplicate, so that
   a close on the loop cannot hand the number to another file while the thread reads) into a
   pipe and from the pipe into the upload's file with splice(2): the kernel moves them, with
   no copy into Python. It moves exactly the bytes Content-Length still owes, never past
   them: what follows on a keep-alive connection is the next request, and that belongs to
   aiohttp. A second thread reads the written bytes back from the page cache and hashes them
   meanwhile (hashlib releases the GIL). The threads stop on the body timeout (no byte for
   that long), when the client goes, and when told to quit (a cancelled request, or a
   connection the loop closed, e.g. the guard's eviction).
3. The loop then lets aiohttp's parser count the bytes the thread took, by feeding it as many
   zero bytes, which it hands to the request's payload and this module drops at once. So the
   parser stands where it would have stood had it read the body itself, the request's
   payload ends, and the transport reads on: a pipelined request gets answered, and a body
   cut short ends the way aiohttp ends one (it reads and drops the rest, then closes).

Not taken here: TLS connections (the socket carries ciphertext; aiohttp's path decrypts),
chunked or compressed bodies, and small bodies (a thread costs more than it saves).
Nothing private of aiohttp is touched: the transport's pause and resume, the protocol's
data_received, the payload's read_nowait, total_bytes and wait_eof. The tests
(tests/signaling/test_upload_receive.py) hold this path to the loop's own, case by case.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import queue
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import StreamReader, web

log = logging.getLogger(__name__)

# The pipe between the socket and the file: bytes per splice. 1 MiB is Linux's default
# /proc/sys/fs/pipe-max-size; where the kernel refuses it, the pipe keeps its own size.
PIPE_BYTES = 1 << 20
# A body that owes less than this once aiohttp's buffered part is taken stays on the loop:
# there it costs the loop a few milliseconds, and for 1 MiB items the threads' start and
# the hand-back measured no faster than the loop (BENCHMARKS.md, "Uploads off the loop").
DIRECT_MIN = 2 << 20
# Zero bytes fed to aiohttp's parser in place of the bytes the thread took; one piece at a
# time, so the loop is never held for more than about a tenth of a millisecond.
_FILLER = bytes(1 << 20)
_POLL_IN = select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 0) | getattr(os, "SPLICE_F_NONBLOCK", 0)

# How a body taken off the socket ended.
WHOLE, STALLED, GONE, CUT = "whole", "stalled", "gone", "cut"


class BodyFile(Protocol):
    """Where a body taken off the socket goes (recordings.uploads.PartWriter)."""

    def put(self, piece: memoryview) -> None:
        """Append bytes already in memory (what aiohttp had buffered), unhashed."""

    def put_from_pipe(self, pipe_fd: int, count: int) -> None:
        """Append exactly `count` bytes that wait in the pipe, unhashed."""

    def hash_through(self, count: int) -> None:
        """Hash the body's bytes up to its `count`th, read back from where they were
        written; called from another thread than the two above, behind them."""


@dataclass(frozen=True)
class BodyEnd:
    """What became of a body: how it ended and how many bytes its stages got."""

    why: str  # WHOLE, STALLED (no byte for the body timeout), GONE (the client), CUT (quit)
    received: int  # through every stage
    # A stage's failure (a disk error), raised to the caller once the connection is back
    # with aiohttp.
    error: BaseException | None = None


class Receivers:
    """How many bodies threads may take at once; past that, bodies stay on the loop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0
        self.bodies = 0  # taken so far

    def take(self) -> bool:
        """A thread's slot, or False when all are in use (or the limit is 0)."""
        if self.running >= self.limit:
            return False
        self.running += 1
        self.bodies += 1
        return True

    def release(self) -> None:
        """Give the slot back."""
        self.running -= 1


def eligible(request: web.Request) -> bool:
    """Whether this request's body may be taken off the socket by a thread."""
    length = request.content_length
    payload = request.content
    if length is None or request.headers.get("Transfer-Encoding") or \
            request.headers.get("Content-Encoding", "identity").lower() != "identity":
        return False
    if not isinstance(payload, StreamReader) or payload.is_eof() or \
            payload.exception() is not None:
        return False
    transport = request.transport
    if not isinstance(transport, asyncio.Transport) or transport.is_closing() or \
            transport.get_extra_info("ssl_object") is not None:
        return False
    if transport.get_extra_info("socket") is None or not hasattr(os, "splice"):
        return False
    return length - payload.total_bytes >= DIRECT_MIN


async def receive(request: web.Request, body: BodyFile, timeout_s: float) -> BodyEnd:
    """Move the whole body (from its first byte) into `body` and have it hashed, in threads,
    then hand the connection back to aiohttp; call only when `eligible(request)`."""
    transport = request.transport
    assert isinstance(transport, asyncio.Transport) and request.content_length is not None
    payload = request.content
    # What aiohttp already has. Its parser may hold a tail it has not fed to the payload yet
    # (paused by the payload's flow control): each read lets it feed more, so read until
    # nothing is left. That may resume the transport's reading, so pause only after it,
    # before the next await.
    first = b"".join(_drain(payload))
    owed = request.content_length - payload.total_bytes
    transport.pause_reading()
    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[BodyEnd, int]] = loop.create_future()
    sock = socket.socket(fileno=os.dup(transport.get_extra_info("socket").fileno()))
    wake_r, wake_w = os.pipe()
    pump = _Pump(sock, wake_r, body, timeout_s)

    def run() -> None:
        # The loop waits for `done` through every cancellation (nothing may read the socket
        # once the request moves on), so the thread answers whatever it ends of: a pump that
        # raised (its second thread could not start) is a body cut, its error the caller's.
        try:
            outcome = pump.run(first, owed)
        except BaseException as exc:
            outcome = (BodyEnd(CUT, pump.received, exc), pump.taken)
        loop.call_soon_threadsafe(_resolve, done, outcome)

    thread = threading.Thread(target=run, name="upload-body", daemon=True)
    try:
        sock.setblocking(False)
        thread.start()
    except BaseException:
        # Nothing was written, so the upload stays where it was; the connection cannot
        # carry on (its parser never saw this body's bytes).
        sock.close()
        os.close(wake_r)
        os.close(wake_w)
        transport.abort()
        raise
    # aiohttp sets the payload's exception when the connection is lost (the client reset it,
    # or the loop closed it): the thread then stops at once.
    lost = asyncio.ensure_future(payload.wait_eof())
    cancelled = False
    try:
        waiting: list[asyncio.Future[Any]] = [done, lost]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cancelled = True
        raise
    finally:
        if not done.done():
            pump.quit.set()
            os.write(wake_w, b"q")
        lost.cancel()
        # The thread ends within one buffer's write once told; wait for it even through a
        # cancellation (re-raised below), so that nothing reads the socket after this.
        while not done.done():
            try:
                await asyncio.shield(done)
            except asyncio.CancelledError:
                cancelled = True
        thread.join()
        sock.close()
        os.close(wake_r)
        os.close(wake_w)
        if lost.done() and not lost.cancelled():
            lost.exception()  # seen: the thread ended CUT for it
        end, taken = done.result()
        await _hand_back(request, transport, taken, cut=cancelled)
    if cancelled:
        raise asyncio.CancelledError
    if end.why != WHOLE:
        log.info("a body taken off the socket ended %s after %d bytes", end.why, end.received)
    return end


def _resolve(done: asyncio.Future[tuple[BodyEnd, int]], outcome: tuple[BodyEnd, int]) -> None:
    if not done.done():
        done.set_result(outcome)


def _drain(payload: StreamReader) -> Iterator[bytes]:
    """What the payload holds, until its parser has fed it everything it read."""
    while payload.exception() is None and (chunk := payload.read_nowait()):
        yield chunk


async def _hand_back(request: web.Request, transport: asyncio.Transport, taken: int,
                     cut: bool) -> None:
    """Let aiohttp's parser count the `taken` bytes and read on (see the module docstring);
    a request cancelled mid-body closes its connection instead."""
    if transport.is_closing():
        return
    if cut:
        transport.abort()
        return
    protocol = request.protocol
    payload = request.content
    left = taken
    try:
        while left and not transport.is_closing():
            piece = _FILLER if left >= len(_FILLER) else _FILLER[:left]
            protocol.data_received(piece)
            left -= len(piece)
            if payload.exception() is not None:
                break
            for _ in _drain(payload):
                pass  # dropped: the bytes went to the stages
            # Draining may resume the transport (aiohttp's flow control); the next
            # request's bytes must wait until the parser has counted the whole body.
            if transport.is_reading():
                transport.pause_reading()
            # The parser copies each piece: a large body's worth would hold the loop (and
            # the live relay on it) for tens of milliseconds in one go.
            await asyncio.sleep(0)
    except asyncio.CancelledError:
        transport.abort()  # the parser stands mid-body: nothing more can be read on it
        raise
    if not transport.is_closing():
        transport.resume_reading()


class _Pump:
    """The threads' side: one moves what the body owes from the socket through a pipe into
    the file; a second hashes what is written, behind it."""

    def __init__(self, sock: socket.socket, wake_fd: int, body: BodyFile,
                 timeout_s: float) -> None:
        self._sock, self._wake_fd, self._body = sock, wake_fd, body
        self._timeout_ms = max(1, int(timeout_s * 1000))
        self.quit = threading.Event()
        self.received = 0  # bytes written and hashed
        self.taken = 0  # bytes read off the socket
        # How far the file holds the body (a count of its bytes); None: no more.
        self._written: queue.Queue[int | None] = queue.Queue()
        self._hash_error: Exception | None = None

    def run(self, first: bytes, owed: int) -> tuple[BodyEnd, int]:
        """(how the body ended, how many bytes were taken off the socket)."""
        follower = threading.Thread(target=self._follow, name="upload-body-hash", daemon=True)
        follower.start()
        error: Exception | None = None
        try:
            if first:
                self._body.put(memoryview(first))
                self._written.put(len(first))
            why = self._move(len(first), owed)
        except Exception as exc:  # the file's (a disk error): the caller raises it
            why, error = CUT, exc
        finally:
            self._written.put(None)
            follower.join()
        error = error or self._hash_error
        return BodyEnd(CUT if error else why, self.received, error), self.taken

    def _follow(self) -> None:
        ended = False
        while not ended and (through := self._written.get()) is not None:
            # Hash up to the newest count at once: a splice may move a few KiB at a time.
            while True:
                try:
                    newer = self._written.get_nowait()
                except queue.Empty:
                    break
                if newer is None:
                    ended = True
                    break
                through = newer
            if self._hash_error is None:
                try:
                    self._body.hash_through(through)
                    self.received = through
                except Exception as exc:  # told to the caller through run()
                    self._hash_error = exc
                    self.quit.set()

    def _move(self, before: int, owed: int) -> str:
        poller = select.poll()
        poller.register(self._sock.fileno(), _POLL_IN)
        poller.register(self._wake_fd, select.POLLIN)
        pipe_r, pipe_w = os.pipe()
        in_pipe = 0
        try:
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            room = fcntl.fcntl(pipe_w, fcntl.F_GETPIPE_SZ)
            while self.taken < owed:
                if self.quit.is_set():
                    return CUT
                try:
                    n = os.splice(self._sock.fileno(), pipe_w,
                                  min(room - in_pipe, owed - self.taken), flags=_SPLICE_FLAGS)
                except (BlockingIOError, InterruptedError):
                    if in_pipe:  # write while the next bytes arrive
                        count, in_pipe = in_pipe, 0
                        self._empty(pipe_r, count, before)
                        continue
                    events = poller.poll(self._timeout_ms)
                    if not events:
                        return STALLED
                    if any(fd == self._wake_fd for fd, _ in events):
                        return CUT
                    continue
                except OSError:
                    return GONE
                if n == 0:
                    return GONE
                self.taken += n
                in_pipe += n
                # A full pipe goes to the file at once; so does the body's end.
                if in_pipe >= room or self.taken == owed:
                    count, in_pipe = in_pipe, 0
                    self._empty(pipe_r, count, before)
            return WHOLE
        finally:
            # Whatever was taken off the socket reaches the file, however the body ended
            # (unless writing it is what failed: `in_pipe` is cleared before each write).
            try:
                if in_pipe:
                    self._empty(pipe_r, in_pipe, before)
            finally:
                os.close(pipe_r)
                os.close(pipe_w)

    def _empty(self, pipe_r: int, count: int, before: int) -> None:
        """The pipe's `count` bytes into the file; the hashing thread is told how far the
        file now holds the body."""
        self._body.put_from_pipe(pipe_r, count)
        self._written.put(before + self.taken)
