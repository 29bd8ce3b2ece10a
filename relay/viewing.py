"""Viewers: WHEP peers watching an officer's stream, published here or pulled by cascade."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import RTCPeerConnection

from fieldrelay.tasks import TaskGroupOwner
from relay import peers
from relay.cascade import Cascade
from relay.directory import StreamDirectory
from relay.errors import BadSdp, NotLive, TooManyViewers, UnknownResource
from relay.forward import RelayCounters, Viewer
from relay.stream import Stream

MAX_VIEWERS_PER_STREAM = 64


@dataclass(frozen=True)
class ViewerSettings:
    """What a viewer needs from the node's config."""

    ice_servers: tuple[str, ...]
    viewer_queue_packets: int
    # Opus in-band FEC and RED (forwarded as sent) in viewers' answers.
    audio_redundancy: bool = True


@dataclass
class _ViewerEntry:
    officer: str
    by: str
    viewer: Viewer
    pc: RTCPeerConnection


class Viewers:
    """Every viewer of this node: who watches whom, and the evidence that they did."""

    def __init__(self, settings: ViewerSettings, counters: RelayCounters,
                 streams: StreamDirectory, cascade: Cascade | None, tasks: TaskGroupOwner,
                 advertise: Callable[[str], str]) -> None:
        self.settings = settings
        self._counters = counters
        self._streams = streams
        self._cascade = cascade
        self._tasks = tasks
        self._advertise = advertise
        self._entries: dict[str, _ViewerEntry] = {}

    async def view(self, officer: str, offer_sdp: str, by: str,
                   cascade: bool = True) -> tuple[str, str]:
        """Accept a WHEP offer for an officer's stream; returns the viewer id and the answer.

        An officer live on another node is pulled from there (once for all viewers here)
        unless `cascade` is False: a node pulling from this one gets local streams only.
        """
        stream = await self._source(officer, cascade)
        description = peers.parse_offer(offer_sdp)
        kinds = [m.kind for m in description.media if m.kind in stream.codecs]
        if not kinds:
            raise BadSdp("the offer asks for no kind of media this stream carries")
        pc = peers.new_peer_connection(self.settings.ice_servers)
        viewer = Viewer(secrets.token_urlsafe(12), officer, self.settings.viewer_queue_packets,
                        stream.request_keyframe, self._counters, stream.cached_gop)
        try:
            answer = await self._negotiate(pc, viewer, stream, kinds, offer_sdp,
                                           self.settings.audio_redundancy)
        except BaseException:
            await peers.close(pc)
            self._release_pull(officer)
            raise
        if self.stream_of(officer) is not stream:  # the stream ended while we negotiated
            await peers.close(pc)
            raise NotLive(f"officer {officer!r} is not live")
        self._join(_ViewerEntry(officer, by, viewer, pc), stream)
        return viewer.id, self._advertise(answer)

    async def _source(self, officer: str, cascade: bool) -> Stream:
        """The stream a new viewer of the officer reads from, pulled here if need be."""
        stream = self.stream_of(officer)
        if stream is None and cascade and self._cascade is not None:
            stream = await self._cascade.acquire(officer)
        if stream is None:
            raise NotLive(f"officer {officer!r} is not live")
        if len(stream.viewers) >= MAX_VIEWERS_PER_STREAM:
            raise TooManyViewers(f"{officer!r} already has {MAX_VIEWERS_PER_STREAM} viewers")
        return stream

    @staticmethod
    async def _negotiate(pc: RTCPeerConnection, viewer: Viewer, stream: Stream,
                         kinds: list[str], offer_sdp: str, redundancy: bool) -> str:
        for kind in kinds:
            codec = stream.codecs[kind]
            transceiver = peers.add_forwarding_transceiver(pc, kind)
            peers.prefer(transceiver, codec)
            viewer.add_track(kind, transceiver.sender, codec.clock_rate)
        return await peers.answer(pc, offer_sdp, fec=redundancy, red=redundancy)

    def _join(self, entry: _ViewerEntry, stream: Stream) -> None:
        viewer, pc = entry.viewer, entry.pc
        self._entries[viewer.id] = entry
        stream.add_viewer(viewer)
        self._note(stream, entry.officer, entry.by, viewer.id, joined=True)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and viewer.id in self._entries:
                self._tasks.spawn(self.close(viewer.id), name=f"unview-{viewer.id}")

        peers.connect_deadline(pc, f"viewer-{viewer.id}", self._tasks)

    def _note(self, stream: Stream, officer: str, by: str, viewer_id: str,
              joined: bool) -> None:
        """A viewer joined or left: evidence here, or word to the origin of a pulled stream."""
        event = "viewer.joined" if joined else "viewer.left"
        if stream.record(event, viewer=by, viewer_id=viewer_id):
            return
        if self._cascade is not None and self._cascade.stream(officer) is stream:
            self._cascade.viewer_changed(officer, by, viewer_id, joined=joined)

    async def unview(self, officer: str, viewer_id: str, by: str) -> None:
        """Stop a viewer on its request (WHEP DELETE)."""
        self.peer(officer, viewer_id, by)  # raises unless it is this viewer's
        await self.close(viewer_id)

    def peer(self, officer: str, viewer_id: str, by: str) -> RTCPeerConnection:
        """The viewer's peer connection, if it is `by`'s viewer of this officer."""
        entry = self._entries.get(viewer_id)
        if entry is None or entry.officer != officer or entry.by != by:
            raise UnknownResource("no such viewer of this officer")
        return entry.pc

    async def close(self, viewer_id: str, stream: Stream | None = None) -> None:
        """Close a viewer (of `stream`, or of the officer's current stream)."""
        entry = self._entries.pop(viewer_id, None)
        if entry is None:
            return
        stream = stream or self.stream_of(entry.officer)
        if stream is not None:
            stream.remove_viewer(viewer_id)
            self._note(stream, entry.officer, entry.by, viewer_id, joined=False)
        await entry.viewer.aclose()
        await peers.close(entry.pc)
        self._release_pull(entry.officer)

    async def close_all(self, stream: Stream) -> None:
        """The stream ends (its officer stopped, or its pull ended): so do its viewers."""
        for viewer_id in list(stream.viewers):
            await self.close(viewer_id, stream)

    def stream_of(self, officer: str) -> Stream | None:
        """The officer's stream here: published to this node, or pulled from another."""
        stream = self._streams.get(officer)
        if stream is None and self._cascade is not None:
            stream = self._cascade.stream(officer)
        return stream

    def _release_pull(self, officer: str) -> None:
        if self._cascade is not None and officer not in self._streams:
            self._cascade.release_if_idle(officer)

    def record_relayed(self, officer: str, pull_id: str, by: str, viewer: str,
                       viewer_id: str, joined: bool) -> None:
        """A node relaying this officer's stream reports who watches it there (evidence)."""
        entry = self._entries.get(pull_id)
        stream = self._streams.get(officer)
        if entry is None or entry.officer != officer or entry.by != by or stream is None:
            raise UnknownResource("no such viewer of this officer")
        stream.record("viewer.joined" if joined else "viewer.left", viewer=viewer,
                      viewer_id=viewer_id, via=by.removeprefix("node:"))

    def viewer(self, viewer_id: str) -> Viewer | None:
        """A viewer by id (tests and metrics use this)."""
        entry = self._entries.get(viewer_id)
        return entry.viewer if entry else None

    async def aclose(self) -> None:
        """Close every viewer still open; idempotent."""
        for viewer_id in list(self._entries):
            await self.close(viewer_id)
