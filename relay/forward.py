"""Packet-level fan-out: one publisher's RTP to every viewer, rewritten, never decoded."""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import RTCRtpSender
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket, wrap_rtx

from fieldrelay.tasks import cancel_and_wait
from relay import aiortc_hooks as hooks
from relay import red as red_audio
from relay.history import SentHistory
from relay.outgoing import NTP_EPOCH_OFFSET, PacketWriter, abs_send_time
from relay.red import Unwrapper
from relay.rewrite import SequenceRewriter

log = logging.getLogger(__name__)

def ntp_now() -> int:
    """The current time as a 64-bit NTP timestamp."""
    now = time.time() + NTP_EPOCH_OFFSET
    return (int(now) << 32) | int((now % 1) * (1 << 32))


@dataclass(slots=True)
class Incoming:
    """One packet as the publisher sent it, with the facts every viewer needs."""

    kind: str
    packet: RtpPacket
    keyframe_start: bool
    arrival: float
    # False for a packet replayed from the GOP cache: its arrival is long past.
    live: bool = True
    # An RFC 2198 redundant-audio payload (Opus frames inside).
    red: bool = False


# Upper bounds (seconds) of the forwarding-latency histogram buckets; the last is +Inf.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005,
                   0.0075, 0.010, 0.015, 0.020, 0.050, 0.100, float("inf"))


class LatencyHistogram:
    """Time from a packet reaching the relay to its copy leaving for one viewer."""

    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.total_s = 0.0
        self.samples = 0

    def observe(self, seconds: float) -> None:
        """Count one forwarded packet (one bisection: it runs per packet per viewer)."""
        self.total_s += seconds
        self.samples += 1
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1


class RelayCounters:
    """Counters the relay reports; the node wires them to /metrics."""

    def __init__(self) -> None:
        self.forward_latency = LatencyHistogram()
        self.gop_cache_starts = 0
        self.packets_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.dropped = 0
        self.retransmitted = 0
        self.keyframe_requests = 0
        self.recording_failures = 0
        # Opus frames the recorder took, and those of them RED redundancy brought back.
        self.audio_recorded = 0
        self.audio_recovered = 0


@dataclass
class _OutTrack:
    """One negotiated outgoing track of a viewer."""

    kind: str
    sender: RTCRtpSender
    clock_rate: int
    rewriter: SequenceRewriter
    payload_type: int = 0
    rtx_payload_type: int | None = None
    # Set when this viewer negotiated RED: redundant audio goes to it as it came.
    red_payload_type: int | None = None
    unwrapper: Unwrapper = field(default_factory=Unwrapper)
    unwrapped_ssrc: int | None = None
    mid: str | None = None
    ssrc: int = 0
    rtx_ssrc: int = 0
    rtx_seq: int = 0
    extensions: HeaderExtensionsMap = field(default_factory=HeaderExtensionsMap)
    # Writes this track's copies of forwarded packets (set once the track is negotiated).
    writer: PacketWriter | None = None
    ready: bool = False
    clock_known: bool = False
    # Video only (audio is not retransmitted): a retransmission is rebuilt from the
    # publisher's payload, which every viewer shares; a whole outgoing RtpPacket kept per
    # viewer cost about 0.4 MiB per viewer.
    history: SentHistory | None = None


