"""The ledger on disk: an append-only JSON-lines file, fsynced per entry, with signed heads.

Every method here blocks on the disk; async callers run them in a worker thread.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fieldrelay.files import PRIVATE_FILE, append_durably, private_dir
from recordings.archive.sink import HEADS_LINE, LEDGER_LINE, MATERIAL, SEGMENT, ArchiveSink
from recordings.ledger import GENESIS, canonical, make_entry
from recordings.signing import NodeKey

log = logging.getLogger(__name__)


class LedgerCorrupt(Exception):
    """The ledger file cannot be read as a chain (verify explains where)."""


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Each entry of a ledger file in order; a torn last line (a crash mid-write) is skipped."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except FileNotFoundError:
        return
    try:
        lines = f.read().split(b"\n")
    finally:
        f.close()
    for number, raw in enumerate(lines, start=1):
        if not raw:
            continue
        try:
            entry = json.loads(raw)
        except json.JSONDecodeError:
            if number == len(lines):  # no newline after it: the write was cut short
                return
            raise LedgerCorrupt(f"line {number} of {path} is not JSON") from None
        if not isinstance(entry, dict):
            raise LedgerCorrupt(f"line {number} of {path} is not a JSON object")
        yield entry


class LedgerFile:
    """Appends chained entries to `<directory>/ledger.jsonl` and signs heads into heads.jsonl.

    The node chain lives in `<data>/ledger/`, each session's chain in `<data>/sessions/<id>/`.
    With an `archive`, every line is queued for the archive once it is on disk, and so is
    the file a `segment` entry names.
    """

    def __init__(self, directory: Path, key: NodeKey, shared: bool = False,
                 archive: ArchiveSink | None = None) -> None:
        self.dir = directory
        self.archive = archive
        private_dir(self.dir)
        self.path = self.dir / "ledger.jsonl"
        self.heads_path = self.dir / "heads.jsonl"
        self._key = key
        self._lock = threading.Lock()
        self._seq, self._prev = 0, GENESIS
        self._drop_torn_tail(self.path)
        self._drop_torn_tail(self.heads_path)
        for entry in read_entries(self.path):
            self._seq, self._prev = int(entry["seq"]) + 1, str(entry["hash"])
        self._size = self._file_size()
        # The node chain may also take entries from the CLI (retention) while a node runs.
        self._shared_between_processes = shared

    def _file_size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    @contextmanager
    def _shared(self) -> Iterator[None]:
        """Hold the chain's file lock and catch up with entries another process appended
        (the CLI's retention runs beside a live node on the node chain)."""
        if not self._shared_between_processes:
            yield
            return
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self._file_size() != self._size:
                self._seq, self._prev = 0, GENESIS
                for entry in read_entries(self.path):
                    self._seq, self._prev = int(entry["seq"]) + 1, str(entry["hash"])
            yield
            self._size = self._file_size()
        finally:
            os.close(fd)

    @staticmethod
    def _drop_torn_tail(path: Path) -> None:
        """Cut a partial last line left by a crash, so the next line starts on its own."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())

    def last_signed_seq(self) -> int:
        """The seq of the newest signed head (-1 when nothing is signed)."""
        last = -1
        for record in read_entries(self.heads_path):
            last = max(last, int(record.get("seq", -1)))
        return last

    def append(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Write one entry durably (fsync) and return it; on failure the file is as before."""
        with self._lock, self._shared():
            entry = make_entry(self._seq, self._prev, fields)
            line = canonical(entry) + b"\n"
            append_durably(self.path, line)
            self._seq, self._prev = self._seq + 1, str(entry["hash"])
        if self.archive is not None:
            self._to_archive(entry, line)
        return entry

    def append_many(self, fields: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Write several entries with one write and one fsync (all or none on failure)."""
        with self._lock, self._shared():
            entries, seq, prev = [], self._seq, self._prev
            for one in fields:
                entry = make_entry(seq, prev, one)
                entries.append(entry)
                seq, prev = seq + 1, str(entry["hash"])
            lines = [canonical(e) + b"\n" for e in entries]
            if lines:
                append_durably(self.path, b"".join(lines))
            self._seq, self._prev = seq, prev
        if self.archive is not None:
            for entry, line in zip(entries, lines, strict=True):
                self._to_archive(entry, line)
        return entries

    def _to_archive(self, entry: Mapping[str, Any], line: bytes) -> None:
        """Queue the line (and a segment's file) for the archive. The entry is on disk
        already, so a failure here must not look like a failed append (a writer would write
        it again): it is logged, and retention keeps the session until its copies exist."""
        assert self.archive is not None
        try:
            if entry.get("kind") in (SEGMENT, MATERIAL) and isinstance(entry.get("file"), str):
                # A segment or a material: the file goes before the line that names it.
                self.archive.enqueue(self.dir / str(entry["file"]), str(entry["kind"]),
                                     sha256=str(entry.get("sha256")))
            self.archive.enqueue(self.path, LEDGER_LINE, data=line, seq=int(entry["seq"]))
        except (OSError, ValueError) as exc:
            log.error("entry %s of %s could not be queued for the archive: %s",
                      entry.get("seq"), self.path, exc)

    def sign_head(self) -> dict[str, Any] | None:
        """Sign the current head and append the signature to heads.jsonl."""
        with self._lock, self._shared():
            seq, entry_hash = self._seq - 1, self._prev
            if seq < 0:
                return None
            record = {"seq": seq, "hash": entry_hash, "sig": self._key.sign_head(seq, entry_hash)}
            line = json.dumps(record, sort_keys=True).encode() + b"\n"
            append_durably(self.heads_path, line)
        if self.archive is not None:
            try:
                self.archive.enqueue(self.heads_path, HEADS_LINE, data=line, seq=seq)
            except (OSError, ValueError) as exc:
                log.error("a head of %s could not be queued for the archive: %s",
                          self.heads_path, exc)
        return record

