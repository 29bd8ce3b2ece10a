"""The 'blast' load generator (bench/blast.py): its RTP is valid, its counts are right, and its
connections live past ICE consent expiry although aiortc never reads their sockets."""

from __future__ import annotations

import asyncio
import datetime
import socket
import time

import pytest
from aiortc import RTCPeerConnection
from aiortc.clock import datetime_to_ntp
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from bench.blast import (
    SEND_BYTES,
    DatagramSender,
    Media,
    Pacer,
    StreamCounter,
    ViewerPump,
    _Outbound,
    abs_send_time,
    open_publisher,
    open_viewer,
    rtp_header,
    vp8_packets,
)
from bench.clients import preencode
from relay import aiortc_hooks
from tests.live import LiveNode
from tests.media import view

pytestmark = pytest.mark.media

# aioice's consent checks fail after 30 s without answers (6 x 5 s); run well past that.
CONSENT_S = 42.0


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    path = tmp_path_factory.mktemp("blast") / "media.bin"
    preencode(path, 1000)
    return Media.load(path)


def test_vp8_packets_are_aiortcs_cut() -> None:
    frame = bytes(range(256)) * 12  # 3,072 bytes: three packets of at most 1,300
    packets = vp8_packets(frame)
    assert [len(h) + 2 + len(b) for h, b in packets] == [1300, 1300, 3072 - 2 * 1296 + 4]
    assert [h for h, _ in packets] == [b"\x90\x80", b"\x80\x80", b"\x80\x80"]
    assert b"".join(b for _, b in packets) == frame


def test_the_counter_counts_frames_audio_and_gaps_once() -> None:
    def rtp(pt: int, seq: int, marker: bool) -> bytearray:
        # Read from a larger, reused buffer, as the viewers' thread does.
        data = bytes([0x80, (marker << 7) | pt]) + seq.to_bytes(2, "big") + bytes(8) + b"x"
        return bytearray(data + b"stale bytes of a longer datagram")

    counter = StreamCounter(frozenset({96}), frozenset({111}))
    for seq in (65534, 65535, 1, 2):  # 0 is lost, across the wrap
        counter.on_rtp(rtp(96, seq, seq % 2 == 1), 13)
    counter.on_rtp(rtp(96, 1, True), 13)  # a retransmission: not a new frame
    counter.on_rtp(rtp(97, 3, True), 13)  # RTX payload type: not counted
    counter.on_rtp(rtp(111, 9, True), 13)
    assert counter.stats() == {"frames": 2, "audio": 1, "bytes": 7 * 13, "lost": 1,
                               "rtcp": 0, "sizes": [[640, 480]]}


def test_the_sender_sends_every_datagram_in_order_in_batches() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        out = DatagramSender(tx, rx.getsockname(), slots=2)
        sent = [bytes([i]) * (1 + 300 * i) for i in range(5)]
        for data in sent:
            out.add(data)  # the third and fifth send what the slots hold
        assert out.count == 1
        out.flush()
        assert out.count == 0 and out.errors == 0
        rx.settimeout(1.0)
        assert [rx.recv(2048) for _ in sent] == sent
        with pytest.raises(ValueError):
            out.add(bytes(SEND_BYTES + 1))
    finally:
        rx.close()
        tx.close()


