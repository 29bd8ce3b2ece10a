"""A session's hand-over stream: what the holding node puts in it (and what it leaves out),
and what the receiving node takes from it (only the session's own files, each once)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from recordings.archive.restore import PUBLIC_KEY
from recordings.handover import (
    END,
    BadHandOver,
    SessionOpen,
    covering_checkpoint,
    header,
    padding,
    plan,
    unpack,
    wanted,
)
from recordings.layout import OPEN_MARKER
from recordings.verify.checkpoints import CHECKPOINT_LOG

SID = "20261127T100000Z-o1-0000abcd"


def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    folder = data / "sessions" / SID
    folder.mkdir(parents=True)
    (data / "keys").mkdir()
    (data / PUBLIC_KEY).write_bytes(b"-----BEGIN PUBLIC KEY-----\n")
    (folder / "ledger.jsonl").write_bytes(b'{"seq": 0}\n')
    (folder / "heads.jsonl").write_bytes(b'{"seq": 0}\n')
    (folder / "seg-000001.webm").write_bytes(b"v" * 700)
    (folder / "mat-0001-photo.jpg").write_bytes(b"p" * 10)
    (folder / "notes.txt").write_bytes(b"not evidence")
    (folder / "seg-000002.webm").symlink_to(folder / "notes.txt")
    return data


def stream(data: Path, checkpoint: bytes = b"") -> bytes:
    """The stream as the holding node writes it."""
    parts = plan(data, SID)
    assert parts is not None
    out = header(CHECKPOINT_LOG, len(checkpoint)) + checkpoint + padding(len(checkpoint))
    for part in parts:
        body = part.path.read_bytes()
        out += header(part.name, part.size) + body + padding(part.size)
    return out + END


def test_the_stream_holds_the_sessions_evidence_and_nothing_else(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    parts = plan(data, SID)
    assert parts is not None
    assert [p.name for p in parts] == [
        PUBLIC_KEY, f"sessions/{SID}/heads.jsonl", f"sessions/{SID}/ledger.jsonl",
        f"sessions/{SID}/mat-0001-photo.jpg", f"sessions/{SID}/seg-000001.webm"]
    # A standard tar reader reads it as the same files, byte for byte.
    with tarfile.open(fileobj=io.BytesIO(stream(data, b'{"seq": 3}\n')), mode="r:") as tar:
        got = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    assert got[CHECKPOINT_LOG] == b'{"seq": 3}\n'
    assert got[f"sessions/{SID}/seg-000001.webm"] == b"v" * 700
    assert len(got) == 6
    assert plan(data, "20261127T100000Z-o1-ffffffff") is None
    (data / "sessions" / SID / OPEN_MARKER).write_text("recording\n")
    with pytest.raises(SessionOpen):
        plan(data, SID)


def test_the_newest_checkpoint_naming_the_session_goes_with_it(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    assert covering_checkpoint(data, SID) == b""
    lines = [{"seq": 1, "chains": {f"sessions/{SID}": [1, "a"]}},
             {"seq": 2, "chains": {f"sessions/{SID}": [3, "b"], "ledger": [9, "c"]}},
             {"seq": 3, "chains": {"ledger": [10, "d"]}}]
    (data / "checkpoints").mkdir()
    (data / CHECKPOINT_LOG).write_text("".join(json.dumps(cp) + "\n" for cp in lines))
    assert json.loads(covering_checkpoint(data, SID))["seq"] == 2


def test_the_receiver_unpacks_the_session_and_refuses_anything_else(tmp_path: Path) -> None:
    data = data_dir(tmp_path)
    received = tmp_path / "got.tar"
    received.write_bytes(stream(data))
    root = tmp_path / "staging" / "node-a"
    unpack(received, root, SID)
    assert (root / "sessions" / SID / "seg-000001.webm").read_bytes() == b"v" * 700
    assert (root / PUBLIC_KEY).is_file() and (root / CHECKPOINT_LOG).read_bytes() == b""
    assert not (root / "sessions" / SID / "notes.txt").exists()

    for name in (f"sessions/{SID}/../../../escaped", f"sessions/{SID}/notes.txt",
                 "sessions/20261127T100000Z-o1-ffffffff/ledger.jsonl", "/etc/passwd",
                 f"sessions/{SID}/sub/seg-1.webm"):
        assert not wanted(name, SID)
        bad = tmp_path / "bad.tar"
        bad.write_bytes(header(name, 3) + b"abc" + padding(3) + END)
        with pytest.raises(BadHandOver, match="not a file of session"):
            unpack(bad, tmp_path / "bad" / "node-a", SID)
    assert not (tmp_path / "escaped").exists()
    # A name twice, a link, or a stream without the chain: refused too.
    twice = stream(data)[:-len(END)] + header(PUBLIC_KEY, 3) + b"abc" + padding(3) + END
    received.write_bytes(twice)
    with pytest.raises(BadHandOver):
        unpack(received, tmp_path / "twice" / "node-a", SID)
    link = tarfile.TarInfo(f"sessions/{SID}/seg-000009.webm")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    received.write_bytes(link.tobuf(tarfile.PAX_FORMAT) + END)
    with pytest.raises(BadHandOver):
        unpack(received, tmp_path / "link" / "node-a", SID)
    received.write_bytes(header(PUBLIC_KEY, 3) + b"abc" + padding(3) + END)
    with pytest.raises(BadHandOver, match=r"ledger\.jsonl"):
        unpack(received, tmp_path / "short" / "node-a", SID)
    received.write_bytes(b"not a tar stream at all" * 40)
    with pytest.raises(BadHandOver):
        unpack(received, tmp_path / "junk" / "node-a", SID)
