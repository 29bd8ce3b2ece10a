"""The evidence ledger's format: canonical JSON entries, each chained to the one before.

Pure logic only: building entries, hashing them and checking a chain. Reading and
appending the ledger file lives in `recordings.store`. Hashing and checking are implemented
once, in `recordings.verify.chain` (part of every bundle's standalone `verify.py`), and
re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recordings.verify.chain import FORMAT, GENESIS, LinkBreak, canonical, check_chain, entry_hash

__all__ = [
    "FORMAT", "GENESIS", "LinkBreak", "canonical", "check_chain", "entry_hash", "make_entry",
]


def make_entry(seq: int, prev: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new entry at position `seq`, chained to the entry whose hash is `prev`."""
    reserved = {"seq", "prev", "hash", "v"} & set(fields)
    if reserved:
        raise ValueError(f"ledger fields may not be named {', '.join(sorted(reserved))}")
    entry: dict[str, Any] = {"v": FORMAT, "seq": seq, "prev": prev, **fields}
    entry["hash"] = entry_hash(entry)
    return entry
