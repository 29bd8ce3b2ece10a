"""SIGTERM: WebSockets are told GOING_AWAY, open sessions are sealed, the node exits 0 quickly."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest
from aiohttp import WSCloseCode

from recordings.ledger import check_chain
from recordings.store import read_entries
from relay import aiortc_hooks
from tests.conftest import NodeProcess
from tests.media import publish


@pytest.mark.media
async def test_sigterm_seals_sessions_closes_websockets_and_exits_zero(
        node_process: NodeProcess, loopback_only: None) -> None:
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    node_process.add_user("c1", "commander")
    node_process.add_user("o1", "officer")
    node_process.start()
    token, officer = node_process.login("c1"), node_process.login("o1")
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"{node_process.url}/ws?token={token}") as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello"
        pub = await publish(http, node_process.url, officer)
        try:
            await asyncio.sleep(2.0)  # media flowing, a segment being written
            started = time.monotonic()
            assert node_process.proc is not None
            node_process.proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                while True:
                    msg = await ws.receive()
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
            assert msg.data == WSCloseCode.GOING_AWAY
            code = await asyncio.to_thread(node_process.stop, signal.SIGTERM, 10)
        finally:
            await pub.pc.close()
    assert code == 0
    assert time.monotonic() - started < 10
    assert "shutting down" in node_process.log()
    (folder,) = list((node_process.data_dir / "sessions").iterdir())
    entries = list(read_entries(folder / "ledger.jsonl"))
    assert check_chain(entries) is None
    assert (entries[-1]["kind"], entries[-1]["state"], entries[-1]["reason"]) == (
        "session.seal", "sealed", "shutdown")
    assert not (folder / "OPEN").exists()
