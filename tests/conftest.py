"""Shared fixtures: loopback-only guard, free ports, and a real node in its own process."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from fieldrelay.config import Config
from fieldrelay.users import UserStore
from relay import aiortc_hooks
from signaling.app import build_app
from tests.live import PASSWORD, LiveNode

REPO = Path(__file__).resolve().parent.parent


def only_loopback() -> bool:
    """True inside a network namespace whose only interface is lo."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@pytest.fixture
def loopback_only() -> None:
    """Skip media tests outside the private namespace, so no packet can leave the machine."""
    if not only_loopback():
        pytest.skip("carries WebRTC media: run inside `unshare -n` (tests/run does)")


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NodeProcess:
    """A `fieldrelay serve` subprocess and the means to talk to it."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a `fieldrelay` CLI command against this node's data dir."""
        return subprocess.run(
            [sys.executable, "-m", "fieldrelay", *args, "--data-dir", str(self.data_dir)],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )

    def add_user(self, name: str, role: str, password: str = PASSWORD) -> None:
        """Create a user through the CLI."""
        res = self.cli("user", "add", name, "--role", role, "--password-stdin", stdin=password)
        assert res.returncode == 0, res.stderr

    def login(self, name: str, password: str = PASSWORD) -> str:
        """Log in over HTTP and return the bearer token."""
        body = json.dumps({"username": name, "password": password}).encode()
        req = urllib.request.Request(f"{self.url}/api/login", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            token = str(json.load(resp)["token"])
        self.tokens[name] = token
        return token

    def start(self, *extra: str, file_size_limit: int | None = None) -> None:
        """Start the node and wait until /healthz answers.

        `file_size_limit` caps every file the node writes (RLIMIT_FSIZE): writes beyond it
        fail with EFBIG, the way they fail on a full disk.
        """

        def limit() -> None:
            if file_size_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        self.log_path = self.data_dir.parent / f"node-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldrelay", "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--ice-host", "127.0.0.1", *extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, preexec_fn=limit,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise RuntimeError("node did not become healthy within 20 s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop the node with a signal and return its exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def log(self) -> str:
        """What the node printed so far."""
        return self.log_path.read_text() if self.log_path else ""


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
        users = UserStore(data)
        for name, role in (("o1", "officer"), ("o2", "officer"), ("o3", "officer"),
                           ("o4", "officer"), ("c1", "commander"), ("c2", "commander"),
                           ("r1", "reviewer")):
            users.add(name, role, PASSWORD)
        config = Config(**{"data_dir": data, "ice_hosts": ("127.0.0.1",),
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
