"""Alerts survive a node killed with `kill -9`: those in the single node's journal and those
in a cluster node's outbox while Redis was down. After the restart (and Redis's return)
every alert reaches every console, exactly once on each WebSocket connection."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.cleanup import finish
from tests.conftest import NodeProcess, RedisProcess, free_port

Event = dict[str, Any]


class Console:
    """A commander's WebSocket on one node, with every event it received, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[Event] = []
        self.closed = asyncio.Event()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, http: aiohttp.ClientSession, node: NodeProcess, token: str,
                      resume_after: str | None = None) -> None:
        self._ws = await http.ws_connect(f"{node.url}/ws?token={token}")
        self._reader = asyncio.get_running_loop().create_task(self._read(self._ws))
        await self.wait_for(lambda e: e["type"] == "hello", "hello")
        if resume_after is not None:
            await self._ws.send_json({"type": "resume", "after": resume_after})

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.events.append(json.loads(msg.data))
        finally:
            self.closed.set()

    async def aclose(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await finish(self._reader)

    def raised(self) -> Counter[str]:
        """How many times each alert's creation arrived here."""
        return Counter(e["alert"]["id"] for e in self.events if e["type"] == "alert")

    async def wait_for(self, predicate: Callable[[Event], bool], what: str,
                       timeout: float = 15) -> Event:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = next((e for e in self.events if predicate(e)), None)
                    if found is not None:
                        return found
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"{self.name}: no {what} within {timeout} s; "
                                 f"got {self.events[-10:]}") from None

    async def wait_raised(self, ids: set[str], timeout: float = 20) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not ids <= set(self.raised()):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"{self.name}: missing alerts {ids - set(self.raised())}; "
                                 f"got {self.events[-10:]}") from None


async def raise_alert(http: aiohttp.ClientSession, node: NodeProcess, token: str,
                      key: str) -> Event:
    async with http.post(f"{node.url}/api/alerts", json={"kind": "sos"},
                         headers={"Authorization": f"Bearer {token}",
                                  "Idempotency-Key": key}) as r:
        assert r.status == 201, await r.text()
        alert: Event = await r.json()
        return alert


def kill_9(node: NodeProcess) -> None:
    assert node.proc is not None
    node.proc.send_signal(signal.SIGKILL)
    assert node.proc.wait(10) == -signal.SIGKILL


def new_node(tmp_path: Path, name: str) -> NodeProcess:
    node = NodeProcess(data_dir=tmp_path / name / "data", port=free_port())
    for user, role in (("c1", "commander"), ("o1", "officer"), ("o2", "officer")):
        node.add_user(user, role)
    return node


def exactly_once(console: Console, ids: set[str]) -> None:
    """Each of `ids` arrived on this connection, and no alert arrived on it twice.

    Across a reconnect a console may be offered an alert it had on its previous connection
    (the page drops repeats, web/js/alerts-panel.js); on one connection, never."""
    counts = console.raised()
    assert ids <= set(counts), (console.name, ids - set(counts))
    assert set(counts.values()) == {1}, (console.name, counts)


async def test_journal_alerts_survive_kill_9_and_reach_consoles_once(tmp_path: Path) -> None:
    node = new_node(tmp_path, "single")
    # Escalation would add updates; this test counts the alerts themselves.
    node.start("--escalate-after", "3600")
    try:
        async with aiohttp.ClientSession() as http:
            commander, officer = node.login("c1"), node.login("o1")
            watching = Console("watching before the crash")
            await watching.connect(http, node, commander)
            first = [await raise_alert(http, node, officer, f"journal-{i}-{uuid.uuid4().hex}")
                     for i in range(3)]
            await watching.wait_raised({a["id"] for a in first})
            last_seen = watching.raised()  # the console's place: the newest cursor it holds
            cursor = [e["cursor"] for e in watching.events if e["type"] == "alert"][-1]
            await watching.aclose()
            # Raised while that console was away, then the node dies right after its 201s.
            missed = [await raise_alert(http, node, officer, f"missed-{i}-{uuid.uuid4().hex}")
                      for i in range(3)]
            kill_9(node)

            node.start("--escalate-after", "3600")
            commander = node.login("c1")
            back, late = Console("back after the crash"), Console("fresh after the crash")
            await back.connect(http, node, commander, resume_after=cursor)
            await late.connect(http, node, commander, resume_after="0-0")
            all_ids = {a["id"] for a in first + missed}
            await back.wait_raised({a["id"] for a in missed})
            await late.wait_raised(all_ids)
            await asyncio.sleep(1.0)  # room for a duplicate to show up
            # The console saw each alert once across its two connections.
            assert set(last_seen) == {a["id"] for a in first}
            assert not set(back.raised()) & set(last_seen), back.raised()
            exactly_once(back, {a["id"] for a in missed})
            exactly_once(late, all_ids)
            await back.aclose()
            await late.aclose()
    finally:
        if node.proc is not None and node.proc.poll() is None:
            node.stop()


@pytest.mark.media  # two nodes and a Redis of the test's own: only in the private namespace
async def test_outbox_alerts_survive_kill_9_while_redis_is_down(
        tmp_path: Path, redis_server: RedisProcess, loopback_only: None) -> None:
    a, b = new_node(tmp_path, "a"), new_node(tmp_path, "b")
    flags = ("--redis-url", redis_server.url, "--escalate-after", "3600")
    a.start("--node-id", "node-a", *flags)
    b.start("--node-id", "node-b", *flags)
    consoles: list[Console] = []
    try:
        async with aiohttp.ClientSession() as http:
            on_b, on_a = Console("B, connected throughout"), Console("A, before the crash")
            consoles += [on_b, on_a]
            await on_b.connect(http, b, b.login("c1"))
            await on_a.connect(http, a, a.login("c1"))
            officer = a.login("o1")
            before = await raise_alert(http, a, officer, f"before-{uuid.uuid4().hex}")
            await on_b.wait_raised({before["id"]})

            redis_server.stop()
            held = [await raise_alert(http, a, officer, f"held-{i}-{uuid.uuid4().hex}")
                    for i in range(3)]
            held_ids = {h["id"] for h in held}
            await on_a.wait_raised(held_ids)  # A's own consoles see them while Redis is down
            pending = (a.data_dir / "outbox" / "alerts.jsonl").read_text().splitlines()
            assert {json.loads(line)["alert"]["id"] for line in pending} == held_ids
            kill_9(a)

            a.start("--node-id", "node-a", *flags)  # Redis is still down
            after_restart = Console("A, after the restart")
            consoles.append(after_restart)
            await after_restart.connect(http, a, a.login("c1"), resume_after=before["id"])
            await after_restart.wait_raised(held_ids)  # from the outbox, before Redis is back

            redis_server.start()
            await on_b.wait_raised(held_ids, timeout=30)
            late = Console("B, connected after everything")
            consoles.append(late)
            await late.connect(http, b, b.login("c1"), resume_after=before["id"])
            await late.wait_raised(held_ids)
            await asyncio.sleep(2.0)  # the flush is done; room for a duplicate to show up
            assert (a.data_dir / "outbox" / "alerts.jsonl").read_text() == ""
            exactly_once(on_b, held_ids | {before["id"]})
            exactly_once(on_a, held_ids | {before["id"]})
            exactly_once(after_restart, held_ids)
            exactly_once(late, held_ids)
    except BaseException:
        print("---- node A ----\n" + a.log()[-4000:] + "\n---- node B ----\n" + b.log()[-3000:])
        raise
    finally:
        for console in consoles:
            await console.aclose()
        for node in (a, b):
            if node.proc is not None and node.proc.poll() is None:
                node.stop()
