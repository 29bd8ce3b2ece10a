"""Structured breaks: each kind of tampering, done to a real data dir, gives a break whose
fields name the rule, the kind and the place; its sentence is what `fieldrelay verify` prints,
and the review API's fields render from it exactly as they did when they were read out of the
sentence (the old reading is kept here as the oracle)."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from recordings import verify
from recordings.audit import AuditLog
from recordings.export import export_session
from recordings.store import read_entries
from signaling.verify_jobs import VerifyJob, broken_detail, run_verify
from tests.recordings.test_verify import (
    CASES,
    Recorded,
    flip_byte,
    ledger_lines,
    new_data_dir,
    record_session,
    verdict,
    write_lines,
)

LEDGER, HEADS, NODE = "ledger.jsonl", "heads.jsonl", "ledger/ledger.jsonl"
# case -> (rule, kind, file, line, entry, segment) of the first break in session 0.
FIELDS: dict[str, tuple[str, str, str | None, int | None, int | None, int | None]] = {
    "flipped byte in a segment": ("files", "segment.changed", "seg-000002.webm", 4, 3, 2),
    "truncated segment": ("files", "segment.resized", "seg-000003.webm", 5, 4, 3),
    "deleted segment": ("files", "segment.missing", "seg-000001.webm", 2, 1, 1),
    "inserted extra segment file": ("files", "segment.unlisted", "seg-000004.webm", None, None,
                                    None),
    "segment swapped from another session": ("files", "segment.copied", "seg-000002.webm", 4,
                                             3, 2),
    "edited ledger line": ("chain", "chain.altered", LEDGER, 3, 2, None),
    "deleted ledger line": ("chain", "chain.missing", LEDGER, 3, 2, None),
    "reordered ledger lines": ("chain", "chain.reordered", LEDGER, 4, 3, None),
    "forged signature": ("heads", "heads.forged", HEADS, 5, 5, None),
    "rewritten chain with recomputed hashes": ("heads", "heads.rewritten", HEADS, 3, 3, None),
    "rewritten chain and heads, old signatures": ("heads", "heads.forged", HEADS, 3, 3, None),
    "rewritten chain signed with another key": ("heads", "heads.forged", HEADS, 1, 0, None),
    "rewritten chain, heads deleted": ("seal", "seal.unsigned", LEDGER, 6, 5, None),
    "seal cut off": ("heads", "heads.beyond_end", HEADS, 5, 5, None),
    "entry appended after the seal": ("entries", "entries.after_seal", LEDGER, 7, 6, None),
}

# A session folder checked alone cannot know the other session a swapped file came from.
ALONE = {"segment swapped from another session": "segment.resized"}

SEGMENT_FILE_RE = re.compile(r"segment file ((?:seg|tb)-(\d{6})\.\w+)")
ENTRY_RE = re.compile(r"entry (\d+)")


def sentence_detail(sentence: str, segments: list[dict[str, Any]]) -> dict[str, Any]:
    """How the review API read a break out of the verifier's sentence before breaks had fields."""
    file = segment = seq = None
    m = SEGMENT_FILE_RE.search(sentence)
    if m:
        file = m.group(1)
        segment = next((s.get("index") for s in segments if s.get("file") == file),
                       int(m.group(2)))
        seq = next((s.get("seq") for s in segments if s.get("file") == file), None)
    if seq is None:
        e = ENTRY_RE.search(sentence)
        seq = int(e.group(1)) if e else None
    return {"file": file, "segment": segment, "seq": seq, "reason": sentence}


def fields(brk: verify.Break) -> tuple[Any, ...]:
    return brk.rule, brk.kind, brk.file, brk.line, brk.entry, brk.segment


@pytest.fixture
def rec(tmp_path: Path) -> Recorded:
    recorded = new_data_dir(tmp_path / "data")
    record_session(recorded, "o1", seed=1)
    record_session(recorded, "o2", seed=2)
    return recorded


@pytest.mark.parametrize("case", list(FIELDS))
def test_each_kind_of_tampering_gives_its_fields(rec: Recorded, case: str) -> None:
    CASES[case][0](rec)
    sid = rec.sessions[0]
    rule, kind, *place = FIELDS[case]
    for report, expected in ((verify.verify_data_dir(rec.data), kind),
                             (verify.verify_session_dir(rec.folder(0), rec.public_pem),
                              ALONE.get(case, kind))):
        brk = report.first
        assert brk is not None and len(report.breaks) == 1
        assert fields(brk) == (rule, expected, *place)
        assert brk.session == sid and brk.about is None
        assert brk.sentence == report.first_break
        assert verify.format_report(report).splitlines()[0] == f"BROKEN: {brk.sentence}"


