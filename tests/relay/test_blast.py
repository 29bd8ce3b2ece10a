"""The 'blast' load generator (bench/blast.py): its RTP is valid, its counts are right, and its
connections live past ICE consent expiry although aiortc never reads their sockets."""

from __future__ import annotations

import asyncio
import datetime
import socket
import time

import numpy as np
import numpy.typing as npt
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
    HEAD_BYTES,
    SEND_BYTES,
    DatagramBatch,
    DatagramSender,
    Media,
    Pacer,
    ViewerCounts,
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


def _heads(*packets: tuple[int, int, bool]) -> npt.NDArray[np.uint8]:
    """HEAD_BYTES-byte heads of RTP packets (payload type, sequence number, marker)."""
    rows = [bytes([0x80, (marker << 7) | pt]) + seq.to_bytes(2, "big") + bytes(HEAD_BYTES - 4)
            for pt, seq, marker in packets]
    return np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), HEAD_BYTES)


def test_the_counts_count_frames_audio_and_gaps_once_per_viewer() -> None:
    counts = ViewerCounts(3)
    a, b, c = (counts.add(frozenset({96}), frozenset({111})) for _ in range(3))
    # Viewer a: 0 is lost across the wrap; a retransmission of 1 (not a new frame), RTX
    # payload type 97 (not counted) and an audio packet. Viewer b: two frames, in two batches.
    # Viewer c: RTCP and a STUN message only.
    batch = [(96, 65534, False), (96, 65535, True), (96, 1, False), (96, 2, True),
             (96, 1, True), (97, 3, True), (111, 9, True), (96, 100, True)]
    heads = _heads(*batch)  # the last is viewer b's first
    rtcp = np.frombuffer(bytes([0x80, 200]) + bytes(HEAD_BYTES - 2), np.uint8)
    stun = np.zeros(HEAD_BYTES, np.uint8)
    heads = np.vstack([heads, rtcp, stun])
    sizes = np.array([13] * 8 + [28, 20], np.int64)
    viewer = np.array([a] * 7 + [b, c, c], np.intp)
    assert counts.count(heads, sizes, viewer).tolist() == [a, b]
    assert counts.count(_heads((96, 101, True)), np.array([13]), np.array([b])).tolist() == []
    assert counts.stats(a) == {"frames": 2, "audio": 1, "bytes": 7 * 13, "lost": 1,
                               "rtcp": 0, "sizes": [[640, 480]]}
    assert counts.stats(b) == {"frames": 2, "audio": 0, "bytes": 2 * 13, "lost": 0,
                               "rtcp": 0, "sizes": [[640, 480]]}
    assert counts.stats(c) == {"frames": 0, "audio": 0, "bytes": 0, "lost": 0,
                               "rtcp": 1, "sizes": [[640, 480]]}


def test_the_counts_follow_a_long_run_and_forget_only_behind_the_window() -> None:
    counts = ViewerCounts(1)
    v = counts.add(frozenset({96}), frozenset())
    seqs = [(40000 + i) & 0xFFFF for i in range(70000) if i % 1000 != 7]  # wraps; 70 lost
    for at in range(0, len(seqs), 500):
        chunk = seqs[at:at + 500]
        counts.count(_heads(*[(96, s, True) for s in chunk]), np.full(len(chunk), 13),
                     np.full(len(chunk), v, np.intp))
    # A retransmission inside the window is not new; one from behind it is ignored.
    late = [seqs[-100], seqs[-9000]]  # the ring holds 8,192
    counts.count(_heads(*[(96, s, True) for s in late]), np.full(2, 13), np.full(2, v, np.intp))
    stats = counts.stats(v)
    assert stats["frames"] == len(seqs) and stats["lost"] == 70


def test_a_batch_reads_many_datagrams_and_keeps_them_whole() -> None:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind(("127.0.0.1", 0))
        tx.bind(("127.0.0.1", 0))
        batch = DatagramBatch(8)
        assert batch.receive(rx.fileno(), 0, 8) == 0  # nothing waits: no blocking
        sent = [bytes([0x80, 96]) + bytes([i]) * (3 + 400 * i) for i in range(4)]
        sent.append(bytes([0, 1]) + b"stun")  # shorter than a head
        for data in sent:
            tx.sendto(data, rx.getsockname())
        assert batch.receive(rx.fileno(), 2, 3) == 3  # at most what was asked, from slot 2
        assert batch.receive(rx.fileno(), 5, 3) == 2
        assert batch.sizes[2:7].tolist() == [len(d) for d in sent]
        assert [batch.datagram(i) for i in range(2, 7)] == sent
        assert batch.heads[3, :3].tolist() == [0x80, 96, 1]
        assert batch.sender(6) == tx.getsockname()
        batch.reset(7)
    finally:
        rx.close()
        tx.close()
    with pytest.raises(OSError):
        batch.receive(rx.fileno(), 0, 1)  # a closed socket


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
        batch = DatagramBatch(8)
        assert batch.receive(rx.fileno(), 0, 8) == 5
        assert [batch.datagram(i) for i in range(5)] == sent
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
        def counted() -> dict[str, int]:
            assert viewer is not None
            return viewer.stats()

        start = (counted()["frames"], counted()["audio"], decoding.frames, time.monotonic())
        wakeups = pacer.wakeups
        await asyncio.sleep(3.0)
        # One wake-up a frame: audio goes out with video (else 70 a second).
        assert pacer.wakeups - wakeups <= 3 * 30 + 2
        frames, decoded = counted()["frames"] - start[0], decoding.frames - start[2]
        fps = decoded / (time.monotonic() - start[3])
        assert 27 <= fps <= 33, fps
        assert decoding.sizes == {(640, 480)}
        assert decoding.audio_frames > 0
        # The counting viewer sees the frames the decoding viewer decodes.
        assert abs(frames - decoded) <= 3, (frames, decoded)
        assert counted()["audio"] - start[1] >= 120  # 20 ms Opus packets
        assert counted()["lost"] == 0

        # Past consent expiry, both blast peers are connected and media still flows: STUN
        # reaches aioice through the pump (viewer) and the event loop (publisher).
        await asyncio.sleep(CONSENT_S)
        assert publisher.pc.connectionState == "connected"
        assert viewer.pc.connectionState == "connected"
        before = counted()["frames"]
        await asyncio.sleep(1.0)
        assert counted()["frames"] - before >= 25
        assert pump.handed_back > 0 and counted()["rtcp"] > 0
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