async def test_the_extension_block_is_aiortcs() -> None:
    params = RTCRtpSendParameters(
        codecs=[RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)],
        headerExtensions=[
            RTCRtpHeaderExtensionParameters(id=3, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
            RTCRtpHeaderExtensionParameters(
                id=5, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")],
        muxId="1")
    pc = RTCPeerConnection()
    out = _Outbound.of(pc.addTransceiver("video").sender, params)
    await pc.close()
    # A whole number of microseconds (aiortc's clock) and of 2^-18 s: no rounding either way.
    at = datetime.datetime(2026, 12, 7, 9, 30, 15, 250000, tzinfo=datetime.UTC)
    packet = RtpPacket(payload_type=96, sequence_number=7, timestamp=9, ssrc=out.ssrc,
                       payload=b"p")
    packet.extensions.mid = "1"
    # What aiortc's sender writes: (NTP time >> 14) & 0xFFFFFF.
    packet.extensions.abs_send_time = (datetime_to_ntp(at) >> 14) & 0xFFFFFF
    assert abs_send_time(at.timestamp()) == packet.extensions.abs_send_time
    now = at.timestamp()
    extensions = HeaderExtensionsMap()
    extensions.configure(params)
    assert (rtp_header(False, 96, 7, 9, out.ssrc, out.extension(now)) + b"p"
            == packet.serialize(extensions))


async def test_blast_media_is_decoded_and_counted_and_outlives_consent(
        live_node: LiveNode, media: Media) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pacer = Pacer()
    pump = ViewerPump(asyncio.get_running_loop())
    publisher = await open_publisher(f"{live_node.base}/whip", officer, media)
    viewer = decoding = None
    try:
        pacer.add(publisher)
        decoding = await view(live_node.http, live_node.base, commander, "o1")
        viewer = await open_viewer(f"{live_node.base}/whep/o1", commander, pump)
        await decoding.wait_frames(10, timeout=10)
        await asyncio.wait_for(viewer.first.wait(), 10)

        # The node forwards the blast publisher's RTP, and aiortc decodes it at full rate.
        counter = viewer.counter
        start = (counter.frames, counter.audio, decoding.frames, time.monotonic())
        wakeups = pacer.wakeups
        await asyncio.sleep(3.0)
        # One wake-up a frame: audio goes out with video (else 70 a second).
        assert pacer.wakeups - wakeups <= 3 * 30 + 2
        counted, decoded = counter.frames - start[0], decoding.frames - start[2]
        fps = decoded / (time.monotonic() - start[3])
        assert 27 <= fps <= 33, fps
        assert decoding.sizes == {(640, 480)}
        assert decoding.audio_frames > 0
        # The counting viewer sees the frames the decoding viewer decodes.
        assert abs(counted - decoded) <= 3, (counted, decoded)
        assert counter.audio - start[1] >= 120  # 20 ms Opus packets
        assert counter.stats()["lost"] == 0

        # Past consent expiry, both blast peers are connected and media still flows: STUN
        # reaches aioice through the pump (viewer) and the event loop (publisher).
        await asyncio.sleep(CONSENT_S)
        assert publisher.pc.connectionState == "connected"
        assert viewer.pc.connectionState == "connected"
        before = counter.frames
        await asyncio.sleep(1.0)
        assert counter.frames - before >= 25
        assert pump.handed_back > 0 and counter.rtcp > 0
        assert pump.error is None and pacer.error is None and publisher.send_errors == 0
        # Nothing went through the viewer's aiortc receive path.
        stats = await viewer.pc.getStats()
        assert not [s for s in stats.values() if s.type == "inbound-rtp" and s.packetsReceived]
    finally:
        await pacer.aclose()
        await pump.aclose()
        if decoding is not None:
            await decoding.close()
        if viewer is not None:
            await aiortc_hooks.close_peer(viewer.pc)
        await aiortc_hooks.close_peer(publisher.pc)


async def test_the_media_path_hook_names_what_moved(live_node: LiveNode, media: Media,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice

    monkeypatch.delattr(aioice.ice.StunProtocol, "datagram_received")
    with pytest.raises(aiortc_hooks.HookError, match="datagram_received"):
        await aiortc_hooks.verify_internals()
    monkeypatch.undo()
    officer = await live_node.login("o1")
    publisher = await open_publisher(f"{live_node.base}/whip", officer, media)
    try:
        path = aiortc_hooks.media_path(publisher.pc)
        assert path.remote[0] == "127.0.0.1" and path.sock.getsockname()[0] == "127.0.0.1"
        monkeypatch.delattr(path.transport, "_sock")
        with pytest.raises(aiortc_hooks.HookError, match="_sock"):
            aiortc_hooks.media_path(publisher.pc)
        dtls = publisher.pc.getTransceivers()[0].receiver.transport
        monkeypatch.setattr(dtls, "_srtp_profiles", [])
        with pytest.raises(aiortc_hooks.HookError, match="SRTP profiles"):
            aiortc_hooks.own_tx_srtp(publisher.pc)
    finally:
        monkeypatch.undo()
        await aiortc_hooks.close_peer(publisher.pc)
