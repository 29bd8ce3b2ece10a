"""A session recorded on node A, reviewed on node B: B gets it from A while A is up (with a
one-use evidence token, audited on A, A's address never shown to the browser), refuses A's copy
when it does not verify, and goes to the archive when A says it no longer holds the session or
is gone. A refuses every token but a fresh evidence token for that very session."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bench.s3server import MotoServer
from fieldrelay.config import Config
from recordings.store import read_entries
from relay.evidence import LiveEvidence
from signaling.cluster import NodeTokens
from signaling.keys import CONFIG, LIVE_EVIDENCE
from tests.archive_tools import URL, all_keys, make_bucket, record_session
from tests.archive_tools import moto as moto
from tests.catalog_tools import catalog_get
from tests.catalog_tools import database as database
from tests.conftest import free_port
from tests.live import LiveNode
from tests.media import publish

NodeFactory = Callable[..., Awaitable[LiveNode]]
SECRET = "evidence-between-nodes-" + "s" * 24


async def two_nodes(node_factory: NodeFactory, database: str,
                    **shared: Any) -> tuple[LiveNode, LiveNode]:
    """Nodes A and B of one cluster (one secret, each the other's only peer, one catalog)."""
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    common = {"database_url": database, "catalog_sync_s": 0.3, "cluster_secret": SECRET,
              "evidence_fetch_timeout_s": 2.0, **shared}
    a = await node_factory(node_id="node-a", port=port_a, cluster_url=url_a,
                           cluster_peers=(url_b,), **common)
    b = await node_factory(node_id="node-b", port=port_b, cluster_url=url_b,
                           cluster_peers=(url_a,), **common)
    return a, b


async def call(node: LiveNode, method: str, path: str, token: str
               ) -> tuple[int, dict[str, Any]]:
    async with node.http.request(method, f"{node.base}{path}",
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def listed(node: LiveNode, token: str, sid: str, state: str = "sealed") -> None:
    """Wait until the catalog, read on `node`, lists the session in `state`."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = await catalog_get(node.http, f"{node.base}/api/catalog/sessions?limit=50",
                                 {"Authorization": f"Bearer {token}"})
        if any(r["id"] == sid and r["state"] == state for r in body["sessions"]):
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"the catalog did not list {sid} as {state}")


def audit(node: LiveNode, sid: str) -> list[dict[str, Any]]:
    config: Config = node.server.app[CONFIG]
    return [e for e in read_entries(config.data_dir / "audit" / "audit.jsonl")
            if e.get("session") == sid]


def data_dir(node: LiveNode) -> Path:
    config: Config = node.server.app[CONFIG]
    return config.data_dir


@pytest.mark.media
async def test_a_session_of_a_node_that_is_up_comes_from_that_node(
        node_factory: NodeFactory, database: str, tmp_path: Path) -> None:
    # No archive anywhere: what B serves can only have come from A.
    a, b = await two_nodes(node_factory, database, segment_s=1.0, keyframe_interval_s=0.5)
    officer = await a.login("o1")
    pub = await publish(a.http, a.base, officer)
    stream = a.registry.streams["o1"]
    assert stream.session is not None
    sid = stream.session.id
    await asyncio.sleep(3)
    reviewer = await b.login("r1")
    # While A still records it, its chain is not final: A hands nothing over.
    await listed(b, reviewer, sid, "live")
    status, live = await call(b, "POST", f"/api/catalog/sessions/{sid}/verify", reviewer)
    assert (status, live["error"]) == (409, "session_live"), live
    assert not (data_dir(b) / "restored" / "node-a" / "sessions" / sid).exists()
    async with a.http.delete(f"{a.base}{pub.location}",
                             headers={"Authorization": f"Bearer {officer}"}) as resp:
        assert resp.status == 200
    await pub.pc.close()
    await listed(b, reviewer, sid)

    status, verdict = await call(b, "POST", f"/api/catalog/sessions/{sid}/verify", reviewer)
    assert status == 200, verdict
    assert (verdict["state"], verdict["source"], verdict["node"], verdict["fetched"]) == (
        "verified", "node", "node-a", True), verdict
    assert a.base.split("//")[1] not in json.dumps(verdict)
    assert (data_dir(b) / "restored" / "node-a" / "sessions" / sid / "ledger.jsonl").is_file()
    async with b.http.get(f"{b.base}/api/catalog/sessions/{sid}/media",
                          headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/webm"
        whole = await resp.read()
    assert whole[:4] == b"\x1a\x45\xdf\xa3" and len(whole) > 5_000
    async with b.http.post(f"{b.base}/api/catalog/sessions/{sid}/export",
                           headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert resp.status == 200
        bundle = tmp_path / "bundle.zip"
        bundle.write_bytes(await resp.read())
    with zipfile.ZipFile(bundle) as zf:
        (tmp_path / "verify.py").write_bytes(zf.read("verify.py"))
        assert f"sessions/{sid}/ledger.jsonl" in zf.namelist()
    checked = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(tmp_path / "verify.py"), str(bundle)],
        capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A audited each hand-over, naming the pulling node and the reviewer: the first fetch
    # and the verify's second look at A's copy.
    handed = [e for e in audit(a, sid) if e["action"] == "hand-over"]
    assert len(handed) == 2, handed
    assert {(e["who"], e["role"], e["outcome"], e["detail"]["for"]) for e in handed} == {
        ("node:node-b", "node", "ok", "r1")}
    assert handed[0]["detail"]["files"] >= 4 and handed[0]["detail"]["bytes"] > 5_000
    assert {("verify", "verified"), ("play", "ok"), ("export", "ok")} <= {
        (e["action"], e["outcome"]) for e in audit(b, sid)}

    # A itself takes only a fresh evidence token of a node, for that very session.
    path = f"{a.base}/api/cluster/sessions/{sid}/evidence"
    tokens = NodeTokens(SECRET, "node-b")
    other = "20261127T100000Z-o9-00000000"

    async def fetch(token: str) -> tuple[int, bytes, str]:
        async with a.http.get(path, headers={"Authorization": f"Bearer {token}"}) as resp:
            return resp.status, await resp.read(), resp.content_type

    fresh = tokens.issue_evidence(sid, "r1", "node-a")
    status, body, kind = await fetch(fresh)
    assert (status, kind) == (200, "application/x-tar") and len(body) > 5_000
    for token, expected in (
            (fresh, 401),  # replayed
            (tokens.issue_evidence(other, "r1", "node-a"), 403),  # another session
            (tokens.issue(sid, "node-a"), 401),  # a cascade token: another audience
            (tokens.issue_talk(sid, "r1", "node-a"), 401),  # a talkback token
            (tokens.issue_evidence(sid, "r1", "node-c"), 401),  # meant for another node
            (NodeTokens("x" * 40, "node-b").issue_evidence(sid, "r1", "node-a"), 401),
            (reviewer, 401)):  # a person's token, even a reviewer's
        status, body, kind = await fetch(token)
        assert (status, kind) == (expected, "application/json"), (status, body[:200])
        assert json.loads(body)["error"] and b"ledger" not in body
    assert len([e for e in audit(a, sid) if e["action"] == "hand-over"]) == 3

    # Verify on B asks A again: a byte changed on A's disk since shows, naming A's copy.
    segment = sorted((data_dir(a) / "sessions" / sid).glob("seg-*"))[0]
    good = segment.read_bytes()
    segment.write_bytes(good[:200] + bytes([good[200] ^ 0xFF]) + good[201:])
    status, verdict = await call(b, "POST", f"/api/catalog/sessions/{sid}/verify", reviewer)
    assert status == 200 and verdict["state"] == "broken", verdict
    assert verdict["broken"].startswith("the copy on node-a: ") and segment.name in \
        verdict["broken"], verdict


async def test_a_broken_copy_on_its_node_is_refused_and_a_node_gone_means_the_archive(
        node_factory: NodeFactory, database: str, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=True)
    a, b = await two_nodes(node_factory, database, archive_url=URL,
                           archive_endpoint=moto.endpoint)
    store_a = a.server.app[LIVE_EVIDENCE]
    assert isinstance(store_a, LiveEvidence)
    kept = await asyncio.to_thread(record_session, store_a.store, "o1", 3, 1795770000.0)
    moved = await asyncio.to_thread(record_session, store_a.store, "o2", 2, 1795773600.0)
    reviewer, commander = await b.login("r1"), await a.login("c1")
    await listed(b, reviewer, kept.name)
    await listed(b, reviewer, moved.name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, state = await call(a, "GET", "/api/archive", commander)
        keys = await all_keys(moto.endpoint)
        if state["backlog"] == 0 and all(any(f"/sessions/{s.name}/seg-" in k for k in keys)
                                         for s in (kept, moved)):
            break
        await asyncio.sleep(0.3)
    else:
        pytest.fail("node A's archive did not drain")

    # A byte flipped on A's disk: B refuses A's copy, says which copy and what broke, and
    # keeps nothing of it.
    segment = kept / "seg-000002.webm"
    good = segment.read_bytes()
    segment.write_bytes(good[:100] + bytes([good[100] ^ 0xFF]) + good[101:])
    status, refused = await call(b, "POST", f"/api/catalog/sessions/{kept.name}/verify",
                                 reviewer)
    assert (status, refused["error"]) == (409, "remote_copy_broken"), refused
    assert "node-a" in refused["detail"] and "seg-000002.webm" in refused["detail"], refused
    assert not (data_dir(b) / "restored" / "node-a" / "sessions" / kept.name).exists()
    assert ("verify", "broken") in {(e["action"], e["outcome"]) for e in audit(b, kept.name)}

    # A says it does not hold a session the catalog says it holds: B asks the archive.
    await asyncio.to_thread(shutil.move, moved, data_dir(a) / "moved-away")
    status, verdict = await call(b, "POST", f"/api/catalog/sessions/{moved.name}/verify",
                                 reviewer)
    assert status == 200, verdict
    assert (verdict["state"], verdict["source"]) == ("verified", "archive"), verdict

    # A is gone: B asks the archive, whose copy of the session is intact.
    await a.server.close()
    started = time.monotonic()
    status, verdict = await call(b, "POST", f"/api/catalog/sessions/{kept.name}/verify",
                                 reviewer)
    assert status == 200, verdict
    assert (verdict["state"], verdict["source"]) == ("verified", "archive"), verdict
    assert time.monotonic() - started < 10
    assert (data_dir(b) / "restored" / "node-a" / "sessions" / kept.name).is_dir()


async def test_a_node_outside_the_peer_list_is_never_asked(
        node_factory: NodeFactory, database: str) -> None:
    # B's peer list names another URL than A's (and B has no archive): B sends A no token.
    port_a = free_port()
    common = {"database_url": database, "catalog_sync_s": 0.3, "cluster_secret": SECRET}
    a = await node_factory(node_id="node-a", port=port_a,
                           cluster_url=f"http://127.0.0.1:{port_a}", **common)
    b = await node_factory(node_id="node-b", cluster_peers=("http://127.0.0.1:9",), **common)
    store_a = a.server.app[LIVE_EVIDENCE]
    assert isinstance(store_a, LiveEvidence)
    folder = await asyncio.to_thread(record_session, store_a.store, "o1", 1, 1795770000.0)
    reviewer = await b.login("r1")
    await listed(b, reviewer, folder.name)
    status, body = await call(b, "POST", f"/api/catalog/sessions/{folder.name}/verify",
                              reviewer)
    assert (status, body["error"]) == (503, "archive_unavailable"), body
    assert str(port_a) not in body["detail"]
    assert [e for e in audit(a, folder.name) if e["action"] == "hand-over"] == []
