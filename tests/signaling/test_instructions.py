"""Instructions and go-live requests: phones get them, commanders see receipts, evidence too."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.live import LiveNode
from tests.media import publish

pytestmark = pytest.mark.media


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def next_event(ws: aiohttp.ClientWebSocketResponse, kind: str,
                     match: Any = lambda e: True, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            event: dict[str, Any] = json.loads((await ws.receive()).data)
            if event["type"] == kind and match(event):
                return event


def receipt_of(officer: str, stage: str) -> Any:
    return lambda e: stage in e["instruction"]["receipts"].get(officer, {})


def session_events(node: LiveNode) -> list[dict[str, Any]]:
    out = []
    for folder in node.registry.evidence.sessions_dir.iterdir():
        for line in (folder / "ledger.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry["kind"] == "event":
                out.append(entry)
    return out


async def test_instruction_reaches_phones_and_receipts_reach_the_commander(
        live_node: LiveNode) -> None:
    tokens = {n: await live_node.login(n) for n in ("o1", "o2", "o3", "c1")}
    pub = await publish(live_node.http, live_node.base, tokens["o1"])
    console = await live_node.http.ws_connect(f"{live_node.base}/ws?token={tokens['c1']}")
    phone1 = await live_node.http.ws_connect(f"{live_node.base}/ws?token={tokens['o1']}")
    phone2 = await live_node.http.ws_connect(f"{live_node.base}/ws?token={tokens['o2']}")
    try:
        await next_event(phone1, "hello")
        await next_event(phone2, "hello")
        text = "Wait for backup before you enter the building"
        async with live_node.http.post(f"{live_node.base}/api/instructions",
                                       json={"to": ["o1", "o2", "o3"], "text": text},
                                       headers=bearer(tokens["c1"])) as r:
            assert r.status == 201, await r.text()
            sent = await r.json()
        assert sent["by"] == "c1" and sent["to"] == ["o1", "o2", "o3"]

        got = await next_event(phone1, "instruction")
        assert got["instruction"]["text"] == text
        # A phone sees its own receipt only, not who else was told.
        assert list(got["instruction"]["receipts"]) == ["o1"]
        await next_event(phone2, "instruction")
        await next_event(console, "instruction.updated", receipt_of("o1", "delivered"))
        await next_event(console, "instruction.updated", receipt_of("o2", "delivered"))

        await phone1.send_json({"type": "instruction.read", "id": sent["id"]})
        await next_event(console, "instruction.updated", receipt_of("o1", "read"))
        async with live_node.http.post(
                f"{live_node.base}/api/instructions/{sent['id']}/understood",
                headers=bearer(tokens["o1"])) as r:
            assert r.status == 200
            assert "understood" in (await r.json())["receipts"]["o1"]
        done = await next_event(console, "instruction.updated", receipt_of("o1", "understood"))
        assert done["instruction"]["receipts"]["o3"] == {}

        # o3 was not connected: it gets the instruction when its phone connects.
        async with live_node.http.ws_connect(
                f"{live_node.base}/ws?token={tokens['o3']}") as phone3:
            late = await next_event(phone3, "instruction")
            assert late["instruction"]["id"] == sent["id"]
            await next_event(console, "instruction.updated", receipt_of("o3", "delivered"))

        # A group: only the officers live now.
        async with live_node.http.post(f"{live_node.base}/api/instructions",
                                       json={"group": "live", "text": "Report in"},
                                       headers=bearer(tokens["c1"])) as r:
            assert r.status == 201
            assert (await r.json())["to"] == ["o1"]
        async with live_node.http.get(f"{live_node.base}/api/instructions",
                                      headers=bearer(tokens["o2"])) as r:
            own = (await r.json())["instructions"]
            assert [i["text"] for i in own] == [text]
        await asyncio.sleep(0.5)
    finally:
        await console.close()
        await phone1.close()
        await phone2.close()
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(tokens["o1"])) as r:
            assert r.status == 200
        await pub.pc.close()

    recorded = [(e["event"], e.get("by")) for e in session_events(live_node)
                if e["event"].startswith("instruction.") and e["instruction"] == sent["id"]]
    assert recorded == [("instruction.sent", "c1"), ("instruction.delivered", "o1"),
                        ("instruction.read", "o1"), ("instruction.understood", "o1")]
    text_event = next(e for e in session_events(live_node) if e["event"] == "instruction.sent")
    assert text_event["text"] == text


async def test_instruction_input_is_checked(live_node: LiveNode) -> None:
    c1, o1, o2 = [await live_node.login(n) for n in ("c1", "o1", "o2")]
    url = f"{live_node.base}/api/instructions"
    for body, status in (({"to": ["o1"], "text": ""}, 400),
                         ({"to": ["o1"], "text": "x" * 501}, 400),
                         ({"to": ["nobody"], "text": "hi"}, 400),
                         ({"to": ["o1"], "group": "all", "text": "hi"}, 400),
                         ({"group": "everyone", "text": "hi"}, 400),
                         ({"group": "live", "text": "hi"}, 409),
                         ({"to": ["o1"], "text": "bell\x07"}, 400)):
        async with live_node.http.post(url, json=body, headers=bearer(c1)) as r:
            assert r.status == status, (body, await r.text())
            assert "detail" in await r.json()
    async with live_node.http.post(url, json={"to": ["o1"], "text": "hi"},
                                   headers=bearer(o1)) as r:
        assert r.status == 403
    async with live_node.http.post(url, json={"to": ["o1"], "text": "hi"},
                                   headers=bearer(c1)) as r:
        sent = await r.json()
    async with live_node.http.post(f"{url}/{sent['id']}/understood", headers=bearer(o2)) as r:
        assert r.status == 404
    async with live_node.http.post(f"{url}/{sent['id']}/forgotten", headers=bearer(o1)) as r:
        assert r.status == 400


async def test_go_live_request_is_one_tap_and_lands_in_the_new_session(
        live_node: LiveNode) -> None:
    c1, c2, o1, o2 = [await live_node.login(n) for n in ("c1", "c2", "o1", "o2")]
    console = await live_node.http.ws_connect(f"{live_node.base}/ws?token={c2}")
    phone = await live_node.http.ws_connect(f"{live_node.base}/ws?token={o2}")
    pub1 = await publish(live_node.http, live_node.base, o1)
    pub2 = None
    try:
        await next_event(phone, "hello")
        async with live_node.http.post(f"{live_node.base}/api/officers/o1/golive",
                                       headers=bearer(c1)) as r:
            assert r.status == 409  # live already
        async with live_node.http.post(f"{live_node.base}/api/officers/zz/golive",
                                       headers=bearer(c1)) as r:
            assert r.status == 404
        async with live_node.http.post(f"{live_node.base}/api/officers/o2/golive",
                                       headers=bearer(o1)) as r:
            assert r.status == 403
        async with live_node.http.post(f"{live_node.base}/api/officers/o2/golive",
                                       headers=bearer(c1)) as r:
            assert r.status == 202
            request = await r.json()
        asked = await next_event(phone, "golive")
        assert (asked["id"], asked["by"]) == (request["id"], "c1")
        assert (await next_event(console, "golive"))["officer"] == "o2"

        await phone.send_json({"type": "golive.answer", "id": "bogus", "accept": True})
        assert (await next_event(phone, "error"))["error"] == "not_found"
        await phone.send_json({"type": "golive.answer", "id": request["id"], "accept": True})
        answer = await next_event(console, "golive.answer")
        assert (answer["officer"], answer["accept"], answer["by"]) == ("o2", True, "c1")
        pub2 = await publish(live_node.http, live_node.base, o2)
        await next_event(console, "presence", lambda e: e["officer"] == "o2" and e["live"])
        await asyncio.sleep(0.5)
    finally:
        await console.close()
        await phone.close()
        for pub, token in ((pub1, o1), (pub2, o2)):
            if pub is not None:
                async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                                 headers=bearer(token)) as r:
                    assert r.status == 200
                await pub.pc.close()
    requested = [e for e in session_events(live_node) if e["event"] == "golive.requested"]
    assert [(e["session"].split("-")[1], e["by"]) for e in requested] == [("o2", "c1")]
