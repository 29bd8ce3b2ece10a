"""With a cluster secret, whatever reaches Redis without the nodes' seal is dropped and counted:
forged alerts (stream entries and keys), published events, presence and positions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from fieldrelay.alerts import raise_alert
from signaling.busseal import BusSeal
from signaling.redisbus import CHANNEL, GEO, OPEN, PREFIX, STREAM, RedisBus
from tests.conftest import RedisProcess, free_port

SECRET = "bus-seal-secret-for-tests-0123456789"


@pytest.fixture
async def redis_pair(tmp_path: Path) -> AsyncIterator[tuple[RedisBus, aioredis.Redis]]:
    """A sealed bus and a raw client (the attacker's) on one fresh redis-server."""
    server = RedisProcess(tmp_path / "redis", free_port())
    server.start()
    bus = RedisBus(server.url, "node-a", BusSeal(SECRET))
    raw: aioredis.Redis = aioredis.Redis.from_url(server.url, decode_responses=True)
    await bus.start()
    try:
        yield bus, raw
    finally:
        await raw.aclose()
        await bus.aclose()
        server.stop()


def forged_alert(alert_id: str) -> dict[str, Any]:
    return {"id": alert_id, "officer": "o1", "kind": "sos", "state": "raised",
            "raised_at": 1.0, "node": "node-x", "lat": 0.0, "lon": 0.0}


async def test_forged_alerts_and_records_are_dropped_and_counted(
        redis_pair: tuple[RedisBus, aioredis.Redis]) -> None:
    bus, raw = redis_pair
    real, created = await bus.store_alert(raise_alert("o1", "node-a", "sos", 1.0, 2.0, None),
                                          "key-1")
    assert created
    fake = forged_alert("fake-1")
    await raw.xadd(STREAM, {"t": "alert", "a": json.dumps(fake)})
    await raw.set(PREFIX + "alert:fake-1", json.dumps(fake))
    await raw.sadd(OPEN, "fake-1")
    # A sealed record moved to another key does not hold there either.
    await bus.set_presence("o1", {"officer": "o1", "live": True}, 30)
    await raw.set(PREFIX + "presence:o2", await raw.get(PREFIX + "presence:o1") or "")
    await raw.set(PREFIX + "presence:o3", json.dumps({"officer": "o3", "live": True}))
    await bus.set_position("o1", 43.80, 87.60, 1.0, 300)
    await raw.geoadd(GEO, (87.60, 43.80, "o9"))
    await raw.set(PREFIX + "pos:o9", json.dumps({"lat": 43.80, "lon": 87.60, "at": 1.0}))

    assert [e["alert"]["id"] for e in await bus.events_after("0-0")] == [real["id"]]
    assert [a["id"] for a in await bus.open_alerts()] == [real["id"]]
    assert await bus.get_alert("fake-1") is None
    assert await bus.update_alert("fake-1", lambda a: {**a, "state": "resolved"}) is None
    assert set(await bus.presence()) == {"o1"}
    assert set(await bus.positions()) == {"o1"}
    assert [n.officer for n in await bus.nearest(43.80, 87.60, 5, 1000, set())] == ["o1"]
    assert bus.rejected_messages == 8
    # What the node itself wrote reads back without the seal.
    assert "_mac" not in (await bus.presence())["o1"]
    assert (await bus.get_alert(real["id"])) == real


async def test_a_forged_idempotency_key_cannot_swallow_an_alert(
        redis_pair: tuple[RedisBus, aioredis.Redis]) -> None:
    bus, raw = redis_pair
    await raw.set(PREFIX + "idem:key-2", "fake-2")
    await raw.set(PREFIX + "alert:fake-2", json.dumps(forged_alert("fake-2")))
    alert = raise_alert("o1", "node-a", "sos", 1.0, 2.0, None)
    stored, created = await bus.store_alert(alert, "key-2")
    assert created and stored["id"] == alert["id"]
    assert (await bus.store_alert(alert, "key-2")) == (stored, False)


async def test_forged_published_events_never_reach_the_listener(
        redis_pair: tuple[RedisBus, aioredis.Redis]) -> None:
    bus, raw = redis_pair
    received: list[dict[str, Any]] = []

    async def pump() -> None:
        async for event in bus.events():
            received.append(event)

    task = asyncio.get_running_loop().create_task(pump())
    try:
        await asyncio.sleep(0.3)
        before = bus.rejected_messages
        await raw.publish(CHANNEL, json.dumps({"type": "presence", "officer": "o1",
                                               "live": True, "node": "node-x",
                                               "url": "http://evil.example"}))
        await raw.publish(CHANNEL, json.dumps({"type": "alert", "cursor": "1-0",
                                               "alert": forged_alert("fake-3")}))
        await raw.publish(CHANNEL, "not json")
        await bus.publish({"type": "position", "officer": "o1", "lat": 1.0, "lon": 2.0})
        real, _ = await bus.store_alert(raise_alert("o1", "node-a", "sos", 1.0, 2.0, None),
                                        "key-3")
        async with asyncio.timeout(5):
            while len(received) < 2:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        assert [e["type"] for e in received] == ["position", "alert"]
        assert received[1]["alert"] == real
        assert bus.rejected_messages - before == 3
    finally:
        task.cancel()
        await asyncio.wait([task])


async def test_replayed_sealed_records_are_refused(
        redis_pair: tuple[RedisBus, aioredis.Redis]) -> None:
    bus, raw = redis_pair
    seal, old = BusSeal(SECRET), time.time() - 600
    # A presence record sealed ten minutes ago, for 30 s, set again: stale.
    await raw.set(PREFIX + "presence:o5", json.dumps(seal.seal(
        PREFIX + "presence:o5", {"officer": "o5", "live": True}, old, ttl_s=30)))
    assert await bus.presence() == {}
    # An alert sealed ten minutes ago, copied into a new stream entry and key: not filed then.
    copied = seal.seal("alert", forged_alert("old-1"), old)
    await raw.xadd(STREAM, {"t": "alert", "a": json.dumps(copied)})
    newest: Any = await raw.xrevrange(STREAM, count=1)
    entry = newest[0][0]
    await raw.set(PREFIX + "alert:old-1", json.dumps({**copied, "cursor": entry}))
    assert await bus.events_after("0-0") == []
    assert await bus.get_alert("old-1") is None
    assert bus.rejected_messages == 3

    received: list[dict[str, Any]] = []

    async def pump() -> None:
        async for event in bus.events():
            received.append(event)

    task = asyncio.get_running_loop().create_task(pump())
    spy = raw.pubsub()
    try:
        await spy.subscribe(CHANNEL)
        await asyncio.sleep(0.3)
        await bus.publish({"type": "dispatch", "officer": "o2", "alert": "a1"})
        async with asyncio.timeout(5):
            while not received:
                await asyncio.sleep(0.01)
            captured = None
            while captured is None:
                message = await spy.get_message(ignore_subscribe_messages=True, timeout=1)
                captured = message["data"] if message else None
        # Whoever listens on Redis publishes the same sealed event again: taken once only.
        before = bus.rejected_messages
        await raw.publish(CHANNEL, captured)
        await raw.publish(CHANNEL, json.dumps(seal.seal("event", {"type": "dispatch",
                                                                  "officer": "o2"}, old, 30)))
        await asyncio.sleep(0.5)
        assert [e["type"] for e in received] == ["dispatch"]
        assert "_n" not in received[0] and "_mac" not in received[0]
        assert bus.rejected_messages == before + 2
    finally:
        await spy.aclose()
        task.cancel()
        await asyncio.wait([task])


def test_a_seal_holds_only_for_its_context_body_and_lifetime() -> None:
    seal = BusSeal(SECRET)
    sealed = seal.seal("presence:o1", {"officer": "o1", "live": True}, 1000.0, ttl_s=30)
    opened = seal.check("presence:o1", sealed, 1010.0)
    assert opened is not None and opened.body == {"officer": "o1", "live": True}
    assert seal.check("presence:o2", sealed, 1010.0) is None
    assert seal.check("presence:o1", {**sealed, "live": False}, 1010.0) is None
    assert seal.check("presence:o1", sealed, 1000.0 + 30 + 31) is None
    assert BusSeal("another-secret-0123456789abcdefghij").check(
        "presence:o1", sealed, 1010.0) is None
    assert seal.rejected == 3
