"""The one-click call on one node: idempotent, acknowledged, resumed, escalated, in evidence."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from recordings.store import read_entries
from tests.live import LiveNode
from tests.media import publish

pytestmark = pytest.mark.media

NodeFactory = Callable[..., Awaitable[LiveNode]]
# Urumqi, People's Square, and officers 0.4 km and 2 km north of it, one 80 km away.
SCENE = (43.7930, 87.6177)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def raise_alert(node: LiveNode, token: str, key: str | None = None,
                      **body: Any) -> tuple[int, dict[str, Any]]:
    headers = {**bearer(token), "Idempotency-Key": key or uuid.uuid4().hex}
    payload = {"kind": "sos", "lat": SCENE[0], "lon": SCENE[1], **body}
    async with node.http.post(f"{node.base}/api/alerts", json=payload, headers=headers) as r:
        return r.status, await r.json()


async def events_of(ws: aiohttp.ClientWebSocketResponse, kind: str, count: int = 1,
                    timeout: float = 10) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            event = json.loads((await ws.receive()).data)
            if event["type"] == kind:
                out.append(event)
    return out


async def test_raise_is_idempotent_and_ack_reaches_console_and_officer(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console, \
            live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
        status, alert = await raise_alert(live_node, officer, key="press-0001")
        assert status == 201 and alert["state"] == "raised" and alert["officer"] == "o1"
        again_status, again = await raise_alert(live_node, officer, key="press-0001")
        assert again_status == 200 and again["id"] == alert["id"]
        (seen,) = await events_of(console, "alert")
        assert seen["alert"]["id"] == alert["id"] and seen["alert"]["lat"] == SCENE[0]
        async with live_node.http.post(f"{live_node.base}/api/alerts/{alert['id']}/ack",
                                       headers=bearer(commander)) as r:
            assert r.status == 200 and (await r.json())["acknowledged_by"] == "c1"
        async with live_node.http.post(f"{live_node.base}/api/alerts/{alert['id']}/ack",
                                       headers=bearer(commander)) as r:
            assert r.status == 409
        (update,) = await events_of(console, "alert.updated")
        assert update["alert"]["state"] == "acknowledged"
        phone_updates = await events_of(phone, "alert.updated")
        assert phone_updates[0]["alert"]["acknowledged_by"] == "c1"
    async with live_node.http.get(f"{live_node.base}/api/alerts?state=open",
                                  headers=bearer(commander)) as r:
        assert [a["id"] for a in (await r.json())["alerts"]] == [alert["id"]]
    async with live_node.http.get(f"{live_node.base}/api/alerts/{alert['id']}",
                                  headers=bearer(officer)) as r:
        assert r.status == 200 and (await r.json())["acknowledged_by"] == "c1"
    other = await live_node.login("o2")
    async with live_node.http.get(f"{live_node.base}/api/alerts/{alert['id']}",
                                  headers=bearer(other)) as r:
        assert r.status == 404  # another officer's alert does not exist for them


async def test_bad_alert_requests(live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    async with live_node.http.post(f"{live_node.base}/api/alerts", json={"kind": "sos"},
                                   headers=bearer(officer)) as r:
        assert r.status == 400  # no Idempotency-Key
    for body in ({"kind": "party"}, {"lat": 91, "lon": 0}, {"lat": 1, "lon": None},
                 {"lat": "43", "lon": 87}, {"note": "x" * 600}):
        status, reply = await raise_alert(live_node, officer, **body)
        assert status == 400 and reply["error"] == "bad_request", body
    status, _ = await raise_alert(live_node, commander)
    assert status == 403
    async with live_node.http.post(f"{live_node.base}/api/alerts/nope/ack",
                                   headers=bearer(commander)) as r:
        assert r.status == 404
    async with live_node.http.post(f"{live_node.base}/api/alerts/x/launch",
                                   headers=bearer(commander)) as r:
        assert r.status == 400


async def test_console_resumes_and_gets_each_missed_alert_exactly_once(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o2"), await live_node.login("c1")
    _, first = await raise_alert(live_node, officer)
    # The console was away for these five.
    missed = [(await raise_alert(live_node, officer))[1]["id"] for _ in range(5)]
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console:
        await console.send_json({"type": "resume", "after": first["id"]})
        await console.send_json({"type": "resume", "after": first["id"]})  # a nervous client
        got = await events_of(console, "alert", count=5)
        assert [e["alert"]["id"] for e in got] == missed
        with pytest.raises(TimeoutError):
            await events_of(console, "alert", timeout=1.0)


async def test_unacknowledged_alert_escalates_and_dispatches_the_nearest_live_officers(
        node_factory: NodeFactory) -> None:
    node = await node_factory(escalate_after_s=1.0, dispatch_count=2, dispatch_radius_m=5000)
    tokens = {name: await node.login(name) for name in ("o1", "o2", "o3", "o4", "c1")}
    publications = []
    try:
        phones = {}
        for name, (dlat, live) in {"o2": (0.0036, True), "o3": (0.018, True),
                                   "o4": (0.0018, False)}.items():
            if live:
                publications.append(await publish(node.http, node.base, tokens[name],
                                                  audio=False))
            phones[name] = await node.http.ws_connect(f"{node.base}/ws?token={tokens[name]}")
            await phones[name].send_json({"type": "position", "lat": SCENE[0] + dlat,
                                          "lon": SCENE[1]})
        await asyncio.sleep(1.0)  # presence announced once the publishers connect
        console = await node.http.ws_connect(f"{node.base}/ws?token={tokens['c1']}")
        status, alert = await raise_alert(node, tokens["o1"])
        assert status == 201
        (escalated,) = [e for e in await events_of(console, "alert.updated", timeout=10)]
        assert escalated["alert"]["state"] == "escalated"
        dispatch = (await events_of(phones["o2"], "dispatch", timeout=5))[0]
        assert dispatch["alert"]["id"] == alert["id"]
        assert 350 < dispatch["distance_m"] < 450 and dispatch["direction"] == "S"
        far = (await events_of(phones["o3"], "dispatch", timeout=5))[0]
        assert 1900 < far["distance_m"] < 2100
        with pytest.raises(TimeoutError):  # o4 is closest but not live
            await events_of(phones["o4"], "dispatch", timeout=1.0)
        for ws in (*phones.values(), console):
            await ws.close()
    finally:
        for pub in publications:
            await pub.pc.close()


async def test_alert_transitions_are_events_in_the_officers_evidence(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    try:
        session = live_node.registry.streams["o1"].session
        assert session is not None
        _, alert = await raise_alert(live_node, officer)
        for action in ("ack", "resolve"):
            async with live_node.http.post(f"{live_node.base}/api/alerts/{alert['id']}/{action}",
                                           headers=bearer(commander)) as r:
                assert r.status == 200
        await asyncio.sleep(0.5)
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await pub.pc.close()
    events = [e for e in read_entries(session.folder / "ledger.jsonl") if e["kind"] == "event"]
    alert_events = [(e["event"], e["by"]) for e in events if e["event"].startswith("alert.")]
    assert alert_events == [("alert.raised", None), ("alert.acknowledged", "c1"),
                            ("alert.resolved", "c1")]
