"""Who is live, who watches whom: the node's streams, publications and viewers."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription, candidate_from_sdp

from fieldrelay.tasks import TaskGroupOwner
from recordings.recorder import SessionRecorder
from recordings.session import Evidence, SessionMedia
from relay import peers
from relay.cascade import Cascade
from relay.errors import BadSdp, NotLive, TooManyViewers, UnknownResource
from relay.forward import RelayCounters, Viewer
from relay.recorder_tap import RecorderTap
from relay.stream import Publication, Stream
from relay.talkback import Floor, TalkbackRelay, TalkbackSettings

log = logging.getLogger(__name__)

MAX_TRICKLE_CANDIDATES = 32
MAX_VIEWERS_PER_STREAM = 64


@dataclass(frozen=True)
class RelaySettings:
    """The parts of the node's config the relay uses."""

    ice_servers: tuple[str, ...] = ()
    ice_hosts: tuple[str, ...] = ()
    ice_public_ip: str | None = None
    viewer_queue_packets: int = 512
    pli_interval_s: float = 0.5
    reconnect_grace_s: float = 60.0
    segment_s: float = 6.0
    keyframe_interval_s: float = 2.0
    gop_cache_packets: int = 1024
    gop_cache_bytes: int = 2 * 1024 * 1024


@dataclass(frozen=True)
class Presence:
    """An officer's live state as the command center sees it."""

    officer: str
    live: bool
    state: str  # live | reconnecting | offline
    since: float
    recording: bool = False
    session: str | None = None


@dataclass
class _ViewerEntry:
    officer: str
    by: str
    viewer: Viewer
    pc: RTCPeerConnection


