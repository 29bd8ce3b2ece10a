"""A real portal process, a link between node and portal that can be cut, and JSON calls;
shared by the portal's tests and bench/portal.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import PASSWORD, REPO, stop_process, wait_healthy

SECRET = "s" * 16 + "portal-test-secret-0123456789"


@dataclass
class PortalProcess:
    """A `fieldrelay portal` subprocess in its own data dir."""

    data_dir: Path
    port: int
    secret: str = SECRET
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(self, name: str, role: str, community: str = "") -> None:
        """Create a grid worker (or a party) through the CLI."""
        res = subprocess.run(
            [sys.executable, "-m", "fieldrelay", "portal-user", "add", name, "--role", role,
             "--community", community, "--password-stdin", "--data-dir", str(self.data_dir)],
            input=PASSWORD, capture_output=True, text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr

    def start(self) -> None:
        """Start the portal and wait until /healthz answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.data_dir.parent / f"portal-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldrelay", "portal", "--data-dir", str(self.data_dir),
             "--port", str(self.port)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "FIELDRELAY_PORTAL_SECRET": self.secret})
        log.close()
        wait_healthy(self.proc, self.url, "portal", self.log)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop the portal with a signal and return its exit code."""
        assert self.proc is not None
        return stop_process(self.proc, sig, timeout)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path else ""


async def call(http: aiohttp.ClientSession, method: str, url: str, token: str | None = None,
               body: Any = None) -> tuple[int, Any]:
    """One JSON request: the status and the decoded body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as resp:
        text = await resp.text()
        return resp.status, (json.loads(text) if text else None)


async def login(http: aiohttp.ClientSession, base: str, name: str,
                password: str = PASSWORD) -> str:
    """A token from a node or a portal."""
    status, body = await call(http, "POST", f"{base}/api/login", None,
                              {"username": name, "password": password})
    assert status == 200, body
    return str(body["token"])


class LinkCutter:
    """A TCP relay between the node and the portal that can be cut (connections closed,
    new ones refused) and joined again, as a network that drops does."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    def sever(self) -> None:
        """Cut the link: every open connection drops and new ones are refused."""
        self.cut = True
        for writer in list(self._writers):
            writer.transport.abort()

    def join(self) -> None:
        """Let connections through again."""
        self.cut = False

    async def aclose(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
