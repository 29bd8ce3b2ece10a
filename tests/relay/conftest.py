"""An in-process node on a real loopback port, so tests can look inside the relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from fieldrelay.config import Config
from fieldrelay.users import UserStore
from relay import aiortc_hooks
from relay.registry import StreamRegistry
from signaling.app import build_app
from signaling.keys import REGISTRY
from tests.conftest import PASSWORD


@dataclass
class LiveNode:
    """A node running in the test's event loop, with a client session and tokens."""

    base: str
    http: aiohttp.ClientSession
    server: TestServer

    @property
    def registry(self) -> StreamRegistry:
        return self.server.app[REGISTRY]

    async def login(self, name: str) -> str:
        async with self.http.post(f"{self.base}/api/login",
                                  json={"username": name, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["token"])


@pytest.fixture
async def live_node(tmp_path: Path, loopback_only: None) -> AsyncIterator[LiveNode]:
    """A node with officers o1, o2, commanders c1, c2 and reviewer r1."""
    data = tmp_path / "data"
    users = UserStore(data)
    for name, role in (("o1", "officer"), ("o2", "officer"), ("c1", "commander"),
                       ("c2", "commander"), ("r1", "reviewer")):
        users.add(name, role, PASSWORD)
    config = Config(data_dir=data, ice_hosts=("127.0.0.1",), reconnect_grace_s=5.0)
    aiortc_hooks.use_ice_host_addresses(config.ice_hosts)
    server = TestServer(build_app(config), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield LiveNode(f"http://127.0.0.1:{server.port}", http, server)
    finally:
        await server.close()
