"""What a seal point hands the archive: one call, `enqueue(path, kind, ...)`.

Kept apart from the backlog so that the ledger files (`recordings.store`) can call it without
importing the archive, which itself writes a chain through them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

# The kinds of item the archive knows; materials and checkpoints add theirs with one call.
SEGMENT = "segment"
LEDGER_LINE = "ledger.line"
HEADS_LINE = "heads.line"
# Several consecutive lines of one chain in one object (the archive chain's own lines).
LEDGER_BATCH = "ledger.batch"
SEALED_FILE = "sealed.file"
PUBLIC_KEY = "key"
MATERIAL = "material"
# One line of the checkpoint log: kept like a chain line, but with no `archived` entry of its
# own (that entry would move the archive chain, which the next checkpoint covers, and so on).
CHECKPOINT = "checkpoint"
KINDS = (SEGMENT, LEDGER_LINE, HEADS_LINE, LEDGER_BATCH, SEALED_FILE, PUBLIC_KEY, MATERIAL,
         CHECKPOINT)


class ArchiveSink(Protocol):
    """Takes a sealed file (or one line of a chain, given as `data`) for the archive.

    It must return only once the item is durable on the node's own disk, so that a crash
    after a seal never loses the copy that is owed.
    """

    def enqueue(self, path: Path, kind: str, *, data: bytes | None = None,
                seq: int | None = None, sha256: str | None = None,
                session: str | None = None) -> None:
        """Queue `path` (or `data`, a line written to `path`) for the archive."""
