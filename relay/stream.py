"""One officer's live stream: the current publication feeds it, viewers read it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription

from fieldrelay.tasks import cancel_and_wait
from recordings.session import EvidenceSession
from relay import aiortc_hooks as hooks
from relay import peers
from relay.codecs import keyframe_start
from relay.forward import Incoming, RelayCounters, Viewer
from relay.gopcache import GopCache
from relay.peers import MediaCodec
from relay.recorder_tap import RecorderTap
from relay.red import RED
from relay.uplink import UplinkDelay

log = logging.getLogger(__name__)


class Publication:
    """One WHIP resource: a publisher's peer connection and its tapped receivers."""

    def __init__(self, pub_id: str, officer: str, pc: RTCPeerConnection,
                 codecs: dict[str, MediaCodec]) -> None:
        self.id = pub_id
        self.officer = officer
        self.pc = pc
        self.codecs = codecs
        self.receivers: dict[str, RTCRtpReceiver] = {}
        self.mime_by_pt: dict[int, str] = {}
        self.media_ssrc: dict[str, int] = {}
        self.created_at = time.time()
        self.stream: Stream | None = None
        # The queue on the officer's uplink, from the voice's arrivals (relay/uplink.py).
        self.uplink = UplinkDelay()

    def tap(self, kind: str, receiver: RTCRtpReceiver) -> None:
        """Route this receiver's packets into whichever stream this publication feeds."""
        self.receivers[kind] = receiver

        def sink(packet: RtpPacket) -> None:
            if kind == "audio":
                self.uplink.arrive(time.monotonic(), packet.timestamp)
            if self.stream is not None:
                self.media_ssrc[kind] = packet.ssrc
                self.stream.feed(self, kind, packet)

        def on_parameters(params: RTCRtpReceiveParameters) -> None:
            for codec in params.codecs:
                if codec.payloadType is not None:
                    self.mime_by_pt[codec.payloadType] = codec.mimeType.lower()

        def on_sender_report(ssrc: int, ntp: int, rtp_ts: int) -> None:
            if self.stream is not None and self.media_ssrc.get(kind) == ssrc:
                self.stream.sender_report(self, kind, ntp, rtp_ts)

        hooks.tap_receiver(receiver, sink, on_parameters, on_sender_report)

    async def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe on its video track."""
        receiver, ssrc = self.receivers.get("video"), self.media_ssrc.get("video")
        if receiver is not None and ssrc is not None:
            await hooks.request_keyframe(receiver, ssrc)

    async def aclose(self) -> None:
        """Close the publisher's peer connection; idempotent."""
        self.stream = None
        await peers.close(self.pc)



async def accept_publication(officer: str, offer_sdp: str, description: SessionDescription,
                             codecs: dict[str, MediaCodec],
                             ice_servers: tuple[str, ...],
                             redundancy: bool = False) -> tuple[Publication, str]:
    """A receive-only peer for an offer (an officer's WHIP, or a commander's talkback): each
    offered kind with a codec is tapped; returns the publication and the SDP answer.
    `redundancy`: ask for Opus in-band FEC and take RED (RFC 2198) when the offer has it."""
    pc = peers.new_peer_connection(ice_servers)
    publication = Publication(secrets.token_urlsafe(12), officer, pc, codecs)
    try:
        for media in description.media:
            if media.kind in codecs:
                transceiver = pc.addTransceiver(media.kind, direction="recvonly")
                peers.prefer(transceiver, codecs[media.kind])
                publication.tap(media.kind, transceiver.receiver)
        answer = await peers.answer(pc, offer_sdp, fec=redundancy, red=redundancy)
    except BaseException:
        await peers.close(pc)
        raise
    return publication, answer

