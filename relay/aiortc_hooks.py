"""Every hook into aiortc's private internals, in one place, for aiortc 1.16.0 only.

aiortc has no public API to receive encoded packets or to send them without an
encoder, so the relay reaches below it here and nowhere else. `verify_internals()`
runs at node start and in the tests, and fails loudly when an upgrade moves any of it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import hashlib
import inspect
import logging
import re
import socket
import threading
import time
import weakref
from array import array
from asyncio import selector_events
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aioice.ice
import aiortc
import pylibsrtp
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rate import RateCounter, RemoteBitrateEstimator
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import RtcpSrPacket, RtpPacket, is_rtcp
from aiortc.sdp import SessionDescription
from OpenSSL import SSL

log = logging.getLogger(__name__)

PINNED_AIORTC = "1.16.0"

# aiortc 1.16 offers ECDHE-ECDSA suites only; peers with RSA certificates (GStreamer's
# webrtcbin, some body cameras) then fail with "no shared cipher".
DTLS_CIPHERS = (
    b"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    b"ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:"
    b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305:"
    b"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA"
)

_RECEIVER_PRIVATE = (
    "_RTCRtpReceiver__jitter_buffer",
    "_RTCRtpReceiver__codecs",
    "_RTCRtpReceiver__decoder_thread",
    "_RTCRtpReceiver__decoder_queue",
    "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__nack_generator",
    "_handle_rtp_packet",
    "_handle_rtcp_packet",
    "_send_rtcp_pli",
)
_SENDER_PRIVATE = (
    "_RTCRtpSender__ntp_timestamp",
    "_RTCRtpSender__rtp_timestamp",
    "_RTCRtpSender__packet_count",
    "_RTCRtpSender__octet_count",
    "_send_keyframe",
    "_retransmit",
    "_ssrc",
    "_rtx_ssrc",
)
_TRANSCEIVER_PRIVATE = ("_codecs", "_preferred_codecs")
_DTLS_PRIVATE = ("_state", "_tx_srtp", "_RTCDtlsTransport__tx_bytes",
                 "_RTCDtlsTransport__tx_packets")
# What send_rtp does in one synchronous function: the source of each function it stands for
# (SHA-256 of inspect.getsource), so that an upgrade that changes any of them stops the node.
_REPLICATED: tuple[tuple[type, str, str], ...] = (
    (RTCDtlsTransport, "_send_rtp", "763b02bceb0b0ab9"),
    (aioice.ice.Connection, "send", "8f91d54578f0ca74"),
    (aioice.ice.Connection, "sendto", "bf162ec03bdce2cc"),
    (aioice.ice.StunProtocol, "send_data", "8bfbce074a897482"),
)
# aioice's own datagram_received, kept before demux_media_first() replaces it.
_STUN_DATAGRAM_RECEIVED = aioice.ice.StunProtocol.datagram_received
_STUN_DATAGRAM_RECEIVED_DIGEST = "ff4c8b910d45fb3a"
_PEER_PRIVATE = ("_RTCPeerConnection__certificates", "_RTCPeerConnection__isClosed")


class HookError(RuntimeError):
    """aiortc's internals are not what these hooks were written for."""


class PacketSink(Protocol):
    """Receives each decrypted, RTX-unwrapped RTP packet of a published track."""

    def __call__(self, packet: RtpPacket) -> None: ...


class _PacketTap:
    """Stands in for the receiver's jitter buffer: hands packets on, never assembles frames.

    aiortc still does its cheap per-packet bookkeeping (receiver reports, REMB, NACK
    generation, RTX unwrapping) before calling `add`; because no frame ever comes
    out, the decoder thread never receives work and no decoder is ever created.
    """

    def __init__(self, sink: PacketSink) -> None:
        self._sink = sink

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self._sink(packet)
        return False, None

    def remove(self, count: int) -> None:
        """Nothing is buffered, so there is nothing to remove."""


