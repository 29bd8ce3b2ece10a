"""The phone's link step reaches every console (and consoles that connect later), and the
officer's evidence; a malformed one closes the phone's WebSocket with 4400."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType

from recordings.store import read_entries
from signaling.errors import WS_BAD_MESSAGE
from tests.live import LiveNode
from tests.media import publish
from tests.signaling.test_alerts import bearer, events_of

pytestmark = pytest.mark.media


async def test_a_step_reaches_consoles_now_and_later_and_the_evidence(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    session = live_node.registry.streams["o1"].session
    assert session is not None
    try:
        async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console, \
                live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
            await phone.send_json({"type": "link", "step": 4, "label": "Weak signal: audio only"})
            (event,) = await events_of(console, "link")
            assert (event["officer"], event["step"], event["label"]) == (
                "o1", 4, "Weak signal: audio only")
            async with live_node.http.ws_connect(
                    f"{live_node.base}/ws?token={commander}") as late:
                (snapshot,) = await events_of(late, "link")
                assert snapshot["step"] == 4 and snapshot["officer"] == "o1"
            await phone.send_json({"type": "link", "step": 0, "label": ""})
            (back,) = await events_of(console, "link")
            assert back["step"] == 0
            async with live_node.http.ws_connect(
                    f"{live_node.base}/ws?token={commander}") as later:
                with pytest.raises(TimeoutError):
                    await events_of(later, "link", timeout=0.5)  # step 0 is not kept
        await asyncio.sleep(0.3)
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await pub.pc.close()
    steps = [(e["step"], e["label"]) for e in read_entries(session.folder / "ledger.jsonl")
             if e.get("event") == "link.step"]
    assert steps == [(4, "Weak signal: audio only"), (0, "")]


@pytest.mark.parametrize("message", [
    {"type": "link", "step": 5, "label": ""},
    {"type": "link", "step": -1, "label": ""},
    {"type": "link", "step": True, "label": ""},
    {"type": "link", "step": 1.5, "label": ""},
    {"type": "link", "step": 1, "label": "x" * 81},
    {"type": "link", "step": 1},
])
async def test_a_malformed_step_closes_with_4400(live_node: LiveNode,
                                                 message: dict[str, object]) -> None:
    officer = await live_node.login("o1")
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}") as phone:
        await phone.send_str(json.dumps(message))
        while True:
            msg = await asyncio.wait_for(phone.receive(), 5)
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING):
                break
        assert phone.close_code == WS_BAD_MESSAGE, message


async def test_only_officers_report_a_link(live_node: LiveNode) -> None:
    commander = await live_node.login("c1")
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as console:
        await console.send_json({"type": "link", "step": 4, "label": "forged"})
        with pytest.raises(TimeoutError):
            await events_of(console, "link", timeout=0.5)
