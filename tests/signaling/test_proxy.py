"""Behind a reverse proxy: the per-address login limit and the Origin check use what a
trusted proxy forwards, and nobody else can forge it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from fieldrelay.config import Config
from fieldrelay.users import UserStore
from signaling.app import build_app
from tests.conftest import TEST_PASSWORD_COST
from tests.live import PASSWORD

Start = Callable[..., Any]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[TestServer] = []

    async def start(**overrides: Any) -> str:
        data = tmp_path / f"d{len(servers)}"
        UserStore(data, TEST_PASSWORD_COST).add("o1", "officer", PASSWORD)
        config = Config(data_dir=data, password_cost=TEST_PASSWORD_COST, **overrides)
        srv = TestServer(build_app(config), host="127.0.0.1")
        await srv.start_server()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.port}"

    try:
        yield start
    finally:
        for srv in servers:
            await srv.close()


async def _failed_logins(http: aiohttp.ClientSession, base: str, forwarded_for: str,
                         count: int) -> list[int]:
    statuses = []
    for i in range(count):
        async with http.post(f"{base}/api/login", json={"username": f"x{i}", "password": "no"},
                             headers={"X-Forwarded-For": forwarded_for}) as resp:
            statuses.append(resp.status)
    return statuses


async def test_login_limit_counts_the_forwarded_client_only_behind_a_trusted_proxy(
        server: Start) -> None:
    behind = await server(trusted_proxies=("127.0.0.1/32",))
    direct = await server()
    async with aiohttp.ClientSession() as http:
        assert 429 in await _failed_logins(http, behind, "203.0.113.5", 40)
        # Another phone behind the same proxy is not locked out by the first one.
        assert await _failed_logins(http, behind, "203.0.113.6", 3) == [401, 401, 401]
        # Without a trusted proxy the header is the client's own word and is ignored.
        assert 429 in await _failed_logins(http, direct, "203.0.113.5", 40)
        assert await _failed_logins(http, direct, "203.0.113.6", 1) == [429]


async def test_origin_check_uses_the_forwarded_scheme_and_host(server: Start) -> None:
    behind = await server(trusted_proxies=("127.0.0.1",))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{behind}/api/login",
                             json={"username": "o1", "password": PASSWORD}) as resp:
            token = (await resp.json())["token"]
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "relay.example"}
        async with http.ws_connect(f"{behind}/ws?token={token}", headers=headers,
                                   origin="https://relay.example") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
        async with http.ws_connect(f"{behind}/ws?token={token}", headers=headers,
                                   origin="https://evil.example") as ws:
            await ws.receive(timeout=5)
            assert ws.close_code == 4403
