"""Signed heads: every head signature verifies and names an entry of its chain.

FORMAT.md "Heads" and rule "heads"; the same check serves the session, node and audit chains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import head_signature_ok, is_int
from recordings.verify.reading import Lines
from recordings.verify.verdict import RULE_HEADS, Break, Broken, Where


@dataclass
class Heads:
    """What a heads file proves: the highest entry signed, and how many signatures."""

    signed_to: int = -1  # highest entry covered by a valid signature
    signatures: int = 0
    problem: Break | None = None


def check_heads(heads: Lines, entries: Sequence[Mapping[str, Any]], key: Ed25519PublicKey,
                name: str, where: Where, *, may_be_torn: bool) -> Heads:
    """Rule "heads": each line of the heads file `name` signs an entry of `entries`."""
    out = Heads()
    try:
        _check_readable(heads, name, where, may_be_torn=may_be_torn)
        for line, head in zip(heads.numbers, heads.items, strict=True):
            seq = _check_head(head, line, entries, key, name, where)
            out.signatures += 1
            out.signed_to = max(out.signed_to, seq)
    except Broken as exc:
        out.problem = exc.brk
    return out


def _check_readable(heads: Lines, name: str, where: Where, *, may_be_torn: bool) -> None:
    if heads.bad is not None:
        raise Broken(where.brk(RULE_HEADS, "heads.unreadable",
                               f"{name} {heads.bad}: the signature file was damaged or edited",
                               file=name, line=heads.bad_line))
    if heads.torn is not None and not may_be_torn:
        raise Broken(where.brk(RULE_HEADS, "heads.torn",
                               f"{name} line {heads.torn} is cut off, yet the session is not "
                               "being recorded: the signature file was damaged or edited",
                               file=name, line=heads.torn))


def _check_head(head: Mapping[str, Any], line: int, entries: Sequence[Mapping[str, Any]],
                key: Ed25519PublicKey, name: str, where: Where) -> int:
    """The entry one signed head covers, once its signature and hash check out."""
    seq, digest, sig = head.get("seq"), head.get("hash"), head.get("sig")
    if not (is_int(seq) and isinstance(seq, int) and isinstance(digest, str)
            and isinstance(sig, str)):
        raise Broken(where.brk(RULE_HEADS, "heads.malformed",
                               f"{name} line {line} is not a signed head (it needs seq, hash "
                               "and sig)", file=name, line=line))
    last = len(entries) - 1
    if seq < 0 or seq > last:
        ends = f"ends at entry {last}" if last >= 0 else "has no entries"
        raise Broken(where.brk(RULE_HEADS, "heads.beyond_end",
                               f"{name} line {line} signs entry {seq}, but the ledger {ends}: "
                               "entries were removed from the end of the ledger",
                               file=name, line=line, entry=seq if seq >= 0 else _last(last)))
    if entries[seq].get("hash") != digest:
        raise Broken(where.brk(RULE_HEADS, "heads.rewritten",
                               f"{name} line {line} signed a different entry {seq} than the "
                               "one now in the ledger: the ledger was rewritten after it was "
                               "signed", file=name, line=line, entry=seq))
    if not head_signature_ok(key, seq, digest, sig):
        raise Broken(where.brk(RULE_HEADS, "heads.forged",
                               f"the signature on {name} line {line} (entry {seq}) was not made "
                               "by this node's key: it was forged or altered",
                               file=name, line=line, entry=seq))
    return seq


def _last(last: int) -> int | None:
    """The ledger's last entry, which a head before the first entry is taken to be about."""
    return last if last >= 0 else None
