"""A naive aiortc relay node, built the textbook way, to benchmark fieldrelay against.

Same WHIP/WHEP HTTP shape as a fieldrelay node, minus authentication:

    POST /whip[?name=NAME]   SDP offer -> 201, Location /whip/<id>, SDP answer
                             (the Bearer token is ignored; NAME defaults to o1, o2, ...)
    POST /whep/<name>        SDP offer -> 201, Location /whep/<name>/<id>, SDP answer
    DELETE /whip/<id>, DELETE /whep/<name>/<id>, GET /healthz

Media goes the way aiortc's examples do it: the node decodes each published track, and
every viewer gets `MediaRelay().subscribe(track)`, so aiortc re-encodes the video and
the audio once per viewer. `--record DIR` also writes each publication to DIR/<name>-<id>.mkv
with `MediaRecorder` (libx264 + AAC) fed with its own copy of each frame (see `OwnFrames`);
without it a `MediaBlackhole` drains the tracks.

ICE offers 127.0.0.1 only and no ICE servers are used, so it runs in a loopback-only
network namespace:

    python -m bench.baseline_naive --port 8090
"""

from __future__ import annotations

import argparse
import fractions
import itertools
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import aioice.ice
import av
from aiohttp import web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaRecorder, MediaRelay

log = logging.getLogger("naive")


def loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """aioice never offers loopback by itself; offer only 127.0.0.1."""
    return ["127.0.0.1"]


aioice.ice.get_host_addresses = loopback_host_addresses


class OwnFrames(MediaStreamTrack):
    """The frames of `source`, each copied, so the recorder never shares one with a viewer.

    MediaRelay hands every subscriber the same frame object, and PyAV's encode() rebases the
    frame's pts and time_base in place to the encoder's time base. Shared between MediaRecorder
    (libx264, time base 1/30) and the viewers' libvpx encoders, the frames' timestamps get
    rewritten under the viewers' feet: libvpx fails with "Invalid data found when processing
    input", that viewer's video sender stops, and the .mkv gets garbage timestamps.
    """

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        frame = await self.source.recv()
        assert isinstance(frame, (av.VideoFrame, av.AudioFrame))
        seconds = frame.time  # pts and time_base read in one step: a viewer may be rebasing them
        assert seconds is not None
        copy: av.VideoFrame | av.AudioFrame
        if isinstance(frame, av.VideoFrame):
            copy = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"),
                                              format="yuv420p")
            copy.time_base = fractions.Fraction(1, 90000)
        else:
            copy = av.AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name,
                                              layout=frame.layout.name)
            copy.sample_rate = frame.sample_rate
            copy.time_base = fractions.Fraction(1, frame.sample_rate)
        copy.pts = round(seconds / copy.time_base)
        return copy


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class Publication:
    id: str
    name: str
    pc: RTCPeerConnection
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    sink: MediaBlackhole | MediaRecorder | None = None
    viewers: dict[str, RTCPeerConnection] = field(default_factory=dict)


class NaiveNode:
    def __init__(self, record_dir: Path | None) -> None:
        self.relay = MediaRelay()
        self.record_dir = record_dir
        self.by_name: dict[str, Publication] = {}
        self.by_id: dict[str, Publication] = {}
        self._names = (f"o{n}" for n in itertools.count(1))

    async def publish(self, request: web.Request) -> web.Response:
        offer = await request.text()
        name = request.query.get("name") or next(self._names)
        old = self.by_name.get(name)
        if old is not None:
            await self.close_publication(old)
        pc = new_pc()
        pub = Publication(secrets.token_urlsafe(9), name, pc)
        if self.record_dir is not None:
            self.record_dir.mkdir(parents=True, exist_ok=True)
            pub.sink = MediaRecorder(str(self.record_dir / f"{name}-{pub.id}.mkv"))
        else:
            pub.sink = MediaBlackhole()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            pub.tracks.append(track)
            assert pub.sink is not None
            source = self.relay.subscribe(track)
            pub.sink.addTrack(OwnFrames(source) if self.record_dir is not None else source)

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self.close_publication(pub)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await pub.sink.start()
        self.by_name[name] = pub
        self.by_id[pub.id] = pub
        log.info("publish %s (%s)", name, pub.id)
        return web.Response(status=201, body=pc.localDescription.sdp.encode(),
                            content_type="application/sdp",
                            headers={"Location": f"/whip/{pub.id}"})

    async def view(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pub = self.by_name.get(name)
        if pub is None:
            raise web.HTTPNotFound(text=f"{name} is not live")
        offer = await request.text()
        pc = new_pc()
        viewer_id = secrets.token_urlsafe(9)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        for track in pub.tracks:
            pc.addTrack(self.relay.subscribe(track))
        await pc.setLocalDescription(await pc.createAnswer())
        pub.viewers[viewer_id] = pc

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                pub.viewers.pop(viewer_id, None)
                await pc.close()

        log.info("view %s (%s)", name, viewer_id)
        return web.Response(status=201, body=pc.localDescription.sdp.encode(),
                            content_type="application/sdp",
                            headers={"Location": f"/whep/{name}/{viewer_id}"})

    async def close_publication(self, pub: Publication) -> None:
        if self.by_id.pop(pub.id, None) is None:
            return
        if self.by_name.get(pub.name) is pub:
            del self.by_name[pub.name]
        for pc in list(pub.viewers.values()):
            await pc.close()
        pub.viewers.clear()
        if pub.sink is not None:
            await pub.sink.stop()
        await pub.pc.close()
        log.info("unpublish %s (%s)", pub.name, pub.id)

    async def unpublish(self, request: web.Request) -> web.Response:
        pub = self.by_id.get(request.match_info["id"])
        if pub is None:
            raise web.HTTPNotFound()
        await self.close_publication(pub)
        return web.Response(status=200)

    async def unview(self, request: web.Request) -> web.Response:
        pub = self.by_name.get(request.match_info["name"])
        pc = pub.viewers.pop(request.match_info["id"], None) if pub else None
        if pc is None:
            raise web.HTTPNotFound()
        await pc.close()
        return web.Response(status=200)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "live": len(self.by_name)})

    async def on_shutdown(self, app: web.Application) -> None:
        for pub in list(self.by_id.values()):
            await self.close_publication(pub)


def build_app(record_dir: Path | None) -> web.Application:
    node = NaiveNode(record_dir)
    app = web.Application()
    app.add_routes([
        web.get("/healthz", node.healthz),
        web.post("/whip", node.publish),
        web.delete("/whip/{id}", node.unpublish),
        web.post("/whep/{name}", node.view),
        web.delete("/whep/{name}/{id}", node.unview),
    ])
    app.on_shutdown.append(node.on_shutdown)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--record", type=Path, metavar="DIR", default=None,
                        help="also record each publication to DIR/<name>-<id>.mkv (MediaRecorder)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    web.run_app(build_app(args.record), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
