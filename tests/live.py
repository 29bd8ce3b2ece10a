"""An in-process node on a real loopback port, so tests can look inside the relay."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp.test_utils import TestServer

# The password NodeProcess (bench/common.py) gives its users too.
from bench.common import PASSWORD as PASSWORD
from relay.registry import StreamRegistry
from signaling.keys import REGISTRY


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