async def verify_internals() -> None:
    """Raise HookError unless aiortc is the pinned version with every hooked attribute."""
    if aiortc.__version__ != PINNED_AIORTC:
        raise HookError(
            f"relay/aiortc_hooks.py is written for aiortc {PINNED_AIORTC}, "
            f"found {aiortc.__version__}"
        )
    if not callable(getattr(aioice.ice, "get_host_addresses", None)):
        raise HookError("aioice.ice.get_host_addresses is gone")
    if not callable(getattr(RTCCertificate, "_create_ssl_context", None)):
        raise HookError("RTCCertificate._create_ssl_context is gone")
    if not callable(getattr(SSL.Context, "set_session_cache_mode", None)):
        raise HookError("OpenSSL.SSL.Context.set_session_cache_mode is gone")
    pc = RTCPeerConnection()
    try:
        for name in _PEER_PRIVATE:
            if not hasattr(pc, name):
                raise HookError(f"RTCPeerConnection lost {name}")
        transceiver = pc.addTransceiver("video", direction="sendrecv")
        for obj, names in ((transceiver.receiver, _RECEIVER_PRIVATE),
                           (transceiver.sender, _SENDER_PRIVATE)):
            missing = [n for n in names if not hasattr(obj, n)]
            if missing:
                raise HookError(f"{type(obj).__name__} lost {', '.join(missing)}")
        missing = [n for n in _TRANSCEIVER_PRIVATE if not hasattr(transceiver, n)]
        if missing:
            raise HookError(f"RTCRtpTransceiver lost {', '.join(missing)}")
        jitter = getattr(transceiver.receiver, "_RTCRtpReceiver__jitter_buffer", None)
        if not callable(getattr(jitter, "add", None)):
            raise HookError("the receiver's jitter buffer has no add()")
        dtls = transceiver.receiver.transport
        if dtls is not None and not hasattr(dtls, "_rx_srtp"):
            raise HookError("RTCDtlsTransport._rx_srtp is gone")
        connection = getattr(dtls.transport, "_connection", None) if dtls is not None else None
        if not callable(getattr(connection, "close", None)):
            raise HookError("RTCIceTransport._connection (aioice) is gone")
        if dtls is not None:
            missing = [n for n in ("_tx_srtp", "_ssl", "_role", "_srtp_profiles")
                       if not hasattr(dtls, n)]
            if missing:
                raise HookError(f"RTCDtlsTransport lost {', '.join(missing)}")
        if not isinstance(getattr(connection, "_nominated", None), dict):
            raise HookError("aioice Connection._nominated is gone")
        _verify_media_path_internals()
        _verify_send_path(dtls, connection)
        buffer = JitterBuffer(capacity=16)
        if not isinstance(getattr(buffer, "_packets", None), list):
            raise HookError("JitterBuffer._packets is gone")
        probe_packet = RtpPacket(sequence_number=17)
        buffer.add(probe_packet)
        if buffer._packets[17 % 16] is not probe_packet:  # what FrameAssembler relies on
            raise HookError("JitterBuffer no longer keeps a packet at its sequence number "
                            "modulo its capacity")
        probe: Any = transceiver.receiver
        estimator = probe._RTCRtpReceiver__remote_bitrate_estimator
        counter = getattr(estimator, "incoming_bitrate", None)
        if not isinstance(counter, RateCounter) or not all(
                callable(getattr(counter, n, None)) for n in ("add", "rate", "reset")):
            raise HookError("RemoteBitrateEstimator.incoming_bitrate is not a RateCounter")
    finally:
        await pc.close()


def _verify_send_path(dtls: Any, connection: Any) -> None:
    """What send_rtp relies on: the attributes it reads, and the code it replicates."""
    missing = [n for n in _DTLS_PRIVATE if not hasattr(dtls, n)]
    if missing:
        raise HookError(f"RTCDtlsTransport lost {', '.join(missing)}")
    if not isinstance(getattr(connection, "_nominated", None), dict):
        raise HookError("aioice Connection._nominated is gone")
    if dtls.transport._send != connection.send:
        raise HookError("RTCIceTransport._send is no longer aioice's Connection.send")
    if not isinstance(getattr(connection, "_queue", None), asyncio.Queue):
        raise HookError("aioice Connection._queue is no longer an asyncio.Queue")
    used = set(re.findall(r"self\._queue\.(\w+)", inspect.getsource(type(connection))))
    if used != {"put_nowait", "get"}:
        raise HookError(f"aioice Connection uses its _queue's {sorted(used)}: DatagramQueue "
                        "has only put_nowait and get")
    for owner, attribute, digest in _REPLICATED:
        name = f"{owner.__module__}.{owner.__qualname__}.{attribute}"
        source = inspect.getsource(getattr(owner, attribute))
        if hashlib.sha256(source.encode()).hexdigest()[:16] != digest:
            raise HookError(f"{name} changed: relay/aiortc_hooks.py send_rtp replicates it")
    source = inspect.getsource(_STUN_DATAGRAM_RECEIVED)
    if hashlib.sha256(source.encode()).hexdigest()[:16] != _STUN_DATAGRAM_RECEIVED_DIGEST:
        raise HookError("aioice.ice.StunProtocol.datagram_received changed: "
                        "relay/aiortc_hooks.py demux_media_first replicates it")


