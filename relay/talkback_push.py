"""Talkback across nodes: a commander on this node talks to an officer live on another.

The commander's publication feeds a local talkback stream whose only viewer is one push
to the officer's node: a peer connection this node offers, send-only, to that node's
POST /talkback/<officer>, authenticated with a node token naming the commander. Packets
are forwarded as they arrive, never transcoded, exactly as to any viewer. The officer's
node is the authority: it holds the floor, records the talk in the officer's evidence and
plays it on the phone; its refusals (the floor taken, the officer gone) reach the
commander with the same status and detail. When either leg drops, both end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

from fieldrelay.errors import FieldRelayError, Forbidden
from fieldrelay.tasks import TaskGroupOwner
from relay import peers
from relay.cascade import Locate, Origin
from relay.errors import BadSdp, NotLive, UnknownResource
from relay.forward import RelayCounters, Viewer
from relay.stream import Publication, Stream
from relay.talkback import FloorTaken, TalkbackSettings, talkback_codecs

log = logging.getLogger(__name__)

PUSH_TIMEOUT_S = 10.0
MAX_REFUSAL_BYTES = 16 * 1024

# (officer, commander, officer's node id) -> a short-lived one-use node token that names all
# three; only that node takes it, once.
TalkToken = Callable[[str, str, str], str]


class OriginRefused(Forbidden):
    """The officer's node would not take this node's talkback (cluster trust failed)."""

    code = "origin_refused"


@dataclass
class _Push:
    """One commander's talk carried to the officer's node."""

    officer: str
    by: str
    origin: Origin
    stream: Stream
    publication: Publication
    viewer: Viewer
    push_pc: RTCPeerConnection
    location: str


class TalkbackPush:
    """This node's talks to officers live on other nodes, one per officer."""

    def __init__(self, settings: TalkbackSettings, counters: RelayCounters, locate: Locate,
                 talk_token: TalkToken, advertise: Callable[[str], str]) -> None:
        self.settings = settings
        self.pushes: dict[str, _Push] = {}
        self._counters = counters
        self._locate = locate
        self._talk_token = talk_token
        self._advertise = advertise
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = TaskGroupOwner("talkback push")
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    def _lock(self, officer: str) -> asyncio.Lock:
        return self._locks.setdefault(officer, asyncio.Lock())

    def owns(self, officer: str, talk_id: str) -> bool:
        """True if this talk id is a talk this node carries to another node."""
        push = self.pushes.get(officer)
        return push is not None and push.publication.id == talk_id

    async def talk(self, officer: str, offer_sdp: str, by: str) -> tuple[str, str]:
        """Take the floor on the officer's node; returns the talk id and the SDP answer."""
        description = peers.parse_offer(offer_sdp)
        kinds = [m.kind for m in description.media if m.kind in ("audio", "video")]
        if "audio" not in kinds:
            raise BadSdp("talkback needs an audio section: the scene must hear the commander")
        available = talkback_codecs()
        codecs = {kind: available[kind] for kind in kinds}
        for media in description.media:
            if media.kind in codecs and not any(
                    peers.codec_matches(codecs[media.kind].capability, c)
                    for c in media.rtp.codecs):
                name = "Opus" if media.kind == "audio" else "VP8"
                raise BadSdp(f"talkback {media.kind} must be {name}")
        async with self._lock(officer):
            if self._closed:
                raise NotLive("this node is shutting down")
            current = self.pushes.get(officer)
            if current is not None:
                if current.by != by:
                    raise FloorTaken(f"{current.by} is talking to {officer}")
                await self._end(current, "the same commander again")
            origin = await self._locate(officer)
            if origin is None:
                raise NotLive(f"officer {officer!r} is not live")
            push, answer = await self._open(officer, by, origin, offer_sdp, codecs)
            self.pushes[officer] = push
            self._watch(push)
            log.info("%s is talking to %s on %s", by, officer, origin.node)
            return push.publication.id, self._advertise(answer)

    async def _open(self, officer: str, by: str, origin: Origin, offer_sdp: str,
                    codecs: dict[str, peers.MediaCodec]) -> tuple[_Push, str]:
        s = self.settings
        stream = Stream(f"talkback-{officer}", codecs, self._counters, s.pli_interval_s)
        push_pc = peers.new_peer_connection(s.ice_servers)
        viewer = Viewer(secrets.token_urlsafe(12), officer, s.viewer_queue_packets,
                        stream.request_keyframe, self._counters)
        commander_pc = peers.new_peer_connection(s.ice_servers)
        publication = Publication(secrets.token_urlsafe(12), officer, commander_pc, codecs)
        location = ""
        try:
            # The officer's node answers first: a floor it refuses is never half-taken here.
            for kind, codec in codecs.items():
                transceiver = peers.add_forwarding_transceiver(push_pc, kind)
                peers.prefer(transceiver, codec)
                viewer.add_track(kind, transceiver.sender, codec.clock_rate)
            await push_pc.setLocalDescription(await push_pc.createOffer())
            local = push_pc.localDescription
            assert local is not None
            status, location, body = await self._post(origin, officer, by, local.sdp)
            if status != 201:
                raise refusal(status, body, origin.node)
            try:
                await push_pc.setRemoteDescription(RTCSessionDescription(sdp=body,
                                                                         type="answer"))
            except Exception as exc:  # aiortc raises many kinds on an answer it cannot use
                raise NotLive(f"{origin.node} answered talkback with unusable SDP: "
                              f"{exc!r}") from None
            for kind, codec in codecs.items():
                transceiver = commander_pc.addTransceiver(kind, direction="recvonly")
                peers.prefer(transceiver, codec)
                publication.tap(kind, transceiver.receiver)
            answer = await peers.answer(commander_pc, offer_sdp)
        except BaseException:
            await peers.close(commander_pc)
            await peers.close(push_pc)
            await viewer.aclose()
            await stream.aclose()
            if location:
                await self._delete(origin, officer, by, location)
            raise
        stream.attach(publication)
        stream.add_viewer(viewer)
        return _Push(officer, by, origin, stream, publication, viewer, push_pc, location), answer

    def _watch(self, push: _Push) -> None:
        """Either leg failing or closing ends the talk on both nodes."""
        for pc, leg in ((push.publication.pc, "the commander's connection"),
                        (push.push_pc, f"the connection to {push.origin.node}")):
            self._on_drop(push, pc, leg)
            self._deadline(push, pc, leg)

    def _on_drop(self, push: _Push, pc: RTCPeerConnection, leg: str) -> None:
        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and self.pushes.get(
                    push.officer) is push and not self._closed:
                self._tasks.spawn(self._lost(push, f"{leg} dropped"),
                                  name=f"talkback-push-lost-{push.publication.id}")

    def _deadline(self, push: _Push, pc: RTCPeerConnection, leg: str) -> None:
        peers.connect_deadline(pc, f"{leg} of talkback {push.publication.id}", self._tasks)

    async def stop(self, officer: str, talk_id: str, by: str) -> None:
        """Give the floor back on the officer's node (the commander's DELETE)."""
        async with self._lock(officer):
            push = self.pushes.get(officer)
            if push is None or push.publication.id != talk_id or push.by != by:
                raise UnknownResource("no such talkback of this commander")
            await self._end(push, "stopped")

    def peer(self, officer: str, talk_id: str, by: str) -> RTCPeerConnection:
        """The talking commander's peer connection, for trickled candidates."""
        push = self.pushes.get(officer)
        if push is None or push.publication.id != talk_id or push.by != by:
            raise UnknownResource("no such talkback of this commander")
        return push.publication.pc

    async def _lost(self, push: _Push, why: str) -> None:
        async with self._lock(push.officer):
            if self.pushes.get(push.officer) is push:
                await self._end(push, why)

    async def _end(self, push: _Push, why: str) -> None:
        """Close both legs and free the floor on the officer's node; the caller holds the lock."""
        self.pushes.pop(push.officer, None)
        log.info("talkback from %s to %s on %s ends: %s", push.by, push.officer,
                 push.origin.node, why)
        push.stream.detach(push.publication)
        push.stream.remove_viewer(push.viewer.id)
        await push.viewer.aclose()
        await push.publication.aclose()
        # The DELETE releases the floor at once; the closing connection would only later.
        await self._delete(push.origin, push.officer, push.by, push.location)
        await peers.close(push.push_pc)
        await push.stream.aclose()

    # -- HTTP to the officer's node -------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PUSH_TIMEOUT_S))
        return self._http

    def _headers(self, officer: str, by: str, origin: Origin,
                 content_type: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._talk_token(officer, by, origin.node)}"}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _post(self, origin: Origin, officer: str, by: str, sdp: str
                    ) -> tuple[int, str, str]:
        url = f"{origin.url.rstrip('/')}/talkback/{officer}"
        try:
            async with self._session().post(url, data=sdp.encode(),
                                            headers=self._headers(officer, by, origin,
                                                                  "application/sdp"),
                                            allow_redirects=False) as resp:
                body = (await resp.content.read(64 * 1024)).decode("utf-8", "replace")
                return resp.status, resp.headers.get("Location", ""), body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotLive(f"officer {officer!r} is live on {origin.node}, which this node "
                          f"cannot reach: {exc!r}") from None

    async def _delete(self, origin: Origin, officer: str, by: str, location: str) -> None:
        if not location.startswith(f"/talkback/{officer}/"):
            return
        try:
            async with self._session().delete(f"{origin.url.rstrip('/')}{location}",
                                              headers=self._headers(officer, by, origin)) as resp:
                if resp.status not in (200, 404):
                    log.warning("%s did not release talkback of %s to %s: %s",
                                origin.node, by, officer, resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The push connection is closed next: the origin releases the floor on its own.
            log.warning("%s unreachable to release talkback of %s to %s: %r",
                        origin.node, by, officer, exc)

    async def aclose(self) -> None:
        """End every talk carried to another node; idempotent."""
        self._closed = True
        for officer in list(self.pushes):
            async with self._lock(officer):
                push = self.pushes.get(officer)
                if push is not None:
                    await self._end(push, "shutdown")
        await self._tasks.aclose()
        if self._http is not None:
            await self._http.close()
            self._http = None


def refusal(status: int, body: str, node: str) -> FieldRelayError:
    """The officer's node's refusal, as the same error for the commander on this node."""
    detail = body[:MAX_REFUSAL_BYTES]
    with contextlib.suppress(ValueError):
        parsed = json.loads(body)
        if isinstance(parsed, dict) and isinstance(parsed.get("detail"), str):
            detail = parsed["detail"]
    if status == 409:
        return FloorTaken(detail)
    if status == 404:
        return NotLive(detail)
    if status == 400:
        return BadSdp(f"{node} refused the talkback offer: {detail}")
    return OriginRefused(f"{node} refused this node's talkback ({status}): {detail}")
