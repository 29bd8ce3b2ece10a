"""Publications: officers' WHIP peers, the streams they feed and the evidence they open.

A stream outlives its publication: a phone that drops has a grace period to come back
into the same stream (and the same evidence session) before the stream ends and seals.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from fieldrelay.tasks import TaskGroupOwner
from recordings.recorder import SessionRecorder
from recordings.session import Evidence, SessionMedia
from relay import peers
from relay.directory import StreamDirectory, presence_of
from relay.errors import UnknownResource
from relay.forward import RelayCounters
from relay.grace import GracePeriods
from relay.recorder_tap import RecorderTap
from relay.signals import Presence, RelayListeners
from relay.stream import Publication, Stream, accept_publication
from relay.talkback import TalkbackRelay
from relay.viewing import Viewers

Codecs = dict[str, peers.MediaCodec]


@dataclass(frozen=True)
class PublishSettings:
    """What publishing needs from the node's config."""

    ice_servers: tuple[str, ...]
    pli_interval_s: float
    reconnect_grace_s: float
    segment_s: float
    keyframe_interval_s: float
    gop_cache_packets: int
    gop_cache_bytes: int
    # Opus in-band FEC and RED in publishers' answers.
    audio_redundancy: bool = True


class Publications:
    """Every publication of this node, and the life of the streams they feed."""

    def __init__(self, settings: PublishSettings, counters: RelayCounters,
                 streams: StreamDirectory, store: Evidence, listeners: RelayListeners,
                 viewers: Viewers, talkback: TalkbackRelay, tasks: TaskGroupOwner,
                 advertise: Callable[[str], str]) -> None:
        self.settings = settings
        self.by_id: dict[str, Publication] = {}
        self._counters = counters
        self._streams = streams
        self._store = store
        self._listeners = listeners
        self._viewers = viewers
        self._talkback = talkback
        self._tasks = tasks
        self._advertise = advertise
        self._grace = GracePeriods()
        self._closed = False
        # One lock per officer: publish, DELETE and grace expiry never interleave.
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, officer: str) -> asyncio.Lock:
        lock = self._locks.get(officer)
        if lock is None:
            lock = self._locks[officer] = asyncio.Lock()
        return lock

    # -- publishing -----------------------------------------------------------------

    async def publish(self, officer: str, offer_sdp: str) -> tuple[Publication, str]:
        """Accept a WHIP offer from an officer; returns the publication and the SDP answer."""
        description = peers.parse_offer(offer_sdp)
        async with self._lock(officer):
            existing = self._streams.get(officer)
            codecs = _choose_codecs(description, existing)
            publication, answer = await accept_publication(
                officer, offer_sdp, description, codecs, self.settings.ice_servers,
                redundancy=self.settings.audio_redundancy)
            stream = await self._feed(publication, existing)
            self._watch(stream, publication)
            return publication, self._advertise(answer)


    async def _feed(self, publication: Publication, existing: Stream | None) -> Stream:
        """Make the publication its officer's source: the same stream after a reconnect
        (same codecs), else a new one; the publication it replaces closes."""
        officer = publication.officer
        if existing is not None and existing.codecs != publication.codecs:
            await self._end_stream(officer, "codec_changed")
            existing = None
        stream = existing or self._new_stream(officer, publication.codecs)
        self._streams.put(stream)
        self.by_id[publication.id] = publication
        if existing is not None:
            _note_reconnect(stream, publication)
        stream.disconnected_at = None
        previous = stream.attach(publication)
        self._grace.cancel(officer)
        if previous is not None:
            self.by_id.pop(previous.id, None)
            await previous.aclose()
        return stream

    def _watch(self, stream: Stream, publication: Publication) -> None:
        pc: RTCPeerConnection = publication.pc

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            if state == "connected" and stream.publication is publication:
                self._announce(stream)
            elif state in ("failed", "closed"):
                self._lost(publication)

        peers.connect_deadline(pc, f"publication-{publication.id}", self._tasks)

    def _new_stream(self, officer: str, codecs: Codecs) -> Stream:
        """A stream with its evidence session: recording starts with the first keyframe."""
        s = self.settings
        stream = Stream(officer, codecs, self._counters, s.pli_interval_s,
                        s.gop_cache_packets, s.gop_cache_bytes)
        video = codecs.get("video")
        media = SessionMedia(video=video.mime if video else None, audio="audio" in codecs)

        def on_status(recording: bool, reason: str) -> None:
            stream.recording = recording
            if not recording:
                self._counters.recording_failures += 1
            if self._streams.get(officer) is stream:
                self._announce(stream)

        session = self._store.open_session(officer, media, on_status,
                                           asyncio.get_running_loop())
        stream.session, stream.recording = session, True
        stream.tap = RecorderTap(SessionRecorder(
            session, media.video, stream.request_keyframe, s.segment_s, s.keyframe_interval_s))
        return stream

    # -- ending ---------------------------------------------------------------------

    async def unpublish(self, officer: str, publication_id: str) -> None:
        """End a publication on the officer's request (WHIP DELETE): the stream ends now."""
        async with self._lock(officer):
            stream = self._streams.get(officer)
            if (stream is not None and stream.publication is None
                    and stream.last_publication_id == publication_id):
                # The phone's connection dropped before its DELETE arrived: the officer still
                # means to stop, so end the stream now instead of waiting out the grace period.
                await self._end_stream(officer, "stopped")
                return
            publication = self.of(officer, publication_id)
            if stream is not None and stream.publication is publication:
                await self._end_stream(officer, "stopped")
            else:
                self.by_id.pop(publication_id, None)
                await publication.aclose()

    def of(self, officer: str, publication_id: str) -> Publication:
        """The officer's publication by id (UnknownResource if it is not the officer's)."""
        publication = self.by_id.get(publication_id)
        if publication is None or publication.officer != officer:
            raise UnknownResource("no such publication for this officer")
        return publication

    def _lost(self, publication: Publication) -> None:
        """The phone's connection failed: the stream waits for it, for a grace period."""
        stream = self._streams.get(publication.officer)
        if stream is None or not stream.detach(publication) or self._closed:
            return
        self.by_id.pop(publication.id, None)
        self._tasks.spawn(publication.aclose(), name=f"close-{publication.id}")
        stream.state = "reconnecting"
        stream.disconnected_at = time.time()
        stream.record("publisher.disconnected", publication=publication.id)
        self._announce(stream)
        self._grace.start(stream.officer, self._expire(stream))

    async def _expire(self, stream: Stream) -> None:
        await asyncio.sleep(self.settings.reconnect_grace_s)
        async with self._lock(stream.officer):
            if self._streams.get(stream.officer) is stream and stream.publication is None:
                await self._end_stream(stream.officer, "grace_expired")

    async def _end_stream(self, officer: str, reason: str) -> None:
        """End an officer's stream and seal its evidence; the caller holds the officer's lock."""
        stream = self._streams.pop(officer)
        if stream is None:
            return
        self._grace.cancel(officer)
        publication = stream.publication
        if publication is not None:
            stream.detach(publication)
            self.by_id.pop(publication.id, None)
            await publication.aclose()
        await self._viewers.close_all(stream)
        await self._talkback.officer_ended(officer, stream)
        await stream.aclose()
        await stream.seal(reason)
        self._listeners.presence_changed(
            Presence(officer, live=False, state="offline", since=time.time()))

    def _announce(self, stream: Stream) -> None:
        self._listeners.presence_changed(presence_of(stream, live=True))

    async def aclose(self) -> None:
        """End every stream, sealing its evidence; idempotent."""
        self._closed = True
        self._grace.cancel_all()  # shutdown seals the streams itself, below
        for officer in self._streams.officers():
            async with self._lock(officer):
                await self._end_stream(officer, "shutdown")
        await self._grace.aclose()