def use_ice_host_addresses(addresses: tuple[str, ...]) -> None:
    """Offer exactly these local addresses as ICE host candidates (process-wide).

    aioice gathers on every non-loopback interface and never on 127.0.0.1; the node's
    `--ice-host` replaces that choice for every peer connection in this process.
    """
    if not addresses:
        return
    chosen = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


def _datagram_received(self: Any, data: bytes, addr: tuple[Any, ...]) -> None:
    # RFC 7983: a first byte of 128-191 is RTP or RTCP, never STUN (whose first two bits are
    # zero), so it goes straight where aioice sends whatever fails to parse as STUN.
    if data and 127 < data[0] < 192:
        self.receiver.data_received(data, self.local_candidate.component)
        return
    _STUN_DATAGRAM_RECEIVED(self, data, addr)


def demux_media_first() -> None:
    """Hand RTP and RTCP datagrams to the ICE connection without trying them as STUN first
    (process-wide; idempotent).

    aioice parses every datagram as a STUN message, and a media packet reaches the
    connection only through the ValueError that raises: about a tenth of the node's cost
    per received packet. Only the first byte is needed to tell them apart (RFC 7983).
    """
    aioice.ice.StunProtocol.datagram_received = _datagram_received  # type: ignore[method-assign,assignment]


# aiortc's certificates are valid for 30 days; the node makes a new one every day.
CERTIFICATE_LIFETIME_S = 24 * 3600.0
_node_certificates: dict[bool, tuple[RTCCertificate, float]] = {}


def _new_node_certificate(accept_rsa: bool) -> RTCCertificate:
    certificate = RTCCertificate.generateCertificate()
    original = certificate._create_ssl_context
    contexts: dict[tuple[bytes, ...], SSL.Context] = {}

    def create(srtp_profiles: Any) -> SSL.Context:
        key = tuple(p.openssl_profile for p in srtp_profiles)
        ctx = contexts.get(key)
        if ctx is None:
            ctx = original(srtp_profiles)
            if accept_rsa:
                ctx.set_cipher_list(DTLS_CIPHERS)
            # One context serves every peer: no peer may resume another's session.
            ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
            contexts[key] = ctx
        return ctx

    target: Any = certificate
    target._create_ssl_context = create
    return certificate


def node_certificate(accept_rsa: bool = True) -> RTCCertificate:
    """The node's DTLS certificate, one OpenSSL context per SRTP profile list with it."""
    now = time.monotonic()
    held = _node_certificates.get(accept_rsa)
    if held is None or now - held[1] > CERTIFICATE_LIFETIME_S:
        held = (_new_node_certificate(accept_rsa), now)
        _node_certificates[accept_rsa] = held
    return held[0]


def share_node_certificate(pc: RTCPeerConnection, accept_rsa: bool = True) -> None:
    """Give `pc` the node's certificate and DTLS context instead of a pair of its own.

    aiortc makes a key, a certificate and an OpenSSL context for every peer connection
    (about 24 KiB resident each, four per stream); the node is one endpoint, as a C SFU is,
    and a peer checks only that the fingerprint in the SDP matches. With `accept_rsa`, the
    context also offers the ECDHE-RSA suites (see DTLS_CIPHERS). Call it before the offer
    or answer: the transports take the certificate when they are made.
    """
    setattr(pc, "_RTCPeerConnection__certificates", [node_certificate(accept_rsa)])  # noqa: B010


# aiortc's close() ends within a few turns of the loop and waits on nothing the remote peer
# does; past this, one of its own tasks died and left an event unset, and the relay stops the
# transports itself (and says so in the log) rather than wait for ever.
CLOSE_BOUND_S = 10.0
# The one close under way of each peer connection (a peer closes once, whoever asks).
_closings: weakref.WeakKeyDictionary[RTCPeerConnection, asyncio.Task[None]] = (
    weakref.WeakKeyDictionary())


async def close_peer(pc: RTCPeerConnection) -> None:
    """Close `pc` completely, once, however many callers ask and whatever happens to them.

    aiortc's close() keeps its progress in a future that every later close() awaits: a first
    close cancelled half-way (a task owner's shutdown) or failed half-way (an exception from a
    state-change listener, a transport that refused to stop) leaves that future unresolved, and
    every later close() of the peer then waits for ever; a later close() that is cancelled
    while it waits cancels the future under the first one. Here the close runs in a task of
    its own that every caller waits for, shielded: a caller cancelled meanwhile waits for the
    close to end before its cancellation goes on (so the task is always awaited by its callers,
    and no cancellation ever stops a close half-way). If aiortc's close did not finish (itself,
    or the one aiortc starts when the remote peer ends DTLS), the transports are stopped here
    and the future is resolved, so that no later close() waits for ever.
    """
    task = _closings.get(pc)
    if task is None:
        task = asyncio.get_running_loop().create_task(_close_fully(pc), name="close-peer")
        _closings[pc] = task
    interrupted = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise  # the close itself was cancelled: the loop is going away
            interrupted = True  # ours: re-raised once the close has ended
    if interrupted:
        raise asyncio.CancelledError


