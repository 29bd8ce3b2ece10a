"""The /ws event stream: token and Origin checks, presence for commanders, H.264 publishing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiortc import RTCRtpSender

from signaling.errors import WS_FORBIDDEN, WS_UNAUTHORIZED
from tests.live import LiveNode
from tests.media import local_pc, publish, view

pytestmark = pytest.mark.media


async def next_event(ws: aiohttp.ClientWebSocketResponse, kind: str,
                     timeout: float = 20) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            event = json.loads(msg.data)
            if event["type"] == kind:
                return event  # type: ignore[no-any-return]


async def test_ws_rejects_missing_token_and_foreign_origin(live_node: LiveNode) -> None:
    async with live_node.http.ws_connect(f"{live_node.base}/ws") as ws:
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == WS_UNAUTHORIZED
    token = await live_node.login("c1")
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={token}",
                                         origin="https://evil.example") as ws:
        msg = await ws.receive()
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == WS_FORBIDDEN
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={token}",
                                         origin=live_node.base) as ws:
        hello = await next_event(ws, "hello")
        assert hello["user"] == "c1" and hello["role"] == "commander"


async def test_commander_sees_officer_go_live_and_stop(live_node: LiveNode) -> None:
    commander = await live_node.login("c1")
    officer = await live_node.login("o1")
    async with live_node.http.ws_connect(f"{live_node.base}/ws?token={commander}") as ws:
        await next_event(ws, "hello")
        pub = await publish(live_node.http, live_node.base, officer)
        try:
            live = await next_event(ws, "presence")
            assert (live["officer"], live["live"], live["state"]) == ("o1", True, "live")
            async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                             headers={"Authorization": f"Bearer {officer}"}) as r:
                assert r.status == 200
            gone = await next_event(ws, "presence")
            assert (gone["officer"], gone["live"], gone["state"]) == ("o1", False, "offline")
        finally:
            await pub.pc.close()
    async with live_node.http.get(f"{live_node.base}/api/officers",
                                  headers={"Authorization": f"Bearer {commander}"}) as resp:
        rows = {r["name"]: r for r in (await resp.json())["officers"]}
        assert set(rows) == {"o1", "o2", "o3", "o4"} and not rows["o1"]["live"]


async def test_h264_publisher_is_relayed_as_h264(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    # Offer H.264 only, the way a body camera with a hardware encoder would.
    pub = await publish(live_node.http, live_node.base, officer, audio=False, pc=local_pc(),
                        before_offer=force_h264)
    viewer = await view(live_node.http, live_node.base, commander, "o1", kinds=("video",))
    try:
        await viewer.wait_frames(30, timeout=15)
        assert live_node.registry.streams["o1"].codecs["video"].mime == "video/h264"
    finally:
        await viewer.close()
        await pub.pc.close()


def force_h264(pc: Any) -> None:
    caps = RTCRtpSender.getCapabilities("video")
    h264 = [c for c in caps.codecs if c.mimeType == "video/H264"]
    for t in pc.getTransceivers():
        if t.kind == "video":
            t.setCodecPreferences(h264)


async def test_metrics_count_the_relay(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    viewer = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await viewer.wait_frames(20, timeout=10)
        async with live_node.http.get(f"{live_node.base}/metrics") as resp:
            text = await resp.text()
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line and not line.startswith("#")}
        assert values["fieldrelay_publishers_live"] == 1
        assert values["fieldrelay_viewers"] == 1
        assert values["fieldrelay_packets_forwarded_total"] >= 40
        assert values["fieldrelay_viewer_drops_total"] == 0
    finally:
        await viewer.close()
        await pub.pc.close()
