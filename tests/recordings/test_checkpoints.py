"""Checkpoints make cutting evidence show: every way of cutting a chain back that the node's own
signatures cannot tell apart from the truth is named by `fieldrelay verify` (exit 1), with the
chain and the checkpoint. Data dirs are written with the real building blocks (LedgerFile,
AuditLog, Checkpointer, WitnessLedger); every verdict comes from the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from recordings.audit import AuditLog
from recordings.chains import all_chains
from recordings.checkpoints import Checkpointer
from recordings.export import export_session
from recordings.layout import utc_iso
from recordings.signing import KeyExposed, NodeKey
from recordings.store import LedgerFile, read_entries
from recordings.verify import standalone_source
from recordings.witness import WitnessLedger
from tests.recordings.test_verify import (
    Recorded,
    ledger_lines,
    new_data_dir,
    record_session,
    verdict,
    write_lines,
)


def checkpointer(rec: Recorded, **kw: object) -> Checkpointer:
    return Checkpointer(rec.data, "node-1", rec.key, rec.node, 10.0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def rec(tmp_path: Path) -> Recorded:
    """Two sealed sessions, five audit entries, and a checkpoint of it all."""
    recorded = new_data_dir(tmp_path / "data")
    record_session(recorded, "o1", seed=1)
    record_session(recorded, "o2", seed=2)
    audit = AuditLog(recorded.data, recorded.key)
    for n in range(5):
        audit.append("r1", "reviewer", "view", recorded.sessions[n % 2], "ok")
    assert checkpointer(recorded).checkpoint() is not None
    return recorded


def cut_chain(ledger: Path, heads: Path, keep: int, key: NodeKey) -> None:
    """An attacker with the node's disk and key: keep `keep` entries, re-sign the new head."""
    write_lines(ledger, ledger_lines(ledger.parent)[:keep] if ledger.name == "ledger.jsonl"
                else ledger.read_bytes().splitlines(keepends=True)[:keep])
    entries = list(read_entries(ledger))
    last = entries[-1]
    heads.write_text(json.dumps({"seq": last["seq"], "hash": last["hash"],
                                 "sig": key.sign_head(int(last["seq"]), str(last["hash"]))})
                     + "\n")


def test_all_chains_lists_node_audit_and_session_chains(rec: Recorded) -> None:
    names = [c.name for c in all_chains(rec.data)]
    assert names == ["ledger", "audit", *(f"sessions/{s}" for s in rec.sessions)]
    cp = list(read_entries(rec.data / "checkpoints" / "checkpoints.jsonl"))[-1]
    assert cp["chains"]["audit"][0] == 5
    assert cp["chains"][f"sessions/{rec.sessions[0]}"][0] == 6
    # The node ledger records that checkpoints started: from then on they must be there.
    assert any(e["kind"] == "checkpoints.started" for e in read_entries(rec.node.path))


def test_an_intact_data_dir_with_checkpoints_verifies(rec: Recorded) -> None:
    code, out = verdict(rec.data)
    assert code == 0, out
    assert "against 1 checkpoint." in out


def test_the_audit_log_cut_back_by_one_line_and_re_signed_is_broken(rec: Recorded) -> None:
    audit = rec.data / "audit"
    cut_chain(audit / "audit.jsonl", audit / "heads.jsonl", 4, rec.key)
    code, out = verdict(rec.data)
    assert code == 1, out
    assert "BROKEN: The audit log: checkpoint 0 of node node-1 (checkpoints/checkpoints.jsonl " \
           "line 1) covers chain audit with 5 entries, but audit/audit.jsonl holds only 4" in out


def test_the_audit_log_deleted_is_broken(rec: Recorded) -> None:
    shutil.rmtree(rec.data / "audit")
    code, out = verdict(rec.data)
    assert code == 1, out
    assert "audit/audit.jsonl is missing: the audit log was deleted" in out
    assert "covers chain audit with 5 entries, but audit/audit.jsonl is gone" in out


def test_a_whole_session_folder_deleted_is_broken(rec: Recorded) -> None:
    shutil.rmtree(rec.folder(1))
    code, out = verdict(rec.data)
    assert code == 1, out
    assert f"Session {rec.sessions[1]}: checkpoint 0 of node node-1 (checkpoints/" \
           f"checkpoints.jsonl line 1) covers chain sessions/{rec.sessions[1]} with 6 entries, " \
           "but" in out