async def _close_fully(pc: RTCPeerConnection) -> None:
    target: Any = pc
    under_way: asyncio.Future[bool] | None = target._RTCPeerConnection__isClosed
    if under_way is None:
        try:
            await asyncio.wait_for(pc.close(), CLOSE_BOUND_S)
            return
        except Exception as exc:  # TimeoutError, or whatever stopped aiortc's close
            log.warning("a peer connection's close stopped half-way (%r): stopping its "
                        "transports", exc)
    else:
        # aiortc's own close (the remote peer ended DTLS) or another caller's: wait for it
        # without awaiting its future, which a cancellation of ours would cancel.
        await asyncio.wait([under_way], timeout=CLOSE_BOUND_S)
        if under_way.done() and not under_way.cancelled():
            return
        log.warning("an earlier close of a peer connection did not finish: stopping its "
                    "transports")
    await _stop_transports(pc)
    pc.remove_all_listeners()
    under_way = target._RTCPeerConnection__isClosed
    if under_way is None or under_way.cancelled():
        under_way = target._RTCPeerConnection__isClosed = asyncio.get_running_loop().create_future()
    if not under_way.done():
        under_way.set_result(True)


async def _stop_transports(pc: RTCPeerConnection) -> None:
    """Stop each DTLS transport and its ICE transport, each once, and close the ICE
    connection's sockets even when its transport already counts as stopped (a close that
    failed half-way marks it closed before it closes the sockets)."""
    seen: set[int] = set()
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        if dtls is None or id(dtls) in seen:
            continue
        seen.add(id(dtls))
        ice: Any = dtls.transport
        for stop in (dtls.stop, ice.stop, ice._connection.close):
            try:
                await asyncio.wait_for(stop(), CLOSE_BOUND_S)
            except Exception as exc:
                log.warning("stopping a transport of a peer connection failed: %r", exc)


def tap_receiver(
    receiver: RTCRtpReceiver,
    sink: PacketSink,
    on_parameters: Callable[[RTCRtpReceiveParameters], None],
    on_sender_report: Callable[[int, int, int], None],
) -> None:
    """Divert a receiver's packets to `sink` instead of its jitter buffer and decoder.

    `on_parameters` gets the negotiated receive parameters when the transport starts;
    `on_sender_report(ssrc, ntp, rtp_timestamp)` gets each RTCP sender report.
    The decoder thread aiortc starts with the receiver is told to end at once: nothing ever
    reaches it here, and each idle one held about 22 KiB (two per publication). The REMB
    estimator's rate counter becomes a CompactRateCounter (same figures, 88 KiB less).
    """
    target: Any = receiver  # private attributes: typed as Any on purpose, here only
    target._RTCRtpReceiver__jitter_buffer = _PacketTap(sink)
    _light_receive_queue(receiver)
    estimator = target._RTCRtpReceiver__remote_bitrate_estimator
    if isinstance(estimator, RemoteBitrateEstimator):
        estimator.incoming_bitrate = CompactRateCounter(  # type: ignore[assignment]
            estimator.incoming_bitrate._window_size, estimator.incoming_bitrate._scale)
    original_receive = receiver.receive
    original_rtcp = receiver._handle_rtcp_packet

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        on_parameters(parameters)
        await original_receive(parameters)
        _end_idle_decoder(target)

    async def handle_rtcp(packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            on_sender_report(packet.ssrc, info.ntp_timestamp, info.rtp_timestamp)
        await original_rtcp(packet)

    target.receive = receive
    target._handle_rtcp_packet = handle_rtcp


class DatagramQueue:
    """aioice's receive queue of one ICE connection, for its one reader.

    aioice hands each datagram that is not STUN to the connection's `asyncio.Queue`, and the
    DTLS transport's task takes it out with `get()`: per received media packet a getter
    future, the queue's bookkeeping of getters, putters and unfinished tasks, and their
    wake-ups. aioice uses only `put_nowait` and `get` (verify_internals checks), and only
    the DTLS transport reads, so a deque and the one reader's future do the same.
    """

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[tuple[bytes, int] | None] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: tuple[bytes, int] | None) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def get(self) -> tuple[bytes, int] | None:
        while not self._items:
            if self._waiter is not None and not self._waiter.done():
                raise RuntimeError("a DatagramQueue has one reader")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter  # a cancelled reader leaves every item for the next get()
        return self._items.popleft()

    def qsize(self) -> int:
        return len(self._items)