@pytest.mark.parametrize("case", list(FIELDS))
def test_the_review_api_fields_are_those_it_read_from_the_sentence(rec: Recorded,
                                                                   case: str) -> None:
    CASES[case][0](rec)
    sid = rec.sessions[0]
    brk, _ = run_verify(rec.data, sid, VerifyJob())
    assert brk is not None
    segments = [e for e in read_entries(rec.folder(0) / LEDGER) if e.get("kind") == "segment"]
    assert broken_detail(brk) == sentence_detail(brk.sentence, segments)


def test_the_cli_prints_the_sentence_of_the_break(rec: Recorded) -> None:
    CASES["flipped byte in a segment"][0](rec)
    code, out = verdict(rec.data)
    brk = verify.verify_data_dir(rec.data).first
    assert code == 1 and brk is not None
    assert out.splitlines()[0] == f"BROKEN: {brk.sentence}"


def test_node_chain_breaks_name_the_node_ledger(rec: Recorded) -> None:
    shutil.rmtree(rec.folder(1))
    brk = verify.verify_data_dir(rec.data).first
    assert brk is not None
    assert fields(brk) == ("node", "node.session_gone", NODE, 3, 2, None)
    assert brk.session == rec.sessions[1]

    lines = (rec.data / NODE).read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[2])
    entry["officer"] = "o9"
    lines[2] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    (rec.data / NODE).write_bytes(b"".join(lines))
    brk = verify.verify_data_dir(rec.data).first
    assert brk is not None
    assert fields(brk) == ("chain", "chain.altered", NODE, 3, 2, None)
    assert brk.session is None and brk.about == "The node ledger"
    assert brk.sentence.startswith("The node ledger: in ledger/ledger.jsonl at line 3, entry 2")


def test_a_seal_the_node_ledger_disagrees_with_is_a_node_break(rec: Recorded) -> None:
    folder = rec.folder(0)
    write_lines(folder / LEDGER, ledger_lines(folder)[:-2])
    heads = (folder / HEADS).read_text().splitlines(keepends=True)
    (folder / HEADS).write_text("".join(heads[:-2]))
    (folder / "seg-000003.webm").unlink()
    (folder / "OPEN").write_text("recording\n")
    brk = verify.verify_data_dir(rec.data).first
    assert brk is not None
    assert fields(brk) == ("node", "node.seal_mismatch", NODE, 2, 1, None)
    assert brk.session == rec.sessions[0]


def test_audit_chain_breaks_name_the_audit_log(rec: Recorded) -> None:
    audit = AuditLog(rec.data, rec.key)
    for outcome in ("ok", "ok", "ok"):
        audit.append("r1", "reviewer", "view", rec.sessions[0], outcome)
    path = rec.data / "audit" / "audit.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["who"] = "r2"
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode() + b"\n"
    path.write_bytes(b"".join(lines))
    brk = verify.verify_data_dir(rec.data).first
    assert brk is not None
    assert fields(brk) == ("audit", "chain.altered", "audit/audit.jsonl", 2, 1, None)
    assert brk.about == "The audit log" and brk.session is None


def test_key_and_bundle_breaks(rec: Recorded, tmp_path: Path) -> None:
    bundle = tmp_path / "b.zip"
    export_session(rec.data, rec.sessions[0], bundle)
    extracted = tmp_path / "x"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(extracted)
    (extracted / "sessions" / rec.sessions[0] / "OPEN").write_text("recording\n")
    brk = verify.verify_path(extracted).first
    assert brk is not None
    assert fields(brk) == ("bundle", "bundle.open_marker", "OPEN", None, None, None)
    assert brk.session == rec.sessions[0]

    (extracted / "node-ed25519.pub.pem").unlink()
    brk = verify.verify_bundle_dir(extracted).first
    assert brk is not None
    assert fields(brk) == ("key", "key.missing", "node-ed25519.pub.pem", None, None, None)
    assert brk.sentence == ("The node's public key node-ed25519.pub.pem is missing, so no "
                            "signature can be checked.")

    damaged = tmp_path / "damaged.zip"
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(f"sessions/{rec.sessions[0]}/seg-000002.webm")
    flip_at = info.header_offset + 30 + len(info.filename.encode()) + 1000
    data[flip_at] ^= 0x01  # inside the stored segment: the zip's CRC no longer matches
    damaged.write_bytes(bytes(data))
    brk = verify.verify_bundle(damaged).first
    assert brk is not None
    assert fields(brk) == ("bundle", "bundle.damaged",
                           f"sessions/{rec.sessions[0]}/seg-000002.webm", None, None, None)
    flip_byte(tmp_path / "damaged.zip", 2)  # the local header's signature
    brk = verify.verify_bundle(damaged).first
    assert brk is not None and brk.rule == "bundle"
