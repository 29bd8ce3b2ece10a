"""SIGTERM: WebSockets are told GOING_AWAY, peers close, and the node exits 0 quickly."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
from aiohttp import WSCloseCode

from tests.conftest import NodeProcess


async def test_sigterm_closes_websockets_going_away_and_exits_zero(
        node_process: NodeProcess) -> None:
    node_process.add_user("c1", "commander")
    node_process.start()
    token = node_process.login("c1")
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"{node_process.url}/ws?token={token}") as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello"
        started = time.monotonic()
        assert node_process.proc is not None
        node_process.proc.send_signal(signal.SIGTERM)
        msg = await asyncio.wait_for(ws.receive(), 10)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == WSCloseCode.GOING_AWAY
    code = await asyncio.to_thread(node_process.stop, signal.SIGTERM, 10)
    assert code == 0
    assert time.monotonic() - started < 10
    assert "shutting down" in node_process.log()
