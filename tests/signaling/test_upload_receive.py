"""Upload bodies taken off the socket by a thread (`signaling.socket_body`) end exactly as the
event loop's own path ends them: each test runs against both (`upload_receive_threads` 0 and
8) on a raw connection, and checks which path took the body."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bench import tus_client as tus
from fieldrelay.config import Config
from fieldrelay.program import tls
from fieldrelay.program.serve import start_node
from fieldrelay.users import UserStore
from signaling.app import build_app
from signaling.keys import CONFIG
from signaling.uploads import RECEIVERS, UPLOADS
from tests.conftest import TEST_PASSWORD_COST, free_port
from tests.live import PASSWORD, LiveNode

NodeFactory = Callable[..., Awaitable[LiveNode]]
PATHS = pytest.mark.parametrize("threads", [0, 8], ids=["loop", "thread"])


async def _node(node_factory: NodeFactory, threads: int, **config: float) -> tuple[LiveNode, str]:
    node = await node_factory(upload_receive_threads=threads, **config)
    return node, await node.login("o1")


def _patch_head(node: LiveNode, token: str, location: str, offset: int, length: int) -> bytes:
    return (f"PATCH {location} HTTP/1.1\r\nHost: {urlsplit(node.base).netloc}\r\n"
            f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
            f"Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


async def _connect(node: LiveNode) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    url = urlsplit(node.base)
    assert url.hostname is not None and url.port is not None
    return await asyncio.open_connection(url.hostname, url.port)


async def _response(reader: asyncio.StreamReader,
                    bodyless: bool = False) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response off a raw connection: (status, headers, body)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    status_line, *lines = head.strip().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
    length = 0 if bodyless else int(headers.get("content-length", "0"))
    return int(status_line.split()[1]), headers, await reader.readexactly(length)


def _taken_by_threads(node: LiveNode) -> int:
    return node.server.app[RECEIVERS].bodies


async def _sealed_sha256(node: LiveNode, token: str, location: str) -> str:
    async with node.http.get(f"{node.base}{location}", headers=tus.auth(token)) as resp:
        status = await resp.json()
    assert status["state"] == "sealed", status
    return str(status["material"]["sha256"])


async def _released(node: LiveNode, location: str) -> None:
    upload_id = location.rsplit("/", 1)[1]
    async with asyncio.timeout(10):
        while upload_id in node.server.app[UPLOADS].busy:
            await asyncio.sleep(0.02)


@PATHS
async def test_a_request_pipelined_behind_a_patch_body_is_answered(
        node_factory: NodeFactory, threads: int) -> None:
    node, token = await _node(node_factory, threads)
    data = os.urandom(6 << 20) + b"last bytes"
    created = await tus.create(node.http, node.base, token, len(data), tus.material_meta(data))
    location = created.headers["Location"]
    reader, writer = await _connect(node)
    try:
        # The HEAD follows the body's last byte in the same stream: it belongs to aiohttp,
        # and a path that read one byte too many would eat it.
        head = (f"HEAD {location} HTTP/1.1\r\nHost: {urlsplit(node.base).netloc}\r\n"
                f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\r\n").encode()
        writer.write(_patch_head(node, token, location, 0, len(data)) + data + head)
        await writer.drain()
        status, headers, body = await _response(reader)
        assert status == 204, body
        assert headers["upload-offset"] == str(len(data))
        status, headers, _ = await _response(reader, bodyless=True)
        assert status == 200
        assert (headers["upload-offset"], headers["upload-length"]) == (str(len(data)),) * 2
        # And the connection carries on: a third request on it is answered too.
        writer.write(head)
        status, headers, _ = await _response(reader, bodyless=True)
        assert status == 200 and headers["upload-offset"] == str(len(data))
    finally:
        writer.close()
    assert _taken_by_threads(node) == (1 if threads else 0)
    assert await _sealed_sha256(node, token, location) == hashlib.sha256(data).hexdigest()


@PATHS
async def test_a_client_gone_mid_body_keeps_what_arrived_and_a_resume_seals_the_right_file(
        node_factory: NodeFactory, threads: int) -> None:
    node, token = await _node(node_factory, threads)
    data = os.urandom(9 << 20) + b"odd"
    created = await tus.create(node.http, node.base, token, len(data), tus.material_meta(data))
    location = created.headers["Location"]
    sent = (5 << 20) + 12345
    _, writer = await _connect(node)
    writer.write(_patch_head(node, token, location, 0, len(data)) + data[:sent])
    await writer.drain()
    writer.close()  # every byte sent goes before the FIN
    await writer.wait_closed()
    await _released(node, location)

    probe = await tus.head(node.http, node.base, token, location)
    assert probe.status == 200
    assert int(probe.headers["Upload-Offset"]) == sent
    part = Path(node.server.app[CONFIG].data_dir) / "uploads" / f"{location.rsplit('/', 1)[1]}.part"
    assert part.read_bytes() == data[:sent]

    done = await tus.patch(node.http, node.base, token, location, sent, data[sent:])
    assert done.status == 204, done.body
    assert done.headers["Upload-Offset"] == str(len(data))
    assert await _sealed_sha256(node, token, location) == hashlib.sha256(data).hexdigest()
    # Both bodies were large enough for a thread (on that path).
    assert _taken_by_threads(node) == (2 if threads else 0)


@PATHS
async def test_a_body_stalled_past_the_body_timeout_is_answered_with_its_offset_and_closed(
        node_factory: NodeFactory, threads: int) -> None:
    node, token = await _node(node_factory, threads, body_timeout_s=1.0)
    data = os.urandom(8 << 20)
    created = await tus.create(node.http, node.base, token, len(data), tus.material_meta(data))
    location = created.headers["Location"]
    sent = 3 << 20
    reader, writer = await _connect(node)
    try:
        writer.write(_patch_head(node, token, location, 0, len(data)) + data[:sent])
        await writer.drain()
        stalled = time.monotonic()
        async with asyncio.timeout(10):
            status, headers, body = await _response(reader)
        waited = time.monotonic() - stalled
        # What arrived is kept and said; the rest of the body is not waited for.
        assert status == 204, body
        assert headers["upload-offset"] == str(sent)
        assert 0.9 <= waited < 5, waited
        # The connection cannot carry another request (its body never ended): closed.
        async with asyncio.timeout(20):
            assert await reader.read() == b""
    finally:
        writer.close()
    await _released(node, location)
    assert _taken_by_threads(node) == (1 if threads else 0)
    done = await tus.patch(node.http, node.base, token, location, sent, data[sent:])
    assert done.status == 204, done.body
    assert await _sealed_sha256(node, token, location) == hashlib.sha256(data).hexdigest()


async def test_an_upload_over_tls_is_read_by_the_loop(tmp_path: Path,
                                                      loopback_only: None) -> None:
    # Over TLS the socket carries ciphertext: only aiohttp's path (which decrypts) may read it.
    UserStore(tmp_path, TEST_PASSWORD_COST).add("o1", "officer", PASSWORD)
    cert = tls.load_or_create(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert.cert, cert.key)
    pinned = ssl.create_default_context(cadata=cert.cert.read_text())
    app = build_app(Config(data_dir=tmp_path, password_cost=TEST_PASSWORD_COST))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=served)
    base = f"https://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=pinned)) as http:
            async with http.post(f"{base}/api/login",
                                 json={"username": "o1", "password": PASSWORD}) as resp:
                assert resp.status == 200, await resp.text()
                token = (await resp.json())["token"]
            data = os.urandom(4 << 20)
            location, done = await tus.upload(http, base, token, data, tus.material_meta(data))
            assert done.status == 204, done.body
            async with http.get(f"{base}{location}", headers=tus.auth(token)) as resp:
                status = await resp.json()
        assert status["state"] == "sealed"
        assert status["material"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert app[RECEIVERS].bodies == 0 and app[CONFIG].upload_receive_threads > 0
    finally:
        await server.close()


async def test_an_upload_cut_by_the_connection_guard_stops_its_threads(
        tmp_path: Path, loopback_only: None) -> None:
    # A body still arriving counts as a connection that costs a slot: at the cap, the stalest
    # is cut (signaling/edge.py). Its threads must then stop too, not read on from their
    # duplicate of the socket.
    UserStore(tmp_path, TEST_PASSWORD_COST).add("o1", "officer", PASSWORD)
    node = await start_node(Config(data_dir=tmp_path, port=free_port(),
                                   password_cost=TEST_PASSWORD_COST, max_connections=2,
                                   reserve_connections=0, header_timeout_s=0.5))
    app = node.runner.app
    base = f"http://127.0.0.1:{node.port}"
    opened: list[asyncio.StreamWriter] = []
    try:
        data = os.urandom(8 << 20)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/login",
                                 json={"username": "o1", "password": PASSWORD}) as resp:
                token = (await resp.json())["token"]
            created = await tus.create(http, base, token, len(data), tus.material_meta(data))
        location = created.headers["Location"]
        sent = 3 << 20
        _, writer = await asyncio.open_connection("127.0.0.1", node.port)
        opened.append(writer)
        head = (f"PATCH {location} HTTP/1.1\r\nHost: node\r\n"
                f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
                "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        writer.write(head + data[:sent])
        await writer.drain()
        async with asyncio.timeout(10):
            while app[RECEIVERS].running != 1:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.7)  # older than the header timeout: the stalest
        for _ in range(2):  # the second one finds the cap hit
            _, other = await asyncio.open_connection("127.0.0.1", node.port)
            opened.append(other)
        upload_id = location.rsplit("/", 1)[1]
        async with asyncio.timeout(5):
            while app[RECEIVERS].running or upload_id in app[UPLOADS].busy:
                await asyncio.sleep(0.02)
        assert node.guard.counts.evicted == 1
        for other in opened:
            other.close()
        async with asyncio.timeout(5):
            while node.guard.counts.total:
                await asyncio.sleep(0.02)
        async with aiohttp.ClientSession() as http:
            probe = await tus.head(http, base, token, location)
            assert int(probe.headers["Upload-Offset"]) == sent
            done = await tus.patch(http, base, token, location, sent, data[sent:])
            assert done.status == 204, done.body
            async with http.get(f"{base}{location}", headers=tus.auth(token)) as resp:
                status = await resp.json()
        assert status["material"]["sha256"] == hashlib.sha256(data).hexdigest()
    finally:
        for writer in opened:
            writer.close()
        await node.aclose()
