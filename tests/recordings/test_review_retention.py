"""Retention removes old sessions but never held or live ones, tombstones each removal in
the node chain, and the data dir still verifies; the audit chain is verified too."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from recordings.audit import AuditLog
from recordings.retention import apply_retention, remove_session
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from signaling.keys import CONFIG
from tests.live import LiveNode
from tests.media import publish
from tests.recordings.test_review_index import cli
from tests.recordings.test_verify import Recorded, new_data_dir, record_session, verdict
from tests.signaling.test_review_api import bearer, get_json, record


@pytest.mark.media
async def test_retention_keeps_held_and_live_sessions_and_verify_passes(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory()
    data = node.server.app[CONFIG].data_dir
    reviewer = await node.login("r1")
    old = await record(node, "o1", 1.5)
    held = await record(node, "o2", 1.5)
    async with node.http.put(f"{node.base}/api/sessions/{held}/hold",
                             json={"hold": True, "reason": "case 12 appeal"},
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200
    async with node.http.get(f"{node.base}/api/sessions/{old}/media",
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200
    cached = data / "cache" / "media" / old
    assert any(cached.glob("*.*")), "playing the session left no cached remux behind"
    officer = await node.login("o3")
    pub = await publish(node.http, node.base, officer)
    try:
        for _ in range(200):
            stream = node.registry.streams.get("o3")
            if stream is not None and stream.session is not None and (
                    data / "sessions" / stream.session.id / "ledger.jsonl").exists():
                break
            await asyncio.sleep(0.05)
        live = node.registry.streams["o3"].session
        assert live is not None

        code, out = await cli("retention", "--older-than", "0", "--dry-run", "--data-dir", data)
        assert code == 0, out
        assert f"would remove {old}" in out and f"kept {held}" in out and "case 12 appeal" in out
        assert live.id not in out
        assert (data / "sessions" / old).is_dir()

        code, out = await cli("retention", "--older-than", "0", "--data-dir", data)
        assert code == 0, out
        assert f"removed {old}" in out and "removed 1 session that ended" in out
        assert not (data / "sessions" / old).exists()
        assert (data / "sessions" / held).is_dir() and (data / "sessions" / live.id).is_dir()
        assert not cached.exists()

        # The live node keeps appending to the node chain after the CLI did.
        await asyncio.sleep(1.0)
        async with node.http.delete(f"{node.base}{pub.location}", headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await pub.pc.close()

    node_chain = list(read_entries(data / "ledger" / "ledger.jsonl"))
    (tomb,) = [e for e in node_chain if e["kind"] == "session.removed"]
    folder_head = tomb["head_hash"]
    sealed = next(e for e in node_chain if e["kind"] == "session.sealed"
                  and e["session"] == old)
    assert tomb["session"] == old and folder_head == sealed["head_hash"]
    assert tomb["by"].startswith("cli:") and "retention" in tomb["reason"]
    assert [e["seq"] for e in node_chain] == list(range(len(node_chain)))

    code, out = await cli("verify", data)
    assert code == 0, out
    assert f"Session {old} was removed by retention" in out
    ids = [r["id"] for r in (await get_json(node, "/api/sessions", reviewer))["sessions"]]
    assert old not in ids and held in ids and live.id in ids
    await get_json(node, f"/api/sessions/{old}", reviewer, status=404)


def test_retention_by_age_in_days(tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data")
    first, second = record_session(rec, "o1", seed=1), record_session(rec, "o2", seed=2)
    said: list[str] = []
    # The sessions ended on 2026-11-27: 20 days later neither is older than 30 days.
    now = time.mktime((2026, 12, 17, 0, 0, 0, 0, 0, 0))
    assert apply_retention(rec.data, rec.node, 30, "test", False, said.append, now) == []
    later = now + 20 * 86400
    assert apply_retention(rec.data, rec.node, 30, "test", False, said.append,
                           later) == [first, second]
    assert said == [f"removed {first} (ended 2026-11-27T10:15:09.000Z)",
                    f"removed {second} (ended 2026-11-27T10:15:09.000Z)"]
    code, out = verdict(rec.data)
    assert code == 0, out


def test_a_deleted_session_without_tombstone_still_breaks(tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data")
    first, second = record_session(rec, "o1", seed=1), record_session(rec, "o2", seed=2)
    remove_session(rec.data, rec.node, first, "test", "retention")
    shutil.rmtree(rec.data / "sessions" / second)
    code, out = verdict(rec.data)
    assert code == 1
    assert out.startswith(f"BROKEN: Session {second}: the node ledger lists it")
    assert f"Session {first}:" not in out


def audit_dir(tmp_path: Path) -> tuple[Recorded, AuditLog]:
    rec = new_data_dir(tmp_path / "data")
    sid = record_session(rec, "o1", seed=1)
    log = AuditLog(rec.data, rec.key)
    for action in ("view", "play", "export"):
        log.append("r1", "reviewer", action, sid, "ok")
    return rec, log


def test_verify_checks_the_audit_chain(tmp_path: Path) -> None:
    rec, log = audit_dir(tmp_path)
    code, out = verdict(rec.data)
    assert code == 0, out
    # 6 session entries + 2 node entries + 3 audit entries.
    assert "11 ledger entries" in out

    lines = log.path.read_bytes().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["who"] = "someone-else"
    log.path.write_bytes(lines[0] + json.dumps(entry).encode() + b"\n" + b"".join(lines[2:]))
    code, out = verdict(rec.data)
    assert code == 1
    assert out.startswith("BROKEN: The audit log: in audit/audit.jsonl at line 2, entry 1 was "
                          "altered after it was written")


def test_verify_finds_audit_entries_cut_off_the_end(tmp_path: Path) -> None:
    rec, log = audit_dir(tmp_path)
    lines = log.path.read_bytes().splitlines(keepends=True)
    log.path.write_bytes(b"".join(lines[:-1]))
    code, out = verdict(rec.data)
    assert code == 1 and "The audit log" in out and "removed from the end" in out


def test_audit_appends_from_two_writers_share_one_chain(tmp_path: Path) -> None:
    key = NodeKey.load_or_create(tmp_path)
    a, b = AuditLog(tmp_path, key), AuditLog(tmp_path, key)
    a.append("r1", "reviewer", "view", None, "ok")
    b.append("r2", "reviewer", "view", None, "ok")
    a.append("r1", "reviewer", "play", None, "ok")
    assert [e["seq"] for e in a.entries()] == [0, 1, 2]
    assert [e["who"] for e in b.entries()] == ["r1", "r2", "r1"]


def test_node_chain_takes_appends_from_two_processes(tmp_path: Path) -> None:
    key = NodeKey.load_or_create(tmp_path)
    node = LedgerFile(tmp_path / "ledger", key, shared=True)
    cli_side = LedgerFile(tmp_path / "ledger", key, shared=True)
    node.append({"kind": "x"})
    cli_side.append({"kind": "y"})
    cli_side.sign_head()
    node.append({"kind": "z"})
    node.sign_head()
    assert [e["seq"] for e in read_entries(node.path)] == [0, 1, 2]
