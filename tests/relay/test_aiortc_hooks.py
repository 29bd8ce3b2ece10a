"""The aiortc hooks: fail loudly when an upgrade moves what they reach into."""

from __future__ import annotations

import asyncio
import inspect
import random
from typing import Any

import aioice
import aioice.ice
import aioice.stun
import aiortc
import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rate import RateCounter, RemoteBitrateEstimator
from aiortc.rtcdtlstransport import SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80
from aiortc.rtp import RtpPacket
from OpenSSL import SSL

from relay import aiortc_hooks, peers
from tests.live import LiveNode
from tests.media import publish, view
from tests.waiting import until


async def test_pinned_aiortc_has_every_hooked_internal() -> None:
    assert aiortc.__version__ == aiortc_hooks.PINNED_AIORTC
    await aiortc_hooks.verify_internals()


async def test_a_different_aiortc_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(aiortc_hooks.HookError, match=r"written for aiortc 1\.16\.0"):
        await aiortc_hooks.verify_internals()


async def test_a_missing_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiortc.RTCRtpSender, "_retransmit")
    with pytest.raises(aiortc_hooks.HookError, match="_retransmit"):
        await aiortc_hooks.verify_internals()


def _packet(seq: int, timestamp: int, data: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp,
                       payload=b"\x10" + data)
    packet._data = data  # type: ignore[attr-defined]  # as aiortc's receiver sets it
    return packet


def test_frames_are_assembled_and_the_depayloaded_copies_dropped() -> None:
    assembler = aiortc_hooks.frame_assembler("video")
    first = [_packet(100, 3000, b"ab"), _packet(101, 3000, b"cd")]
    # Out of order: the second frame's last packet before its first.
    second = [_packet(103, 6000, b"gh"), _packet(102, 6000, b"ef")]
    assert [assembler.add(p) for p in [*first, second[0]]] == [None, None, None]
    assert all(hasattr(p, "_data") for p in first)  # nothing complete yet: all kept
    frame = assembler.add(second[1])
    assert frame is not None and (frame.data, frame.timestamp) == (b"abcd", 3000)
    assert [hasattr(p, "_data") for p in first] == [False, False]
    assert [hasattr(p, "_data") for p in second] == [True, True]  # still in the buffer
    frame = assembler.add(_packet(104, 9000, b"ij"))
    assert frame is not None and (frame.data, frame.timestamp) == (b"efgh", 6000)
    assert not any(hasattr(p, "_data") for p in second)


