"""The archive backlog: a durable queue on disk, one file per item, drained oldest first.

`enqueue` returns once the item's file is renamed into place and its folder fsynced, so a
`kill -9` (or a power cut) after a seal never loses what the archive is owed; a half-written
item is a temporary file that is never read. Item names sort by the time they were queued,
so every process that feeds the same data dir (the node, the CLI's retention) queues in one
order. Every method blocks on the disk.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.files import private_dir, write_private
from recordings.archive.keys import relative_key
from recordings.archive.sink import CHECKPOINT, KINDS

log = logging.getLogger(__name__)

ARCHIVE_DIR = "archive"
BACKLOG_DIR = "backlog"
REFUSED_DIR = "refused"


@dataclass(frozen=True)
class Item:
    """One queued copy: a file of the data dir, or one line of a chain (`data`)."""

    name: str
    kind: str
    path: str  # relative to the data dir, with /
    key: str  # below <prefix>/<node>/
    sha256: str | None
    session: str | None
    at: float  # when it was queued (unix seconds)
    data: bytes | None
    # False for the archive chain's own lines: confirming them writes no `archived` entry,
    # or every confirmation would queue another.
    record: bool


def _session_of(relpath: str) -> str | None:
    parts = relpath.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "sessions" else None


class Backlog:
    """The queue in `<data>/archive/backlog/`; `enqueue` is the one way anything reaches the
    archive (an `ArchiveSink`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.dir = data_dir / ARCHIVE_DIR / BACKLOG_DIR
        private_dir(self.dir)
        self._root = data_dir.resolve()
        self._counter = itertools.count()
        self._lock = threading.Lock()
        # Called (from any thread) after each enqueue: the drainer's wake-up.
        self.on_enqueue: Callable[[], None] | None = None
        self.enqueue_failures = 0

    def relpath(self, path: Path) -> str:
        """`path` relative to the data dir; ValueError for a path outside it."""
        rel = Path(os.path.relpath(path.resolve(), self._root)).as_posix()
        if rel.startswith("../") or rel == ".." or rel.startswith("/"):
            raise ValueError(f"{path} is not inside the data dir {self.data_dir}")
        return rel

    def enqueue(self, path: Path, kind: str, *, data: bytes | None = None,
                seq: int | None = None, sha256: str | None = None,
                session: str | None = None) -> None:
        """Queue a sealed file, or one line (`data`, numbered `seq`) written to `path`."""
        if kind not in KINDS:
            raise ValueError(f"unknown archive item kind {kind!r}")
        rel = self.relpath(path)
        record = {
            "kind": kind, "path": rel, "key": relative_key(rel, kind, seq, data),
            "sha256": sha256, "session": session or _session_of(rel), "at": time.time(),
            "data": base64.b64encode(data).decode() if data is not None else None,
            "record": not rel.startswith(ARCHIVE_DIR + "/") and kind != CHECKPOINT,
        }
        body = json.dumps(record, sort_keys=True).encode()
        with self._lock:
            name = f"{time.time_ns():020d}-{os.getpid():07d}-{next(self._counter):09d}.json"
        tmp = self.dir / f".tmp-{name}"
        try:
            write_private(tmp, body)  # written and fsynced
            os.replace(tmp, self.dir / name)
            fd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(fd)  # the rename itself survives a power cut
            finally:
                os.close(fd)
        except OSError:
            self.enqueue_failures += 1
            tmp.unlink(missing_ok=True)
            raise
        wake = self.on_enqueue
        if wake is not None:
            wake()

    def names(self) -> list[str]:
        """Every queued item's name, oldest first."""
        try:
            return sorted(n for n in os.listdir(self.dir) if n.endswith(".json")
                          and not n.startswith("."))
        except FileNotFoundError:
            return []

    def read(self, name: str) -> Item | None:
        """One item, or None when it is gone (confirmed meanwhile) or unreadable."""
        try:
            raw = json.loads((self.dir / name).read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.error("archive backlog item %s cannot be read (%s); set aside", name, exc)
            self._set_aside(name)
            return None
        try:
            return _item(name, raw)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error) as exc:
            # Valid JSON that is not an item (a disk or a hand that wrote over it): the
            # drain must go on with the items after it.
            log.error("archive backlog item %s is not an item (%s: %s); set aside", name,
                      type(exc).__name__, exc)
            self._set_aside(name)
            return None

    def oldest(self, limit: int, names: list[str] | None = None) -> list[Item]:
        """Up to `limit` items, oldest first (of `names`, a listing just made, if given)."""
        out: list[Item] = []
        for name in self.names() if names is None else names:
            item = self.read(name)
            if item is not None:
                out.append(item)
            if len(out) >= limit:
                break
        return out

    def done(self, item: Item) -> None:
        """The archive confirmed the item: drop it from the queue."""
        (self.dir / item.name).unlink(missing_ok=True)

    def refuse(self, item: Item, reason: str) -> None:
        """An item that can never be copied as queued (its file changed or vanished): kept
        in `archive/refused/` for a person to look at, out of the queue's way."""
        log.error("archive item %s (%s) refused: %s", item.name, item.path, reason)
        self._set_aside(item.name)

    def _set_aside(self, name: str) -> None:
        refused = private_dir(self.data_dir / ARCHIVE_DIR / REFUSED_DIR)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.dir / name, refused / name)

    def waiting_sessions(self) -> set[str]:
        """Sessions with anything still queued (retention keeps them)."""
        out: set[str] = set()
        for name in self.names():
            item = self.read(name)
            if item is not None and item.session:
                out.add(item.session)
        return out


def _item(name: str, raw: dict[str, Any]) -> Item:
    """The item a backlog file holds; KeyError, TypeError or ValueError if it holds none."""
    data = raw.get("data")
    if data is not None and not isinstance(data, str):
        raise TypeError("data is not base64 text")
    for field in ("kind", "path", "key"):
        if not isinstance(raw[field], str):
            raise TypeError(f"{field} is not text")
    if raw["kind"] not in KINDS:
        raise ValueError(f"unknown kind {raw['kind']!r}")
    return Item(name=name, kind=raw["kind"], path=raw["path"], key=raw["key"],
                sha256=raw.get("sha256"), session=raw.get("session"),
                at=float(raw["at"]), data=base64.b64decode(data, validate=True) if data else None,
                record=bool(raw.get("record", True)))
