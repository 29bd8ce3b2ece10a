"""Slow clients against `fieldrelay serve`'s listener (program/serve.start_node): headers,
bodies, idle keep-alives and stalled responses are timed; connections are capped in all and
per address; and while a cap is hit, the reserve still carries alerts and logins."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.errors import BadRequest
from fieldrelay.program import cli
from fieldrelay.program.serve import RunningNode, config_from_args, start_node
from fieldrelay.users import UserStore
from signaling import edge
from tests.conftest import free_port
from tests.live import PASSWORD

HALF_HEADERS = b"POST /api/login HTTP/1.1\r\nHost: node\r\nContent-Type: application/js"
Start = Callable[..., Awaitable[RunningNode]]


# Every raw client connection a test opens, closed at its end.
OPENED: list[asyncio.StreamWriter] = []


@pytest.fixture
async def start(tmp_path: Path, loopback_only: None) -> AsyncIterator[Start]:
    nodes: list[RunningNode] = []

    async def run(**overrides: Any) -> RunningNode:
        data = tmp_path / f"data{len(nodes)}"
        users = UserStore(data)
        users.add("o1", "officer", PASSWORD)
        users.add("c1", "commander", PASSWORD)
        config = Config(**{"data_dir": data, "port": free_port(), "ice_hosts": ("127.0.0.1",),
                           **overrides})
        nodes.append(await start_node(config))
        return nodes[-1]

    try:
        yield run
    finally:
        while OPENED:
            writer = OPENED.pop()
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        for node in nodes:
            await node.aclose()


async def connect(node: RunningNode, send: bytes = HALF_HEADERS, local: str = "127.0.0.1"
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port,
                                                   local_addr=(local, 0))
    OPENED.append(writer)
    if send:
        writer.write(send)
        await writer.drain()
    return reader, writer


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the node sent before it closed the connection; fails if it stays open."""
    async with asyncio.timeout(seconds):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


