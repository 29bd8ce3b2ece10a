"""Two nodes on one Redis: presence and alerts cross nodes; Redis restarts lose nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from tests.conftest import RedisProcess, free_port
from tests.live import LiveNode
from tests.media import publish

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_alert(node: LiveNode, token: str, key: str) -> tuple[int, dict[str, Any]]:
    async with node.http.post(f"{node.base}/api/alerts", json={"kind": "sos"},
                              headers={**bearer(token), "Idempotency-Key": key}) as r:
        return r.status, await r.json()


async def collect(ws: aiohttp.ClientWebSocketResponse, sink: list[dict[str, Any]]) -> None:
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            sink.append(json.loads(msg.data))


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_presence_and_alerts_cross_nodes(node_factory: NodeFactory,
                                               redis_server: RedisProcess) -> None:
    # A advertises a public URL unlike its listening address: presence must carry exactly it.
    port = free_port()
    a = await node_factory(node_id="node-a", redis_url=redis_server.url, port=port,
                           public_url=f"http://localhost:{port}")
    b = await node_factory(node_id="node-b", redis_url=redis_server.url)
    officer, commander = await a.login("o1"), await b.login("c1")
    seen: list[dict[str, Any]] = []
    async with b.http.ws_connect(f"{b.base}/ws?token={commander}") as console:
        reader = asyncio.get_running_loop().create_task(collect(console, seen))
        pub = await publish(a.http, a.base, officer, audio=False)
        try:
            await wait_until(lambda: any(e["type"] == "presence" and e["officer"] == "o1"
                                         and e["live"] for e in seen), 10, "presence on B")
            live = next(e for e in seen if e["type"] == "presence" and e["live"])
            assert (live["node"], live["url"]) == ("node-a", f"http://localhost:{port}")
            async with b.http.get(f"{b.base}/api/officers", headers=bearer(commander)) as r:
                rows = {row["name"]: row for row in (await r.json())["officers"]}
            assert rows["o1"]["live"] and rows["o1"]["node"] == "node-a"
            status, alert = await post_alert(a, officer, "cross-node-1")
            assert status == 201
            await wait_until(lambda: any(e["type"] == "alert" and e["alert"]["id"] == alert["id"]
                                         for e in seen), 5, "the alert on B's console")
            async with b.http.post(f"{b.base}/api/alerts/{alert['id']}/ack",
                                   headers=bearer(commander)) as r:
                assert r.status == 200
        finally:
            await pub.pc.close()
            reader.cancel()
            await asyncio.wait([reader])


async def test_redis_restart_while_alerts_are_raised_loses_none(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await node_factory(node_id="node-a", redis_url=redis_server.url)
    b = await node_factory(node_id="node-b", redis_url=redis_server.url)
    officers = [await a.login(name) for name in ("o1", "o2", "o3", "o4")]
    commander = await b.login("c1")
    seen: list[dict[str, Any]] = []
    async with b.http.ws_connect(f"{b.base}/ws?token={commander}") as console:
        reader = asyncio.get_running_loop().create_task(collect(console, seen))
        try:
            ids: list[str] = []
            for i in range(60):
                officer = officers[i % len(officers)]
                if i == 20:
                    redis_server.stop()
                if i == 40:
                    redis_server.start()  # AOF (fsync always) brings the stream back
                status, alert = await post_alert(a, officer, f"restart-{i:04d}")
                assert status == 201, alert
                ids.append(alert["id"])
                await asyncio.sleep(0.05)

            def delivered() -> list[str]:
                return [e["alert"]["id"] for e in seen if e["type"] == "alert"]

            await wait_until(lambda: set(delivered()) >= set(ids), 30, "every alert on B")
            await asyncio.sleep(1.0)
            assert sorted(delivered()) == sorted(ids), "each alert exactly once"
            async with b.http.get(f"{b.base}/api/alerts?state=open",
                                  headers=bearer(commander)) as r:
                assert {x["id"] for x in (await r.json())["alerts"]} == set(ids)
        finally:
            reader.cancel()
            await asyncio.wait([reader])


async def test_alert_during_redis_outage_goes_to_the_outbox_and_then_everywhere(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await node_factory(node_id="node-a", redis_url=redis_server.url)
    b = await node_factory(node_id="node-b", redis_url=redis_server.url)
    officer = await a.login("o1")
    on_a: list[dict[str, Any]] = []
    on_b: list[dict[str, Any]] = []
    async with a.http.ws_connect(f"{a.base}/ws?token={await a.login('c1')}") as ca, \
            b.http.ws_connect(f"{b.base}/ws?token={await b.login('c2')}") as cb:
        readers = [asyncio.get_running_loop().create_task(collect(ws, sink))
                   for ws, sink in ((ca, on_a), (cb, on_b))]
        try:
            await asyncio.sleep(0.5)
            redis_server.stop()
            key = uuid.uuid4().hex
            status, alert = await post_alert(a, officer, key)
            assert status == 201
            again_status, again = await post_alert(a, officer, key)  # the phone retries
            assert again_status == 200 and again["id"] == alert["id"]
            await wait_until(lambda: any(e.get("alert", {}).get("id") == alert["id"]
                                         for e in on_a), 3, "A's own console")
            assert not any(e.get("alert", {}).get("id") == alert["id"] for e in on_b)
            redis_server.start()
            await wait_until(lambda: any(e.get("alert", {}).get("id") == alert["id"]
                                         for e in on_b), 20, "B's console after Redis returns")
            await asyncio.sleep(1.0)
            assert sum(e.get("alert", {}).get("id") == alert["id"] for e in on_a) == 1
            assert sum(e.get("alert", {}).get("id") == alert["id"] for e in on_b) == 1
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.wait(readers)


async def test_instruction_from_a_console_on_b_reaches_a_phone_on_a_and_back(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await node_factory(node_id="node-a", redis_url=redis_server.url)
    b = await node_factory(node_id="node-b", redis_url=redis_server.url)
    officer, commander = await a.login("o1"), await b.login("c1")
    on_phone: list[dict[str, Any]] = []
    on_console: list[dict[str, Any]] = []
    pub = await publish(a.http, a.base, officer, audio=False)
    async with a.http.ws_connect(f"{a.base}/ws?token={officer}") as phone, \
            b.http.ws_connect(f"{b.base}/ws?token={commander}") as console:
        readers = [asyncio.get_running_loop().create_task(collect(phone, on_phone)),
                   asyncio.get_running_loop().create_task(collect(console, on_console))]
        try:
            async with b.http.post(f"{b.base}/api/instructions",
                                   json={"to": ["o1"], "text": "Hold the door"},
                                   headers=bearer(commander)) as r:
                assert r.status == 201
                sent = await r.json()
            await wait_until(lambda: any(e["type"] == "instruction" for e in on_phone), 5,
                             "the instruction on the phone on A")
            await phone.send_json({"type": "instruction.understood", "id": sent["id"]})

            def understood() -> bool:
                return any(e["type"] == "instruction.updated"
                           and "understood" in e["instruction"]["receipts"]["o1"]
                           for e in on_console)

            await wait_until(understood, 5, "understood on B's console")
            # Asking an officer live on A to go live is refused from B too.
            async with b.http.post(f"{b.base}/api/officers/o1/golive",
                                   headers=bearer(commander)) as r:
                assert r.status == 409
        finally:
            for task in readers:
                task.cancel()
            await asyncio.wait(readers)
            async with a.http.delete(f"{a.base}{pub.location}", headers=bearer(officer)) as r:
                assert r.status == 200
            await pub.pc.close()
    folder = next(a.registry.evidence.sessions_dir.iterdir())
    events = [json.loads(line).get("event") for line in
              (folder / "ledger.jsonl").read_text().splitlines()]
    assert [e for e in events if e and e.startswith("instruction.")] == [
        "instruction.sent", "instruction.delivered", "instruction.read",
        "instruction.understood"]
