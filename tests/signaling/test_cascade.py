"""Cascade: a viewer on node B watches an officer publishing on node A, through one pull."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from recordings.store import read_entries
from signaling.cluster import NodeTokens
from tests.conftest import RedisProcess, free_port
from tests.live import LiveNode
from tests.media import publish, view

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]
SECRET = "cluster-secret-for-tests-only-0123456789"


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def cluster_node(factory: NodeFactory, redis: RedisProcess, node_id: str,
                       **overrides: Any) -> LiveNode:
    port = free_port()
    return await factory(node_id=node_id, redis_url=redis.url, port=port,
                         cluster_url=f"http://127.0.0.1:{port}",
                         **{"cluster_secret": SECRET, **overrides})


async def test_viewers_on_b_share_one_pull_of_an_officer_live_on_a(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await cluster_node(node_factory, redis_server, "node-a")
    b = await cluster_node(node_factory, redis_server, "node-b")
    officer, commander_b = await a.login("o1"), await b.login("c1")
    commander_b2 = await b.login("c2")
    pub = await publish(a.http, a.base, officer)
    first = second = None
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].packets_in > 30, 10, "o1 live on A")
        # Presence reaches Redis shortly after the publisher connects.
        await wait_until(lambda: a.registry.streams["o1"].state == "live", 10, "live")
        await asyncio.sleep(0.3)
        first = await view(b.http, b.base, commander_b, "o1")
        await first.wait_frames(30, timeout=10)
        assert first.sizes == {(640, 480)}
        assert "o1" not in b.registry.streams, "B must not claim the officer as its own"
        second = await view(b.http, b.base, commander_b2, "o1")
        await second.wait_frames(30, timeout=10)
        await wait_until(lambda: first.audio_frames > 20, 5, "audio through the cascade")
        origin_viewers = a.registry.streams["o1"].viewers
        assert len(origin_viewers) == 1, "B pulls o1 once for both of its viewers"
        assert b.registry.cascade is not None and list(b.registry.cascade.pulls) == ["o1"]
        assert len(b.registry.cascade.pulls["o1"].stream.viewers) == 2
        session = a.registry.streams["o1"].session
        assert session is not None

        def watchers() -> list[tuple[str, str, str | None]]:
            path = session.folder / "ledger.jsonl"
            entries = list(read_entries(path)) if path.exists() else []
            return [(e["event"], e["viewer"], e.get("via")) for e in entries
                    if e.get("event", "").startswith("viewer.")]

        # A's evidence names the node that pulls and each commander watching through it.
        await wait_until(lambda: {("viewer.joined", "node:node-b", None),
                                  ("viewer.joined", "c1", "node-b"),
                                  ("viewer.joined", "c2", "node-b")} <= set(watchers()),
                         5, "the viewers on B in A's evidence")
        # The last viewer on B leaving ends the pull, and A's viewer with it.
        await first.close()
        async with b.http.delete(f"{b.base}{first.location}",
                                 headers={"Authorization": f"Bearer {commander_b}"}) as r:
            assert r.status in (200, 404)
        async with b.http.delete(f"{b.base}{second.location}",
                                 headers={"Authorization": f"Bearer {commander_b2}"}) as r:
            assert r.status == 200
        await second.close()
        await wait_until(lambda: not b.registry.cascade.pulls, 10, "B to drop its pull")  # type: ignore[union-attr]
        await wait_until(lambda: not a.registry.streams["o1"].viewers, 10, "A to lose B")
        await wait_until(lambda: {("viewer.left", "c1", "node-b"), ("viewer.left", "c2", "node-b"),
                                  ("viewer.left", "node:node-b", None)} <= set(watchers()),
                         5, "the viewers leaving in A's evidence")
    finally:
        for client in (first, second):
            if client is not None:
                await client.close()
        await pub.pc.close()


async def test_when_the_origin_stops_the_viewers_on_b_end(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await cluster_node(node_factory, redis_server, "node-a")
    b = await cluster_node(node_factory, redis_server, "node-b")
    officer, commander = await a.login("o1"), await b.login("c1")
    pub = await publish(a.http, a.base, officer)
    client = None
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].state == "live", 10, "o1 live on A")
        await asyncio.sleep(0.3)
        client = await view(b.http, b.base, commander, "o1")
        await client.wait_frames(10, timeout=10)
        async with a.http.delete(f"{a.base}{pub.location}",
                                 headers={"Authorization": f"Bearer {officer}"}) as r:
            assert r.status == 200
        await wait_until(lambda: not b.registry.cascade.pulls, 15, "the pull to end")  # type: ignore[union-attr]
        await wait_until(lambda: b.registry.viewer(client.location.rsplit("/", 1)[1]) is None,
                         5, "B's viewer to end")
    finally:
        if client is not None:
            await client.close()
        await pub.pc.close()


async def test_pulls_need_the_cluster_secret(node_factory: NodeFactory,
                                             redis_server: RedisProcess) -> None:
    a = await cluster_node(node_factory, redis_server, "node-a")
    b = await cluster_node(node_factory, redis_server, "node-b", cluster_secret=None)
    officer, commander = await a.login("o1"), await b.login("c1")
    pub = await publish(a.http, a.base, officer)
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].state == "live", 10, "o1 live on A")
        await asyncio.sleep(0.3)
        offer = (await _offer())
        # B has no secret: it does not pull, and says the officer is not live here.
        async with b.http.post(f"{b.base}/whep/o1", data=offer,
                               headers={"Authorization": f"Bearer {commander}",
                                        "Content-Type": "application/sdp"}) as r:
            assert r.status == 404 and (await r.json())["error"] == "not_live"
        # A refuses a node token signed with another secret, or for another officer.
        for token, status in ((NodeTokens("x" * 40, "node-b").issue("o1", "node-a"), 401),
                              (NodeTokens(SECRET, "node-b").issue("o2", "node-a"), 403)):
            async with a.http.post(f"{a.base}/whep/o1", data=offer,
                                   headers={"Authorization": f"Bearer {token}",
                                            "Content-Type": "application/sdp"}) as r:
                assert r.status == status, await r.text()
        assert not a.registry.streams["o1"].viewers
        # Only a node, and only for its own pull, may add viewers to A's evidence.
        report = {"viewer": "c9", "viewer_id": "x1", "event": "joined"}
        commander_a = await a.login("c1")
        for token, status in ((commander_a, 403),
                              (NodeTokens(SECRET, "node-b").issue("o1", "node-a"), 404)):
            async with a.http.post(f"{a.base}/whep/o1/not-a-pull/viewers", json=report,
                                   headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == status, await r.text()
    finally:
        await pub.pc.close()


async def _offer() -> str:
    from tests.media import local_pc

    pc = local_pc()
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()
