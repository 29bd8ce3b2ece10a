"""The GOP cache: new viewers start from the node's last keyframe, continuous on the wire."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable

import pytest
from aiortc.rtp import RtpPacket

from relay import aiortc_hooks
from relay.codecs import vp8_keyframe_start
from relay.forward import Incoming, Viewer
from relay.gopcache import GopCache
from tests.live import LiveNode
from tests.media import publish, view

NodeFactory = Callable[..., Awaitable[LiveNode]]
# Keyframes only when someone asks: the recorder's periodic request and segment cuts are
# pushed far out, so every PLI in a test comes from a viewer.
QUIET_KEYFRAMES = {"keyframe_interval_s": 120.0, "segment_s": 120.0}


def item(seq: int, ts: int, key: bool = False, ssrc: int = 1, size: int = 100) -> Incoming:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, ssrc=ssrc,
                       payload=bytes(size))
    return Incoming("video", packet, key, 0.0)


# -- the cache itself (pure logic) ------------------------------------------------------

def test_nothing_is_kept_before_the_first_keyframe() -> None:
    cache = GopCache(100, 100_000)
    for seq in range(5):
        cache.add(item(seq, 0))
    assert cache.snapshot() == []


def test_each_keyframe_restarts_the_group() -> None:
    cache = GopCache(100, 100_000)
    cache.add(item(0, 0, key=True))
    cache.add(item(1, 3000))
    cache.add(item(2, 6000, key=True))
    cache.add(item(3, 6000))
    cache.add(item(4, 9000))
    got = cache.snapshot()
    assert [i.packet.sequence_number for i in got] == [2, 3, 4]
    assert got[0].keyframe_start and not any(i.live for i in got)
    assert cache.resets == 2


def test_a_second_flagged_packet_of_the_same_picture_does_not_restart() -> None:
    cache = GopCache(100, 100_000)
    cache.add(item(10, 500, key=True))  # H.264: SPS ...
    cache.add(item(11, 500, key=True))  # ... then the IDR slice of the same picture
    assert [i.packet.sequence_number for i in cache.snapshot()] == [10, 11]


def test_an_oversized_group_is_dropped_whole_until_the_next_keyframe() -> None:
    cache = GopCache(4, 100_000)
    for seq in range(6):
        cache.add(item(seq, seq * 3000, key=seq == 0))
    assert cache.snapshot() == [] and cache.overflows == 1
    cache.add(item(6, 20000, key=True))
    assert [i.packet.sequence_number for i in cache.snapshot()] == [6]
    by_bytes = GopCache(100, 250)
    for seq in range(3):
        by_bytes.add(item(seq, seq * 3000, key=seq == 0, size=100))
    assert by_bytes.snapshot() == [] and by_bytes.bytes == 0


def test_a_new_source_empties_the_cache() -> None:
    cache = GopCache(100, 100_000)
    cache.add(item(0, 0, key=True))
    cache.add(item(1, 3000))
    cache.add(item(500, 77, ssrc=2))  # the phone reconnected: not a keyframe yet
    assert cache.snapshot() == []
    cache.add(item(501, 3077, key=True, ssrc=2))
    assert [i.packet.sequence_number for i in cache.snapshot()] == [501]


# -- real peers over loopback -----------------------------------------------------------

async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def join_mid_gop(node: LiveNode) -> tuple[float, int, Viewer]:
    """Publish, let a GOP build up, then join: (ms to first frame, PLIs sent meanwhile)."""
    officer, commander = await node.login("o1"), await node.login("c1")
    pub = await publish(node.http, node.base, officer)
    try:
        await wait_for(lambda: "o1" in node.registry.streams
                       and node.registry.streams["o1"].packets_in > 150, 10, "media")
        await asyncio.sleep(0.7)  # the recorder's start-up keyframe request has gone out
        plis = node.registry.counters.keyframe_requests
        client = await view(node.http, node.base, commander, "o1", kinds=("video",))
        try:
            await client.wait_frames(1, timeout=5)
            assert client.first_frame_at is not None
            elapsed_ms = (client.first_frame_at - client.started_at) * 1000
            viewer = node.registry.viewer(client.location.rsplit("/", 1)[1])
            assert viewer is not None
            await client.wait_frames(viewer.started_from_cache + 30, timeout=5)  # live too
            return elapsed_ms, node.registry.counters.keyframe_requests - plis, viewer
        finally:
            await client.close()
    finally:
        await pub.pc.close()


@pytest.mark.media
async def test_new_viewer_decodes_from_the_cache_without_a_pli(
        node_factory: NodeFactory) -> None:
    node = await node_factory(**QUIET_KEYFRAMES)
    elapsed_ms, plis, viewer = await join_mid_gop(node)
    print(f"GOP-cache viewer first frame after {elapsed_ms:.0f} ms, {plis} PLI")
    assert viewer.started_from_cache > 30
    assert plis == 0, "the new viewer made the node ask the publisher for a keyframe"
    assert elapsed_ms < 1000
    async with node.http.get(f"{node.base}/metrics") as resp:
        text = await resp.text()
    assert "fieldrelay_gop_cache_starts_total 1.0" in text
    count = next(line for line in text.splitlines()
                 if line.startswith("fieldrelay_forward_latency_seconds_count"))
    assert float(count.split()[-1]) > 30, "live packets were timed through the relay"


@pytest.mark.media
async def test_without_the_cache_a_new_viewer_needs_a_pli(node_factory: NodeFactory) -> None:
    node = await node_factory(gop_cache_packets=0, **QUIET_KEYFRAMES)
    _, plis, viewer = await join_mid_gop(node)
    assert viewer.started_from_cache == 0
    assert plis >= 1


@pytest.mark.media
async def test_sequence_numbers_stay_continuous_from_cache_to_live_and_across_keyframes(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    seen: list[RtpPacket] = []
    client = None
    try:
        await wait_for(lambda: "o1" in live_node.registry.streams
                       and live_node.registry.streams["o1"].gop.packets > 20, 10, "a GOP")
        client = await view(live_node.http, live_node.base, commander, "o1",
                            on_rtp=lambda kind, p: seen.append(p) if kind == "video" else None)
        viewer = live_node.registry.viewer(client.location.rsplit("/", 1)[1])
        assert viewer is not None
        # The recorder asks for a keyframe every 2 s: 4.5 s of live video holds some.
        await asyncio.sleep(4.5)
        await client.wait_frames(100, timeout=5)
        track = viewer._tracks["video"]
        media = [p for p in seen if p.payload_type == track.payload_type]
        assert viewer.started_from_cache > 0
        assert vp8_keyframe_start(media[0].payload), "the viewer started on a keyframe"
        keyframes = [i for i, p in enumerate(media) if vp8_keyframe_start(p.payload)]
        assert len(keyframes) >= 2 and keyframes[-1] > viewer.started_from_cache, \
            "live keyframes followed the cached one"
        gaps = [(b.sequence_number - a.sequence_number) & 0xFFFF
                for a, b in itertools.pairwise(media)]
        assert set(gaps) == {1}, f"sequence gaps at {[i for i, g in enumerate(gaps) if g != 1]}"
        assert len({p.ssrc for p in media}) == 1
        steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(media)]
        assert all(s < 1 << 31 for s in steps), "timestamps went backwards"
    finally:
        if client is not None:
            await client.close()
        await pub.pc.close()


@pytest.mark.media
async def test_a_lost_packet_is_retransmitted_after_the_viewers_nack(
        live_node: LiveNode, monkeypatch: pytest.MonkeyPatch) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    seen: list[RtpPacket] = []
    client = await view(live_node.http, live_node.base, commander, "o1",
                        on_rtp=lambda kind, p: seen.append(p) if kind == "video" else None)
    try:
        await client.wait_frames(20, timeout=10)
        viewer = live_node.registry.viewer(client.location.rsplit("/", 1)[1])
        assert viewer is not None
        track = viewer._tracks["video"]
        assert track.rtx_payload_type is not None, "RTX was negotiated"
        dropped: list[int] = []
        real_send = aiortc_hooks.send_rtp

        def lose_one(sender: object, data: bytes) -> None:
            # The network loses exactly one video packet on its way to this viewer.
            if (not dropped and sender is track.sender
                    and data[1] & 0x7F == track.payload_type):
                dropped.append(int.from_bytes(data[2:4], "big"))
                return
            real_send(sender, data)  # type: ignore[arg-type]

        monkeypatch.setattr(aiortc_hooks, "send_rtp", lose_one)
        before = live_node.registry.counters.retransmitted
        await wait_for(lambda: bool(dropped), 5, "a video packet to drop")
        await wait_for(lambda: any(p.payload_type == track.rtx_payload_type for p in seen),
                       5, "the retransmission at the viewer")
        rtx = next(p for p in seen if p.payload_type == track.rtx_payload_type)
        assert int.from_bytes(rtx.payload[:2], "big") == dropped[0]
        assert rtx.ssrc == track.rtx_ssrc
        assert live_node.registry.counters.retransmitted > before
        frames = client.frames
        await client.wait_frames(frames + 30, timeout=5)
    finally:
        await client.close()
        await pub.pc.close()
