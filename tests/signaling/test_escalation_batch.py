"""An escalation pass reaches each console as ONE message: two nodes on a real Redis, alerts
due together, consoles that ask for `alerts.updated` and one that predates it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from fieldrelay.alerts import raise_alert
from signaling.hub import EventHub
from signaling.redisbus import RedisBus
from tests.cleanup import finish
from tests.conftest import RedisProcess
from tests.live import LiveNode
from tests.waiting import until

NodeFactory = Callable[..., Awaitable[LiveNode]]
ACCEPT = {"type": "accept", "types": ["alerts.updated"]}


class Socket:
    """A WebSocket of one user and every message it got."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                self.messages.append(json.loads(msg.data))

    async def accept_batches(self) -> None:
        """Ask for `alerts.updated`; the pong after it says the node has taken it."""
        await self.ws.send_json(ACCEPT)
        await self.ws.send_json({"type": "ping"})
        await until(lambda: any(m["type"] == "pong" for m in self.messages), "the pong")

    def escalated(self) -> list[str]:
        """Ids of the escalated alerts this socket was told about, in order, however sent."""
        updates = [u for m in self.messages
                   for u in (m["events"] if m["type"] == "alerts.updated" else [m])
                   if u["type"] == "alert.updated"]
        return [u["alert"]["id"] for u in updates if u["alert"]["state"] == "escalated"]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    async def aclose(self) -> None:
        await self.ws.close()
        self.task.cancel()
        await finish(self.task)


async def test_a_pass_of_due_alerts_is_one_message_per_console_on_every_node(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    settings = {"redis_url": redis_server.url, "escalate_after_s": 1.0}
    a = await node_factory(node_id="node-a", **settings)
    b = await node_factory(node_id="node-b", **settings)
    batched_a = Socket(await a.http.ws_connect(f"{a.base}/ws?token={await a.login('c1')}"))
    batched_b = Socket(await b.http.ws_connect(f"{b.base}/ws?token={await b.login('c2')}"))
    legacy = Socket(await a.http.ws_connect(f"{a.base}/ws?token={await a.login('c2')}"))
    phone = Socket(await b.http.ws_connect(f"{b.base}/ws?token={await b.login('o1')}"))
    store = RedisBus(redis_server.url, "test-writer")
    try:
        await batched_a.accept_batches()
        await batched_b.accept_batches()
        # Six alerts raised at the same instant, due 0.6 s from now: whichever node's timer
        # wakes first finds all six due in one pass.
        raised_at = time.time() - 1.0 + 0.6
        ids: list[str] = []
        own_ids: set[str] = set()
        for i in range(6):
            alert = {**raise_alert(f"o{i % 4 + 1}", "node-a", "sos", None, None, None),
                     "raised_at": raised_at}
            stored, _ = await store.store_alert(alert, f"o{i}:batch-key-{i}")
            ids.append(stored["id"])
            if alert["officer"] == "o1":
                own_ids.add(stored["id"])
        everyone = (batched_a, batched_b, legacy)
        await until(lambda: all(sorted(s.escalated()) == sorted(ids) for s in everyone),
                    "every escalation on every console")
        await asyncio.sleep(1.5)  # room for anything sent twice (both nodes run the timer)
        # A pass takes the due alerts oldest first; raised at the same instant, by id.
        ids.sort()

        for console in (batched_a, batched_b):
            (batch,) = console.of("alerts.updated")
            assert [e["alert"]["id"] for e in batch["events"]] == ids
            assert all(e["cursor"] == e["alert"]["cursor"] for e in batch["events"])
            assert console.of("alert.updated") == []
        # A client that did not ask gets each update on its own, as it always did.
        assert [m["alert"]["id"] for m in legacy.of("alert.updated")] == ids
        assert legacy.of("alerts.updated") == []
        # An officer gets the updates of its own alerts only, each on its own.
        own = [i for i in ids if i in own_ids]
        assert [m["alert"]["id"] for m in phone.of("alert.updated")] == own
        assert phone.of("alerts.updated") == []

        # A console that reconnects and resumes gets the same updates again, one by one.
        async with b.http.ws_connect(f"{b.base}/ws?token={await b.login('c1')}") as again:
            await again.send_json(ACCEPT)
            await again.send_json({"type": "resume", "after": ids[0]})
            replayed: list[str] = []
            async with asyncio.timeout(10):
                while len(replayed) < len(ids):
                    msg = json.loads((await again.receive()).data)
                    assert msg["type"] != "alerts.updated"
                    if msg["type"] == "alert.updated":
                        replayed.append(msg["alert"]["id"])
            assert replayed == ids
    finally:
        for sock in (batched_a, batched_b, legacy, phone):
            await sock.aclose()
        await store.aclose()


async def test_a_console_gets_each_alert_state_once_whether_batched_or_not() -> None:
    hub = EventHub()
    overflows: list[str] = []
    batched = hub.connect("c1", "commander", lambda: overflows.append("c1"))
    batched.batches = True
    plain = hub.connect("c2", "commander", lambda: overflows.append("c2"))
    officer = hub.connect("o1", "officer", lambda: overflows.append("o1"))
    events: list[dict[str, Any]] = [{"type": "alert.updated", "cursor": f"1-{i}",
               "alert": {"id": f"a{i}", "state": "escalated", "updated_at": 5.0}}
              for i in range(3)]
    # A resume already queued the first update to the batched console.
    assert batched.offer(json.dumps(events[0]), "a0|escalated|5.0")
    assert hub.send_batch_to_roles(events, ("commander",)) == 2
    assert hub.send_batch_to_roles(events, ("commander",)) == 0  # all seen by now

    def drained(client: Any) -> list[dict[str, Any]]:
        out = []
        while not client.queue.empty():
            out.append(json.loads(client.queue.get_nowait()))
        return out

    first, batch = drained(batched)
    assert first == events[0]
    assert batch == {"type": "alerts.updated", "events": events[1:]}
    assert drained(plain) == events
    assert drained(officer) == [] and overflows == []
    # One fresh update reads as it always did, even to a console that takes batches.
    late = {**events[2], "alert": {**events[2]["alert"], "state": "acknowledged"}}
    assert hub.send_batch_to_roles([late], ("commander",)) == 2
    assert drained(batched) == [late] and drained(plain) == [late]
