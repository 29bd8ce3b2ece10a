"""Crash recovery in the awkward places: after the seal, before the start, mid-signature."""

from __future__ import annotations

from pathlib import Path

from recordings.layout import OPEN_MARKER, new_session_id
from recordings.session import Evidence
from recordings.store import LedgerFile, read_entries
from recordings.verify import verify_data_dir


def open_folder(evidence: Evidence, officer: str = "o1") -> Path:
    folder = evidence.sessions_dir / new_session_id(officer, 1795770000.0)
    folder.mkdir()
    (folder / OPEN_MARKER).write_text("recording\n")
    return folder


def test_crash_after_the_seal_finishes_the_seal_without_sealing_twice(tmp_path: Path) -> None:
    evidence = Evidence(tmp_path, "n1")
    folder = open_folder(evidence)
    ledger = LedgerFile(folder, evidence.key)
    ledger.append({"kind": "session.start", "session": folder.name, "officer": "o1",
                   "node": "n1", "at": "2026-11-27T10:00:00.000Z", "case": None,
                   "media": {"video": None, "audio": None}, "container": "webm"})
    evidence.node_ledger.append({"kind": "session.opened", "session": folder.name,
                                 "officer": "o1", "at": "2026-11-27T10:00:00.000Z"})
    ledger.append({"kind": "session.seal", "session": folder.name,
                   "at": "2026-11-27T10:01:00.000Z", "state": "sealed", "segments": 0,
                   "reason": "stopped"})
    # ...and the node died before signing, before the node chain, before removing OPEN.
    assert evidence.recover() == [folder.name]
    entries = list(read_entries(folder / "ledger.jsonl"))
    assert [e["kind"] for e in entries] == ["session.start", "session.seal"]
    assert not (folder / OPEN_MARKER).exists()
    report = verify_data_dir(tmp_path)
    assert report.ok, report.first_break


def test_crash_before_the_first_entry_still_gives_a_verifiable_session(tmp_path: Path) -> None:
    evidence = Evidence(tmp_path, "n1")
    folder = open_folder(evidence, "officer.7")
    evidence.recover()
    entries = list(read_entries(folder / "ledger.jsonl"))
    assert [e["kind"] for e in entries] == ["session.start", "session.seal"]
    assert entries[0]["officer"] == "officer.7" and entries[1]["state"] == "interrupted"
    report = verify_data_dir(tmp_path)
    assert report.ok, report.first_break


def test_a_torn_signature_line_is_cut_before_the_next_head(tmp_path: Path) -> None:
    evidence = Evidence(tmp_path, "n1")
    folder = open_folder(evidence)
    ledger = LedgerFile(folder, evidence.key)
    ledger.append({"kind": "session.start", "session": folder.name, "officer": "o1",
                   "node": "n1", "at": "2026-11-27T10:00:00.000Z", "case": None,
                   "media": {"video": None, "audio": None}, "container": "webm"})
    evidence.node_ledger.append({"kind": "session.opened", "session": folder.name,
                                 "officer": "o1", "at": "2026-11-27T10:00:00.000Z"})
    ledger.sign_head()
    with open(ledger.heads_path, "ab") as f:
        f.write(b'{"hash":"ab')  # died mid-signature
    evidence.recover()
    report = verify_data_dir(tmp_path)
    assert report.ok, report.first_break

