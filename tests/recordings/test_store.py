"""The ledger file: durable appends, a torn tail after a crash, reopening continues the chain."""

from __future__ import annotations

import json
from pathlib import Path

from recordings.ledger import check_chain
from recordings.signing import NodeKey, verify_head
from recordings.store import LedgerFile, read_entries


def test_appends_chain_and_survive_reopening(tmp_path: Path) -> None:
    key = NodeKey.load_or_create(tmp_path)
    ledger = LedgerFile(tmp_path, key)
    for i in range(3):
        ledger.append({"kind": "event", "session": "s1", "event": "gps", "n": i})
    reopened = LedgerFile(tmp_path, key)
    reopened.append({"kind": "event", "session": "s1", "event": "seal"})
    entries = list(read_entries(reopened.path))
    assert [e["seq"] for e in entries] == [0, 1, 2, 3]
    assert check_chain(entries) is None


def test_a_torn_last_line_is_cut_and_the_chain_continues(tmp_path: Path) -> None:
    key = NodeKey.load_or_create(tmp_path)
    ledger = LedgerFile(tmp_path, key)
    ledger.append({"kind": "event", "event": "start"})
    with open(ledger.path, "ab") as f:
        f.write(b'{"kind":"event","seq":1,"pre')  # the node died mid-write
    assert [e["seq"] for e in read_entries(ledger.path)] == [0]
    again = LedgerFile(tmp_path, key)
    again.append({"kind": "event", "event": "recovered"})
    entries = list(read_entries(again.path))
    assert [e["seq"] for e in entries] == [0, 1] and check_chain(entries) is None


def test_signed_heads_verify_with_the_exported_public_key(tmp_path: Path) -> None:
    key = NodeKey.load_or_create(tmp_path)
    ledger = LedgerFile(tmp_path, key)
    assert ledger.sign_head() is None
    ledger.append({"kind": "event", "event": "start"})
    ledger.append({"kind": "event", "event": "seal"})
    record = ledger.sign_head()
    assert record is not None and record["seq"] == 1
    public = (tmp_path / "keys" / "node-ed25519.pub.pem").read_bytes()
    stored = json.loads(ledger.heads_path.read_text().splitlines()[-1])
    assert verify_head(public, stored["seq"], stored["hash"], stored["sig"])
