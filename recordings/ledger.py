"""The evidence ledger's format: canonical JSON entries, each chained to the one before.

Pure logic only: building entries, hashing them and checking a chain. Reading and
appending the ledger file lives in `recordings.store`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
FORMAT = 1


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The one byte form of an entry that is hashed and signed: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical form without its own `hash` field."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "hash"})).hexdigest()


def make_entry(seq: int, prev: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A new entry at position `seq`, chained to the entry whose hash is `prev`."""
    reserved = {"seq", "prev", "hash", "v"} & set(fields)
    if reserved:
        raise ValueError(f"ledger fields may not be named {', '.join(sorted(reserved))}")
    entry: dict[str, Any] = {"v": FORMAT, "seq": seq, "prev": prev, **fields}
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class Break:
    """The first place a chain stops being intact, told so a reviewer understands it."""

    line: int
    reason: str


def check_chain(entries: Iterable[Mapping[str, Any]], start_seq: int = 0,
                start_prev: str = GENESIS) -> Break | None:
    """The first broken link of a chain, or None when every entry follows the one before."""
    expected_seq, prev = start_seq, start_prev
    for line, entry in enumerate(entries, start=1):
        seq = entry.get("seq")
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                why = f"entries {expected_seq}..{seq - 1} are missing (deleted or cut out)"
            else:
                why = f"entry number {seq!r} is out of order (expected {expected_seq})"
            return Break(line, why)
        if entry.get("prev") != prev:
            return Break(line, f"entry {seq} does not follow entry {expected_seq - 1}: "
                               "an entry before it was changed, removed or reordered")
        if entry.get("hash") != entry_hash(entry):
            return Break(line, f"entry {seq} was altered after it was written "
                               "(its content no longer matches its hash)")
        prev = str(entry["hash"])
        expected_seq += 1
    return None
