"""The ledger's chain and head signatures (pure logic, golden vector included)."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

from recordings.ledger import GENESIS, canonical, check_chain, entry_hash, make_entry
from recordings.signing import NodeKey, verify_head


def chain(n: int) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = []
    prev = GENESIS
    for i in range(n):
        e = make_entry(i, prev, {"kind": "event", "session": "s1",
                                 "at": f"2026-11-27T10:00:0{i}Z", "event": "gps",
                                 "lat": 43.8 + i / 1000, "lon": 87.6})
        entries.append(e)
        prev = str(e["hash"])
    return entries


def test_golden_vector() -> None:
    e = make_entry(0, GENESIS, {"kind": "event", "event": "start", "session": "s1",
                                "at": "2026-11-27T10:00:00Z"})
    assert canonical({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    # The format is a promise to every verifier ever shipped in an export: pin it byte for byte.
    literal = ('{"at":"2026-11-27T10:00:00Z","event":"start","kind":"event","prev":"'
               + "0" * 64 + '","seq":0,"session":"s1","v":1}').encode()
    assert e["hash"] == hashlib.sha256(literal).hexdigest()
    assert e["hash"] == "c744ffda8644c0c57ae811b61f743dfcec86b4e2baf897fef62d2c9e26529e81"


def test_intact_chain_has_no_break() -> None:
    assert check_chain(chain(5)) is None


def test_every_tampering_is_found_and_named() -> None:
    base = chain(5)
    edited = copy.deepcopy(base)
    edited[2]["lat"] = 0.0
    brk = check_chain(edited)
    assert brk is not None and brk.line == 3 and "altered" in brk.reason

    deleted = base[:2] + base[3:]
    brk = check_chain(deleted)
    assert brk is not None and brk.line == 3 and "missing" in brk.reason

    reordered = [base[0], base[2], base[1], base[3], base[4]]
    brk = check_chain(reordered)
    assert brk is not None and brk.line == 2

    rehashed = copy.deepcopy(base)
    rehashed[1]["lat"] = 1.0
    rehashed[1]["hash"] = entry_hash(rehashed[1])  # a forger recomputes the hash...
    brk = check_chain(rehashed)
    assert brk is not None and brk.line == 3 and "does not follow" in brk.reason


def test_head_signature(tmp_path: Path) -> None:
    key = NodeKey.load_or_create(tmp_path)
    again = NodeKey.load_or_create(tmp_path)
    assert key.public_pem() == again.public_pem()
    assert (tmp_path / "keys" / "node-ed25519.pem").stat().st_mode & 0o777 == 0o600
    entries = chain(3)
    head = entries[-1]
    sig = key.sign_head(2, str(head["hash"]))
    assert verify_head(key.public_pem(), 2, str(head["hash"]), sig)
    assert not verify_head(key.public_pem(), 1, str(head["hash"]), sig)
    assert not verify_head(key.public_pem(), 2, GENESIS, sig)
    other = NodeKey.load_or_create(tmp_path / "other")
    assert not verify_head(other.public_pem(), 2, str(head["hash"]), sig)