async def test_a_jitter_buffer_without_its_packet_slots_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = JitterBuffer.__init__

    def without_slots(self: JitterBuffer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self._packets

    monkeypatch.setattr(JitterBuffer, "__init__", without_slots)
    with pytest.raises(aiortc_hooks.HookError, match="_packets"):
        await aiortc_hooks.verify_internals()


async def test_peer_connections_share_the_node_certificate_and_its_contexts(
        monkeypatch: pytest.MonkeyPatch) -> None:
    pcs = [peers.new_peer_connection(()) for _ in range(2)]
    stock = peers.new_peer_connection((), accept_rsa=False)
    try:
        (a,), (b,), (s,) = (pc._RTCPeerConnection__certificates  # type: ignore[attr-defined]
                            for pc in (*pcs, stock))
        assert a is b and a is not s
        assert a.getFingerprints() == b.getFingerprints()
        profiles = [SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80]
        ctx = a._create_ssl_context(profiles)
        assert ctx is b._create_ssl_context(profiles)
        assert ctx is not a._create_ssl_context(profiles[1:])
        # The RSA suites are on the node's context, not on the stock one.
        rsa = b"ECDHE-RSA-AES128-GCM-SHA256"
        assert rsa.decode() in SSL.Connection(ctx).get_cipher_list()
        assert rsa.decode() not in SSL.Connection(s._create_ssl_context(profiles)).get_cipher_list()
        # A day later the node makes a new certificate for new connections.
        monkeypatch.setattr(aiortc_hooks, "CERTIFICATE_LIFETIME_S", -1.0)
        fresh = peers.new_peer_connection(())
        (f,) = fresh._RTCPeerConnection__certificates  # type: ignore[attr-defined]
        assert f is not a and f.getFingerprints() != a.getFingerprints()
        await fresh.close()
    finally:
        for pc in (*pcs, stock):
            await pc.close()


def test_the_compact_rate_counter_gives_aiortcs_figures() -> None:
    # Same inputs, same answers as aiortc's own RateCounter: bursts, gaps shorter and
    # longer than the window, and resets (what RemoteBitrateEstimator does with it).
    rng = random.Random(7)
    theirs, ours = RateCounter(1000, 8000), aiortc_hooks.CompactRateCounter(1000, 8000)
    now = 10_000
    for step in range(5000):
        now += rng.choice((0, 0, 1, 3, 11, 40, 400, 1500))
        if step % 997 == 0:
            theirs.reset()
            ours.reset()
        assert ours.rate(now) == theirs.rate(now)
        size = rng.randrange(1, 1300)
        theirs.add(size, now)
        ours.add(size, now)
    assert ours.rate(now) == theirs.rate(now) is not None


async def test_a_forwarding_transceivers_receiver_keeps_nothing() -> None:
    pc = peers.new_peer_connection(())
    try:
        transceiver = peers.add_forwarding_transceiver(pc, "video")
        receiver: Any = transceiver.receiver
        assert receiver._RTCRtpReceiver__remote_bitrate_estimator is None
        assert receiver._RTCRtpReceiver__nack_generator is None
        assert not isinstance(receiver._RTCRtpReceiver__jitter_buffer, JitterBuffer)
        # A publisher's tapped receiver keeps its REMB estimator, on the compact counter.
        tapped = pc.addTransceiver("video", direction="recvonly")
        aiortc_hooks.tap_receiver(tapped.receiver, lambda p: None, lambda p: None,
                                  lambda s, n, r: None)
        estimator: Any = tapped.receiver._RTCRtpReceiver__remote_bitrate_estimator  # type: ignore[attr-defined]
        assert isinstance(estimator.incoming_bitrate, aiortc_hooks.CompactRateCounter)
    finally:
        await pc.close()


async def test_a_bitrate_estimator_without_its_rate_counter_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = RemoteBitrateEstimator.__init__

    def without_counter(self: RemoteBitrateEstimator) -> None:
        original(self)
        del self.incoming_bitrate

    monkeypatch.setattr(RemoteBitrateEstimator, "__init__", without_counter)
    with pytest.raises(aiortc_hooks.HookError, match="incoming_bitrate"):
        await aiortc_hooks.verify_internals()


async def test_a_changed_function_that_send_rtp_replicates_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def sendto(self: aioice.ice.Connection, data: bytes, component: int) -> None:
        """An aioice that sends some other way."""

    monkeypatch.setattr(aioice.ice.Connection, "sendto", sendto)
    with pytest.raises(aiortc_hooks.HookError, match=r"Connection\.sendto changed"):
        await aiortc_hooks.verify_internals()


@pytest.mark.media
async def test_send_rtp_sends_and_counts_as_aiortcs_own_send(live_node: LiveNode) -> None:
    # The synchronous send stands for `await transport._send_rtp(data)`: the packet reaches
    # the viewer decrypted, the transport counts it the same, and before DTLS is up (or
    # once it is down) the same ConnectionError comes back.
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    seen: list[RtpPacket] = []
    client = await view(live_node.http, live_node.base, commander, "o1", kinds=("video",),
                        on_rtp=lambda kind, p: seen.append(p))
    try:
        await client.wait_frames(5, timeout=10)
        # The publisher's media came in through the light receive queue.
        publication = next(iter(live_node.registry.publications.values()))
        for receiver in publication.receivers.values():
            connection: Any = receiver.transport.transport._connection
            assert isinstance(connection._queue, aiortc_hooks.DatagramQueue)
        viewer = live_node.registry.viewer(client.location.rsplit("/", 1)[1])
        assert viewer is not None
        await viewer.aclose()  # nothing else is sent to this viewer from here on
        track = viewer._tracks["video"]
        dtls: Any = track.sender.transport

        def counted() -> tuple[int, int]:
            return dtls._RTCDtlsTransport__tx_packets, dtls._RTCDtlsTransport__tx_bytes

        def probe(seq: int) -> bytes:
            return RtpPacket(payload_type=track.payload_type, sequence_number=seq,
                             timestamp=seq, ssrc=track.ssrc, payload=b"probe").serialize()

        before = counted()
        await dtls._send_rtp(probe(60000))  # aiortc's own path
        by_aiortc = counted()
        aiortc_hooks.send_rtp(track.sender, probe(60001))
        by_hook = counted()
        assert by_hook[0] - by_aiortc[0] == by_aiortc[0] - before[0] == 1
        assert by_hook[1] - by_aiortc[1] == by_aiortc[1] - before[1] > len(probe(0))
        await until(lambda: {60000, 60001} <= {p.sequence_number for p in seen},
                    "both probes at the viewer", 5)
        assert [p.payload for p in seen if p.sequence_number == 60001] == [b"probe"]
        await client.pc.close()
        await until(lambda: dtls.state == "closed", "the node's side to close", 5)
        with pytest.raises(ConnectionError):
            await dtls._send_rtp(probe(60002))
        with pytest.raises(ConnectionError):
            aiortc_hooks.send_rtp(track.sender, probe(60003))
    finally:
        await client.close()
        await pub.pc.close()


class _Connection:
    """Stands in for aioice's Connection behind a StunProtocol: records what reaches it."""

    def __init__(self) -> None:
        self.data: list[tuple[bytes, int]] = []
        self.requests: list[bytes] = []

    def data_received(self, data: bytes, component: int) -> None:
        self.data.append((data, component))

    def request_received(self, message: Any, addr: Any, protocol: Any) -> None:
        self.requests.append(message.transaction_id)


async def test_media_datagrams_skip_the_stun_parser_and_arrive_as_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice.StunProtocol, "datagram_received",
                        aioice.ice.StunProtocol.datagram_received)  # restored afterwards
    rng = random.Random(3)
    rtp = [RtpPacket(payload_type=rng.choice((96, 111, 0, 8)), marker=rng.randrange(2),
                     sequence_number=rng.randrange(1 << 16), timestamp=rng.randrange(1 << 32),
                     ssrc=rng.randrange(1 << 32), payload=rng.randbytes(rng.randrange(200)))
           .serialize() for _ in range(2000)]
    rtcp = [bytes([0x80, pt]) + rng.randbytes(26) for pt in range(192, 209)]
    request = aioice.stun.Message(aioice.stun.Method.BINDING, aioice.stun.Class.REQUEST)
    dtls = bytes([22, 0xFE, 0xFD]) + rng.randbytes(60)
    datagrams = [*rtp, *rtcp, bytes(request), dtls, b""]

    def arrivals() -> _Connection:
        connection = _Connection()
        protocol = aioice.ice.StunProtocol(connection)  # type: ignore[arg-type]
        protocol.local_candidate = aioice.Candidate("1", 2, "udp", 1, "127.0.0.1", 9, "host")
        for datagram in datagrams:
            protocol.datagram_received(datagram, ("127.0.0.1", 5000))
        return connection

    stock = arrivals()
    aiortc_hooks.demux_media_first()
    demuxed = arrivals()
    # Every media packet, the DTLS record and the empty datagram reach the connection as
    # data, on the candidate's component, in order; the STUN request is still a request.
    assert demuxed.data == stock.data == [(d, 2) for d in [*rtp, *rtcp, dtls, b""]]
    assert demuxed.requests == stock.requests == [request.transaction_id]


