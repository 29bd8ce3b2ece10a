"""One contract, two buses: MemoryBus and RedisBus (against a real redis-server)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from fieldrelay.alerts import apply, escalate, raise_alert
from fieldrelay.instructions import new_instruction, receipt, stage_of
from signaling.bus import BATCH, Bus, MemoryBus, Updater
from signaling.busseal import BusSeal
from signaling.redisbus import RAISED, RedisBus
from tests.conftest import RedisProcess


@pytest.fixture(params=["memory", "redis", "redis-sealed"])
async def bus(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Bus]:
    if request.param == "memory":
        yield MemoryBus()
        return
    server = RedisProcess(tmp_path / "redis", __import__("tests.conftest").conftest.free_port())
    server.start()
    # Sealed: every record carries its cluster-secret HMAC, and the contract holds the same.
    seal = BusSeal("bus-contract-secret-0123456789abcdef") if request.param == "redis-sealed" \
        else None
    redis_bus = RedisBus(server.url, "test", seal)
    await redis_bus.start()
    try:
        yield redis_bus
    finally:
        await redis_bus.aclose()
        server.stop()


@contextlib.asynccontextmanager
async def listening(bus: Bus) -> AsyncIterator[list[dict[str, Any]]]:
    received: list[dict[str, Any]] = []

    async def pump() -> None:
        async for event in bus.events():
            received.append(event)

    task = asyncio.get_running_loop().create_task(pump())
    await asyncio.sleep(0.3)  # subscribed
    try:
        yield received
    finally:
        task.cancel()
        await asyncio.wait([task])


async def until(predicate: Any, timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_store_is_idempotent_and_fans_out_once(bus: Bus) -> None:
    async with listening(bus) as received:
        alert = raise_alert("o1", "n1", "sos", 43.8, 87.6, None)
        stored, created = await bus.store_alert(alert, "o1:key-1")
        again, created_again = await bus.store_alert(raise_alert("o1", "n1", "sos", 0, 0, None),
                                                     "o1:key-1")
        assert created and not created_again
        assert again["id"] == stored["id"] == alert["id"] and stored["cursor"]
        await until(lambda: len(received) >= 1)
        await asyncio.sleep(0.2)
    assert [e["type"] for e in received] == ["alert"]
    assert received[0]["alert"]["id"] == alert["id"]


async def test_updates_are_atomic_and_replayable_after_a_cursor(bus: Bus) -> None:
    a, _ = await bus.store_alert(raise_alert("o1", "n1", "sos", None, None, None), "k-a")
    b, _ = await bus.store_alert(raise_alert("o2", "n1", "backup", None, None, None), "k-b")
    acked = await bus.update_alert(a["id"], lambda x: apply(x, "ack", "c1"))
    assert acked is not None and acked["state"] == "acknowledged"
    assert await bus.update_alert(a["id"], escalate) is None  # no longer waiting
    # Two commanders acknowledge at once: exactly one wins.
    results = await asyncio.gather(
        *(bus.update_alert(b["id"], _ack_by(who))
          for who in ("c1", "c2")))
    assert sum(r is not None for r in results) == 1
    closed = await bus.update_alert(a["id"], lambda x: apply(x, "resolve", "c1"))
    assert closed is not None and closed["state"] == "resolved"
    assert [x["id"] for x in await bus.open_alerts()] == [b["id"]]
    replay = await bus.events_after(a["cursor"])
    assert [(e["type"], e["alert"]["id"], e["alert"]["state"]) for e in replay] == [
        ("alert", b["id"], "raised"), ("alert.updated", a["id"], "acknowledged"),
        ("alert.updated", b["id"], "acknowledged"), ("alert.updated", a["id"], "resolved")]
    assert (await bus.get_alert(a["id"]))["state"] == "resolved"  # type: ignore[index]


async def test_several_updates_are_stored_one_by_one_and_fanned_out_as_one_event(
        bus: Bus) -> None:
    alerts = [(await bus.store_alert(raise_alert(f"o{i}", "n1", "sos", None, None, None),
                                     f"k-many-{i}"))[0] for i in range(4)]
    acked = await bus.update_alert(alerts[3]["id"], lambda x: apply(x, "ack", "c1"))
    assert acked is not None
    ids = [a["id"] for a in alerts] + ["no-such-alert"]
    async with listening(bus) as received:
        escalated = await bus.update_alerts(ids, escalate)
        await until(lambda: len(received) >= 1)
        assert await bus.update_alerts(ids, escalate) == []  # nothing left to change
        await asyncio.sleep(0.3)
    # The acknowledged alert and the unknown id are left out; the others escalate, in order.
    assert [(a["id"], a["state"]) for a in escalated] == [
        (a["id"], "escalated") for a in alerts[:3]]
    # One event for all three, none for the pass that changed nothing (a Redis listener
    # also replays the last seconds' stored events when it subscribes: not these).
    assert not any(e["type"] == "alert.updated" and e["alert"]["state"] == "escalated"
                   for e in received)
    (batch,) = [e for e in received if e["type"] == BATCH]
    assert [(e["type"], e["alert"]["id"], e["alert"]["state"], e["cursor"])
            for e in batch["events"]] == [
        ("alert.updated", a["id"], "escalated", a["cursor"]) for a in escalated]
    # Each update is its own durable event: a console that resumes gets them one by one.
    replay = await bus.events_after(acked["cursor"])
    assert [(e["type"], e["alert"]["id"], e["cursor"]) for e in replay] == [
        ("alert.updated", a["id"], a["cursor"]) for a in escalated]
    for a in escalated:
        assert (await bus.get_alert(a["id"]))["state"] == "escalated"  # type: ignore[index]
    assert await bus.next_due() is None  # none is still raised


async def test_two_passes_at_once_escalate_each_alert_once(bus: Bus) -> None:
    ids = [(await bus.store_alert(raise_alert(f"o{i}", "n1", "sos", None, None, None),
                                  f"k-race-{i}"))[0]["id"] for i in range(5)]
    async with listening(bus) as received:
        first, second = await asyncio.gather(bus.update_alerts(ids, escalate),
                                             bus.update_alerts(ids, escalate))
        await until(lambda: sum(len(e["events"]) for e in received if e["type"] == BATCH) >= 5)
        await asyncio.sleep(0.3)
    assert sorted(a["id"] for a in first + second) == sorted(ids)
    assert sorted(e["alert"]["id"] for b in received if b["type"] == BATCH
                  for e in b["events"]) == sorted(ids)


def _ack_by(who: str) -> Updater:
    return lambda x: _try(apply, x, "ack", who)


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None


async def test_presence_and_positions_expire_and_nearest_is_sorted(bus: Bus) -> None:
    await bus.set_presence("o1", {"node": "n1", "live": True}, ttl_s=0.5)
    await bus.set_presence("o2", {"node": "n2", "live": True}, ttl_s=30)
    assert set(await bus.presence()) == {"o1", "o2"}
    # Officers around Urumqi's People's Square, 43.7930 N 87.6177 E.
    await bus.set_position("o1", 43.7930, 87.6177, 1.0, ttl_s=30)
    await bus.set_position("o2", 43.8030, 87.6177, 1.0, ttl_s=30)   # ~1.1 km north
    await bus.set_position("o3", 43.7930, 87.6300, 1.0, ttl_s=0.5)  # ~1 km east, goes stale
    await bus.set_position("o4", 44.5000, 87.6177, 1.0, ttl_s=30)   # ~79 km: outside radius
    await asyncio.sleep(0.7)
    assert set(await bus.presence()) == {"o2"}
    near = await bus.nearest(43.7930, 87.6177, count=5, radius_m=5000, exclude={"o1"})
    assert [n.officer for n in near] == ["o2"]
    assert 1000 < near[0].distance_m < 1200
    await bus.clear_presence("o2")
    assert await bus.presence() == {}


async def test_transient_events_reach_listeners(bus: Bus) -> None:
    async with listening(bus) as received:
        await bus.publish({"type": "position", "officer": "o1", "lat": 1.0, "lon": 2.0})
        await until(lambda: len(received) == 1)
    assert received[0]["officer"] == "o1" and "cursor" not in received[0]


async def test_instructions_are_stored_fanned_out_and_receipts_only_move_forward(
        bus: Bus) -> None:
    async with listening(bus) as received:
        first = new_instruction("c1", ["o1", "o2"], "Wait for backup at the gate", now=1000.0)
        second = new_instruction("c1", ["o2"], "Hold position", now=1001.0)
        await bus.store_instruction(first)
        await bus.store_instruction(second)
        await until(lambda: len(received) == 2)
        assert [e["type"] for e in received] == ["instruction", "instruction"]
        assert received[0]["instruction"]["text"] == "Wait for backup at the gate"

        understood = await bus.update_instruction(
            first["id"], lambda i: receipt(i, "o1", "understood", now=1005.0))
        assert understood is not None
        assert understood["receipts"]["o1"] == {"delivered": 1005.0, "read": 1005.0,
                                                "understood": 1005.0}
        # An older stage arriving late changes nothing and is not fanned out.
        assert await bus.update_instruction(first["id"],
                                            lambda i: receipt(i, "o1", "delivered")) is None
        await until(lambda: len(received) == 3)
        await asyncio.sleep(0.2)
        assert [e["type"] for e in received] == ["instruction", "instruction",
                                                 "instruction.updated"]

    stored = await bus.get_instruction(first["id"])
    assert stored is not None and stage_of(stored, "o1") == "understood"
    assert stage_of(stored, "o2") is None
    assert [i["id"] for i in await bus.recent_instructions("o2")] == [second["id"], first["id"]]
    assert [i["id"] for i in await bus.recent_instructions("o1")] == [first["id"]]
    assert len(await bus.recent_instructions(None)) == 2
    assert await bus.update_instruction("nope", lambda i: i) is None


async def test_concurrent_receipts_from_two_officers_both_count(bus: Bus) -> None:
    instruction = new_instruction("c1", ["o1", "o2"], "Clear the street")
    await bus.store_instruction(instruction)
    await asyncio.gather(
        bus.update_instruction(instruction["id"], lambda i: receipt(i, "o1", "read")),
        bus.update_instruction(instruction["id"], lambda i: receipt(i, "o2", "understood")))
    stored = await bus.get_instruction(instruction["id"])
    assert stored is not None
    assert (stage_of(stored, "o1"), stage_of(stored, "o2")) == ("read", "understood")


async def test_only_alerts_still_raised_are_due_oldest_first(bus: Bus) -> None:
    assert await bus.next_due() is None
    stored = []
    for i, raised_at in enumerate((1000.0, 1003.0, 1001.0, 1002.0)):
        alert = raise_alert(f"o{i}", "n1", "sos", None, None, None, now=raised_at)
        stored.append((await bus.store_alert(alert, f"due-{i}"))[0])
    # Stored twice under one idempotency key: still one entry.
    await bus.store_alert(raise_alert("o0", "n1", "sos", None, None, None, now=999.0), "due-0")
    a, b, c, d = stored
    assert await bus.next_due() == 1000.0
    assert [x["id"] for x in await bus.due_alerts(1002.0, 10)] == [a["id"], c["id"], d["id"]]
    assert [x["id"] for x in await bus.due_alerts(1002.0, 2)] == [a["id"], c["id"]]
    assert await bus.due_alerts(999.9, 10) == []
    # Reading is not escalating: they stay due until an update moves them on.
    assert len(await bus.due_alerts(1002.0, 10)) == 3
    assert await bus.update_alert(a["id"], lambda x: apply(x, "ack", "c1")) is not None
    assert await bus.update_alert(c["id"], lambda x: escalate(x, 1500.0)) is not None
    assert await bus.next_due() == 1002.0
    assert [x["id"] for x in await bus.due_alerts(5000.0, 10)] == [d["id"], b["id"]]
    for x in (b, d):
        await bus.update_alert(x["id"], lambda y: apply(y, "ack", "c1"))
    assert await bus.due_alerts(5000.0, 10) == [] and await bus.next_due() is None


async def test_due_alerts_survive_a_memory_bus_restart(tmp_path: Any) -> None:
    journal = tmp_path / "alerts.jsonl"
    first = MemoryBus(journal)
    await first.start()
    a, _ = await first.store_alert(raise_alert("o1", "n1", "sos", None, None, None, now=10.0), "a")
    b, _ = await first.store_alert(raise_alert("o2", "n1", "sos", None, None, None, now=20.0), "b")
    await first.update_alert(a["id"], lambda x: apply(x, "ack", "c1"))
    again = MemoryBus(journal)
    await again.start()
    assert [x["id"] for x in await again.due_alerts(100.0, 10)] == [b["id"]]
    assert await again.next_due() == 20.0


async def test_a_redis_bus_indexes_alerts_raised_before_the_due_set_existed(
        tmp_path: Any) -> None:
    server = RedisProcess(tmp_path / "redis", __import__("tests.conftest").conftest.free_port())
    server.start()
    try:
        first = RedisBus(server.url, "test")
        await first.start()
        a, _ = await first.store_alert(
            raise_alert("o1", "n1", "sos", None, None, None, now=10.0), "a")
        b, _ = await first.store_alert(
            raise_alert("o2", "n1", "sos", None, None, None, now=20.0), "b")
        await first.update_alert(b["id"], lambda x: apply(x, "ack", "c1"))
        # As stored by a node from before the due set: open alerts, no index.
        await first._redis.delete(RAISED)
        assert await first.next_due() is None
        await first.aclose()
        second = RedisBus(server.url, "test")
        await second.start()
        try:
            assert [x["id"] for x in await second.due_alerts(100.0, 10)] == [a["id"]]
        finally:
            await second.aclose()
    finally:
        server.stop()
