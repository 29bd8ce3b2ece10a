"""Cluster trust across Redis: a forged directory entry gets no node token, node tokens are
bound to one node and taken once, and cluster peers come from a configured list."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from signaling.busseal import BusSeal
from signaling.cluster import ALGORITHM, AUDIENCE, ISSUER
from signaling.replay import ReplayCache
from tests.conftest import RedisProcess, free_port
from tests.live import LiveNode
from tests.media import local_pc, publish, view
from tests.signaling.test_cascade import SECRET, cluster_node, wait_until

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]
PRESENCE_KEY = "fieldrelay:presence:o1"


@dataclass
class Listener:
    """A server of the test's own: whatever a node sends it is kept."""

    url: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return [auth.removeprefix("Bearer ") for _, _, auth in self.requests if auth]


@pytest.fixture
async def listeners(loopback_only: None) -> AsyncIterator[Callable[[], Awaitable[Listener]]]:
    servers: list[TestServer] = []

    async def start() -> Listener:
        listener = Listener("")

        async def keep(request: web.Request) -> web.Response:
            listener.requests.append((request.method, request.path,
                                      request.headers.get("Authorization", "")))
            return web.Response(status=404)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", keep)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        listener.url = f"http://127.0.0.1:{server.port}"
        return listener

    try:
        yield start
    finally:
        for server in servers:
            await server.close()


def presence_record(node: str, url: str) -> dict[str, Any]:
    return {"officer": "o1", "live": True, "state": "live", "since": time.time(),
            "recording": True, "session": "s1", "node": node, "url": url, "relay_url": url}


async def put_presence(redis: RedisProcess, record: dict[str, Any]) -> None:
    client = aioredis.Redis.from_url(redis.url, decode_responses=True)
    try:
        await client.set(PRESENCE_KEY, json.dumps(record), px=30_000)
    finally:
        await client.aclose()


async def offer_sdp() -> str:
    pc = local_pc()
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def watch(node: LiveNode, commander: str) -> aiohttp.ClientResponse:
    async with node.http.post(f"{node.base}/whep/o1", data=await offer_sdp(),
                              headers={"Authorization": f"Bearer {commander}",
                                       "Content-Type": "application/sdp"}) as resp:
        await resp.read()
        return resp


async def rejected_metric(node: LiveNode) -> float:
    async with node.http.get(f"{node.base}/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith("fieldrelay_bus_rejected_messages_total "):
            return float(line.split()[1])
    raise AssertionError("no fieldrelay_bus_rejected_messages_total in /metrics")


async def test_a_forged_presence_record_gets_no_node_token(
        node_factory: NodeFactory, redis_server: RedisProcess,
        listeners: Callable[[], Awaitable[Listener]]) -> None:
    # The attack: anything that reaches Redis writes a presence record naming its own URL.
    b = await cluster_node(node_factory, redis_server, "node-b")
    evil = await listeners()
    await put_presence(redis_server, presence_record("node-a", evil.url))
    commander = await b.login("c1")
    resp = await watch(b, commander)
    assert resp.status == 404, "the officer is live nowhere this node believes"
    assert evil.requests == [], f"the node contacted the forged URL: {evil.requests}"
    # The forged record is dropped (not shown as live) and counted.
    async with b.http.get(f"{b.base}/api/officers",
                          headers={"Authorization": f"Bearer {commander}"}) as r:
        officers = {o["name"]: o for o in (await r.json())["officers"]}
    assert not officers["o1"]["live"]
    assert await rejected_metric(b) >= 1


async def test_only_configured_peers_get_node_tokens_each_bound_to_its_node(
        node_factory: NodeFactory, redis_server: RedisProcess,
        listeners: Callable[[], Awaitable[Listener]],
        caplog: pytest.LogCaptureFixture) -> None:
    # Even a correctly sealed entry (a node holding the secret, misconfigured or taken
    # over) cannot send this node's tokens to a URL outside --cluster-peer.
    evil, peer = await listeners(), await listeners()
    b = await cluster_node(node_factory, redis_server, "node-b",
                           cluster_peers=(peer.url + "/",))
    seal = BusSeal(SECRET)
    await put_presence(redis_server, seal.seal(PRESENCE_KEY,
                                               presence_record("node-a", evil.url), time.time()))
    commander = await b.login("c1")
    with caplog.at_level(logging.WARNING, logger="signaling.cluster"):
        assert (await watch(b, commander)).status == 404
    assert evil.requests == []
    assert any("not a configured --cluster-peer" in r.getMessage() for r in caplog.records)
    # A listed peer is contacted, with a token that only node-a takes, once.
    await put_presence(redis_server, seal.seal(PRESENCE_KEY, presence_record("node-a", peer.url),
                                               time.time()))
    assert (await watch(b, commander)).status == 404  # the "peer" refuses (404) the pull
    assert [(m, p) for m, p, _ in peer.requests] == [("POST", "/whep/o1")]
    claims = jwt.decode(peer.tokens[0], options={"verify_signature": False})
    assert claims["to"] == "node-a" and claims["node"] == "node-b" and len(claims["jti"]) >= 16


def node_token(officer: str, to: str, jti: str | None = None, by: str = "node-b") -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": officer, "node": by, "to": to,
                       "jti": jti or secrets.token_urlsafe(18), "iat": now, "nbf": now,
                       "exp": now + 60}, SECRET.encode(), algorithm=ALGORITHM)


