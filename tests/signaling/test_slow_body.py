"""A body that arrives in pieces (a slow or lossy link) is read whole, not cut at the
first TCP segment."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from fieldrelay.config import Config
from fieldrelay.users import UserStore
from signaling.app import build_app
from tests.live import PASSWORD


async def _trickled(body: bytes, pieces: int) -> AsyncIterator[bytes]:
    step = max(1, len(body) // pieces)
    for i in range(0, len(body), step):
        yield body[i:i + step]
        await asyncio.sleep(0.05)


async def test_json_and_sdp_bodies_in_pieces_are_read_whole(tmp_path: Path) -> None:
    UserStore(tmp_path).add("o1", "officer", PASSWORD)
    server = TestServer(build_app(Config(data_dir=tmp_path, max_json_bytes=200)),
                        host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            login = json.dumps({"username": "o1", "password": PASSWORD}).encode()
            async with http.post(f"{base}/api/login", data=_trickled(login, 4),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 200, await resp.text()
                token = (await resp.json())["token"]
            # The limit holds for a body that arrives in pieces with no Content-Length.
            async with http.post(f"{base}/api/login", data=_trickled(b" " * 300 + login, 6),
                                 headers={"Content-Type": "application/json"}) as resp:
                assert resp.status == 413, await resp.text()
            # An SDP offer in pieces reaches the SDP checks whole: this one is refused for
            # what it lacks at its end, not cut short at its start.
            sdp = ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n" + "a=x:y\r\n" * 300
                   + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n").encode()
            async with http.post(f"{base}/whip", data=_trickled(sdp, 5),
                                 headers={"Content-Type": "application/sdp",
                                          "Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 400
                assert "ICE credentials" in (await resp.json())["detail"]
    finally:
        await server.close()
