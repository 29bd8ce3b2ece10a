"""Publisher → relay → viewers with real aiortc peers over loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver
import pytest

from tests.live import LiveNode
from tests.media import publish, view

pytestmark = pytest.mark.media


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
def decoder_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """Every thread in which aiortc created a decoder, node or client."""
    calls: list[threading.Thread] = []
    original = aiortc.rtcrtpreceiver.get_decoder  # type: ignore[attr-defined]

    def spy(codec: Any) -> Any:
        calls.append(threading.current_thread())
        return original(codec)

    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", spy)
    return calls


async def test_frames_reach_viewer_without_a_decoder_on_the_node(
        live_node: LiveNode, decoder_threads: list[threading.Thread]) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    viewer = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await viewer.wait_frames(60, timeout=10)
        await wait_for(lambda: viewer.audio_frames > 20, 5, "audio at the viewer")
        assert viewer.sizes == {(640, 480)}
        # Brightness encodes the publisher's frame number: it must move forward.
        assert len(set(viewer.shades[-30:])) > 10

        stream = live_node.registry.streams["o1"]
        node_receivers = stream.publication.receivers.values()  # type: ignore[union-attr]
        node_decoder_threads = {r._RTCRtpReceiver__decoder_thread  # type: ignore[union-attr]
                                for r in node_receivers}
        assert decoder_threads, "the viewer client decodes, so the spy must have fired"
        assert not node_decoder_threads & set(decoder_threads), "the node created a decoder"
        # aiortc starts a decoder thread per receiver; the node ends them (idle, ~22 KiB each).
        await wait_for(lambda: not any(t is not None and t.is_alive()
                                       for t in node_decoder_threads), 5, "decoders to end")
        assert stream.packets_in > 100
    finally:
        await viewer.close()
        await pub.pc.close()


async def test_second_viewer_mid_stream_sees_video_within_one_second(
        live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    first = await view(live_node.http, live_node.base, commander, "o1")
    second = None
    try:
        await first.wait_frames(30, timeout=10)
        await asyncio.sleep(1.0)  # well inside a GOP: the next keyframe must be asked for
        second = await view(live_node.http, live_node.base, commander, "o1")
        await second.wait_frames(1, timeout=3)
        assert second.first_frame_at is not None
        elapsed = second.first_frame_at - second.started_at
        print(f"second viewer first frame after {elapsed * 1000:.0f} ms")
        assert elapsed < 1.0
        frames_before = first.frames
        # The GOP cache may hand the second viewer a second of video at once: wait for
        # live frames beyond that burst.
        await second.wait_frames(second.frames + 30, timeout=5)
        await first.wait_frames(frames_before + 10, timeout=3)  # the first kept receiving
    finally:
        if second is not None:
            await second.close()
        await first.close()
        await pub.pc.close()




async def test_slow_viewer_drops_only_its_own_packets(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    fast = await view(live_node.http, live_node.base, commander, "o1")
    slow = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await fast.wait_frames(10, timeout=10)
        await slow.wait_frames(10, timeout=10)
        slow_viewer = live_node.registry.viewer(slow.location.rsplit("/", 1)[1])
        assert slow_viewer is not None
        slow_viewer._queue_cap = 8
        real_forward = slow_viewer._forward

        async def sluggish(item: Any) -> None:
            await asyncio.sleep(0.05)  # a viewer that can take 20 packets a second
            await real_forward(item)

        slow_viewer._forward = sluggish  # type: ignore[method-assign]
        fast_before, packets_before = fast.frames, live_node.registry.counters.packets_in
        await asyncio.sleep(3)
        fast_rate = (fast.frames - fast_before) / 3
        print(f"fast viewer {fast_rate:.1f} fps, slow viewer dropped {slow_viewer.dropped}")
        assert slow_viewer.dropped > 50
        assert fast_rate > 20, "the slow viewer slowed down the others"
        assert live_node.registry.counters.packets_in - packets_before > 200
        fast_viewer = live_node.registry.viewer(fast.location.rsplit("/", 1)[1])
        assert fast_viewer is not None and fast_viewer.dropped == 0
    finally:
        await fast.close()
        await slow.close()
        await pub.pc.close()


async def test_delete_ends_the_stream_and_whep_then_404(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    viewer = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await viewer.wait_frames(5, timeout=10)
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers={"Authorization": f"Bearer {officer}"}) as r:
            assert r.status == 200
        assert "o1" not in live_node.registry.streams
        async with live_node.http.post(f"{live_node.base}/whep/o1", data="v=0\r\n",
                                       headers={"Authorization": f"Bearer {commander}",
                                                "Content-Type": "application/sdp"}) as r:
            assert r.status == 404
            assert (await r.json())["error"] == "not_live"
    finally:
        await viewer.close()
        await pub.pc.close()


async def test_republish_keeps_viewers_on_the_same_stream(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    first_pub = await publish(live_node.http, live_node.base, officer)
    viewer = await view(live_node.http, live_node.base, commander, "o1")
    second_pub = None
    try:
        await viewer.wait_frames(20, timeout=10)
        stream = live_node.registry.streams["o1"]
        await first_pub.pc.close()  # the phone drops off the network without DELETE
        await wait_for(lambda: stream.state == "reconnecting", 40, "reconnecting state")
        second_pub = await publish(live_node.http, live_node.base, officer)
        before = viewer.frames
        await viewer.wait_frames(before + 30, timeout=10)
        assert live_node.registry.streams["o1"] is stream
        assert stream.state == "live"
    finally:
        await viewer.close()
        await first_pub.pc.close()
        if second_pub is not None:
            await second_pub.pc.close()


async def test_delete_after_the_connection_dropped_still_ends_the_stream(
        live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    pub = await publish(live_node.http, live_node.base, officer)
    await wait_for(lambda: live_node.registry.streams.get("o1") is not None
                   and live_node.registry.streams["o1"].packets_in > 10, 10, "media")
    stream = live_node.registry.streams["o1"]
    await pub.pc.close()  # a tab closing: the connection goes before the DELETE
    await wait_for(lambda: stream.state == "reconnecting", 40, "reconnecting state")
    async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                     headers={"Authorization": f"Bearer {officer}"}) as r:
        assert r.status == 200
    assert "o1" not in live_node.registry.streams
    # A second DELETE of the same resource is now unknown.
    async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                     headers={"Authorization": f"Bearer {officer}"}) as r:
        assert r.status == 404
