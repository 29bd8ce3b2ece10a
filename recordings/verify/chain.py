"""The ledger's pure format: canonical entries, the hash chain, the head signature, the key.

FORMAT.md "Entries" and "Heads". No I/O: everything here works on entries already read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT = 1
GENESIS = "0" * 64
SESSION_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[a-z0-9._-]{1,64}-[0-9a-f]{8}")
SEGMENT_NAME = re.compile(r"seg-([0-9]{6})\.(webm|ts)")
# Talkback (the command center's voice and picture played at the scene) has its own files.
TALKBACK_NAME = re.compile(r"tb-([0-9]{6})\.(webm|ts)")
MEDIA_PREFIXES = ("seg-", "tb-")
# A material (a photo, an audio note, a document, the phone's own recording) sealed into a chain:
# `mat-<material id>.<extension>`, in the folder of the chain that lists it.
MATERIAL_ID = re.compile(r"[0-9a-f]{32}")
MATERIAL_NAME = re.compile(r"mat-([0-9a-f]{32})\.([a-z0-9]{1,8})")
MATERIAL_PREFIX = "mat-"
# A materials chain's folder under materials/: `case-` and a hash of the case number, or `nocase`.
MATERIALS_CHAIN = re.compile(r"case-[0-9a-f]{32}|nocase")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PUBLIC_KEY_FILE = "node-ed25519.pub.pem"
SEAL_STATES = ("sealed", "interrupted")
# Entries of these kinds carry the id of the session whose chain they belong to.
SESSION_KINDS = frozenset({"session.start", "segment", "event", "material", "session.seal"})


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The one byte form of an entry that is hashed and signed: sorted keys, no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def entry_hash(body: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of an entry's canonical form without its own `hash` field."""
    return hashlib.sha256(canonical({k: v for k, v in body.items() if k != "hash"})).hexdigest()


@dataclass(frozen=True)
class LinkBreak:
    """The first link of a chain that does not hold (FORMAT.md rule "chain").

    `line` counts the entries given to `check_chain` from 1 (a file's line number when the
    entries are a whole ledger file read in order). `entry` is the entry the break is about
    (None when a whole range of entries is missing); `reason` says what happened to it.
    """

    line: int
    reason: str
    entry: int | None = None
    kind: str = "chain"


def is_int(value: object) -> bool:
    """True for an int that is not a bool (JSON numbers read as entry numbers)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_chain(entries: Iterable[Mapping[str, Any]], start_seq: int = 0,
                start_prev: str = GENESIS) -> LinkBreak | None:
    """The first broken link of a chain, or None when every entry follows the one before."""
    items = list(entries)
    expected_seq, prev = start_seq, start_prev
    for line, entry in enumerate(items, start=1):
        seq = entry.get("seq")
        if not is_int(seq) or seq != expected_seq:
            return _misplaced(items, line, seq, expected_seq)
        if entry.get("prev") != prev:
            return LinkBreak(line, f"entry {seq} does not follow entry {expected_seq - 1}: "
                                   "an entry before it was changed, removed or reordered",
                             expected_seq, "chain.unlinked")
        if entry.get("hash") != entry_hash(entry):
            return LinkBreak(line, f"entry {seq} was altered after it was written "
                                   "(its content no longer matches its hash)",
                             expected_seq, "chain.altered")
        prev = str(entry["hash"])
        expected_seq += 1
    return None


def _misplaced(items: Sequence[Mapping[str, Any]], line: int, seq: object,
               expected: int) -> LinkBreak:
    """Why the entry on `line` (1-based) carries `seq` where `expected` belongs."""
    if isinstance(seq, int) and is_int(seq) and seq < expected:
        # A negative number names no entry, so the break is about the place it took.
        return LinkBreak(line, f"entry {seq} appears a second time where entry {expected} "
                               "belongs: an entry was copied in",
                         seq if seq >= 0 else expected, "chain.duplicated")
    later = [n for n, e in enumerate(items[line:], start=line + 1) if e.get("seq") == expected]
    if later:
        return LinkBreak(line, f"entry {expected} is not in its place (it comes later, on line "
                               f"{later[0]}): the entries were reordered",
                         expected, "chain.reordered")
    if isinstance(seq, int) and is_int(seq) and seq > expected:
        following = items[line].get("seq") if line < len(items) else None
        if following == expected + 1:
            return LinkBreak(line, f"entry {expected} had its number changed to {seq}",
                             expected, "chain.renumbered")
        if seq == expected + 1:
            return LinkBreak(line, f"entry {expected} is missing (it was deleted or cut out)",
                             expected, "chain.missing")
        return LinkBreak(line, f"entries {expected} to {seq - 1} are missing (they were deleted "
                               "or cut out)", None, "chain.missing")
    return LinkBreak(line, f"entry number {seq!r} is not valid where entry {expected} belongs",
                     expected, "chain.renumbered")


def head_message(seq: int, entry_hash: str) -> bytes:
    """What a head signature covers: the position and hash of the newest entry."""
    return f"fieldrelay-ledger-head:{seq}:{entry_hash}".encode()


def load_public_key(public_pem: bytes) -> Ed25519PublicKey:
    """The node's public key; ValueError when the PEM is not an Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError("it is not a readable public key (PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("it is not an Ed25519 public key")
    return key


def head_signature_ok(key: Ed25519PublicKey, seq: int, entry_hash: str, signature: str) -> bool:
    """True when `signature` (base64) over the head (seq, entry_hash) was made by `key`."""
    try:
        key.verify(base64.b64decode(signature, validate=True), head_message(seq, entry_hash))
    except (InvalidSignature, ValueError):
        return False
    return True


def verify_head(public_pem: bytes, seq: int, entry_hash: str, signature: str) -> bool:
    """True when the signature over that head was made by the key behind `public_pem`."""
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False
    return head_signature_ok(key, seq, entry_hash, signature)


def key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 (hex, in groups of 4) of the public key, to compare with the published one."""
    der = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    digest = hashlib.sha256(der).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, len(digest), 4))