def _light_receive_queue(receiver: RTCRtpReceiver) -> None:
    """Give the receiver's ICE connection a DatagramQueue while nothing reads it yet (its
    DTLS transport has not started); a transport shared by several receivers gets one."""
    dtls: Any = receiver.transport
    connection = getattr(getattr(dtls, "transport", None), "_connection", None)
    queue = getattr(connection, "_queue", None)
    if (isinstance(queue, asyncio.Queue) and queue.empty()
            and dtls._state == DtlsState.NEW):
        connection._queue = DatagramQueue()  # type: ignore[union-attr]


def idle_receiver(receiver: RTCRtpReceiver) -> None:
    """Free what a receiver that never receives holds (a viewer's send-only transceiver).

    aiortc gives every video receiver a REMB bitrate estimator (a rate counter of 1,000
    bucket objects, about 88 KiB), a NACK generator and a 512-slot jitter buffer when it is
    made, whether or not it will ever receive: three per stream sat idle in its viewers'
    connections. Without them the receiver is an audio receiver's equal; a packet that
    reached it anyway would be dropped.
    """
    target: Any = receiver
    target._RTCRtpReceiver__remote_bitrate_estimator = None
    target._RTCRtpReceiver__nack_generator = None
    target._RTCRtpReceiver__jitter_buffer = _PacketTap(lambda packet: None)


class CompactRateCounter:
    """aiortc's RateCounter (1 ms buckets over a window) in two flat arrays: the same
    arithmetic, without the 1,000 RateBucket objects (and their ints) per counter."""

    def __init__(self, window_size: int, scale: int = 8000) -> None:
        self._origin_index = 0
        self._origin_ms: int | None = None
        self._scale = scale
        self._window_size = window_size
        self.reset()

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        index = (self._origin_index + now_ms - self._origin_ms) % self._window_size
        self._counts[index] += 1
        self._values[index] += value
        self._total_count += 1
        self._total_value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is not None:
            self._erase_old(now_ms)
            active_window_size = now_ms - self._origin_ms + 1
            if self._total_count > 0 and active_window_size > 1:
                return round(self._scale * self._total_value / active_window_size)
        return None

    def reset(self) -> None:
        self._counts = array("q", [0]) * self._window_size
        self._values = array("q", [0]) * self._window_size
        self._origin_index = 0
        self._origin_ms = None
        self._total_count = 0
        self._total_value = 0

    def _erase_old(self, now_ms: int) -> None:
        # aiortc steps one bucket at a time, once per millisecond that passed (about thirty
        # at the first packet of each video frame); the same buckets go here a slice at a time.
        assert self._origin_ms is not None
        steps = now_ms - self._window_size + 1 - self._origin_ms
        if steps <= 0:
            return
        size = self._window_size
        start = self._origin_index
        if steps >= size:
            self._counts = array("q", [0]) * size
            self._values = array("q", [0]) * size
            self._total_count = 0
            self._total_value = 0
        else:
            end = start + steps
            spans = ((start, end),) if end <= size else ((start, size), (0, end - size))
            for low, high in spans:
                self._total_count -= sum(self._counts[low:high])
                self._total_value -= sum(self._values[low:high])
                zeros = array("q", [0]) * (high - low)
                self._counts[low:high] = zeros
                self._values[low:high] = zeros
        self._origin_index = (start + steps) % size
        self._origin_ms += steps


def _end_idle_decoder(receiver: Any) -> None:
    """Let the receiver's decoder thread end now: the None its own stop() would send.

    The thread ends its track (a None on the track's queue), which nobody reads on a tapped
    receiver. Nothing waits here, so the next receiver registers at once; aiortc's stop()
    still joins the thread (sending a second None that nothing reads).
    """
    thread: threading.Thread | None = receiver._RTCRtpReceiver__decoder_thread
    if thread is not None:
        receiver._RTCRtpReceiver__decoder_queue.put(None)


