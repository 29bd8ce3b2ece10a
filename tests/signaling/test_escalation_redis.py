"""Escalation end to end on a real Redis: officers live on one node report positions (GEO),
an alert raised on another node goes unacknowledged, escalates once, and the dispatch
reaches the nearest live officers within the radius, and no one else."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis

from signaling.redisbus import GEO
from tests.cleanup import finish
from tests.conftest import RedisProcess
from tests.live import LiveNode
from tests.media import Publisher, publish
from tests.waiting import until

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]
# Urumqi, People's Square; officers 0.4 km, 2 km and 8 km north of it (the radius is 5 km).
SCENE = (43.7930, 87.6177)
NORTH_DEG = {"o2": 0.0036, "o3": 0.018, "o4": 0.072}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Socket:
    """A WebSocket of one user and every event it got."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.events.append(json.loads(msg.data))

    def dispatches(self, alert_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events
                if e["type"] == "dispatch" and e["alert"]["id"] == alert_id]

    async def aclose(self) -> None:
        await self.ws.close()
        self.task.cancel()
        await finish(self.task)


async def escalate(a: LiveNode, officer: str, console: Socket) -> dict[str, Any]:
    """Raise an alert on node A at the scene and wait until it escalates."""
    async with a.http.post(f"{a.base}/api/alerts",
                           json={"kind": "sos", "lat": SCENE[0], "lon": SCENE[1]},
                           headers={**bearer(officer), "Idempotency-Key": uuid.uuid4().hex}) as r:
        assert r.status == 201, await r.text()
        alert: dict[str, Any] = await r.json()
    await until(lambda: any(e["type"] == "alert.updated" and e["alert"]["id"] == alert["id"]
                            and e["alert"]["state"] == "escalated" for e in console.events),
                "the escalation on the console")
    return alert


async def test_escalation_dispatches_the_nearest_live_officers_through_redis_geo(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    settings = {"redis_url": redis_server.url, "escalate_after_s": 1.0, "dispatch_count": 3,
                "dispatch_radius_m": 5000.0}
    a = await node_factory(node_id="node-a", **settings)
    b = await node_factory(node_id="node-b", **settings)
    tokens = {name: await b.login(name) for name in NORTH_DEG}
    publications: dict[str, Publisher] = {}
    phones: dict[str, Socket] = {}
    console = Socket(await a.http.ws_connect(f"{a.base}/ws?token={await a.login('c1')}"))
    try:
        for name, dlat in NORTH_DEG.items():  # all live on node B, with a position there
            publications[name] = await publish(b.http, b.base, tokens[name], audio=False)
            phones[name] = Socket(await b.http.ws_connect(f"{b.base}/ws?token={tokens[name]}"))
            await phones[name].ws.send_json({"type": "position", "lat": SCENE[0] + dlat,
                                             "lon": SCENE[1]})
        async with redis.Redis.from_url(redis_server.url, decode_responses=True) as store:
            async def in_geo() -> set[str]:
                return {str(m) for m in await store.zrange(GEO, 0, -1)}
            async with asyncio.timeout(10):
                while await in_geo() != set(NORTH_DEG):
                    await asyncio.sleep(0.05)
        live = set(NORTH_DEG)
        await until(lambda: live <= {e["officer"] for e in console.events
                                     if e["type"] == "presence" and e["live"]},
                    "every officer live on A's console")

        first = await escalate(a, await a.login("o1"), console)
        await until(lambda: bool(phones["o2"].dispatches(first["id"])
                                 and phones["o3"].dispatches(first["id"])), "two dispatches")
        await asyncio.sleep(2.0)  # both nodes run escalation: room for a second dispatch
        (near,) = phones["o2"].dispatches(first["id"])
        (far,) = phones["o3"].dispatches(first["id"])
        assert 350 < near["distance_m"] < 450 and near["direction"] == "S"
        assert 1900 < far["distance_m"] < 2100 and far["direction"] == "S"
        assert phones["o4"].dispatches(first["id"]) == []  # live, but 8 km away
        assert sorted(e["officer"] for e in console.dispatches(first["id"])) == ["o2", "o3"]

        # o3 goes off air: within the radius still, but no longer live, so not sent.
        gone = publications.pop("o3")
        async with b.http.delete(f"{b.base}{gone.location}", headers=bearer(tokens["o3"])) as r:
            assert r.status == 200
        await gone.pc.close()
        await until(lambda: any(e["type"] == "presence" and e["officer"] == "o3"
                                and not e["live"] for e in console.events), "o3 off air")
        second = await escalate(a, await a.login("o1"), console)
        await until(lambda: bool(phones["o2"].dispatches(second["id"])), "o2's dispatch")
        await asyncio.sleep(2.0)
        assert len(phones["o2"].dispatches(second["id"])) == 1
        assert phones["o3"].dispatches(second["id"]) == []
        assert phones["o4"].dispatches(second["id"]) == []
        assert [e["officer"] for e in console.dispatches(second["id"])] == ["o2"]
    finally:
        for sock in (console, *phones.values()):
            await sock.aclose()
        for pub in publications.values():
            await pub.pc.close()
