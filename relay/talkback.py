"""Talkback: a commander's voice, and picture if any, played at the scene on the officer's phone.

Each live officer has one talkback channel: a small stream whose publisher is the commander
who holds the floor and whose only viewers are that officer's phone(s). Packets are forwarded
as they are, like every other stream, and recorded into the officer's own evidence session
as its talkback track, on the same timeline as the phone's media. One commander holds the
floor at a time; the others are told who.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from fieldrelay.errors import Conflict
from fieldrelay.tasks import TaskGroupOwner
from recordings.session import TALKBACK, SessionMedia
from relay import peers
from relay.codecs import OPUS, VP8
from relay.errors import BadSdp, NotLive, UnknownResource
from relay.forward import RelayCounters, Viewer
from relay.signals import Floor
from relay.stream import Publication, Stream, accept_publication

log = logging.getLogger(__name__)

# A phone that reloads opens a new listener before the old one times out.
MAX_LISTENERS = 4


class FloorTaken(Conflict):
    """Another commander is talking to this officer."""

    code = "floor_taken"


@dataclass(frozen=True)
class TalkbackSettings:
    """What talkback needs from the node's config."""

    ice_servers: tuple[str, ...] = ()
    viewer_queue_packets: int = 512
    pli_interval_s: float = 0.5
    segment_s: float = 6.0
    keyframe_interval_s: float = 2.0


def talkback_codecs() -> dict[str, peers.MediaCodec]:
    """Opus, and VP8 for the commander's camera: what every browser sends and plays."""
    return {"audio": peers.MediaCodec("audio", peers.capability("audio", OPUS)),
            "video": peers.MediaCodec("video", peers.capability("video", VP8))}


def _talkback_codecs_for(description: SessionDescription,
                         channel_codecs: dict[str, peers.MediaCodec]
                         ) -> dict[str, peers.MediaCodec]:
    """The channel's codec of each kind the commander offers (BadSdp unless offered)."""
    codecs = {m.kind: channel_codecs[m.kind] for m in description.media}
    for media in description.media:
        if not any(peers.codec_matches(codecs[media.kind].capability, c)
                   for c in media.rtp.codecs):
            name = "Opus" if media.kind == "audio" else "VP8"
            raise BadSdp(f"talkback {media.kind} must be {name}")
    return codecs


class _Channel:
    """One officer's talkback: the fan-out to the phone and who holds the floor."""

    def __init__(self, officer: str, stream: Stream) -> None:
        self.officer = officer
        self.stream = stream
        self.holder: str | None = None
        self.video = False
        self.since = 0.0
        self.publication: Publication | None = None
        self.listeners: dict[str, tuple[Viewer, RTCPeerConnection]] = {}

    def floor(self) -> Floor:
        return Floor(self.officer, self.holder, self.video, self.since)


