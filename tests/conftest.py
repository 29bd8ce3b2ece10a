"""Shared fixtures: loopback-only guard, free ports, and a real node in its own process.

The node process and the port helpers live in bench/common.py: the benchmarks use them too,
and bench/ never imports tests/. No test of this suite may skip (tests/no_skips.py): a test
that cannot run here fails and says why."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from bench.common import NodeProcess as NodeProcess
from bench.common import free_port as free_port
from fieldrelay.config import Config
from fieldrelay.users import UserStore
from relay import aiortc_hooks
from signaling.app import build_app
from tests.live import PASSWORD as PASSWORD
from tests.live import LiveNode
from tests.namespace import namespace_problem
from tests.no_skips import pytest_make_collect_report as pytest_make_collect_report
from tests.no_skips import pytest_runtest_makereport as pytest_runtest_makereport

REPO = Path(__file__).resolve().parent.parent
# Password hashes at scrypt 2^12 instead of 2^17: tests make hundreds of users and logins.
# The real setting (--password-cost), for the nodes and CLI commands the tests start too.
TEST_PASSWORD_COST = 12
os.environ.setdefault("FIELDRELAY_PASSWORD_COST", str(TEST_PASSWORD_COST))


@pytest.fixture
def loopback_only() -> None:
    """Fail a media test outside a private namespace with only `lo` up, so no packet can
    leave the machine; interfaces that are down (sit0, tunl0) carry nothing and are allowed."""
    wrong = namespace_problem()
    if wrong is not None:
        pytest.fail(f"carries WebRTC media, but {wrong}: run it through tests/run, which "
                    "starts pytest in a private namespace with only `lo` up", pytrace=False)


@pytest.fixture(autouse=True)
def _media_runs_in_the_private_namespace(request: pytest.FixtureRequest) -> None:
    """Every test marked media or browser gets the namespace guard, asked for or not."""
    if request.node.get_closest_marker("media") or request.node.get_closest_marker("browser"):
        request.getfixturevalue("loopback_only")


@pytest.fixture
def node_process(tmp_path: Path) -> Iterator[NodeProcess]:
    """An unstarted node in a fresh data dir; stopped at teardown."""
    node = NodeProcess(data_dir=tmp_path / "data", port=free_port())
    try:
        yield node
    finally:
        if node.proc is not None:
            node.stop()


@pytest.fixture
async def node_factory(tmp_path: Path, loopback_only: None
                       ) -> AsyncIterator[Callable[..., Awaitable[LiveNode]]]:
    """Start in-process nodes (officers o1..o4, commanders c1, c2, reviewer r1) with config
    overrides; every node gets its own data dir and all are closed at teardown."""
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(**overrides: Any) -> LiveNode:
        data = tmp_path / f"data{len(servers)}"
        users = UserStore(data, TEST_PASSWORD_COST)
        for name, role in (("o1", "officer"), ("o2", "officer"), ("o3", "officer"),
                           ("o4", "officer"), ("c1", "commander"), ("c2", "commander"),
                           ("r1", "reviewer")):
            users.add(name, role, PASSWORD)
        config = Config(**{"data_dir": data, "ice_hosts": ("127.0.0.1",),
                           "password_cost": TEST_PASSWORD_COST,
                           "reconnect_grace_s": 5.0, **overrides})
        aiortc_hooks.use_ice_host_addresses(config.ice_hosts)
        # A node that other nodes must reach (a cascade) is given its port up front.
        server = TestServer(build_app(config), host="127.0.0.1", port=overrides.get("port"))
        await server.start_server()
        servers.append(server)
        http = aiohttp.ClientSession()
        sessions.append(http)
        return LiveNode(f"http://127.0.0.1:{server.port}", http, server)

    try:
        yield start
    finally:
        for http in sessions:
            await http.close()
        for server in reversed(servers):
            await server.close()


@pytest.fixture
async def live_node(node_factory: Callable[..., Awaitable[LiveNode]]) -> LiveNode:
    """One in-process node with the default config."""
    return await node_factory()


@dataclass
class RedisProcess:
    """A redis-server of the test's own, on a free port, with AOF so restarts keep data."""

    dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server and wait until it answers PING."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop the server by its own PID (never any other Redis)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    """A fresh redis-server for this test only."""
    server = RedisProcess(tmp_path / "redis", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