async def test_a_node_token_works_only_at_its_node_and_only_once(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    c = await cluster_node(node_factory, redis_server, "node-c")
    report = {"viewer": "c9", "viewer_id": "x1", "event": "joined"}

    async def report_with(token: str) -> int:
        # 404 (no such pull) means the token itself was taken; 401 that it was refused.
        async with c.http.post(f"{c.base}/whep/o1/not-a-pull/viewers", json=report,
                               headers={"Authorization": f"Bearer {token}"}) as r:
            return r.status

    # A token node-a made for node-b is useless at node-c.
    assert await report_with(node_token("o1", to="node-b", by="node-a")) == 401
    token = node_token("o1", to="node-c")
    assert await report_with(token) == 404
    assert await report_with(token) == 401, "a replayed node token must be refused"
    # The one-use id is what counts: a new token with the same id is a replay too.
    jti = secrets.token_urlsafe(18)
    assert await report_with(node_token("o1", to="node-c", jti=jti)) == 404
    assert await report_with(node_token("o1", to="node-c", jti=jti)) == 401
    # A token without the new claims (an older node's) is refused.
    now = int(time.time())
    legacy = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "o1", "node": "node-b",
                         "iat": now, "nbf": now, "exp": now + 60}, SECRET.encode(),
                        algorithm=ALGORITHM)
    assert await report_with(legacy) == 401


def test_the_replay_cache_forgets_expired_ids_and_stays_bounded() -> None:
    now = [1000.0]
    cache = ReplayCache(max_ids=3, clock=lambda: now[0])
    assert cache.first_use("a", 1010) and not cache.first_use("a", 1010)
    assert cache.first_use("b", 1020) and cache.first_use("c", 1030)
    # Full of live ids: a new id is refused rather than a live one forgotten.
    assert not cache.first_use("d", 1040)
    assert not cache.first_use("a", 1010)
    now[0] = 1015.0  # "a" expired: forgotten, its room reused
    assert cache.first_use("d", 1040) and len(cache) == 3
    now[0] = 1100.0
    assert cache.first_use("e", 1160) and len(cache) == 1


async def test_a_cascade_between_pinned_peers_plays(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    ports = {"node-a": free_port(), "node-b": free_port()}
    urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    nodes = {}
    for name, port in ports.items():
        nodes[name] = await node_factory(
            node_id=name, redis_url=redis_server.url, port=port, cluster_url=urls[name],
            cluster_secret=SECRET, cluster_peers=tuple(urls.values()))
    a, b = nodes["node-a"], nodes["node-b"]
    pub = await publish(a.http, a.base, await a.login("o1"))
    watcher = None
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].state == "live", 10, "o1 live on A")
        await asyncio.sleep(0.3)
        watcher = await view(b.http, b.base, await b.login("c1"), "o1")
        await watcher.wait_frames(20, timeout=10)
        assert b.registry.pull_count() == 1
        assert await rejected_metric(b) == 0
    finally:
        if watcher is not None:
            await watcher.close()
        await pub.pc.close()
