"""The node's relay: one entry point over publications, viewers, talkback and cascade.

The parts, each in its own module: `directory` (who is live here), `publishing` (WHIP
peers, streams, grace periods and their evidence sessions), `viewing` (WHEP peers),
`talkback`, `cascade` (streams pulled from other nodes) and `evidence` (the one way the
rest of the node writes into a live session).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCPeerConnection

from fieldrelay.tasks import TaskGroupOwner
from recordings.session import Evidence
from relay import peers
from relay.cascade import Cascade, CascadeLink
from relay.directory import StreamDirectory
from relay.evidence import LiveEvidence
from relay.forward import RelayCounters, Viewer
from relay.publishing import Publications, PublishSettings
from relay.signals import Presence, RelayListeners
from relay.stream import Publication, Stream
from relay.talkback import TalkbackRelay, TalkbackSettings
from relay.trickle import add_candidates
from relay.uplink import UplinkReport
from relay.viewing import Viewers, ViewerSettings


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
    # Opus in-band FEC and RED in the answers (off: plain Opus, as before).
    audio_redundancy: bool = True


class StreamRegistry:
    """Owns every peer connection of this node and the streams they form.

    Built after what it tells (`listeners`) and what it is told by: the directory and the
    evidence interface exist first, so the desks can be given them before the relay.
    """

    def __init__(self, settings: RelaySettings, streams: StreamDirectory,
                 evidence: LiveEvidence, listeners: RelayListeners,
                 cascade: CascadeLink | None = None) -> None:
        s = settings
        self.settings = settings
        self.counters = RelayCounters()
        self.directory = streams
        self.live_evidence = evidence
        self._tasks = TaskGroupOwner("stream registry")
        # Pulls of officers live on other nodes, when the node is part of a cluster. A pull
        # that ends closes its viewers here (`_pull_ended`, once the viewers exist below).
        self.cascade = (Cascade(cascade.settings, self.counters, cascade.locate,
                                cascade.node_token, self._pull_ended)
                        if cascade is not None else None)
        self.talkback = TalkbackRelay(
            TalkbackSettings(s.ice_servers, s.viewer_queue_packets, s.pli_interval_s,
                             s.segment_s, s.keyframe_interval_s),
            self.counters, streams.get, self._advertise, listeners.floor_changed)
        self._viewers = Viewers(ViewerSettings(s.ice_servers, s.viewer_queue_packets,
                                               s.audio_redundancy),
                                self.counters, streams, self.cascade, self._tasks,
                                self._advertise)
        self._publications = Publications(
            PublishSettings(s.ice_servers, s.pli_interval_s, s.reconnect_grace_s, s.segment_s,
                            s.keyframe_interval_s, s.gop_cache_packets, s.gop_cache_bytes,
                            s.audio_redundancy),
            self.counters, streams, evidence.store, listeners, self._viewers, self.talkback,
            self._tasks, self._advertise)

    # -- what tests and the review API look at ----------------------------------------

    @property
    def evidence(self) -> Evidence:
        """The node's evidence store (sessions, ledger, key)."""
        return self.live_evidence.store

    @property
    def streams(self) -> dict[str, Stream]:
        """Officer → stream published here; read-only (tests look inside the relay)."""
        return self.directory.as_dict()

    @property
    def publications(self) -> dict[str, Publication]:
        """Publication id → publication; read-only."""
        return self._publications.by_id

    # -- questions --------------------------------------------------------------------

    def is_live(self, officer: str) -> bool:
        """True while the officer publishes to this node (or waits out a reconnect)."""
        return officer in self.directory

    def live_count(self) -> int:
        """How many officers publish to this node."""
        return len(self.directory)

    def presence(self) -> list[Presence]:
        """The current presence of every officer with a stream on this node."""
        return self.directory.presence()

    def uplinks(self, now_s: float) -> dict[str, UplinkReport]:
        """Officer → the queue on their uplink now, for every officer publishing here.
        `now_s` is on the monotonic clock."""
        out: dict[str, UplinkReport] = {}
        for officer, stream in self.directory.as_dict().items():
            publication = stream.publication
            report = publication.uplink.report(now_s) if publication is not None else None
            if report is not None:
                out[officer] = report
        return out

    def pull_count(self) -> int:
        """Streams this node pulls from other nodes."""
        return len(self.cascade.pulls) if self.cascade is not None else 0

    def viewer(self, viewer_id: str) -> Viewer | None:
        """A viewer by id (tests and metrics use this)."""
        return self._viewers.viewer(viewer_id)

    # -- WHIP -------------------------------------------------------------------------

    async def publish(self, officer: str, offer_sdp: str) -> tuple[Publication, str]:
        """Accept a WHIP offer from an officer; returns the publication and the SDP answer."""
        return await self._publications.publish(officer, offer_sdp)

    async def unpublish(self, officer: str, publication_id: str) -> None:
        """End a publication on the officer's request (WHIP DELETE): the stream ends now."""
        await self._publications.unpublish(officer, publication_id)

    async def trickle_publication(self, officer: str, publication_id: str, sdpfrag: str) -> None:
        """Add an officer's trickled candidates to its publication (WHIP PATCH)."""
        await add_candidates(self._publications.of(officer, publication_id).pc, sdpfrag)

    # -- WHEP -------------------------------------------------------------------------

    async def view(self, officer: str, offer_sdp: str, by: str,
                   cascade: bool = True) -> tuple[str, str]:
        """Accept a WHEP offer for an officer's stream; returns the viewer id and the answer.

        An officer live on another node is pulled from there (once for all viewers here)
        unless `cascade` is False: a node pulling from this one gets local streams only.
        """
        return await self._viewers.view(officer, offer_sdp, by, cascade)

    async def unview(self, officer: str, viewer_id: str, by: str) -> None:
        """Stop a viewer on its request (WHEP DELETE)."""
        await self._viewers.unview(officer, viewer_id, by)

    async def trickle_viewer(self, officer: str, viewer_id: str, by: str, sdpfrag: str) -> None:
        """Add a viewer's trickled candidates (WHEP PATCH)."""
        await add_candidates(self._viewers.peer(officer, viewer_id, by), sdpfrag)

    async def trickle_pc(self, pc: RTCPeerConnection, sdpfrag: str) -> None:
        """Add trickled candidates to any peer connection of this node (talkback too)."""
        await add_candidates(pc, sdpfrag)

    def record_relayed_viewer(self, officer: str, pull_id: str, by: str, viewer: str,
                              viewer_id: str, joined: bool) -> None:
        """A node relaying this officer's stream reports who watches it there (evidence)."""
        self._viewers.record_relayed(officer, pull_id, by, viewer, viewer_id, joined)

    async def _pull_ended(self, officer: str, stream: Stream) -> None:
        """The cascade lost an officer's pulled stream: its viewers here end too."""
        await self._viewers.close_all(stream)

    # -- lifetime ---------------------------------------------------------------------

    def _advertise(self, sdp: str) -> str:
        if self.settings.ice_public_ip:
            return peers.advertise_public_ip(sdp, self.settings.ice_hosts,
                                             self.settings.ice_public_ip)
        return sdp

    async def aclose(self) -> None:
        """End every stream and close every peer connection; idempotent."""
        await self._publications.aclose()
        await self._viewers.aclose()
        await self.talkback.aclose()
        if self.cascade is not None:
            await self.cascade.aclose()
        await self._tasks.aclose()
