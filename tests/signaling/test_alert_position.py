"""The SOS goes out at once; the fix that follows updates the same alert."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from recordings.store import read_entries
from tests.live import LiveNode
from tests.media import publish
from tests.signaling.test_alerts import bearer, events_of

pytestmark = pytest.mark.media

FIX = {"lat": 43.7930, "lon": 87.6177, "accuracy_m": 12}


async def post(node: LiveNode, path: str, token: str, body: Any,
               key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = bearer(token)
    if key:
        headers["Idempotency-Key"] = key
    async with node.http.post(f"{node.base}{path}", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_a_fix_after_the_press_updates_the_same_alert_everywhere(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console:
        status, alert = await post(live_node, "/api/alerts", officer, {"kind": "sos"},
                                   key=uuid.uuid4().hex)
        assert status == 201 and alert["lat"] is None
        (raised,) = await events_of(console, "alert")
        status, moved = await post(live_node, f"/api/alerts/{alert['id']}/position", officer, FIX)
        assert status == 200, moved
        assert moved["id"] == alert["id"] and moved["state"] == "raised"
        assert (moved["lat"], moved["lon"], moved["accuracy_m"]) == (FIX["lat"], FIX["lon"], 12)
        assert moved["updated_at"] > raised["alert"]["updated_at"]
        assert len(moved["history"]) == len(alert["history"])  # no new state
        (update,) = await events_of(console, "alert.updated")
        assert update["alert"]["lat"] == FIX["lat"] and update["alert"]["id"] == alert["id"]
    async with live_node.http.get(f"{live_node.base}/api/alerts?state=open",
                                  headers=bearer(commander)) as r:
        (listed,) = (await r.json())["alerts"]
        assert listed["lat"] == FIX["lat"]
    async with live_node.http.get(f"{live_node.base}/api/officers",
                                  headers=bearer(commander)) as r:
        text = json.dumps(await r.json())
        assert str(FIX["lat"]) in text  # the officer's last known position too


async def test_only_the_raising_officer_moves_an_open_alert(live_node: LiveNode) -> None:
    officer, other = await live_node.login("o1"), await live_node.login("o2")
    commander = await live_node.login("c1")
    _, alert = await post(live_node, "/api/alerts", officer, {"kind": "sos"},
                          key=uuid.uuid4().hex)
    path = f"/api/alerts/{alert['id']}/position"
    assert (await post(live_node, path, other, FIX))[0] == 404
    assert (await post(live_node, path, commander, FIX))[0] == 403
    assert (await post(live_node, "/api/alerts/nope/position", officer, FIX))[0] == 404
    for body in ({}, {"lat": 91, "lon": 0}, {"lat": 1}, {"lat": "1", "lon": 2},
                 {"lat": 1, "lon": 2, "accuracy_m": -1}, {"lat": 1, "lon": 2, "accuracy_m": True}):
        status, reply = await post(live_node, path, officer, body)
        assert status == 400 and reply["error"] == "bad_request", body
    assert (await post(live_node, f"/api/alerts/{alert['id']}/resolve", commander, {}))[0] == 200
    status, reply = await post(live_node, path, officer, FIX)
    assert status == 409 and reply["error"] == "conflict"


async def test_the_fresh_fix_is_an_event_in_the_officers_evidence(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    session: Any = None
    pub = await publish(live_node.http, live_node.base, officer)
    try:
        session = live_node.registry.streams["o1"].session
        _, alert = await post(live_node, "/api/alerts", officer, {"kind": "sos"},
                              key=uuid.uuid4().hex)
        assert (await post(live_node, f"/api/alerts/{alert['id']}/position", officer,
                           FIX))[0] == 200
        await asyncio.sleep(0.3)
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await pub.pc.close()
    events = [e for e in read_entries(session.folder / "ledger.jsonl") if e["kind"] == "event"]
    alert_events = [(e["event"], e["lat"]) for e in events if e["event"].startswith("alert.")]
    assert alert_events == [("alert.raised", None), ("alert.position", FIX["lat"])]




async def test_the_press_over_the_open_event_link_is_the_same_alert_as_its_post(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    key = uuid.uuid4().hex
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console, \
            live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
        await phone.send_json({"type": "alert", "key": key, "body": {"kind": "sos"}})
        (accepted,) = await events_of(phone, "alert.accepted")
        assert accepted["key"] == key and accepted["created"] is True
        (raised,) = await events_of(console, "alert")
        assert raised["alert"]["id"] == accepted["alert"]["id"]
        status, posted = await post(live_node, "/api/alerts", officer, {"kind": "sos"}, key=key)
        assert status == 200 and posted["id"] == accepted["alert"]["id"]
        await phone.send_json({"type": "alert", "key": key, "body": {"kind": "sos"}})
        (again,) = await events_of(phone, "alert.accepted")
        assert again["created"] is False and again["alert"]["id"] == posted["id"]
        await console.send_json({"type": "alert", "key": uuid.uuid4().hex, "body": {}})
    async with live_node.http.get(f"{live_node.base}/api/alerts?state=open",
                                  headers=bearer(commander)) as r:
        assert len((await r.json())["alerts"]) == 1  # a console cannot raise one


async def test_a_malformed_press_over_the_event_link_closes_it(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    for message in ({"type": "alert", "key": "short", "body": {}},
                    # `$` also matches before a final newline: the key is taken whole.
                    {"type": "alert", "key": uuid.uuid4().hex + "\n", "body": {}},
                    {"type": "alert", "key": uuid.uuid4().hex, "body": []}):
        async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
            await phone.send_json(message)
            while not phone.closed:
                await asyncio.wait_for(phone.receive(), 5)
            assert phone.close_code == 4400, message
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
        await phone.send_json({"type": "alert", "key": uuid.uuid4().hex, "body": {"lat": 91,
                                                                                   "lon": 0}})
        (error,) = await events_of(phone, "error")
        assert error["error"] == "bad_request"