class Stream:
    """An officer's live media, kept across publisher reconnects so viewers stay attached."""

    def __init__(self, officer: str, codecs: dict[str, MediaCodec], counters: RelayCounters,
                 pli_interval_s: float, gop_cache_packets: int = 0,
                 gop_cache_bytes: int = 0) -> None:
        self.officer = officer
        self.codecs = codecs
        self.viewers: dict[str, Viewer] = {}
        self.publication: Publication | None = None
        self.session: EvidenceSession | None = None
        self.tap: RecorderTap | None = None
        self.recording = False
        self.disconnected_at: float | None = None
        # The id of the publication that fed the stream last, kept through a reconnect gap.
        self.last_publication_id: str | None = None
        self.state = "live"
        self.started_at = time.time()
        self.packets_in = 0
        # When the publisher's last packet arrived (monotonic): a reconnect measures its gap
        # from here when the node had not yet noticed the drop.
        self.last_packet_mono: float | None = None
        self._counters = counters
        self._pli_interval_s = pli_interval_s
        self.gop = GopCache(gop_cache_packets, gop_cache_bytes)
        self._keyframe_wanted = asyncio.Event()
        self._keyframe_task = asyncio.get_running_loop().create_task(
            self._keyframe_loop(), name=f"keyframes-{officer}")

    def attach(self, publication: Publication) -> Publication | None:
        """Make this publication the stream's source; returns the one it replaces."""
        previous, self.publication = self.publication, publication
        if previous is not None:
            previous.stream = None
        publication.stream = self
        self.last_publication_id = publication.id
        self.state = "live"
        return previous

    def detach(self, publication: Publication) -> bool:
        """Forget this publication if it is the current one; True if it was."""
        if self.publication is not publication:
            return False
        publication.stream = None
        self.publication = None
        return True

    def feed(self, publication: Publication, kind: str, packet: RtpPacket) -> None:
        """Hand one incoming packet to every viewer (called for every packet: keep it lean)."""
        mime = publication.mime_by_pt.get(packet.payload_type)
        if mime is None:
            return
        is_key = kind == "video" and keyframe_start(mime, packet.payload)
        red = mime == RED
        self.packets_in += 1
        self._counters.packets_in += 1
        item = Incoming(kind, packet, is_key, time.monotonic(), red=red)
        self.last_packet_mono = item.arrival
        if kind == "video":
            self.gop.add(item)
        for viewer in self.viewers.values():
            viewer.push(item)
        tap = self.tap
        if tap is not None:
            recorded, recovered = tap.audio_frames, tap.audio_recovered
            tap.on_packet(kind, packet, red)
            self._counters.audio_recorded += tap.audio_frames - recorded
            self._counters.audio_recovered += tap.audio_recovered - recovered

    def sender_report(self, publication: Publication, kind: str, ntp: int, rtp_ts: int) -> None:
        """Relay the publisher's clock mapping to every viewer."""
        for viewer in self.viewers.values():
            viewer.on_sender_report(kind, ntp, rtp_ts)

    @property
    def session_id(self) -> str | None:
        """The id of the evidence session this stream records into (None: pulled here)."""
        return self.session.id if self.session is not None else None

    def record(self, event: str, **fields: Any) -> bool:
        """Append an event to this stream's evidence session; False if it records nowhere.

        Raises ValueError for fields the ledger cannot hold.
        """
        if self.session is None:
            return False
        self.session.event(event, **fields)
        return True

    def end_track(self, track: str) -> None:
        """Close a side track's open segment (talkback ended), so it is ledgered now."""
        if self.session is not None:
            self.session.end_track(track)

    async def seal(self, reason: str) -> None:
        """Stop recording and seal the evidence session (the stream has ended)."""
        if self.session is not None:
            self.tap = None
            await self.session.seal(reason)

    def request_keyframe(self) -> None:
        """Ask for a keyframe soon; requests are merged and rate-limited."""
        self._keyframe_wanted.set()

    async def _keyframe_loop(self) -> None:
        while True:
            await self._keyframe_wanted.wait()
            self._keyframe_wanted.clear()
            if self.publication is not None:
                self._counters.keyframe_requests += 1
                with contextlib.suppress(ConnectionError):  # the publisher is going away
                    await self.publication.request_keyframe()
            await asyncio.sleep(self._pli_interval_s)

    def add_viewer(self, viewer: Viewer) -> None:
        """Attach a viewer; it receives packets once its transport is up."""
        self.viewers[viewer.id] = viewer
        viewer.start()

    def remove_viewer(self, viewer_id: str) -> Viewer | None:
        """Detach a viewer (the caller closes it)."""
        return self.viewers.pop(viewer_id, None)

    def cached_gop(self) -> list[Incoming]:
        """The video since the last keyframe, for a viewer that starts now."""
        return self.gop.snapshot()

    async def aclose(self) -> None:
        """Stop the keyframe task; viewers and publications are closed by the registry."""
        self.gop.clear()
        await cancel_and_wait(self._keyframe_task)