class StreamRegistry:
    """Owns every peer connection of this node and the streams they form."""

    def __init__(self, settings: RelaySettings, evidence: Evidence,
                 on_presence: Callable[[Presence], None] = lambda p: None,
                 on_floor: Callable[[Floor], None] = lambda f: None) -> None:
        self.settings = settings
        self.evidence = evidence
        self.counters = RelayCounters()
        self.streams: dict[str, Stream] = {}
        self.publications: dict[str, Publication] = {}
        self._viewers: dict[str, _ViewerEntry] = {}
        self._on_presence = on_presence
        self._grace: dict[str, asyncio.Task[None]] = {}
        self._tasks = TaskGroupOwner("stream registry")
        self._closed = False
        # One lock per officer: publish, DELETE and grace expiry never interleave.
        self._locks: dict[str, asyncio.Lock] = {}
        self.talkback = TalkbackRelay(
            TalkbackSettings(settings.ice_servers, settings.viewer_queue_packets,
                             settings.pli_interval_s, settings.segment_s,
                             settings.keyframe_interval_s),
            self.counters, self.streams.get, self._advertise, on_floor)
        # Pulls of officers live on other nodes (set by the node when it has a cluster).
        self.cascade: Cascade | None = None

    def _lock(self, officer: str) -> asyncio.Lock:
        lock = self._locks.get(officer)
        if lock is None:
            lock = self._locks[officer] = asyncio.Lock()
        return lock

    def _deadline(self, pc: RTCPeerConnection, what: str) -> None:
        peers.connect_deadline(pc, what, self._tasks)

    # -- publishing -----------------------------------------------------------------

    async def publish(self, officer: str, offer_sdp: str) -> tuple[Publication, str]:
        """Accept a WHIP offer from an officer; returns the publication and the SDP answer."""
        description = peers.parse_offer(offer_sdp)
        async with self._lock(officer):
            return await self._publish(officer, offer_sdp, description)

    async def _publish(self, officer: str, offer_sdp: str,
                       description: SessionDescription) -> tuple[Publication, str]:
        existing = self.streams.get(officer)
        codecs: dict[str, peers.MediaCodec] = {}
        for media in description.media:
            if media.kind not in ("audio", "video"):
                continue
            offered = list(media.rtp.codecs)
            current = existing.codecs.get(media.kind) if existing else None
            # A reconnecting phone keeps the stream's codec so its viewers can stay.
            if current is not None and any(peers.codec_matches(current.capability, c)
                                           for c in offered):
                codecs[media.kind] = current
            else:
                codecs[media.kind] = peers.choose_codec(media.kind, offered)
        pc = peers.new_peer_connection(self.settings.ice_servers)
        publication = Publication(secrets.token_urlsafe(12), officer, pc, codecs)
        try:
            for media in description.media:
                if media.kind in codecs:
                    transceiver = pc.addTransceiver(media.kind, direction="recvonly")
                    peers.prefer(transceiver, codecs[media.kind])
                    publication.tap(media.kind, transceiver.receiver)
            answer = await peers.answer(pc, offer_sdp)
        except BaseException:
            await peers.close(pc)
            raise
        if existing is not None and existing.codecs != codecs:
            await self._end_stream(officer, "codec_changed")
            existing = None
        stream = existing or self._new_stream(officer, codecs)
        self.streams[officer] = stream
        self.publications[publication.id] = publication
        if (stream.session is not None and existing is not None
                and stream.disconnected_at is None and stream.publication is not None
                and stream.last_packet_mono is not None):
            # The phone came back before the node noticed it was gone (ICE consent outlasts
            # a short radio loss): the gap runs from its last packet, and is said so.
            silent_s = time.monotonic() - stream.last_packet_mono
            stream.disconnected_at = time.time() - silent_s
            stream.session.event("publisher.disconnected", publication=stream.publication.id,
                                 noticed="on_reconnect", silent_ms=int(silent_s * 1000))
        if stream.session is not None and existing is not None:
            gap = 0.0 if stream.disconnected_at is None else time.time() - stream.disconnected_at
            stream.session.event("publisher.reconnected", gap_ms=int(gap * 1000),
                                 publication=publication.id)
        stream.disconnected_at = None
        previous = stream.attach(publication)
        self._cancel_grace(officer)
        if previous is not None:
            self.publications.pop(previous.id, None)
            await previous.aclose()

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            if state == "connected" and stream.publication is publication:
                self._announce(stream, live=True)
            elif state in ("failed", "closed"):
                self._publication_lost(publication)

        self._deadline(pc, f"publication-{publication.id}")
        return publication, self._advertise(answer)

    def _new_stream(self, officer: str, codecs: dict[str, peers.MediaCodec]) -> Stream:
        """A stream with its evidence session: recording starts with the first keyframe."""
        stream = Stream(officer, codecs, self.counters, self.settings.pli_interval_s,
                        self.settings.gop_cache_packets, self.settings.gop_cache_bytes)
        video = codecs.get("video")
        media = SessionMedia(video=video.mime if video else None, audio="audio" in codecs)

        def on_status(recording: bool, reason: str) -> None:
            stream.recording = recording
            if not recording:
                self.counters.recording_failures += 1
            if self.streams.get(officer) is stream:
                self._announce(stream, live=True)

        session = self.evidence.open_session(officer, media, on_status,
                                             asyncio.get_running_loop())
        stream.session, stream.recording = session, True
        stream.tap = RecorderTap(SessionRecorder(
            session, media.video, stream.request_keyframe, self.settings.segment_s,
            self.settings.keyframe_interval_s))
        return stream

    async def unpublish(self, officer: str, publication_id: str) -> None:
        """End a publication on the officer's request (WHIP DELETE): the stream ends now."""
        async with self._lock(officer):
            await self._unpublish(officer, publication_id)

    async def _unpublish(self, officer: str, publication_id: str) -> None:
        stream = self.streams.get(officer)
        if (stream is not None and stream.publication is None
                and stream.last_publication_id == publication_id):
            # The phone's connection dropped before its DELETE arrived: the officer still
            # means to stop, so end the stream now instead of waiting out the grace period.
            await self._end_stream(officer, "stopped")
            return
        publication = self.publications.get(publication_id)
        if publication is None or publication.officer != officer:
            raise UnknownResource("no such publication for this officer")
        if stream is not None and stream.publication is publication:
            await self._end_stream(officer, "stopped")
        else:
            self.publications.pop(publication_id, None)
            await publication.aclose()

    def _publication_lost(self, publication: Publication) -> None:
        stream = self.streams.get(publication.officer)
        if stream is None or not stream.detach(publication) or self._closed:
            return
        self.publications.pop(publication.id, None)
        self._tasks.spawn(publication.aclose(), name=f"close-{publication.id}")
        stream.state = "reconnecting"
        stream.disconnected_at = time.time()
        if stream.session is not None:
            stream.session.event("publisher.disconnected", publication=publication.id)
        self._announce(stream, live=True)
        self._cancel_grace(stream.officer)
        self._grace[stream.officer] = self._tasks.spawn(
            self._expire(stream), name=f"grace-{stream.officer}")

    async def _expire(self, stream: Stream) -> None:
        await asyncio.sleep(self.settings.reconnect_grace_s)
        async with self._lock(stream.officer):
            if self.streams.get(stream.officer) is stream and stream.publication is None:
                self._grace.pop(stream.officer, None)
                await self._end_stream(stream.officer, "grace_expired")

    def _cancel_grace(self, officer: str) -> None:
        task = self._grace.pop(officer, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _end_stream(self, officer: str, reason: str) -> None:
        """End an officer's stream and seal its evidence; the caller holds the officer's lock."""
        stream = self.streams.pop(officer, None)
        if stream is None:
            return
        self._cancel_grace(officer)
        publication = stream.publication
        if publication is not None:
            stream.detach(publication)
            self.publications.pop(publication.id, None)
            await publication.aclose()
        for viewer_id in list(stream.viewers):
            await self._close_viewer(viewer_id, stream)
        await self.talkback.officer_ended(officer, stream)
        await stream.aclose()
        if stream.session is not None:
            stream.tap = None
            await stream.session.seal(reason)
        self._on_presence(Presence(officer, live=False, state="offline", since=time.time()))

    def _announce(self, stream: Stream, live: bool) -> None:
        self._on_presence(Presence(stream.officer, live=live, state=stream.state,
                                   since=stream.started_at, recording=stream.recording,
                                   session=stream.session.id if stream.session else None))

    # -- viewing --------------------------------------------------------------------

    async def view(self, officer: str, offer_sdp: str, by: str,
                   cascade: bool = True) -> tuple[str, str]:
        """Accept a WHEP offer for an officer's stream; returns the viewer id and the answer.

        An officer live on another node is pulled from there (once for all viewers here)
        unless `cascade` is False: a node pulling from this one gets local streams only.
        """
        stream = self._stream_of(officer)
        if stream is None and cascade and self.cascade is not None:
            stream = await self.cascade.acquire(officer)
        if stream is None:
            raise NotLive(f"officer {officer!r} is not live")
        if len(stream.viewers) >= MAX_VIEWERS_PER_STREAM:
            raise TooManyViewers(f"{officer!r} already has {MAX_VIEWERS_PER_STREAM} viewers")
        description = peers.parse_offer(offer_sdp)
        kinds = [m.kind for m in description.media if m.kind in stream.codecs]
        if not kinds:
            raise BadSdp("the offer asks for no kind of media this stream carries")
        pc = peers.new_peer_connection(self.settings.ice_servers)
        viewer = Viewer(secrets.token_urlsafe(12), officer, self.settings.viewer_queue_packets,
                        stream.request_keyframe, self.counters, stream.cached_gop)
        try:
            for kind in kinds:
                codec = stream.codecs[kind]
                transceiver = pc.addTransceiver(peers.SilentTrack(kind), direction="sendonly")
                peers.prefer(transceiver, codec)
                viewer.add_track(kind, transceiver.sender, codec.clock_rate)
            answer = await peers.answer(pc, offer_sdp)
        except BaseException:
            await peers.close(pc)
            self._release_pull(officer)
            raise
        if self._stream_of(officer) is not stream:  # the stream ended while we negotiated
            await pc.close()
            raise NotLive(f"officer {officer!r} is not live")
        self._viewers[viewer.id] = _ViewerEntry(officer, by, viewer, pc)
        stream.add_viewer(viewer)
        if stream.session is not None:
            stream.session.event("viewer.joined", viewer=by, viewer_id=viewer.id)
        elif self.cascade is not None and self.cascade.stream(officer) is stream:
            self.cascade.viewer_changed(officer, by, viewer.id, joined=True)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and viewer.id in self._viewers:
                self._tasks.spawn(self._close_viewer(viewer.id), name=f"unview-{viewer.id}")

        self._deadline(pc, f"viewer-{viewer.id}")
        return viewer.id, self._advertise(answer)

    async def unview(self, officer: str, viewer_id: str, by: str) -> None:
        """Stop a viewer on its request (WHEP DELETE)."""
        entry = self._viewers.get(viewer_id)
        if entry is None or entry.officer != officer or entry.by != by:
            raise UnknownResource("no such viewer of this officer")
        await self._close_viewer(viewer_id)

    async def _close_viewer(self, viewer_id: str, stream: Stream | None = None) -> None:
        entry = self._viewers.pop(viewer_id, None)
        if entry is None:
            return
        stream = stream or self._stream_of(entry.officer)
        if stream is not None:
            stream.remove_viewer(viewer_id)
            if stream.session is not None:
                stream.session.event("viewer.left", viewer=entry.by, viewer_id=viewer_id)
            elif self.cascade is not None and self.cascade.stream(entry.officer) is stream:
                self.cascade.viewer_changed(entry.officer, entry.by, viewer_id, joined=False)
        await entry.viewer.aclose()
        await entry.pc.close()
        self._release_pull(entry.officer)

    def _stream_of(self, officer: str) -> Stream | None:
        """The officer's stream here: published to this node, or pulled from another."""
        stream = self.streams.get(officer)
        if stream is None and self.cascade is not None:
            stream = self.cascade.stream(officer)
        return stream

    def _release_pull(self, officer: str) -> None:
        if self.cascade is not None and officer not in self.streams:
            self.cascade.release_if_idle(officer)

    async def pull_ended(self, officer: str, stream: Stream) -> None:
        """The cascade lost an officer's pulled stream: its viewers here end too."""
        for viewer_id in list(stream.viewers):
            await self._close_viewer(viewer_id, stream)

    def record_relayed_viewer(self, officer: str, pull_id: str, by: str, viewer: str,
                              viewer_id: str, joined: bool) -> None:
        """A node relaying this officer's stream reports who watches it there (evidence)."""
        entry = self._viewers.get(pull_id)
        stream = self.streams.get(officer)
        if entry is None or entry.officer != officer or entry.by != by or stream is None:
            raise UnknownResource("no such viewer of this officer")
        if stream.session is not None:
            stream.session.event("viewer.joined" if joined else "viewer.left", viewer=viewer,
                                 viewer_id=viewer_id, via=by.removeprefix("node:"))

    def viewer(self, viewer_id: str) -> Viewer | None:
        """A viewer by id (tests and metrics use this)."""
        entry = self._viewers.get(viewer_id)
        return entry.viewer if entry else None

    # -- trickle ICE ----------------------------------------------------------------

    async def trickle_publication(self, officer: str, publication_id: str, sdpfrag: str) -> None:
        """Add an officer's trickled candidates to its publication (WHIP PATCH)."""
        publication = self.publications.get(publication_id)
        if publication is None or publication.officer != officer:
            raise UnknownResource("no such publication for this officer")
        await self._trickle(publication.pc, sdpfrag)

    async def trickle_viewer(self, officer: str, viewer_id: str, by: str, sdpfrag: str) -> None:
        """Add a viewer's trickled candidates (WHEP PATCH)."""
        entry = self._viewers.get(viewer_id)
        if entry is None or entry.officer != officer or entry.by != by:
            raise UnknownResource("no such viewer of this officer")
        await self._trickle(entry.pc, sdpfrag)

    async def trickle_pc(self, pc: RTCPeerConnection, sdpfrag: str) -> None:
        """Add trickled candidates to any peer connection of this node (talkback too)."""
        await self._trickle(pc, sdpfrag)

    async def _trickle(self, pc: RTCPeerConnection, sdpfrag: str) -> None:
        """Add remote candidates from an RFC 8840 SDP fragment."""
        added = 0
        mid: str | None = None
        for line in sdpfrag.splitlines():
            line = line.strip()
            if line.startswith("a=mid:"):
                mid = line[6:]
            elif line == "a=end-of-candidates":
                await pc.addIceCandidate(None)
            elif line.startswith("a=candidate:"):
                added += 1
                if added > MAX_TRICKLE_CANDIDATES:
                    raise BadSdp(f"at most {MAX_TRICKLE_CANDIDATES} candidates per request")
                try:
                    candidate = candidate_from_sdp(line[12:])
                except Exception as exc:
                    raise BadSdp(f"a candidate line could not be parsed: {exc!r}") from None
                candidate.sdpMid = mid
                candidate.sdpMLineIndex = None if mid else 0
                await pc.addIceCandidate(candidate)

    # -- state ----------------------------------------------------------------------

    def presence(self) -> list[Presence]:
        """The current presence of every officer with a stream on this node."""
        return [Presence(s.officer, live=True, state=s.state, since=s.started_at,
                         recording=s.recording, session=s.session.id if s.session else None)
                for s in self.streams.values()]

    def _advertise(self, sdp: str) -> str:
        if self.settings.ice_public_ip:
            return peers.advertise_public_ip(sdp, self.settings.ice_hosts,
                                             self.settings.ice_public_ip)
        return sdp

    async def aclose(self) -> None:
        """End every stream and close every peer connection; idempotent."""
        self._closed = True
        for task in list(self._grace.values()):
            task.cancel()  # shutdown seals them itself, below
        for officer in list(self.streams):
            async with self._lock(officer):
                await self._end_stream(officer, "shutdown")
        for viewer_id in list(self._viewers):
            await self._close_viewer(viewer_id)
        await self.talkback.aclose()
        if self.cascade is not None:
            await self.cascade.aclose()
        await self._tasks.aclose()
