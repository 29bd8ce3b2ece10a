"""Two nodes, one PostgreSQL catalog: a reviewer on either node finds every node's sessions
and materials with the node that recorded each, holds follow them there, and a case number
set on one node is taken by the officer's next session on the other."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bench import tus_client as tus
from relay.evidence import LiveEvidence
from signaling.catalog import CatalogPendingCases
from signaling.keys import LIVE_EVIDENCE
from tests.archive_tools import record_session
from tests.catalog_tools import catalog_get, pg_url
from tests.catalog_tools import database as database
from tests.live import LiveNode
from tests.media import publish

NodeFactory = Callable[..., Awaitable[LiveNode]]


async def catalog_search(node: LiveNode, token: str, query: str = "") -> list[dict[str, Any]]:
    body = await catalog_get(node.http, f"{node.base}/api/catalog/sessions{query}",
                             {"Authorization": f"Bearer {token}"})
    return list(body["sessions"])


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    pytest.fail("the catalog did not show it in time")


async def test_a_reviewer_on_any_node_finds_every_nodes_sessions(
        node_factory: NodeFactory, database: str) -> None:
    a = await node_factory(node_id="node-a", database_url=database, catalog_sync_s=0.3)
    b = await node_factory(node_id="node-b", database_url=database, catalog_sync_s=0.3)
    store_a = a.server.app[LIVE_EVIDENCE].store
    store_b = b.server.app[LIVE_EVIDENCE].store
    assert isinstance(a.server.app[LIVE_EVIDENCE], LiveEvidence)
    on_a = await asyncio.to_thread(record_session, store_a, "o1", 1, 1795770000.0)
    on_b = await asyncio.to_thread(record_session, store_b, "o2", 2, 1795773600.0)
    reviewer = await b.login("r1")

    async def both_listed() -> bool:
        return len(await catalog_search(b, reviewer)) == 2

    await until(both_listed)
    rows = await catalog_search(b, reviewer)
    assert [(r["id"], r["node"], r["officer"]) for r in rows] == [
        (on_b.name, "node-b", "o2"), (on_a.name, "node-a", "o1")]
    assert [r["id"] for r in await catalog_search(b, reviewer, "?node=node-a")] == [on_a.name]
    assert [r["id"] for r in await catalog_search(a, await a.login("r1"), "?officer=o2")] == [
        on_b.name]
    # B's own index knows only its own session; the catalog knows both.
    async with b.http.get(f"{b.base}/api/sessions",
                          headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert [s["id"] for s in (await resp.json())["sessions"]] == [on_b.name]
    # A hold placed on A reaches the catalog that B reads.
    on_a_reviewer = await a.login("r1")
    async with a.http.put(f"{a.base}/api/sessions/{on_a.name}/hold",
                          json={"hold": True, "reason": "appeal pending"},
                          headers={"Authorization": f"Bearer {on_a_reviewer}"}) as resp:
        assert resp.status == 200, await resp.text()

    async def held() -> bool:
        rows = await catalog_search(b, reviewer, "?node=node-a")
        return bool(rows and rows[0]["legal_hold"])

    await until(held)
    officer = await b.login("o1")
    async with b.http.get(f"{b.base}/api/catalog/sessions",
                          headers={"Authorization": f"Bearer {officer}"}) as resp:
        assert resp.status == 403
    async with b.http.get(f"{b.base}/api/catalog/sessions?from=yesterday",
                          headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert resp.status == 400 and (await resp.json())["error"]


async def test_a_node_whose_catalog_is_down_starts_records_and_answers_503(
        node_factory: NodeFactory) -> None:
    # A database that does not exist on the machine's server: every connection is refused.
    node = await node_factory(node_id="node-c", database_url=pg_url("fieldrelay_no_such_db"),
                              catalog_sync_s=0.3)
    store = node.server.app[LIVE_EVIDENCE].store
    folder = await asyncio.to_thread(record_session, store, "o1", 1, 1795770000.0)
    reviewer = await node.login("r1")
    # Its own index still lists what it recorded.
    async with node.http.get(f"{node.base}/api/sessions",
                             headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert [s["id"] for s in (await resp.json())["sessions"]] == [folder.name]
    async with node.http.get(f"{node.base}/api/catalog/sessions",
                             headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body["error"] == "catalog_unavailable" and body["detail"]
    # A case number set meanwhile waits in the node's own file, and is read from there.
    commander = await node.login("c1")
    async with node.http.put(f"{node.base}/api/officers/o2/case", json={"case": "K-1"},
                             headers={"Authorization": f"Bearer {commander}"}) as resp:
        assert resp.status == 200 and (await resp.json())["applied"] == "next_session"
    pending = store.pending_cases
    assert isinstance(pending, CatalogPendingCases)
    assert await asyncio.to_thread(pending.local.get, "o2") == "K-1"
    async with node.http.get(f"{node.base}/api/officers/o2/case",
                             headers={"Authorization": f"Bearer {commander}"}) as resp:
        assert (await resp.json())["case"] == "K-1"


async def catalog_materials(node: LiveNode, token: str, query: str = "") -> list[dict[str, Any]]:
    body = await catalog_get(node.http, f"{node.base}/api/catalog/materials{query}",
                             tus.auth(token))
    return list(body["materials"])


async def seal(node: LiveNode, officer: str, data: bytes, **meta: str) -> dict[str, Any]:
    """Upload `data` whole as `officer` and return the material the node sealed."""
    token = await node.login(officer)
    location, done = await tus.upload(node.http, node.base, token, data,
                                      tus.material_meta(data, **meta))
    assert done.status == 204, done.body
    async with node.http.get(f"{node.base}{location}", headers=tus.auth(token)) as resp:
        status = await resp.json()
    assert status["state"] == "sealed"
    material: dict[str, Any] = status["material"]
    return material


async def test_a_reviewer_on_any_node_finds_every_nodes_materials(
        node_factory: NodeFactory, database: str) -> None:
    a = await node_factory(node_id="node-a", database_url=database, catalog_sync_s=30.0)
    b = await node_factory(node_id="node-b", database_url=database, catalog_sync_s=30.0)
    # A long sync period: each seal itself wakes the publisher.
    photo = await seal(a, "o1", os.urandom(5000), case="K-7/2026")
    doc = await seal(b, "o2", os.urandom(7000), kind="file", mime="application/pdf",
                     filename="order.pdf", case="K-7/2026")
    other = await seal(b, "o1", os.urandom(3000), case="K-8")
    reviewer = await b.login("r1")

    async def all_listed() -> bool:
        async with b.http.get(f"{b.base}/api/catalog/materials",
                              headers=tus.auth(reviewer)) as resp:
            # 503 until the node's publisher has connected and migrated the catalog.
            return resp.status == 200 and len((await resp.json())["materials"]) == 3

    await until(all_listed)
    found = await catalog_materials(b, reviewer, "?case=K-7%2F2026")
    assert [(m["id"], m["node"], m["officer"]) for m in found] == [
        (doc["id"], "node-b", "o2"), (photo["id"], "node-a", "o1")]
    assert found[1]["sha256"] == photo["sha256"] and found[1]["chain"] == photo["chain"]
    assert {m["id"] for m in await catalog_materials(a, await a.login("r1"), "?officer=o1")} \
        == {photo["id"], other["id"]}
    assert [m["id"] for m in await catalog_materials(b, reviewer, "?kind=file")] == [doc["id"]]
    assert await catalog_materials(b, reviewer, "?to=2020-01-01T00:00:00Z") == []
    # B's own materials list knows only what B holds; the catalog knows A's too.
    async with b.http.get(f"{b.base}/api/materials", headers=tus.auth(reviewer)) as resp:
        assert {m["id"] for m in (await resp.json())["materials"]} == {doc["id"], other["id"]}
    async with b.http.get(f"{b.base}/api/catalog/materials?kind=movie",
                          headers=tus.auth(reviewer)) as resp:
        assert resp.status == 400 and (await resp.json())["error"]
    async with b.http.get(f"{b.base}/api/catalog/materials?from=yesterday",
                          headers=tus.auth(reviewer)) as resp:
        assert resp.status == 400
    async with b.http.get(f"{b.base}/api/catalog/materials",
                          headers=tus.auth(await b.login("o1"))) as resp:
        assert resp.status == 403


@pytest.mark.media
async def test_a_case_number_set_on_one_node_goes_on_the_next_session_on_another(
        node_factory: NodeFactory, database: str) -> None:
    a = await node_factory(node_id="node-a", database_url=database, catalog_sync_s=0.3)
    b = await node_factory(node_id="node-b", database_url=database, catalog_sync_s=0.3)
    commander = await a.login("c1")
    async with a.http.put(f"{a.base}/api/officers/o1/case", json={"case": "K-9"},
                          headers=tus.auth(commander)) as resp:
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["applied"] == "next_session"
    # Not in A's own file: in the catalog, where B reads it.
    assert not (a.server.app[LIVE_EVIDENCE].store.data_dir / "cases" / "pending.json").exists()
    officer_b = await b.login("o1")
    async with b.http.get(f"{b.base}/api/officers/o1/case",
                          headers=tus.auth(officer_b)) as resp:
        assert (await resp.json())["case"] == "K-9"
    pub = await publish(b.http, b.base, officer_b)
    try:
        deadline = time.monotonic() + 15
        while "o1" not in b.registry.streams or b.registry.streams["o1"].session is None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        session = b.registry.streams["o1"].session
        assert session is not None
        ledger = b.server.app[LIVE_EVIDENCE].store.sessions_dir / session.id / "ledger.jsonl"
        deadline = time.monotonic() + 15
        while not ledger.exists() or not ledger.stat().st_size:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert session.case == "K-9"
        async with b.http.delete(f"{b.base}{pub.location}",
                                 headers=tus.auth(officer_b)) as resp:
            assert resp.status == 200
    finally:
        await pub.pc.close()
    # Used up by that session, on every node.
    async with a.http.get(f"{a.base}/api/officers/o1/case",
                          headers=tus.auth(commander)) as resp:
        assert (await resp.json())["case"] is None