def _choose_codecs(description: SessionDescription, existing: Stream | None) -> Codecs:
    """One codec per offered kind; a reconnecting phone keeps its stream's codec if it can,
    so the stream's viewers can stay."""
    codecs: Codecs = {}
    for media in description.media:
        if media.kind not in ("audio", "video"):
            continue
        offered = list(media.rtp.codecs)
        current = existing.codecs.get(media.kind) if existing else None
        if current is not None and any(peers.codec_matches(current.capability, c)
                                       for c in offered):
            codecs[media.kind] = current
        else:
            codecs[media.kind] = peers.choose_codec(media.kind, offered)
    return codecs


def _note_reconnect(stream: Stream, publication: Publication) -> None:
    """The officer's phone is back in the same stream: the gap goes into the evidence."""
    if (stream.session_id is not None and stream.disconnected_at is None
            and stream.publication is not None and stream.last_packet_mono is not None):
        # The phone came back before the node noticed it was gone (ICE consent outlasts
        # a short radio loss): the gap runs from its last packet, and is said so.
        silent_s = time.monotonic() - stream.last_packet_mono
        stream.disconnected_at = time.time() - silent_s
        stream.record("publisher.disconnected", publication=stream.publication.id,
                      noticed="on_reconnect", silent_ms=int(silent_s * 1000))
    gap = 0.0 if stream.disconnected_at is None else time.time() - stream.disconnected_at
    stream.record("publisher.reconnected", gap_ms=int(gap * 1000),
                  publication=publication.id)