def test_the_last_three_lines_of_a_sealed_session_cut_and_re_signed_are_broken(
        rec: Recorded) -> None:
    folder = rec.folder(0)
    cut_chain(folder / "ledger.jsonl", folder / "heads.jsonl", 3, rec.key)
    code, out = verdict(rec.data)
    assert code == 1, out
    assert f"covers chain sessions/{rec.sessions[0]} with 6 entries, but " \
           f"sessions/{rec.sessions[0]}/ledger.jsonl holds only 3: entries 3 to 5 were cut " \
           "off its end" in out


def test_a_checkpoint_log_without_its_checkpoints_started_entry_is_still_required(
        rec: Recorded) -> None:
    (rec.data / "checkpoints" / "checkpoints.jsonl").unlink()
    code, out = verdict(rec.data)
    assert code == 1, out
    assert "checkpoints/checkpoints.jsonl is missing, although the node ledger records" in out


def test_a_rewritten_chain_under_the_checkpoint_is_broken(rec: Recorded) -> None:
    audit = rec.data / "audit" / "audit.jsonl"
    lines = audit.read_bytes().splitlines(keepends=True)
    cut_chain(audit, rec.data / "audit" / "heads.jsonl", 4, rec.key)
    other = AuditLog(rec.data, rec.key)
    other.append("r9", "reviewer", "view", None, "ok")  # a different fifth entry, signed
    assert audit.read_bytes().splitlines(keepends=True)[4] != lines[4]
    code, out = verdict(rec.data)
    assert code == 1, out
    assert "covers chain audit up to entry 4, but that entry in audit/audit.jsonl has another " \
           "hash: the chain was rewritten" in out


def test_unsigned_entries_older_than_the_interval_are_broken_younger_ones_a_note(
        rec: Recorded) -> None:
    node = LedgerFile(rec.data / "ledger", rec.key)
    node.append({"kind": "session.opened", "session": rec.sessions[0], "officer": "o1",
                 "at": utc_iso(time.time() + 2)})  # a crash's tail: newer than the checkpoint
    code, out = verdict(rec.data)
    assert code == 0, out
    assert "The node ledger: entry 5 (ledger/ledger.jsonl line 6) is not yet signed." in out
    node.append({"kind": "session.opened", "session": rec.sessions[1], "officer": "o2",
                 "at": utc_iso(time.time() - 3600)})  # written by someone without the key
    code, out = verdict(rec.data)
    assert code == 1, out
    assert "entry 6 of chain ledger (ledger/ledger.jsonl, written " in out
    assert "is signed by no head and covered by no checkpoint" in out


# --- witnesses ------------------------------------------------------------------------------

@pytest.fixture
def witnessed(rec: Recorded, tmp_path: Path) -> tuple[Recorded, Path]:
    """Node-2's data dir, which countersigned node-1's checkpoint."""
    other = tmp_path / "node2"
    wkey = NodeKey.load_or_create(other)
    ledger = WitnessLedger(other, "node-2", wkey)
    cp = list(read_entries(rec.data / "checkpoints" / "checkpoints.jsonl"))[-1]
    assert ledger.countersign(cp, rec.key.public_pem().decode(), "1-0") is not None
    assert ledger.countersign(cp, rec.key.public_pem().decode(), "1-0") is None  # once only
    return rec, other


def forge_everything(rec: Recorded) -> None:
    """The attacker has the disk and the key: cut a session, its heads, the node ledger's
    record of its seal, and make the node's own checkpoint log agree."""
    folder = rec.folder(0)
    cut_chain(folder / "ledger.jsonl", folder / "heads.jsonl", 3, rec.key)
    (folder / "OPEN").write_text("recording\n")  # as if it were still being recorded
    shutil.rmtree(rec.data / "checkpoints")
    node_lines = [x for x in ledger_lines(rec.data / "ledger")]
    keep = [x for x in node_lines if rec.sessions[0] not in x.decode()
            or b"session.opened" in x]
    assert len(keep) < len(node_lines)
    forged = rec.data / "ledger" / "ledger.jsonl"
    forged.unlink()
    (rec.data / "ledger" / "heads.jsonl").unlink()
    node = LedgerFile(rec.data / "ledger", rec.key)
    for raw in keep:
        e = json.loads(raw)
        node.append({k: v for k, v in e.items() if k not in ("v", "seq", "prev", "hash")})
    node.sign_head()
    rec.node = node
    assert checkpointer(rec).checkpoint() is not None


