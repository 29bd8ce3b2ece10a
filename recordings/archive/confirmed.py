"""The archive chain: one `archived` entry for every copy the store confirmed.

A session chain is sealed and never grows after its seal, so copies are recorded in a chain
of their own, `<data>/archive/ledger.jsonl` with `heads.jsonl` (FORMAT.md "Archive"). Its
own lines are archived too, without entries of their own. Every function blocks on the disk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.archive.backlog import ARCHIVE_DIR
from recordings.archive.sink import ArchiveSink
from recordings.layout import utc_iso
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
    """Appends `archived` entries and signs the head once per batch."""

    def __init__(self, data_dir: Path, key: NodeKey, sink: ArchiveSink | None = None) -> None:
        self.ledger = LedgerFile(data_dir / ARCHIVE_DIR, key, shared=True, archive=sink)

    def record(self, copies: Iterable[tuple[str, str, str | None, Copy]], now: float) -> int:
        """One entry per (source path, item kind, session, copy); returns how many."""
        count = 0
        for source, kind, session, copy in copies:
            self.ledger.append({
                "kind": ARCHIVED, "at": utc_iso(now), "key": copy.key, "version": copy.version,
                "sha256": copy.sha256, "size": copy.size, "source": source, "item": kind,
                "session": session,
                "retain_until": utc_iso(copy.retain_until) if copy.retain_until else None})
            count += 1
        if count:
            self.ledger.sign_head()
        return count


def archived_sources(data_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest `archived` entry of each (item kind, source path in the data dir)."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in read_entries(data_dir / ARCHIVE_DIR / "ledger.jsonl"):
        if entry.get("kind") == ARCHIVED and isinstance(entry.get("source"), str):
            out[(str(entry.get("item")), entry["source"])] = entry
    return out