async def test_a_changed_datagram_handler_of_aioice_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def datagram_received(self: Any, data: bytes, addr: Any) -> None:
        """An aioice that demultiplexes some other way."""

    monkeypatch.setattr(aiortc_hooks, "_STUN_DATAGRAM_RECEIVED", datagram_received)
    with pytest.raises(aiortc_hooks.HookError, match="datagram_received changed"):
        await aiortc_hooks.verify_internals()


async def test_the_datagram_queue_keeps_order_wakes_its_reader_and_survives_a_cancel() -> None:
    queue = aiortc_hooks.DatagramQueue()
    queue.put_nowait((b"a", 1))
    queue.put_nowait((b"b", 1))
    assert [await queue.get(), await queue.get()] == [(b"a", 1), (b"b", 1)]
    reader = asyncio.get_running_loop().create_task(queue.get())
    await asyncio.sleep(0)
    assert not reader.done()
    with pytest.raises(RuntimeError, match="one reader"):
        await queue.get()
    queue.put_nowait(None)  # what aioice's close() sends
    assert await reader is None
    # A reader cancelled while it waits takes nothing with it.
    reader = asyncio.get_running_loop().create_task(queue.get())
    await asyncio.sleep(0)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    queue.put_nowait((b"c", 2))
    assert queue.qsize() == 1
    assert await queue.get() == (b"c", 2)


async def test_an_aioice_that_uses_more_of_its_queue_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = inspect.getsource

    def getsource(obj: Any) -> str:
        source = real(obj)
        if obj is aioice.ice.Connection:
            source += "\n        self._queue.task_done()\n"
        return source

    monkeypatch.setattr(inspect, "getsource", getsource)
    with pytest.raises(aiortc_hooks.HookError, match="task_done"):
        await aiortc_hooks.verify_internals()


async def test_a_jitter_buffer_that_files_packets_elsewhere_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = JitterBuffer.add

    def add(self: JitterBuffer, packet: RtpPacket) -> Any:
        result = original(self, packet)
        self._packets[packet.sequence_number % self.capacity] = None
        return result

    monkeypatch.setattr(JitterBuffer, "add", add)
    with pytest.raises(aiortc_hooks.HookError, match="modulo its capacity"):
        await aiortc_hooks.verify_internals()