class Viewer:
    """One WHEP viewer: a bounded queue of packets and a task that sends them.

    The publisher's path only appends to this viewer's queue. When the queue is full
    the viewer drops what it holds and waits for the next keyframe, so a slow viewer
    loses its own frames and never delays the publisher, the recorder or other viewers.
    """

    def __init__(self, viewer_id: str, officer: str, queue_packets: int,
                 request_keyframe: Callable[[], None], counters: RelayCounters,
                 cached_gop: Callable[[], list[Incoming]] | None = None) -> None:
        self.id = viewer_id
        self.officer = officer
        self._queue: collections.deque[Incoming] = collections.deque()
        self._queue_cap = queue_packets
        # The future the sending task sleeps on while the queue is empty. One bare future
        # per sleep: an asyncio.Event cost about twice as much, and a viewer's task sleeps
        # and wakes about once per packet.
        self._waiter: asyncio.Future[None] | None = None
        self._request_keyframe = request_keyframe
        self._counters = counters
        self._tracks: dict[str, _OutTrack] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.sent = 0
        self._cached_gop = cached_gop
        # Video packets this viewer was started with from the stream's GOP cache.
        self.started_from_cache = 0

    def add_track(self, kind: str, sender: RTCRtpSender, clock_rate: int) -> None:
        """Attach a sender for one kind; it starts forwarding once DTLS is up."""
        video = kind == "video"
        track = _OutTrack(kind=kind, sender=sender, clock_rate=clock_rate,
                          rewriter=SequenceRewriter(clock_rate, video=video),
                          history=SentHistory() if video else None)
        self._tracks[kind] = track
        hooks.passthrough_sender(
            sender,
            on_ready=lambda params: self._on_ready(track, params),
            on_keyframe_request=self._request_keyframe,
            retransmit=lambda seq: self._retransmit(track, seq),
        )

    def start(self) -> None:
        """Start the sending task (owned by this viewer; `aclose` ends it)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"viewer-{self.id}")

    async def aclose(self) -> None:
        """Stop sending; idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        self._queue.clear()

    def push(self, item: Incoming) -> None:
        """Queue a packet for this viewer, dropping this viewer's backlog when full."""
        track = self._tracks.get(item.kind)
        if track is None or not track.ready:
            return
        if len(self._queue) >= self._queue_cap:
            lost = len(self._queue) + 1
            self._queue.clear()
            self.dropped += lost
            self._counters.dropped += lost
            video = self._tracks.get("video")
            if video is not None:
                video.rewriter.require_keyframe()
                self._request_keyframe()
            return
        self._queue.append(item)
        self._wake()

    def on_sender_report(self, kind: str, ntp: int, rtp_timestamp: int) -> None:
        """Pass the publisher's NTP/RTP pair on, shifted onto this viewer's timeline."""
        track = self._tracks.get(kind)
        if track is None or not track.ready:
            return
        out_ts = track.rewriter.out_timestamp(rtp_timestamp)
        if out_ts is not None:
            hooks.set_sender_clock(track.sender, ntp, out_ts)
            track.clock_known = True

    def _on_ready(self, track: _OutTrack, params: RTCRtpSendParameters) -> None:
        primary = next(c for c in params.codecs
                       if c.mimeType.lower() != red_audio.RED
                       and not c.mimeType.lower().endswith("/rtx"))
        assert primary.payloadType is not None  # negotiated codecs always carry one
        track.payload_type = primary.payloadType
        for codec in params.codecs:
            if (codec.mimeType.lower().endswith("/rtx")
                    and codec.parameters.get("apt") == primary.payloadType):
                track.rtx_payload_type = codec.payloadType
            elif codec.mimeType.lower() == red_audio.RED:
                track.red_payload_type = codec.payloadType
        track.mid = params.muxId or None
        track.extensions.configure(params)
        track.ssrc, track.rtx_ssrc = hooks.sender_ssrcs(track.sender)
        track.writer = PacketWriter(track.ssrc, track.mid, params)
        track.ready = True
        if track.kind == "video":
            cached = self._cached_gop() if self._cached_gop is not None else []
            if cached:
                # Start from the last keyframe the node already holds: no PLI, no wait.
                # Live video was not queued before this moment, so it follows seamlessly.
                self._queue.extend(cached)
                # The burst is bounded by the cache: it must not count against the room
                # this viewer has for falling behind on live packets.
                self._queue_cap += len(cached)
                self.started_from_cache = len(cached)
                self._counters.gop_cache_starts += 1
                self._wake()
            else:
                # Only now can a keyframe reach this viewer; one asked for earlier is lost.
                self._request_keyframe()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Whatever is pushed while this drains is taken in the same pass.
            while self._queue:
                await self._forward(self._queue.popleft())
            waiter = self._waiter = loop.create_future()
            await waiter

    async def _forward(self, item: Incoming) -> None:
        track = self._tracks[item.kind]
        src = item.packet
        if item.red and track.red_payload_type is None:
            # This viewer did not negotiate RED: plain Opus, with the frames whose own
            # packet never reached the node brought back from the redundancy.
            if src.ssrc != track.unwrapped_ssrc:  # a new publication numbers afresh
                track.unwrapper, track.unwrapped_ssrc = Unwrapper(), src.ssrc
            for frame in track.unwrapper.frames(src.sequence_number, src.timestamp,
                                                src.payload):
                self._send(track, item, frame.seq, frame.timestamp, frame.data,
                           track.payload_type)
            return
        payload_type = track.payload_type
        payload = src.payload
        if item.red:
            payload_type = track.red_payload_type or payload_type
            payload = red_audio.with_payload_type(payload, track.payload_type)
        self._send(track, item, src.sequence_number, src.timestamp, payload, payload_type)

    def _send(self, track: _OutTrack, item: Incoming, seq: int, timestamp: int,
              payload: bytes, payload_type: int) -> None:
        """Rewrite one packet for this viewer and send it (synchronously: nothing on the way
        to the socket waits, see `hooks.send_rtp`)."""
        src = item.packet
        mapped = track.rewriter.map(src.ssrc, seq, timestamp,
                                    item.keyframe_start,
                                    item.arrival if item.live else time.monotonic(),
                                    not item.live)
        if mapped is None:
            if track.rewriter.waiting:
                self._request_keyframe()
            return
        assert track.writer is not None  # set before the track is ready
        data = track.writer.packet(payload_type, src.marker, mapped.seq, mapped.timestamp,
                                   payload, src.padding_size, abs_send_time(time.time()),
                                   src.extensions.audio_level)
        if track.history is not None:
            track.history.add(mapped.seq, mapped.timestamp, src)
        if not track.clock_known:
            hooks.set_sender_clock(track.sender, ntp_now(), mapped.timestamp)
        try:
            hooks.send_rtp(track.sender, data)
        except ConnectionError:
            return
        hooks.note_sent(track.sender, len(payload))
        if item.live:
            self._counters.forward_latency.observe(time.monotonic() - item.arrival)
        self.sent += 1
        self._counters.packets_out += 1
        self._counters.bytes_out += len(payload)

    async def _retransmit(self, track: _OutTrack, seq: int) -> None:
        sent = track.history.get(seq) if track.history is not None else None
        if sent is None:
            return
        packet = RtpPacket(payload_type=track.payload_type, marker=sent.marker,
                           sequence_number=seq, timestamp=sent.timestamp, ssrc=track.ssrc,
                           payload=sent.payload)
        packet.padding_size = sent.padding_size
        packet.extensions.mid = track.mid
        packet.extensions.abs_send_time = abs_send_time(time.time())
        if track.rtx_payload_type is not None:
            packet = wrap_rtx(packet, payload_type=track.rtx_payload_type,
                              sequence_number=track.rtx_seq, ssrc=track.rtx_ssrc)
            track.rtx_seq = (track.rtx_seq + 1) & 0xFFFF
        try:
            hooks.send_rtp(track.sender, packet.serialize(track.extensions))
        except ConnectionError:
            return
        self._counters.retransmitted += 1

