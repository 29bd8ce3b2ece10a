"""Security headers on every kind of response: pages, static files, JSON, errors, the WebSocket
handshake; HSTS over TLS or behind a trusted proxy that says https, never otherwise."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from fieldrelay.config import Config
from fieldrelay.program import tls
from fieldrelay.users import UserStore
from signaling.app import build_app
from signaling.security_headers import tile_source
from tests.live import PASSWORD, LiveNode

Start = Callable[..., Awaitable[LiveNode]]
TILES = "https://{s}.tiles.example.org/{z}/{x}/{y}.png"


def directives(csp: str) -> dict[str, list[str]]:
    """A CSP header as {directive: sources}."""
    found: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            assert words[0] not in found, f"{words[0]} twice in {csp!r}"
            found[words[0]] = words[1:]
    return found


def assert_secure(headers: Any, label: str) -> dict[str, list[str]]:
    """The headers every response carries; returns the CSP's directives."""
    assert headers.get("X-Content-Type-Options") == "nosniff", label
    assert headers.get("Referrer-Policy") == "no-referrer", label
    assert headers.get("X-Frame-Options") == "DENY", label
    csp = directives(headers.get("Content-Security-Policy", ""))
    assert csp.get("default-src") == ["'self'"], label
    assert csp.get("script-src") == ["'self'"], label
    assert csp.get("style-src") == ["'self'"], label
    assert csp.get("frame-ancestors") == ["'none'"], label
    assert csp.get("object-src") == ["'none'"], label
    return csp


async def test_every_kind_of_response_carries_the_headers(node_factory: Start) -> None:
    node = await node_factory()
    token = await node.login("c1")
    auth = {"Authorization": f"Bearer {token}"}
    requests = [("GET", "/", {}), ("GET", "/command", {}), ("GET", "/static/js/map.js", {}),
                ("GET", "/healthz", {}), ("GET", "/api/officers", auth),
                ("GET", "/api/officers", {}), ("GET", "/no/such/page", {}),
                ("POST", "/api/login", {"Content-Type": "application/json"}),
                ("GET", "/api/sessions", auth)]
    for method, path, headers in requests:
        async with node.http.request(method, node.base + path, headers=headers,
                                     data=b"{" if method == "POST" else None) as resp:
            csp = assert_secure(resp.headers, f"{method} {path} {resp.status}")
            assert "Strict-Transport-Security" not in resp.headers
    host = node.base.removeprefix("http://")
    assert csp["connect-src"] == ["'self'", f"ws://{host}", f"wss://{host}"]
    # No tiles configured: images come from the node only.
    assert csp["img-src"] == ["'self'"]
    async with node.http.ws_connect(f"{node.base}/ws?token={token}",
                                    headers={"Origin": node.base}) as ws:
        # aiohttp keeps the handshake's response on the socket.
        assert_secure(ws._response.headers, "WebSocket handshake")


async def test_images_come_only_from_the_configured_tile_host(node_factory: Start) -> None:
    node = await node_factory(map_tiles=TILES)
    async with node.http.get(f"{node.base}/command") as resp:
        csp = assert_secure(resp.headers, "/command")
    assert csp["img-src"] == ["'self'", "https://*.tiles.example.org", "data:"]


def test_a_tile_template_names_one_host_or_none() -> None:
    assert tile_source("") is None
    assert tile_source("/tiles/{z}/{x}/{y}.png") is None  # the node's own: 'self'
    assert tile_source("https://tile.example.org/{z}/{x}/{y}.png") == "https://tile.example.org"
    assert tile_source("http://10.0.0.5:8081/{z}/{x}/{y}.png") == "http://10.0.0.5:8081"
    assert tile_source(TILES) == "https://*.tiles.example.org"
    # What a CSP source cannot say (or could abuse) is left out, never let through wide.
    for bad in ("javascript:alert(1)", "https://a b/{z}", "https://x;script-src */{z}",
                "https://user:pw@tiles.example.org/{z}", "ftp://tiles.example.org/{z}",
                "https://tiles.{s}.example.org/{z}"):
        assert tile_source(bad) is None, bad


async def test_a_forged_host_header_adds_no_directive(node_factory: Start) -> None:
    node = await node_factory()
    async with node.http.get(f"{node.base}/", headers={"Host": "evil;script-src *"}) as resp:
        csp = assert_secure(resp.headers, "forged Host")
    assert csp["connect-src"] == ["'self'"]
    assert "*" not in resp.headers["Content-Security-Policy"]


async def test_hsts_only_behind_a_trusted_proxy_that_says_https(node_factory: Start) -> None:
    behind = await node_factory(trusted_proxies=("127.0.0.1/32",))
    says_https = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "relay.example.org"}
    async with behind.http.get(f"{behind.base}/officer", headers=says_https) as resp:
        csp = assert_secure(resp.headers, "behind a proxy")
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    # The page's socket goes to the public host, which the proxy named.
    assert "wss://relay.example.org" in csp["connect-src"]
    async with behind.http.get(f"{behind.base}/officer",
                               headers={"X-Forwarded-Proto": "http"}) as resp:
        assert "Strict-Transport-Security" not in resp.headers
    # A client that is no trusted proxy cannot ask for it (nor name a host).
    direct = await node_factory()
    async with direct.http.get(f"{direct.base}/officer", headers=says_https) as resp:
        csp = assert_secure(resp.headers, "direct")
        assert "Strict-Transport-Security" not in resp.headers
    assert "wss://relay.example.org" not in csp["connect-src"]


@pytest.fixture
async def https_base(tmp_path: Path, loopback_only: None) -> AsyncIterator[tuple[str, Path]]:
    cert = tls.load_or_create(tmp_path / "tls-data")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert, cert.key)
    data = tmp_path / "data"
    UserStore(data).add("c1", "commander", PASSWORD)
    server = TestServer(build_app(Config(data_dir=data)), host="127.0.0.1")
    await server.start_server(ssl=context)
    try:
        yield f"https://127.0.0.1:{server.port}", cert.cert
    finally:
        await server.close()


async def test_hsts_over_tls(https_base: tuple[str, Path]) -> None:
    base, cert = https_base
    trust = ssl.create_default_context(cafile=str(cert))
    trust.check_hostname = False
    async with aiohttp.ClientSession() as http, http.get(f"{base}/", ssl=trust) as resp:
        assert_secure(resp.headers, "https")
        assert resp.headers["Strict-Transport-Security"] == "max-age=31536000"


async def test_a_request_without_host_gets_the_headers_too(node_factory: Start) -> None:
    node = await node_factory()
    host, port = node.base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(b"GET /healthz HTTP/1.0\r\n\r\n")
        head = (await asyncio.wait_for(reader.read(65536), 5)).decode().split("\r\n\r\n")[0]
    finally:
        writer.close()
        await writer.wait_closed()
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
    assert head.startswith("HTTP/1.0 200"), head
    assert assert_secure(headers, "HTTP/1.0")["connect-src"] == ["'self'"]