class FrameAssembler:
    """Joins a tapped stream's packets back into whole encoded frames (aiortc's JitterBuffer).

    It relies on the receiver having stored each packet's depayloaded bytes in the private
    `_data` attribute before the tap sees it (aiortc does, in `_handle_rtp_packet`). Once a
    packet has left the buffer, that copy is dropped: the packet itself lives on in the
    viewers' NACK histories and the GOP cache, which need only its payload, and the copy
    doubled what they held (about 1.2 KB per video packet).
    """

    def __init__(self, kind: str) -> None:
        video = kind == "video"
        self._buffer = JitterBuffer(capacity=256 if video else 16, is_video=video)
        self._pending: list[RtpPacket] = []

    def add(self, packet: RtpPacket) -> JitterFrame | None:
        """Take one packet; return the frame before it once that frame is complete."""
        _, frame = self._buffer.add(packet)
        self._pending.append(packet)
        if frame is not None or len(self._pending) > 2 * self._buffer.capacity:
            # A packet is still held when its slot (its sequence number modulo the capacity,
            # where JitterBuffer.add puts it) holds it: a look per pending packet instead of
            # a pass over every slot of the buffer for each frame.
            slots, capacity = self._buffer._packets, self._buffer.capacity
            keep = []
            for p in self._pending:
                if slots[p.sequence_number % capacity] is p:
                    keep.append(p)
                else:
                    vars(p).pop("_data", None)
            self._pending = keep
        return frame


def frame_assembler(kind: str) -> FrameAssembler:
    """A frame assembler for one kind of a tapped stream."""
    return FrameAssembler(kind)


