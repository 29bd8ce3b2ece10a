"""A disk that refuses writes: the feed keeps flowing, the wall says "not recording" at once,
/metrics counts it and the ledger records it."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from recordings.ledger import check_chain
from recordings.store import read_entries
from relay import aiortc_hooks
from tests.conftest import NodeProcess
from tests.media import publish, view

pytestmark = pytest.mark.media


async def test_write_failure_is_visible_and_the_live_view_continues(
        node_process: NodeProcess, loopback_only: None) -> None:
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    node_process.add_user("o1", "officer")
    node_process.add_user("c1", "commander")
    node_process.start(file_size_limit=60_000)  # a segment outgrows this within seconds
    officer, commander = node_process.login("o1"), node_process.login("c1")
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(f"{node_process.url}/ws?token={commander}") as ws:
        pub = await publish(http, node_process.url, officer)
        viewer = await view(http, node_process.url, commander, "o1")
        try:
            async with asyncio.timeout(30):
                while True:
                    event = json.loads((await ws.receive()).data)
                    if event["type"] == "presence" and event.get("recording") is False:
                        break
            assert event["live"] is True
            frames = viewer.frames
            await viewer.wait_frames(frames + 60, timeout=5)  # the live view goes on
            async with http.get(f"{node_process.url}/metrics") as resp:
                metrics = await resp.text()
            assert "fieldrelay_recording_failures_total 1.0" in metrics or \
                "fieldrelay_recording_failures_total 2.0" in metrics
            async with http.delete(f"{node_process.url}{pub.location}",
                                   headers={"Authorization": f"Bearer {officer}"}) as resp:
                assert resp.status == 200
        finally:
            await viewer.close()
            await pub.pc.close()
    (folder,) = list((node_process.data_dir / "sessions").iterdir())
    entries = list(read_entries(folder / "ledger.jsonl"))
    assert check_chain(entries) is None
    failed = [e for e in entries if e.get("event") == "recording.failed"]
    assert failed and "too large" in failed[0]["reason"].lower()
    assert entries[-1]["kind"] == "session.seal"
    # Whatever reached the disk before the failure is in the chain, hashed.
    assert any(e["kind"] == "segment" for e in entries)
    events = [e["event"] for e in entries if e["kind"] == "event"]
    assert events.count("viewer.joined") == 1 and events.count("viewer.left") == 1