def test_a_chain_re_signed_after_the_cut_is_caught_by_the_witness(
        witnessed: tuple[Recorded, Path]) -> None:
    rec, other = witnessed
    forge_everything(rec)
    code, out = verdict(rec.data)
    assert code == 0, out  # the node's own evidence now agrees with itself
    code, out = verdict(rec.data, "--witness", other)
    assert code == 1, out
    assert f"checkpoint 0 of node node-1 as kept by witness node-2 covers chain " \
           f"sessions/{rec.sessions[0]} with 6 entries, but sessions/{rec.sessions[0]}/" \
           "ledger.jsonl holds only 3" in out


def test_the_witness_checkpoint_export_file_is_a_witness_too(
        witnessed: tuple[Recorded, Path], tmp_path: Path) -> None:
    rec, other = witnessed
    export = WitnessLedger(other, "node-2", NodeKey.load_or_create(other)).export("node-1")
    path = tmp_path / "node2-checkpoints.json"
    path.write_text(json.dumps(export))
    assert verdict(rec.data, "--witness", path)[0] == 0
    forge_everything(rec)
    code, out = verdict(rec.data, "--witness", path)
    assert code == 1, out
    assert "as kept by witness node-2 covers chain sessions/" in out


def test_a_checkpoint_forged_without_the_witness_key_fails(
        witnessed: tuple[Recorded, Path]) -> None:
    rec, other = witnessed
    forge_everything(rec)
    # The attacker also rewrites the witness's copy with a checkpoint signed by the node's key
    # (which it has) that agrees with the cut, but cannot countersign it.
    forged = list(read_entries(rec.data / "checkpoints" / "checkpoints.jsonl"))[-1]
    witness = other / "witness" / "ledger.jsonl"
    entry = json.loads(witness.read_text().splitlines()[0])
    entry["checkpoint"] = forged
    witness.write_text(json.dumps(entry) + "\n")
    code, out = verdict(rec.data, "--witness", other)
    assert code == 1, out
    assert f"The data dir {other} holds checkpoint 0 of node node-1, but its " \
           "countersignature was not made by the witness's key: it was forged" in out


