"""Cascade: a viewer's node pulls an officer's stream once from the node it is live on.

The pull is an ordinary WHEP viewer of the origin node, authenticated as a node, whose
packets feed a local Stream exactly as a publisher's would. Every viewer of that officer
on this node shares it. It is never recorded here (the origin records) and never
announced as presence (the officer is live on the origin, not here). It ends when its
last viewer leaves or when the origin closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from aiortc import RTCSessionDescription
from aiortc.sdp import SessionDescription

from fieldrelay.tasks import TaskGroupOwner
from relay import peers
from relay.errors import NotLive
from relay.forward import RelayCounters
from relay.stream import Publication, Stream

log = logging.getLogger(__name__)

PULL_TIMEOUT_S = 10.0
# A pull whose last viewer left is kept this long, so a wall that re-subscribes (a page
# reload, a tile moved) does not tear it down and build it again.
IDLE_LINGER_S = 2.0


@dataclass(frozen=True)
class Origin:
    """Where an officer is live: the node's id and the URL other nodes reach it at."""

    node: str
    url: str


@dataclass(frozen=True)
class CascadeSettings:
    """What a pull needs from the node's config."""

    node_id: str
    ice_servers: tuple[str, ...]
    pli_interval_s: float
    gop_cache_packets: int
    gop_cache_bytes: int


Locate = Callable[[str], Awaitable[Origin | None]]
# (officer, origin node id) -> a one-use token that only that node takes.
NodeToken = Callable[[str, str], str]


@dataclass(frozen=True)
class CascadeLink:
    """How this node reaches the others: its pull settings, where an officer is live, and
    the token a pull of one officer shows there (a fresh one for each request)."""

    settings: CascadeSettings
    locate: Locate
    node_token: NodeToken


@dataclass
class Pull:
    """One stream pulled from an origin node."""

    officer: str
    origin: Origin
    stream: Stream
    publication: Publication
    location: str