async def request_keyframe(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Send a PLI for media_ssrc to the publisher behind this receiver."""
    await receiver._send_rtcp_pli(media_ssrc)


def passthrough_sender(
    sender: RTCRtpSender,
    on_ready: Callable[[RTCRtpSendParameters], None],
    on_keyframe_request: Callable[[], None],
    retransmit: Callable[[int], Awaitable[None]],
) -> None:
    """Make a sender carry forwarded packets: no encoder, PLI and NACK routed to the relay."""
    on_send_parameters(sender, on_ready)
    target: Any = sender
    target._send_keyframe = on_keyframe_request
    target._retransmit = retransmit


def sender_ssrcs(sender: RTCRtpSender) -> tuple[int, int]:
    """The sender's (media SSRC, RTX SSRC)."""
    return int(sender._ssrc), int(sender._rtx_ssrc)


def send_rtp(sender: RTCRtpSender, data: bytes) -> None:
    """Encrypt and send one serialized RTP packet on the sender's transport, now.

    What `await sender.transport._send_rtp(data)` does, without its chain of five coroutines
    (the DTLS transport's `_send_rtp`, aioice's `Connection.send` and `sendto`, and
    `StunProtocol.send_data`), none of which ever suspends: the datagram leaves in
    `transport.sendto`, which never blocks. Per packet per viewer that chain cost about as
    much as the SRTP encryption. `verify_internals` checks that the four functions are
    still the ones replicated here (_REPLICATED), and `ConnectionError` is raised as they
    raise it: before DTLS is up, and with no nominated ICE pair.
    """
    dtls: Any = sender.transport
    if dtls._state != DtlsState.CONNECTED:
        raise ConnectionError("Cannot send encrypted RTP, not connected")
    srtp = dtls._tx_srtp
    data = srtp.protect_rtcp(data) if is_rtcp(data) else srtp.protect(data)
    pair = dtls.transport._connection._nominated.get(1)
    if not pair:
        raise ConnectionError("Cannot send data, not connected")
    pair.protocol.transport.sendto(data, pair.remote_addr)
    dtls._RTCDtlsTransport__tx_bytes += len(data)
    dtls._RTCDtlsTransport__tx_packets += 1


def note_sent(sender: RTCRtpSender, octets: int) -> None:
    """Count a forwarded packet in the sender's RTCP sender report."""
    target: Any = sender
    target._RTCRtpSender__packet_count += 1
    target._RTCRtpSender__octet_count += octets


def set_sender_clock(sender: RTCRtpSender, ntp_timestamp: int, rtp_timestamp: int) -> None:
    """Set the NTP/RTP pair the sender reports, so the viewer can sync audio and video."""
    target: Any = sender
    target._RTCRtpSender__ntp_timestamp = ntp_timestamp
    target._RTCRtpSender__rtp_timestamp = rtp_timestamp


def observe_rtp(receiver: RTCRtpReceiver, observer: Callable[[RtpPacket], None]) -> None:
    """Show `observer` every decrypted RTP packet a receiver gets, RTX included, then go on.

    The receiver still jitter-buffers and decodes as usual; benchmarks and tests use this
    to see the wire (sequence numbers, retransmissions, arrival times) at a viewer.
    """
    original = receiver._handle_rtp_packet

    async def handle_rtp(packet: RtpPacket, arrival_time_ms: int) -> None:
        observer(packet)
        await original(packet, arrival_time_ms)

    target: Any = receiver
    target._handle_rtp_packet = handle_rtp


RED_MIME = "audio/red"


def red_offered(offer: SessionDescription, mid: str | None, opus_pt: int) -> int | None:
    """The payload type of an offered `red/48000/2` whose blocks are this Opus (RFC 2198
    fmtp `PT/PT`), in the offer's section `mid`; None if there is none."""
    for media in offer.media:
        if media.kind != "audio" or (mid is not None and media.rtp.muxId != mid):
            continue
        for codec in media.rtp.codecs:
            if (codec.mimeType.lower() == RED_MIME and codec.clockRate == 48000
                    and codec.channels == 2 and codec.payloadType is not None
                    and list(codec.parameters) == [f"{opus_pt}/{opus_pt}"]):
                return int(codec.payloadType)
    return None


def negotiate_audio_resilience(pc: RTCPeerConnection, offer: SessionDescription,
                               fec: bool, red: bool) -> None:
    """Call between setRemoteDescription and createAnswer: with `fec` the audio answer asks
    for Opus in-band FEC (`useinbandfec=1`); with `red`, and the offer has it, it takes RED.

    aiortc's codec table knows neither: it answers Opus with no fmtp (so the browser sends
    no FEC) and drops `red` from the answer. The negotiated list lives in the transceiver's
    private `_codecs`, which both the answer and the receiver's payload-type table are
    built from. RED goes first: a browser sends RED only when the answer lists it before
    Opus (libwebrtc's rule).
    """
    for transceiver in pc.getTransceivers():
        if transceiver.kind != "audio":
            continue
        target: Any = transceiver
        codecs: list[RTCRtpCodecParameters] = list(target._codecs)
        opus = next((c for c in codecs if c.mimeType.lower() == "audio/opus"), None)
        if opus is None or opus.payloadType is None:
            continue
        if fec:
            with_fec = dataclasses.replace(opus, parameters={**opus.parameters, "useinbandfec": 1})
            codecs = [with_fec if c is opus else c for c in codecs]
        negotiated = codecs
        red_pt = red_offered(offer, transceiver.mid, opus.payloadType) if red else None
        if red_pt is not None:
            negotiated.insert(0, RTCRtpCodecParameters(
                mimeType="audio/red", clockRate=48000, channels=2, payloadType=red_pt,
                parameters={f"{opus.payloadType}/{opus.payloadType}": None}))
        target._codecs = negotiated


class _HeaderCounter:
    """Stands in for a DTLS transport's inbound SRTP session: shows each RTP packet's clear
    header to a sink and drops the packet undecrypted; RTCP is still decrypted and handled."""

    def __init__(self, inner: Any, sink: Callable[[bytes], None]) -> None:
        self._inner = inner
        self._sink = sink

    def unprotect(self, data: bytes) -> bytes:
        self._sink(data)
        raise pylibsrtp.Error("counted, not decrypted")  # aiortc drops the packet quietly

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return bytes(self._inner.unprotect_rtcp(data))


def count_srtp_headers(pc: RTCPeerConnection, sink: Callable[[bytes], None]) -> bool:
    """Make a connected peer hand every incoming RTP packet, still encrypted, to `sink`.

    For load generators only: the RTP header (sequence number, marker, payload type, SSRC)
    travels in the clear, so counting frames and gaps needs no SRTP decryption, parsing or
    receiver bookkeeping. Returns False while a transport has no SRTP session yet.
    """
    done = True
    for transceiver in pc.getTransceivers():
        dtls: Any = transceiver.receiver.transport
        if dtls is None or isinstance(dtls._rx_srtp, _HeaderCounter):
            continue
        if dtls._rx_srtp is None:
            done = False
            continue
        dtls._rx_srtp = _HeaderCounter(dtls._rx_srtp, sink)
    return done


def _verify_media_path_internals() -> None:
    """What `media_path` reaches into besides aiortc: aioice's pair and protocol, and the
    selector event loop's datagram transport (its raw socket and pause_reading)."""
    if not isinstance(getattr(aioice.ice.CandidatePair, "remote_addr", None), property):
        raise HookError("aioice CandidatePair.remote_addr is gone")
    # Its own, not asyncio.DatagramProtocol's empty one.
    if not callable(vars(aioice.ice.StunProtocol).get("datagram_received")):
        raise HookError("aioice StunProtocol.datagram_received is gone")
    transport_class: Any = getattr(selector_events, "_SelectorDatagramTransport", None)
    if transport_class is None or not callable(getattr(transport_class, "pause_reading", None)):
        raise HookError("asyncio's _SelectorDatagramTransport.pause_reading is gone")


@dataclasses.dataclass(frozen=True)
class MediaPath:
    """A connected peer's one (bundled) media path, for load generators that carry the media
    themselves: the selected pair's UDP socket and remote address (SRTP: `own_tx_srtp`).

    `deliver(data, addr)` hands a datagram back to aioice as if it had read it (STUN, DTLS and
    whatever else aiortc must still see); call it on the event loop only.
    """

    sock: socket.socket
    remote: tuple[str, int]
    deliver: Callable[[bytes, tuple[str, int]], None]
    transport: Any  # asyncio's selector datagram transport (pause_reading is not in its type)

    def take_reading(self) -> None:
        """Stop the event loop reading the socket: from now on its owner reads it (and hands
        aioice what is aioice's). Call on the event loop; the transport's close still works."""
        self.transport.pause_reading()


def _bundled_transport(pc: RTCPeerConnection) -> Any:
    """The one DTLS transport every transceiver of a bundled peer connection shares."""
    transports = {id(t.receiver.transport): t.receiver.transport for t in pc.getTransceivers()}
    if len(transports) != 1:
        raise RuntimeError(f"expected one bundled transport, found {len(transports)}")
    return next(iter(transports.values()))


def media_path(pc: RTCPeerConnection) -> MediaPath:
    """The media path of a connected, bundled peer connection (for bench/ load generators).

    Raises HookError if aiortc/aioice/asyncio moved what it reaches, RuntimeError if the peer
    is not connected or not bundled on one transport.
    """
    dtls: Any = _bundled_transport(pc)
    if dtls is None or dtls._tx_srtp is None or dtls._rx_srtp is None:
        raise RuntimeError("the peer connection is not connected (no SRTP session yet)")
    connection: Any = dtls.transport._connection
    nominated = getattr(connection, "_nominated", None)
    if not isinstance(nominated, dict):
        raise HookError("aioice Connection._nominated is gone")
    pair = nominated.get(1)  # component 1: RTP and RTCP are muxed
    if pair is None:
        raise RuntimeError("ICE has no nominated pair")
    protocol = pair.protocol
    transport = protocol.transport
    sock = getattr(transport, "_sock", None)
    if not isinstance(sock, socket.socket) or not callable(
            getattr(transport, "pause_reading", None)):
        raise HookError("the ICE protocol's transport is not asyncio's selector datagram "
                        "transport (no _sock / pause_reading)")
    return MediaPath(sock=sock, remote=tuple(pair.remote_addr),
                     deliver=protocol.datagram_received, transport=transport)


def on_send_parameters(sender: RTCRtpSender,
                       callback: Callable[[RTCRtpSendParameters], None]) -> None:
    """Show `callback` the parameters a sender starts with (SSRC stays `sender_ssrcs`)."""
    original_send = sender.send

    async def send(parameters: RTCRtpSendParameters) -> None:
        await original_send(parameters)
        callback(parameters)

    target: Any = sender
    target.send = send


def note_sent_batch(sender: RTCRtpSender, packets: int, octets: int, ntp_timestamp: int,
                    rtp_timestamp: int) -> None:
    """Count packets sent around a sender and set its clock, for its RTCP sender reports."""
    target: Any = sender
    target._RTCRtpSender__packet_count += packets
    target._RTCRtpSender__octet_count += octets
    target._RTCRtpSender__ntp_timestamp = ntp_timestamp
    target._RTCRtpSender__rtp_timestamp = rtp_timestamp


def own_tx_srtp(pc: RTCPeerConnection) -> pylibsrtp.Session:
    """A second outbound SRTP session with the keys of `pc`'s (bundled, connected) transport.

    For a load generator that encrypts RTP on a thread of its own: libsrtp sessions are not
    thread-safe and cffi releases the GIL in them, so that thread must not share the session
    aiortc protects its RTCP with on the event loop. The keys are exported again from the DTLS
    connection as aiortc's `_setup_srtp` does (RFC 5764); SRTP and SRTCP derive different
    session keys, so the two sessions never reuse a keystream.
    """
    dtls: Any = _bundled_transport(pc)
    if dtls is None or dtls._ssl is None or dtls._tx_srtp is None:
        raise RuntimeError("the peer connection is not connected (no SRTP session yet)")
    selected = dtls._ssl.get_selected_srtp_profile()
    profile = next((p for p in dtls._srtp_profiles if p.openssl_profile == selected), None)
    if profile is None or not callable(getattr(profile, "get_key_and_salt", None)):
        raise HookError("aiortc's SRTP profiles no longer match the DTLS connection's")
    material = dtls._ssl.export_keying_material(
        b"EXTRACTOR-dtls_srtp", 2 * (profile.key_length + profile.salt_length))
    policy = pylibsrtp.Policy(
        key=profile.get_key_and_salt(material, 1 if dtls._role == "server" else 0),
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile.libsrtp_profile)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return pylibsrtp.Session(policy)
