"""The nodes under test in the relay benchmarks and the client processes that load them:
fieldrelay (one node, or several on one Redis) and the naive aiortc relay, each started as a
process of its own with `start`, and publishers or viewers started with `start_client`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PASSWORD, REPO, append, free_port, make_dir

SETUP_TIMEOUT = 60.0


@dataclass
class Client:
    """A client process (bench/clients.py) and the log its stderr goes to."""

    name: str
    proc: asyncio.subprocess.Process
    log: Path

    async def read_json(self, limit_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
        if not line:
            raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-1500:]}")
        return dict(json.loads(line))

    async def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"stats\n")
        await self.proc.stdin.drain()
        return await self.read_json(10)

    async def stop(self) -> None:
        if self.proc.returncode is None:
            assert self.proc.stdin is not None
            with contextlib.suppress(ConnectionError):
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class System:
    """A node under test: how to start it and where clients publish and view."""

    name = ""

    def __init__(self, workdir: Path, python: str) -> None:
        self.workdir = workdir
        self.python = python
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: asyncio.subprocess.Process | None = None
        self.log = workdir / f"{self.name}-node.log"
        # Where the node is started from: another checkout's folder runs that checkout's code
        # (python -m imports the working directory's packages first), for old/new alternation.
        self.cwd: Path = REPO
        self.env: dict[str, str] = {}

    def command(self) -> list[str]:
        raise NotImplementedError

    async def prepare(self, publishers: int) -> None:
        """Anything to do before the node starts."""

    def whip(self, index: int) -> tuple[str, str]:
        raise NotImplementedError

    def whep(self, index: int) -> tuple[str, str]:
        raise NotImplementedError

    async def after_start(self, publishers: int) -> None:
        """Anything to do once the node answers."""

    async def start(self, publishers: int) -> None:
        await self.prepare(publishers)
        with append(self.log) as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command(), stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        deadline = time.monotonic() + 30
        while True:
            if self.proc.returncode is not None:
                raise RuntimeError(f"{self.name} node exited: {self.log.read_text()[-2000:]}")
            try:
                status = await asyncio.to_thread(self._get_status, "/healthz")
                if status == 200:
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} node not healthy in 30 s")
            await asyncio.sleep(0.1)
        await self.after_start(publishers)

    def _get_status(self, path: str) -> int:
        with urllib.request.urlopen(self.base + path, timeout=2) as resp:
            return int(resp.status)

    def pids(self) -> list[int]:
        """The node processes whose CPU and memory are measured."""
        assert self.proc is not None
        return [self.proc.pid]

    def latency_buckets(self) -> list[tuple[float, float]] | None:
        """The in-node forwarding-latency histogram (cumulative), where the node has one."""
        return None

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 15)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


class FieldRelay(System):
    name = "fieldrelay"

    def __init__(self, workdir: Path, python: str) -> None:
        super().__init__(workdir, python)
        self.data = workdir / "fieldrelay-data"
        self.tokens: dict[str, str] = {}
        self.node_args: list[str] = []
        # How the CLI is started (bench/launch_node.py can trace it or put it on uvloop).
        self.launcher: list[str] = ["-m", "fieldrelay"]

    def command(self) -> list[str]:
        return [self.python, *self.launcher, "serve", "--ice-host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data), *self.node_args]

    def latency_buckets(self) -> list[tuple[float, float]] | None:
        total: dict[float, float] = {}
        for base in self.bases():
            with urllib.request.urlopen(base + "/metrics", timeout=5) as resp:
                text = resp.read().decode()
            for line in text.splitlines():
                if line.startswith("fieldrelay_forward_latency_seconds_bucket"):
                    le = line.split('le="')[1].split('"')[0]
                    bound = float("inf") if le == "+Inf" else float(le)
                    total[bound] = total.get(bound, 0.0) + float(line.split()[-1])
        return sorted(total.items())

    def bases(self) -> list[str]:
        return [self.base]

    def _cli(self, *args: str, stdin: str) -> None:
        res = subprocess.run([self.python, "-m", "fieldrelay", *args, "--data-dir", str(self.data)],
                             input=stdin, capture_output=True, text=True, timeout=60, cwd=self.cwd,
                             check=False)
        if res.returncode != 0:
            raise RuntimeError(f"fieldrelay {' '.join(args)}: {res.stderr}")

    async def prepare(self, publishers: int) -> None:
        users = [(f"o{i + 1}", "officer") for i in range(publishers)] + [("c1", "commander")]
        for name, role in users:
            await asyncio.to_thread(self._cli, "user", "add", name, "--role", role,
                                    "--password-stdin", stdin=PASSWORD)

    async def after_start(self, publishers: int) -> None:
        for name in [f"o{i + 1}" for i in range(publishers)] + ["c1"]:
            self.tokens[name] = await asyncio.to_thread(self._login, name)

    def _login(self, name: str) -> str:
        body = json.dumps({"username": name, "password": PASSWORD}).encode()
        req = urllib.request.Request(f"{self.base}/api/login", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return str(json.load(resp)["token"])

    def whip(self, index: int) -> tuple[str, str]:
        return f"{self.base}/whip", self.tokens[f"o{index + 1}"]

    def whep(self, index: int) -> tuple[str, str]:
        return f"{self.base}/whep/o{index + 1}", self.tokens["c1"]


class FieldRelayUvloop(FieldRelay):
    """The same node with uvloop's event loop instead of asyncio's (bench/launch_node.py)."""

    name = "fieldrelay-uvloop"

    def __init__(self, workdir: Path, python: str) -> None:
        super().__init__(workdir, python)
        self.launcher = [str(REPO / "bench" / "launch_node.py"), "--uvloop", "--"]


class FieldRelayNodes(FieldRelay):
    """Several fieldrelay nodes on one Redis (started here); publisher i goes to node i mod N,
    with its viewers, so each node carries its share and nothing cascades."""

    def __init__(self, workdir: Path, python: str, nodes: int) -> None:
        super().__init__(workdir, python)
        self.nodes = [FieldRelay(workdir / f"node-{i + 1}", python) for i in range(nodes)]
        self.redis: asyncio.subprocess.Process | None = None

    async def start(self, publishers: int) -> None:
        port = free_port()
        make_dir(self.workdir / "redis")
        self.redis = await asyncio.create_subprocess_exec(
            "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--dir", str(self.workdir / "redis"), stdout=asyncio.subprocess.DEVNULL)
        await asyncio.sleep(0.5)
        for i, node in enumerate(self.nodes):
            make_dir(node.workdir)
            node.node_args = [*self.node_args, "--redis-url", f"redis://127.0.0.1:{port}/0",
                              "--node-id", f"node-{i + 1}"]
            await node.start(publishers)

    def pids(self) -> list[int]:
        return [p for node in self.nodes for p in node.pids()]

    def bases(self) -> list[str]:
        return [node.base for node in self.nodes]

    def whip(self, index: int) -> tuple[str, str]:
        return self.nodes[index % len(self.nodes)].whip(index)

    def whep(self, index: int) -> tuple[str, str]:
        return self.nodes[index % len(self.nodes)].whep(index)

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()
        if self.redis is not None and self.redis.returncode is None:
            self.redis.terminate()
            await self.redis.wait()


class Naive(System):
    name = "naive"
    record: str | None = None

    def command(self) -> list[str]:
        record = ["--record", self.record] if self.record else []
        return [self.python, "-m", "bench.baseline_naive", "--port", str(self.port), *record]

    def whip(self, index: int) -> tuple[str, str]:
        return f"{self.base}/whip?name=o{index + 1}", "ignored"

    def whep(self, index: int) -> tuple[str, str]:
        return f"{self.base}/whep/o{index + 1}", "ignored"


async def start_client(system: System, role: str, index: int, url: str, token: str,
                       extra: list[str], module: str = "bench.clients") -> Client:
    """Start one `python -m MODULE ROLE` process against `system` (it logs beside it)."""
    name = f"{system.name}-{role}{index}"
    log = system.workdir / f"{name}.log"
    with append(log) as err:
        proc = await asyncio.create_subprocess_exec(
            system.python, "-m", module, role, "--url", url,
            "--token", token, *extra, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=err, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return Client(name, proc, log)


async def await_ready(clients: list[Client]) -> None:
    """Wait until every client said its media flows."""
    for client in clients:
        msg = await client.read_json(SETUP_TIMEOUT)
        if msg.get("event") != "ready":
            raise RuntimeError(f"{client.name}: unexpected {msg}")