class Cascade:
    """Owns this node's pulls from origin nodes, one per officer."""

    def __init__(self, settings: CascadeSettings, counters: RelayCounters, locate: Locate,
                 node_token: NodeToken, on_ended: Callable[[str, Stream], Awaitable[None]]
                 ) -> None:
        self.settings = settings
        self.pulls: dict[str, Pull] = {}
        self._counters = counters
        self._locate = locate
        self._node_token = node_token
        self._on_ended = on_ended
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks = TaskGroupOwner("cascade")
        self._http: aiohttp.ClientSession | None = None
        self._closed = False

    def stream(self, officer: str) -> Stream | None:
        """The pulled stream of an officer, if this node has one."""
        pull = self.pulls.get(officer)
        return pull.stream if pull else None

    async def acquire(self, officer: str) -> Stream:
        """The officer's stream pulled from its origin, pulling it now if needed."""
        lock = self._locks.setdefault(officer, asyncio.Lock())
        async with lock:
            pull = self.pulls.get(officer)
            if pull is not None:
                return pull.stream
            origin = await self._locate(officer)
            if origin is None or origin.node == self.settings.node_id:
                raise NotLive(f"officer {officer!r} is not live")
            pull = await self._pull(officer, origin)
            self.pulls[officer] = pull
            return pull.stream

    def viewer_changed(self, officer: str, viewer: str, viewer_id: str, joined: bool) -> None:
        """Tell the origin who watches its officer through this node, for its evidence."""
        pull = self.pulls.get(officer)
        if pull is not None and not self._closed:
            self._tasks.spawn(self._report_viewer(pull, viewer, viewer_id, joined),
                              name=f"cascade-viewer-{viewer_id}")

    async def _report_viewer(self, pull: Pull, viewer: str, viewer_id: str,
                             joined: bool) -> None:
        body = {"viewer": viewer, "viewer_id": viewer_id,
                "event": "joined" if joined else "left"}
        url = f"{pull.origin.url.rstrip('/')}{pull.location}/viewers"
        try:
            headers = self._headers(pull.officer, pull.origin)
            async with self._session().post(url, json=body, headers=headers) as resp:
                if resp.status != 204:
                    log.warning("origin %s did not record viewer %s of %s: %s",
                                pull.origin.node, viewer, pull.officer, resp.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("origin %s unreachable to record viewer %s of %s: %r",
                        pull.origin.node, viewer, pull.officer, exc)

    def release_if_idle(self, officer: str) -> None:
        """End the pull soon if no viewer of this node watches it any more."""
        pull = self.pulls.get(officer)
        if pull is not None and not pull.stream.viewers and not self._closed:
            self._tasks.spawn(self._linger(pull), name=f"cascade-idle-{officer}")

    async def _linger(self, pull: Pull) -> None:
        await asyncio.sleep(IDLE_LINGER_S)
        async with self._locks.setdefault(pull.officer, asyncio.Lock()):
            if self.pulls.get(pull.officer) is pull and not pull.stream.viewers:
                await self._end(pull, "idle")

    async def _pull(self, officer: str, origin: Origin) -> Pull:
        s = self.settings
        pc = peers.new_peer_connection(s.ice_servers)
        publication = Publication(secrets.token_urlsafe(12), officer, pc, {})
        location = ""
        try:
            for kind in ("audio", "video"):
                transceiver = pc.addTransceiver(kind, direction="recvonly")
                publication.tap(kind, transceiver.receiver)
            await pc.setLocalDescription(await pc.createOffer())
            offer = pc.localDescription
            assert offer is not None
            status, location, answer = await self._post(origin, officer, offer.sdp)
            if status != 201:
                log.warning("cascade pull of %s from %s refused: %s %s", officer, origin.node,
                            status, answer[:200])
                raise NotLive(f"officer {officer!r} is live on {origin.node}, which refused "
                              f"this node's pull ({status})")
            codecs = answered_codecs(answer)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except BaseException:
            await peers.close(pc)
            if location:
                await self._delete(origin, officer, location)
            raise
        publication.codecs = codecs
        stream = Stream(officer, codecs, self._counters, s.pli_interval_s,
                        s.gop_cache_packets, s.gop_cache_bytes)
        stream.attach(publication)
        pull = Pull(officer, origin, stream, publication, location)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed") and self.pulls.get(officer) is pull:
                self._tasks.spawn(self._lost(pull), name=f"cascade-lost-{officer}")

        log.info("pulling %s from %s (%s)", officer, origin.node, origin.url)
        return pull

    async def _lost(self, pull: Pull) -> None:
        async with self._locks.setdefault(pull.officer, asyncio.Lock()):
            if self.pulls.get(pull.officer) is pull:
                await self._end(pull, "origin closed")

    async def _end(self, pull: Pull, why: str) -> None:
        """Close a pull and its viewers here; the caller holds the officer's lock."""
        self.pulls.pop(pull.officer, None)
        log.info("cascade of %s from %s ends: %s", pull.officer, pull.origin.node, why)
        await self._on_ended(pull.officer, pull.stream)
        pull.stream.detach(pull.publication)
        await pull.publication.aclose()
        await pull.stream.aclose()
        await self._delete(pull.origin, pull.officer, pull.location)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=PULL_TIMEOUT_S))
        return self._http

    def _headers(self, officer: str, origin: Origin, content_type: str | None = None
                 ) -> dict[str, str]:
        # One token per request: the origin takes each token once.
        headers = {"Authorization": f"Bearer {self._node_token(officer, origin.node)}"}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def _post(self, origin: Origin, officer: str, sdp: str) -> tuple[int, str, str]:
        url = f"{origin.url.rstrip('/')}/whep/{officer}"
        try:
            async with self._session().post(url, data=sdp.encode(),
                                            headers=self._headers(officer, origin,
                                                                 "application/sdp"),
                                            allow_redirects=False) as resp:
                body = (await resp.content.read(64 * 1024)).decode("utf-8", "replace")
                return resp.status, resp.headers.get("Location", ""), body
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise NotLive(f"officer {officer!r} is live on {origin.node}, which this node "
                          f"cannot reach: {exc!r}") from None

    async def _delete(self, origin: Origin, officer: str, location: str) -> None:
        """Tell the origin the pull is over (it also notices the connection close)."""
        if not location.startswith(f"/whep/{officer}/"):
            return
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with self._session().delete(f"{origin.url.rstrip('/')}{location}",
                                              headers=self._headers(officer, origin)):
                pass

    async def aclose(self) -> None:
        """End every pull; idempotent."""
        self._closed = True
        for officer in list(self.pulls):
            async with self._locks.setdefault(officer, asyncio.Lock()):
                pull = self.pulls.get(officer)
                if pull is not None:
                    await self._end(pull, "shutdown")
        await self._tasks.aclose()
        if self._http is not None:
            await self._http.close()
            self._http = None


def answered_codecs(answer_sdp: str) -> dict[str, peers.MediaCodec]:
    """The codec of each kind the origin answered with (the origin's stream's codecs)."""
    try:
        description = SessionDescription.parse(answer_sdp)
    except Exception as exc:  # aiortc's parser raises many kinds on malformed input
        raise NotLive(f"the origin's answer could not be parsed: {exc!r}") from None
    codecs: dict[str, peers.MediaCodec] = {}
    for media in description.media:
        if media.kind in ("audio", "video") and media.direction in ("sendonly", "sendrecv"):
            codecs[media.kind] = peers.choose_codec(media.kind, list(media.rtp.codecs))
    if not codecs:
        raise NotLive("the origin answered without any media")
    return codecs
