"""Two nodes, one PostgreSQL catalog: a reviewer on either node finds every node's sessions
with the node that recorded each, and holds and case numbers follow them there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from relay.evidence import LiveEvidence
from signaling.keys import LIVE_EVIDENCE
from tests.archive_tools import record_session
from tests.catalog_tools import create_database, drop_database, pg_url
from tests.live import LiveNode

NodeFactory = Callable[..., Awaitable[LiveNode]]


@pytest.fixture
async def database() -> AsyncIterator[str]:
    name = await create_database()
    try:
        yield pg_url(name)
    finally:
        await drop_database(name)


async def catalog_search(node: LiveNode, token: str, query: str = "") -> list[dict[str, Any]]:
    async with node.http.get(f"{node.base}/api/catalog/sessions{query}",
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
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