def test_a_witness_directory_on_another_disk_keeps_every_checkpoint(
        tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data")
    record_session(rec, "o1", seed=1)
    wdir = tmp_path / "other-disk"
    cps = checkpointer(rec, witness_dir=wdir)
    assert cps.checkpoint() is not None
    assert cps.checkpoint() is None  # nothing moved: nothing to sign
    assert (wdir / "node-1" / "checkpoints.jsonl").read_bytes() == \
        (rec.data / "checkpoints" / "checkpoints.jsonl").read_bytes()
    forge_everything_alone(rec)
    code, out = verdict(rec.data, "--witness", wdir)
    assert code == 1, out
    assert f"as kept by witness directory {wdir} covers chain sessions/{rec.sessions[0]}" in out


def forge_everything_alone(rec: Recorded) -> None:
    folder = rec.folder(0)
    cut_chain(folder / "ledger.jsonl", folder / "heads.jsonl", 3, rec.key)
    (folder / "OPEN").write_text("recording\n")
    shutil.rmtree(rec.data / "checkpoints")
    shutil.rmtree(rec.data / "ledger")
    rec.node = LedgerFile(rec.data / "ledger", rec.key)


# --- exports ----------------------------------------------------------------------------------

def test_an_export_carries_its_checkpoint_and_a_cut_bundle_is_broken(
        witnessed: tuple[Recorded, Path], tmp_path: Path) -> None:
    rec, other = witnessed
    sid = rec.sessions[0]
    cps = Checkpointer(rec.data, "node-1", rec.key, rec.node, 10.0)
    cp = list(read_entries(cps.path))[-1]
    record = WitnessLedger(other, "node-2", NodeKey.load_or_create(other))
    assert record.newest == {"node-1": 0}
    # Node-2's countersignature as it came back over the bus.
    countersig = {"node": "node-1", "seq": cp["seq"], "hash": cp["hash"], "witness": "node-2",
                  "witness_key": NodeKey.load_or_create(other).public_pem().decode(),
                  "sig": json.loads((other / "witness" / "ledger.jsonl").read_text())["sig"],
                  "at": cp["at"]}
    cps.keep_countersig(countersig)
    bundle = export_session(rec.data, sid, tmp_path / "b.zip").path
    with zipfile.ZipFile(bundle) as zf:
        names = set(zf.namelist())
        assert {"checkpoints/checkpoints.jsonl", "checkpoints/countersigs.jsonl"} <= names
        zf.extractall(tmp_path / "x")
    code, out = verdict(bundle)
    assert code == 0, out
    assert "Checkpoints countersigned by witness node-2" in out
    # Cut the bundle's copy of the session back by three lines and re-sign.
    folder = tmp_path / "x" / "sessions" / sid
    cut_chain(folder / "ledger.jsonl", folder / "heads.jsonl", 3, rec.key)
    res = subprocess.run([sys.executable, "verify.py", "."], cwd=tmp_path / "x",
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 1, res.stdout + res.stderr
    assert f"covers chain sessions/{sid} with 6 entries, but sessions/{sid}/ledger.jsonl holds " \
           "only 3" in res.stdout
    # A countersignature that was not made by the witness's key is a break of its own.
    bad = dict(countersig, sig=countersig["sig"][:-4] + "AAA=")
    (tmp_path / "x" / "checkpoints" / "countersigs.jsonl").write_text(json.dumps(bad) + "\n")
    assert subprocess.run([sys.executable, "-c", standalone_source().decode(), "."],
                          cwd=tmp_path / "x", capture_output=True, text=True, timeout=60,
                          check=False).returncode == 1


# --- the key ---------------------------------------------------------------------------------

def test_the_key_may_live_outside_the_data_dir_and_only_its_owner_may_read_it(
        tmp_path: Path) -> None:
    key_file = tmp_path / "keydisk" / "node.pem"
    key = NodeKey.load_or_create(tmp_path / "data", key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert not (tmp_path / "data" / "keys" / "node-ed25519.pem").exists()
    assert (tmp_path / "data" / "keys" / "node-ed25519.pub.pem").read_bytes() == key.public_pem()
    assert NodeKey.load_or_create(tmp_path / "data", key_file).key_id() == key.key_id()
    # Without --key-file, the node must not make itself a new key beside evidence signed by
    # another one.
    with pytest.raises(KeyExposed, match="give its place with --key-file"):
        NodeKey.load_or_create(tmp_path / "data")
    os.chmod(key_file, 0o644)
    with pytest.raises(KeyExposed, match="mode 0644"):
        NodeKey.load_or_create(tmp_path / "data", key_file)
    os.chmod(key_file, 0o600)
    os.chmod(key_file.parent, 0o755)
    with pytest.raises(KeyExposed, match="folder"):
        NodeKey.load_or_create(tmp_path / "data", key_file)


def test_a_rotated_key_keeps_old_signatures_verifiable_and_is_a_signed_ledger_entry(
        rec: Recorded, tmp_path: Path) -> None:
    old_id = rec.key.key_id()
    res = subprocess.run([sys.executable, "-m", "fieldrelay", "key", "rotate", "--data-dir",
                          str(rec.data)], capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 0, res.stderr
    new = NodeKey.load_or_create(rec.data)
    assert new.key_id() != old_id and f"{old_id} -> {new.key_id()}" in res.stdout
    rotated = [e for e in read_entries(rec.node.path) if e["kind"] == "key.rotated"]
    assert [(e["old_key"], e["new_key"]) for e in rotated] == [(old_id, new.key_id())]
    # Evidence recorded after the rotation is signed by the new key, before it by the old.
    rec.key, rec.node = new, LedgerFile(rec.data / "ledger", new, shared=True)
    sid = record_session(rec, "o3", seed=3)
    assert checkpointer(rec).checkpoint() is not None
    code, out = verdict(rec.data)
    assert code == 0, out
    assert "against 2 checkpoints." in out
    for session in (rec.sessions[0], sid):
        bundle = export_session(rec.data, session, tmp_path / f"{session}.zip").path
        code, out = verdict(bundle)
        assert code == 0, out
    # Without the retired key, what it signed cannot be checked: broken.
    (rec.data / "keys" / "retired" / f"{old_id}.pub.pem").unlink()
    code, out = verdict(rec.data)
    assert code == 1, out
    assert "was not made by this node's key" in out


def test_serve_refuses_a_key_other_users_can_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    NodeKey.load_or_create(data)
    os.chmod(data / "keys" / "node-ed25519.pem", 0o640)
    res = subprocess.run([sys.executable, "-m", "fieldrelay", "serve", "--data-dir", str(data),
                          "--port", "0"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 1, res.stderr
    assert "has mode 0640; only the node's user may read it" in res.stderr
    assert "Traceback" not in res.stderr
