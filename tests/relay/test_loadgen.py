"""The cheap load generator's viewer: it counts what a decoding viewer gets, without decrypting."""

from __future__ import annotations

import asyncio

import pytest

from bench.loadgen import open_viewer
from tests.live import LiveNode
from tests.media import publish, view

pytestmark = pytest.mark.media


async def test_a_header_counting_viewer_counts_the_frames_a_decoding_viewer_gets(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    decoding = await view(live_node.http, live_node.base, commander, "o1")
    pc, counter = await open_viewer(f"{live_node.base}/whep/o1", commander)
    try:
        await decoding.wait_frames(10, timeout=10)
        await asyncio.wait_for(counter.first.wait(), 10)
        start = (counter.frames, counter.audio, decoding.frames)
        await asyncio.sleep(2.0)
        counted = counter.frames - start[0]
        decoded = decoding.frames - start[2]
        # Both see the same stream over the same 2 s, give or take a frame in flight.
        assert decoded >= 5 and abs(counted - decoded) <= 3, (counted, decoded)
        assert counter.audio - start[1] > 20  # 20 ms Opus packets
        assert counter.stats()["lost"] == 0
        # Nothing went through the viewer's receive path: no packet was decrypted for it.
        stats = await pc.getStats()
        assert not [s for s in stats.values() if s.type == "inbound-rtp" and s.packetsReceived]
    finally:
        await pc.close()
        await decoding.close()
        await pub.pc.close()