async def request(node: RunningNode, method: str, path: str, local: str = "127.0.0.1",
                  **kwargs: Any) -> tuple[int, Any]:
    connector = aiohttp.TCPConnector(local_addr=(local, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with asyncio.timeout(5):
            async with http.request(method, f"http://127.0.0.1:{node.port}{path}",
                                    **kwargs) as resp:
                return resp.status, await resp.json()


async def login(node: RunningNode, name: str, local: str = "127.0.0.1") -> str:
    status, body = await request(node, "POST", "/api/login", local,
                                 json={"username": name, "password": PASSWORD})
    assert status == 200, body
    return str(body["token"])


async def sos(node: RunningNode, token: str, key: str, local: str = "127.0.0.1"
              ) -> tuple[int, Any]:
    return await request(node, "POST", "/api/alerts", local, json={"kind": "sos"},
                         headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key})


async def until(check: Callable[[], bool], seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.02)


async def test_half_sent_headers_and_silence_are_cut_off(start: Start) -> None:
    node = await start(header_timeout_s=1.0)
    began = time.monotonic()
    half, _ = await connect(node)
    silent, _ = await connect(node, b"")
    assert await closed_within(half, 4) == b""
    assert await closed_within(silent, 4) == b""
    assert 0.9 <= time.monotonic() - began < 4
    await until(lambda: node.guard.counts.total == 0)
    assert node.guard.counts.timed_out == 2


async def test_a_trickled_body_gets_408_within_the_body_timeout(start: Start) -> None:
    node = await start(header_timeout_s=1.0, body_timeout_s=1.5)
    began = time.monotonic()
    reader, writer = await connect(node, b"POST /api/login HTTP/1.1\r\nHost: node\r\n"
                                         b"Content-Type: application/json\r\n"
                                         b"Content-Length: 100\r\n\r\n{")
    for _ in range(3):  # a byte now and then, never the whole body
        await asyncio.sleep(0.4)
        writer.write(b" ")
    answer = await closed_within(reader, 15)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(body)["error"] == "request_timeout"
    assert time.monotonic() - began < 15


async def test_an_idle_keepalive_is_closed(start: Start) -> None:
    node = await start(keepalive_timeout_s=1.0, header_timeout_s=30.0)
    reader, _ = await connect(node, b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    began = time.monotonic()
    await closed_within(reader, 5)
    assert time.monotonic() - began < 5


async def test_a_long_request_outlives_the_header_timeout(start: Start) -> None:
    node = await start(header_timeout_s=0.5)
    token = await login(node, "c1")
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"http://127.0.0.1:{node.port}/ws?token={token}") as ws:
        await ws.receive_json()  # hello
        await asyncio.sleep(1.5)
        await ws.send_json({"type": "ping"})
        async with asyncio.timeout(5):
            while (await ws.receive_json())["type"] != "pong":
                pass


async def test_the_reserve_carries_alerts_and_logins_while_the_cap_is_hit(start: Start) -> None:
    node = await start(max_connections=6, reserve_connections=6, header_timeout_s=1.0)
    token = await login(node, "o1")
    # The cap is filled with idle keep-alives (each had one answer and went quiet).
    held = [await connect(node, b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n")
            for _ in range(6)]
    for reader, _ in held:
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await until(lambda: node.guard.counts.total == 6)
    # The cap is hit: anything but an alert or a login is turned away, those are answered.
    status, body = await request(node, "GET", "/healthz")
    assert (status, body["error"]) == (503, "busy")
    assert await login(node, "o1")
    status, alert = await sos(node, token, "reserve-sos-1")
    assert status == 201 and alert["kind"] == "sos", alert
    # One address holds at most RESERVE_PER_ADDRESS of the reserve (here: logins whose body
    # never comes); past it, and with nothing stale for a header timeout yet, a refusal.
    trickled = b"POST /api/login HTTP/1.1\r\nHost: node\r\nContent-Length: 100\r\n\r\n{"
    for _ in range(edge.RESERVE_PER_ADDRESS):
        await connect(node, trickled)
    await until(lambda: node.guard.counts.reserve == edge.RESERVE_PER_ADDRESS)
    refused, _ = await connect(node, b"")
    assert (await closed_within(refused, 5)).startswith(b"HTTP/1.1 503")
    # Once they have sat a header timeout, the stalest (an idle keep-alive) makes room.
    await asyncio.sleep(1.2)
    status, _ = await sos(node, token, "reserve-sos-2")
    assert status == 201
    assert node.guard.counts.evicted == 1
    await closed_within(held[0][0], 5)  # the rest of its answer, then the end
    assert held[0][0].at_eof()
    # Another address still gets its SOS through the rest of the reserve.
    status, _ = await sos(node, token, "reserve-sos-3", local="127.0.0.2")
    assert status == 201
    for writer in OPENED:
        writer.close()
    await until(lambda: node.guard.counts.total == 0)
    assert (await request(node, "GET", "/healthz"))[0] == 200


async def test_busy_connections_are_not_cut_and_the_next_is_refused(start: Start) -> None:
    node = await start(max_connections=2, reserve_connections=0, header_timeout_s=30.0)
    token = await login(node, "c1")
    async with aiohttp.ClientSession() as http:
        sockets = [await http.ws_connect(f"http://127.0.0.1:{node.port}/ws?token={token}")
                   for _ in range(2)]
        await until(lambda: node.guard.counts.total == 2)
        refused, _ = await connect(node, b"")
        answer = await closed_within(refused, 5)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["error"] == "busy"
        assert node.guard.counts.evicted == 0
        for ws in sockets:
            await ws.send_json({"type": "ping"})
            assert (await ws.receive_json())["type"] in ("hello", "pong")
            await ws.close()


async def test_one_address_is_capped_and_others_are_not(start: Start) -> None:
    node = await start(max_connections_per_address=3, header_timeout_s=30.0)
    token = await login(node, "o1")
    for _ in range(3):
        await connect(node)
    await until(lambda: node.guard.counts.total == 3)
    status, body = await request(node, "GET", "/healthz")
    assert (status, body["error"]) == (429, "too_many_connections")
    status, _ = await sos(node, token, "per-address-sos")
    assert status == 201
    assert (await request(node, "GET", "/healthz", local="127.0.0.2"))[0] == 200


async def test_a_trusted_proxy_is_not_capped_per_address(start: Start) -> None:
    node = await start(max_connections_per_address=2, header_timeout_s=30.0,
                       trusted_proxies=("127.0.0.1",))
    for _ in range(4):
        await connect(node)
    await until(lambda: node.guard.counts.total == 4)
    assert (await request(node, "GET", "/healthz"))[0] == 200
    assert node.guard.counts.reserve == 0


async def test_a_client_that_stops_reading_is_cut_off(loopback_only: None) -> None:
    big = web.Application()

    async def download(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (64 << 20))

    big.router.add_get("/big", download)
    runner = web.AppRunner(big)
    await runner.setup()
    guard = edge.ConnectionGuard(edge.EdgeLimits(header_timeout_s=5.0, body_timeout_s=1.0))
    server = await edge.listen(runner, guard, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read
        await until(lambda: guard.counts.total == 1)
        await until(lambda: guard.counts.total == 0, seconds=10)
        assert guard.counts.timed_out == 1
        sock.close()
    finally:
        server.close()
        await runner.cleanup()


@pytest.mark.parametrize("flags", [["--header-timeout", "0"], ["--body-timeout", "-1"],
                                   ["--keepalive-timeout", "0"], ["--max-connections", "0"],
                                   ["--max-connections-per-address", "0"],
                                   ["--reserve-connections", "-1"]])
def test_limits_that_cannot_work_are_a_usage_error(flags: list[str]) -> None:
    parser = cli.build_parser()
    with pytest.raises(BadRequest):
        config_from_args(parser.parse_args(["serve", *flags]))


async def test_malformed_http_is_answered_400_without_a_logged_traceback(
        start: Start, caplog: pytest.LogCaptureFixture) -> None:
    node = await start()
    reader, _ = await connect(node, b"GET /healthz HTTP/1.1\r\nHost: node\r\n"
                                    b"Content-Length: X\r\n\r\n")
    assert (await closed_within(reader, 5)).split(b" ")[1] == b"400"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], \
        caplog.text
