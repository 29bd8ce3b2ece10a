"""The archive chain: one `archived` entry for every copy the store confirmed.

A session chain is sealed and never grows after its seal, so copies are recorded in a chain
of their own, `<data>/archive/ledger.jsonl` with `heads.jsonl` (FORMAT.md "Archive"). Its
own lines are archived too, without entries of their own. Every function blocks on the disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.archive.backlog import ARCHIVE_DIR
from recordings.archive.sink import HEADS_LINE, LEDGER_BATCH, ArchiveSink
from recordings.layout import utc_iso
from recordings.ledger import canonical
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries

ARCHIVED = "archived"


@dataclass(frozen=True)
class Copy:
    """What the store said about one copy it took."""

    key: str  # the full object key
    version: str | None
    sha256: str
    size: int
    retain_until: float | None


class ArchiveChain:
    """Appends `archived` entries, a batch at a time with one fsync, and signs the head once
    per batch. Its own lines go to the archive as one object per batch (and one per head),
    not one per line: per-line copies of the copies' record would double the work."""

    def __init__(self, data_dir: Path, key: NodeKey, sink: ArchiveSink | None = None) -> None:
        self.ledger = LedgerFile(data_dir / ARCHIVE_DIR, key, shared=True)
        self.sink = sink

    def record(self, copies: Iterable[tuple[str, str, str | None, Copy]], now: float) -> int:
        """One entry per (source path, item kind, session, copy); returns how many."""
        entries = self.ledger.append_many([{
            "kind": ARCHIVED, "at": utc_iso(now), "key": copy.key, "version": copy.version,
            "sha256": copy.sha256, "size": copy.size, "source": source, "item": kind,
            "session": session,
            "retain_until": utc_iso(copy.retain_until) if copy.retain_until else None}
            for source, kind, session, copy in copies])
        if not entries:
            return 0
        head = self.ledger.sign_head()
        if self.sink is not None:
            self.sink.enqueue(self.ledger.path, LEDGER_BATCH,
                              data=b"".join(canonical(e) + b"\n" for e in entries),
                              seq=int(entries[0]["seq"]))
            if head is not None:
                self.sink.enqueue(self.ledger.heads_path, HEADS_LINE,
                                  data=json.dumps(head, sort_keys=True).encode() + b"\n",
                                  seq=int(head["seq"]))
        return len(entries)


def archived_sources(data_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest `archived` entry of each (item kind, source path in the data dir)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in read_entries(data_dir / ARCHIVE_DIR / "ledger.jsonl"):
        if entry.get("kind") == ARCHIVED and isinstance(entry.get("source"), str):
            out[(str(entry.get("item")), entry["source"])] = entry
    return out