class TalkbackRelay:
    """Every talkback channel of this node; the stream registry owns it."""

    def __init__(self, settings: TalkbackSettings, counters: RelayCounters,
                 live_stream: Callable[[str], Stream | None],
                 advertise: Callable[[str], str],
                 on_floor: Callable[[Floor], None] = lambda f: None) -> None:
        self.settings = settings
        self._counters = counters
        self._live_stream = live_stream
        self._advertise = advertise
        self._on_floor = on_floor
        self._channels: dict[str, _Channel] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = TaskGroupOwner("talkback")

    def _lock(self, officer: str) -> asyncio.Lock:
        lock = self._locks.get(officer)
        if lock is None:
            lock = self._locks[officer] = asyncio.Lock()
        return lock

    def _channel(self, officer: str) -> _Channel:
        channel = self._channels.get(officer)
        if channel is None:
            stream = Stream(f"talkback-{officer}", talkback_codecs(), self._counters,
                            self.settings.pli_interval_s)
            channel = self._channels[officer] = _Channel(officer, stream)
        return channel

    def _require_live(self, officer: str) -> Stream:
        stream = self._live_stream(officer)
        if stream is None:
            raise NotLive(f"officer {officer!r} is not live on this node")
        return stream

    def floor(self, officer: str) -> Floor:
        """Who holds the floor for an officer now."""
        channel = self._channels.get(officer)
        return channel.floor() if channel else Floor(officer, None, False, 0.0)

    def floors(self) -> list[Floor]:
        """Every floor held on this node."""
        return [c.floor() for c in self._channels.values() if c.holder is not None]

    def listeners(self, officer: str) -> int:
        """How many of the officer's phones are connected to hear talkback."""
        channel = self._channels.get(officer)
        return len(channel.listeners) if channel else 0

    # -- the commander's side -------------------------------------------------------

    async def talk(self, officer: str, offer_sdp: str, by: str,
                   via: str | None = None) -> tuple[str, str]:
        """Take the floor with a WHIP-style offer; returns the talk id and the SDP answer.

        `via` names the node that carries the talk of a commander connected there.
        """
        description = peers.parse_offer(offer_sdp)
        kinds = [m.kind for m in description.media]
        if "audio" not in kinds:
            raise BadSdp("talkback needs an audio section: the scene must hear the commander")
        async with self._lock(officer):
            main = self._require_live(officer)
            channel = self._channel(officer)
            if channel.holder is not None and channel.holder != by:
                raise FloorTaken(f"{channel.holder} is talking to {officer}")
            if channel.publication is not None:
                await self._release(channel, main)  # the same commander again: start afresh
            codecs = _talkback_codecs_for(description, channel.stream.codecs)
            publication, answer = await accept_publication(
                officer, offer_sdp, description, codecs, self.settings.ice_servers)
            pc = publication.pc
            video = "video" in codecs
            channel.holder, channel.video, channel.since = by, video, time.time()
            channel.publication = publication
            channel.stream.attach(publication)
            if main.tap is not None:  # recorded here (a pulled stream never is)
                media_kind = SessionMedia(video=VP8 if video else None, audio=True)
                channel.stream.tap = main.tap.companion(
                    TALKBACK, media_kind, channel.stream.request_keyframe,
                    self.settings.segment_s, self.settings.keyframe_interval_s)
                main.record("talkback.started", by=by, video=video,
                            **({"via": via} if via else {}))

            @pc.on("connectionstatechange")
            def on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    self._tasks.spawn(self._lost(officer, publication),
                                      name=f"talkback-lost-{publication.id}")

            self._deadline(pc, f"talkback-{publication.id}")
            self._on_floor(channel.floor())
            log.info("%s is talking to %s%s%s", by, officer, " with video" if video else "",
                     f" via {via}" if via else "")
            return publication.id, self._advertise(answer)


    async def stop(self, officer: str, talk_id: str, by: str) -> None:
        """Give the floor back (the commander's DELETE)."""
        async with self._lock(officer):
            channel = self._channels.get(officer)
            if (channel is None or channel.publication is None
                    or channel.publication.id != talk_id or channel.holder != by):
                raise UnknownResource("no such talkback of this commander")
            await self._release(channel, self._live_stream(officer))

    def peer(self, officer: str, talk_id: str, by: str) -> RTCPeerConnection:
        """The talking commander's peer connection, for trickled candidates."""
        channel = self._channels.get(officer)
        if (channel is None or channel.publication is None
                or channel.publication.id != talk_id or channel.holder != by):
            raise UnknownResource("no such talkback of this commander")
        return channel.publication.pc

    async def _lost(self, officer: str, publication: Publication) -> None:
        async with self._lock(officer):
            channel = self._channels.get(officer)
            if channel is not None and channel.publication is publication:
                log.info("talkback from %s to %s dropped", channel.holder, officer)
                await self._release(channel, self._live_stream(officer))

    async def _release(self, channel: _Channel, main: Stream | None) -> None:
        """End the current talk; the caller holds the officer's lock."""
        publication, holder = channel.publication, channel.holder
        if publication is None:
            return
        channel.stream.detach(publication)
        channel.publication, channel.holder, channel.video = None, None, False
        recorded, channel.stream.tap = channel.stream.tap, None
        if recorded is not None and main is not None:
            main.end_track(TALKBACK)  # its segment is ledgered before the stop event
            main.record("talkback.stopped", by=holder)
        await publication.aclose()
        self._on_floor(channel.floor())

    # -- the phone's side -----------------------------------------------------------

    async def listen(self, officer: str, offer_sdp: str) -> tuple[str, str]:
        """Connect an officer's phone to its own talkback channel (WHEP-style)."""
        description = peers.parse_offer(offer_sdp)
        async with self._lock(officer):
            self._require_live(officer)
            channel = self._channel(officer)
            kinds = [m.kind for m in description.media if m.kind in channel.stream.codecs]
            while len(channel.listeners) >= MAX_LISTENERS:
                await self._close_listener(channel, next(iter(channel.listeners)))
            pc = peers.new_peer_connection(self.settings.ice_servers)
            viewer = Viewer(secrets.token_urlsafe(12), officer,
                            self.settings.viewer_queue_packets, channel.stream.request_keyframe,
                            self._counters)
            try:
                for kind in kinds:
                    codec = channel.stream.codecs[kind]
                    transceiver = peers.add_forwarding_transceiver(pc, kind)
                    peers.prefer(transceiver, codec)
                    viewer.add_track(kind, transceiver.sender, codec.clock_rate)
                answer = await peers.answer(pc, offer_sdp)
            except BaseException:
                await peers.close(pc)
                raise
            channel.listeners[viewer.id] = (viewer, pc)
            channel.stream.add_viewer(viewer)

            @pc.on("connectionstatechange")
            def on_state() -> None:
                if pc.connectionState in ("failed", "closed"):
                    self._tasks.spawn(self._drop_listener(officer, viewer.id),
                                      name=f"talkback-unlisten-{viewer.id}")

            self._deadline(pc, f"talkback-listener-{viewer.id}")
            return viewer.id, self._advertise(answer)

    async def unlisten(self, officer: str, listener_id: str) -> None:
        """The phone stops listening (its DELETE)."""
        async with self._lock(officer):
            channel = self._channels.get(officer)
            if channel is None or listener_id not in channel.listeners:
                raise UnknownResource("no such talkback listener of this officer")
            await self._close_listener(channel, listener_id)

    async def _drop_listener(self, officer: str, listener_id: str) -> None:
        async with self._lock(officer):
            channel = self._channels.get(officer)
            if channel is not None and listener_id in channel.listeners:
                await self._close_listener(channel, listener_id)

    async def _close_listener(self, channel: _Channel, listener_id: str) -> None:
        viewer, pc = channel.listeners.pop(listener_id)
        channel.stream.remove_viewer(listener_id)
        await viewer.aclose()
        await peers.close(pc)

    # -- lifetime -------------------------------------------------------------------

    def _deadline(self, pc: RTCPeerConnection, what: str) -> None:
        peers.connect_deadline(pc, what, self._tasks)

    async def officer_ended(self, officer: str, main: Stream | None) -> None:
        """The officer's stream is ending: stop talkback (recorded before the seal)."""
        async with self._lock(officer):
            channel = self._channels.pop(officer, None)
            if channel is None:
                return
            await self._release(channel, main)
            for listener_id in list(channel.listeners):
                await self._close_listener(channel, listener_id)
            await channel.stream.aclose()

    async def aclose(self) -> None:
        """Close every channel; the registry calls this after ending its streams."""
        for officer in list(self._channels):
            await self.officer_ended(officer, self._live_stream(officer))
        await self._tasks.aclose()
