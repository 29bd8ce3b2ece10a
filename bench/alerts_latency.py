"""Alert latency across two nodes: POST /api/alerts → every commander console, none lost.

This starts its own redis-server (AOF on) and two `fieldrelay serve` nodes on it (node-a,
node-b, each with its own data dir, users and token secret). Users are created on both nodes
through the node's user store (at a low hashing cost) and log in on each node over HTTP; the
node allows 30 logins per source address, so every 20 log in from their own 127.0.x.y, as
consoles on different machines would. Consoles are commander WebSockets (`GET /ws`), split
evenly across the two nodes and opened from --console-procs separate load-generator
processes. Officers POST alerts (each with its own Idempotency-Key), alternately to node A
and node B, at a steady open-loop --rate for --seconds: a slow answer never delays the next
alert. There are enough officers by default to stay under the node's per-officer alert
limit.

Timing: the send time is read just before each POST, the receive time as each console's
`{"type":"alert"}` event is read. Both are time.monotonic(), which is CLOCK_MONOTONIC, one
clock for the whole machine, so the sender and the console processes can be compared
(--console-procs 0 keeps everything in one process).

- latency = console receive time - POST send time, over every (alert, console) pair;
- lost = (alert, console) pairs with a 2xx POST that no console event delivered within
  --grace seconds after the last POST answered;
- POST latency = response read - send time;
- node CPU = utime+stime from /proc/<pid>/stat over the measured window, as % of one core.

The load generator checks itself: the sender's lag behind its schedule, the console
processes' event-loop lag, and the CPU that everything else on the machine used meanwhile
(a run with more than 10% of a core of other load says so).

It opens only loopback sockets, but like the other benchmarks it runs only in a network
namespace whose only interface is lo:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.alerts_latency'

Options: --rate (50/s), --seconds (60), --consoles (200), --officers (100), --commanders
(consoles/2: each commander has one console on each node), --appendfsync always|everysec,
--escalate-after S (the node's default otherwise), --no-batches (consoles that do not ask for
`alerts.updated`, as older clients), --warmup (2 s, not measured),
--grace (5 s), --console-procs (2), --profile DIR (py-spy samples both nodes during the
window), --trace-stalls (the nodes' slow callbacks and GC pauses), --wait-quiet S (wait for
other load on the machine to stop before measuring), --json FILE (also every alert's
timings), --workdir DIR (keeps Redis, node data and logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bench.common import PASSWORD, REPO, cpu_seconds, free_port, host_busy, make_dir, only_loopback
from bench.stall_trace import GC_PAUSE_MS, STALL_MS
from fieldrelay.users import UserStore

GOAL_P99_MS = 25.0  # the fan-out goal at 2 nodes, 200 consoles, 50 alerts/s (escalations on)
SETUP_TIMEOUT = 120.0
CONNECT_CONCURRENCY = 20
LOGINS_PER_ADDRESS = 20  # the node allows a burst of 30 logins per address
NODE_ALERTS_PER_MINUTE = 30.0  # the node's default per-officer sustained alert rate
FOREIGN_WARN_PCT = 10.0  # other load on the machine (% of one core) that spoils a run
NODES = ("node-a", "node-b")
BENCH_PASSWORD_COST = 12  # scrypt N = 2**12 (the tests' cost too)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --------------------------------------------------------------------------------------
# Consoles: commander WebSockets that note when each alert event arrives.
# --------------------------------------------------------------------------------------

@dataclass
class Console:
    index: int
    node: int
    url: str
    recv: dict[str, float] = field(default_factory=dict)  # alert id -> first receive time
    dups: int = 0
    updated: int = 0
    batches: int = 0  # alerts.updated messages (each carrying several of `updated`)
    other: int = 0
    close_code: int | None = None
    error: str | None = None


async def loop_lag(lags: list[float], every_s: float = 0.005) -> None:
    """How late this process's event loop wakes up (ms): a stalled or starved load generator
    shows here, so its own delays are not mistaken for the server's."""
    while True:
        t = time.monotonic()
        await asyncio.sleep(every_s)
        lags.append(1000 * (time.monotonic() - t - every_s))


async def run_consoles(specs: list[dict[str, Any]], ready: Callable[[], Awaitable[None]],
                       wait_expect: Callable[[], Awaitable[tuple[set[str], float]]]
                       ) -> tuple[list[Console], list[float]]:
    """Open every console, call `ready`, then record alert events until the expected ids
    (from `wait_expect`) have all arrived everywhere or its grace period has passed.
    Returns the consoles and this process's event-loop lag samples (ms) meanwhile."""
    consoles = [Console(s["index"], s["node"], s["url"]) for s in specs]
    batches = {c.index: bool(s.get("batches")) for c, s in zip(consoles, specs, strict=True)}
    hello = [asyncio.Event() for _ in consoles]
    progress = asyncio.Event()  # set whenever some console got an alert event
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))

    async def listen(c: Console, said_hello: asyncio.Event) -> None:
        monotonic, loads = time.monotonic, json.loads
        try:
            async with gate:
                ws = await session.ws_connect(c.url, heartbeat=None, max_msg_size=0)
            if batches[c.index]:
                # As the command page does: an escalation pass's updates in one message.
                await ws.send_str(json.dumps({"type": "accept", "types": ["alerts.updated"]}))
            async for msg in ws:
                now = monotonic()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = loads(msg.data)
                kind = event.get("type")
                if kind == "alert":
                    aid = event["alert"]["id"]
                    if aid in c.recv:
                        c.dups += 1
                    else:
                        c.recv[aid] = now
                        progress.set()
                elif kind == "alert.updated":
                    c.updated += 1
                elif kind == "alerts.updated":
                    c.updated += len(event["events"])
                    c.batches += 1
                elif kind == "hello":
                    said_hello.set()
                else:
                    c.other += 1
            c.close_code = ws.close_code
        except Exception as exc:  # recorded and reported, never silently dropped
            c.error = repr(exc)
        finally:
            said_hello.set()

    tasks = [asyncio.create_task(listen(c, h)) for c, h in zip(consoles, hello, strict=True)]
    try:
        await asyncio.wait_for(asyncio.gather(*(h.wait() for h in hello)), SETUP_TIMEOUT)
        failed = [c for c in consoles if c.error or c.close_code is not None]
        if failed:
            raise RuntimeError(f"{len(failed)} console(s) failed to open: "
                               f"{failed[0].error or failed[0].close_code}")
        lags: list[float] = []
        tasks.append(asyncio.create_task(loop_lag(lags)))
        await ready()
        expected, grace = await wait_expect()
        deadline = time.monotonic() + grace
        while any(not expected <= c.recv.keys() for c in consoles):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), min(left, 0.2))
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
    return consoles, lags


def console_worker() -> int:
    """`python -m bench.alerts_latency _consoles`: consoles in their own process, driven over stdin.

    stdin: one JSON line {"consoles": [...], "out": FILE}, later {"expect": [...], "grace": S}.
    stdout: {"event": "ready"} once every console said hello, {"event": "done"} at the end.
    """

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        setup = json.loads(await reader.readline())

        async def ready() -> None:
            print(json.dumps({"event": "ready"}), flush=True)

        async def wait_expect() -> tuple[set[str], float]:
            line = await reader.readline()
            if not line:
                raise RuntimeError("the orchestrator went away")
            msg = json.loads(line)
            return set(msg["expect"]), float(msg["grace"])

        consoles, lags = await run_consoles(setup["consoles"], ready, wait_expect)
        await asyncio.to_thread(Path(setup["out"]).write_text, json.dumps(
            {"consoles": [c.__dict__ for c in consoles], "lag": lags}))
        print(json.dumps({"event": "done"}), flush=True)

    asyncio.run(main())
    return 0


class ConsoleGroup:
    """Consoles run in a worker process (or, with --console-procs 0, in this one)."""

    def __init__(self, name: str, specs: list[dict[str, Any]], workdir: Path, python: str,
                 in_process: bool) -> None:
        self.name, self.specs, self.workdir, self.python = name, specs, workdir, python
        self.in_process = in_process
        self.out = workdir / f"{name}.json"
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[tuple[list[Console], list[float]]] | None = None
        self._ready = asyncio.Event()
        self._expect: asyncio.Future[tuple[set[str], float]] = (
            asyncio.get_running_loop().create_future())

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def start(self) -> None:
        if self.in_process:
            async def ready() -> None:
                self._ready.set()

            async def wait_expect() -> tuple[set[str], float]:
                return await self._expect

            self._task = asyncio.create_task(run_consoles(self.specs, ready, wait_expect))
            waiter = asyncio.create_task(self._ready.wait())
            await asyncio.wait({waiter, self._task}, timeout=SETUP_TIMEOUT,
                               return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if self._task.done():
                self._task.result()  # raises what went wrong
            if not self._ready.is_set():
                raise RuntimeError(f"{self.name}: consoles not ready in {SETUP_TIMEOUT:g} s")
            return
        err = await asyncio.to_thread(open, self.workdir / f"{self.name}.log", "ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                self.python, "-m", "bench.alerts_latency", "_consoles",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err, cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        finally:
            err.close()
        self._send({"consoles": self.specs, "out": str(self.out)})
        await self._expect_event("ready", SETUP_TIMEOUT)

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")

    async def _expect_event(self, name: str, limit_s: float) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
        if not line or json.loads(line).get("event") != name:
            log = (self.workdir / f"{self.name}.log").read_text()[-2000:]
            raise RuntimeError(f"{self.name}: expected {name!r}, got {line[:200]!r}\n{log}")

    async def finish(self, expect: set[str], grace: float) -> tuple[list[Console], list[float]]:
        if self._task is not None:
            self._expect.set_result((expect, grace))
            return await asyncio.wait_for(self._task, grace + 30)
        self._send({"expect": sorted(expect), "grace": grace})
        await self._expect_event("done", grace + 60)
        result = json.loads(await asyncio.to_thread(self.out.read_text))
        return [Console(**c) for c in result["consoles"]], result["lag"]

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


# --------------------------------------------------------------------------------------
# Redis and the two nodes.
# --------------------------------------------------------------------------------------

class Redis:
    def __init__(self, workdir: Path, appendfsync: str) -> None:
        self.dir = make_dir(workdir / "redis")
        self.port = free_port()
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _spawn(self) -> None:
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                 "--appendonly", "yes", "--appendfsync", self.appendfsync,
                 "--latency-monitor-threshold", "5", "--dir", str(self.dir)],
                stdout=log, stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self._spawn()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if (await self.command("PING")).startswith("+PONG"):
                    return
            except OSError:
                await asyncio.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    async def command(self, *words: str) -> str:
        """One inline command, its raw reply (enough for PING and INFO)."""
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), 2)
        try:
            writer.write((" ".join(words) + "\r\n").encode())
            await writer.drain()
            first = (await asyncio.wait_for(reader.readline(), 5)).decode()
            if first.startswith("$"):
                body = await reader.readexactly(int(first[1:]) + 2)
                return body.decode()
            return first
        finally:
            writer.close()

    async def latency_latest(self) -> list[Any]:
        client = aioredis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)
        try:
            return list(await client.latency_latest())
        finally:
            await client.aclose()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Node:
    def __init__(self, node_id: str, workdir: Path, python: str, redis_url: str,
                 extra: list[str]) -> None:
        self.node_id = node_id
        self.data = workdir / f"{node_id}-data"
        self.log = workdir / f"{node_id}.log"
        self.python = python
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.redis_url = redis_url
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.tokens: dict[str, str] = {}
        self.trace_stalls = False

    def traced(self) -> tuple[list[tuple[float, int, float]], list[tuple[float, float, str]]]:
        """What --trace-stalls logged: GC pauses (end time, generation, ms) and slow
        callbacks (end time, ms, what ran)."""
        pauses, stalls = [], []
        for line in self.log.read_text().splitlines():
            if line.startswith("GCTRACE "):
                _, at, gen, ms = line.split()
                pauses.append((float(at), int(gen), float(ms)))
            elif line.startswith("STALL "):
                _, at, ms, what = line.split(" ", 3)
                stalls.append((float(at), float(ms), what))
        return pauses, stalls

    def add_users(self, users: list[tuple[str, str]]) -> None:
        """The users, through the node's own user store (what `fieldrelay user add` writes),
        in this process and at a low hashing cost: a process and a 128 MiB hash per user took
        minutes for 400 users, and logins are not what is measured."""
        store = UserStore(self.data, BENCH_PASSWORD_COST)
        for name, role in users:
            store.add(name, role, PASSWORD)

    def _spawn(self) -> None:
        entry = (["-m", "bench.stall_trace", "serve"] if self.trace_stalls
                 else ["-m", "fieldrelay", "serve"])
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.python, *entry, "--port", str(self.port),
                 "--data-dir", str(self.data), "--redis-url", self.redis_url,
                 "--node-id", self.node_id, "--ice-host", "127.0.0.1", *self.extra],
                stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def start(self) -> None:
        self._spawn()
        assert self.proc is not None
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.node_id} exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, OSError):
                if await asyncio.to_thread(self._healthz) == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.node_id} not healthy in 30 s")
            await asyncio.sleep(0.1)

    def _healthz(self) -> int:
        with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
            return int(resp.status)

    async def login_all(self, names: list[str]) -> None:
        """POST /api/login for every user. The node limits logins per source address (a burst
        of 30), so every LOGINS_PER_ADDRESS users log in from their own 127.0.x.y, as
        consoles on different machines would."""
        gate = asyncio.Semaphore(4)

        async def one(http: aiohttp.ClientSession, name: str) -> None:
            async with gate, http.post(f"{self.base}/api/login",
                                       json={"username": name, "password": PASSWORD}) as r:
                if r.status != 200:
                    raise RuntimeError(f"{self.node_id}: login {name}: {r.status} "
                                       f"{await r.text()}")
                self.tokens[name] = str((await r.json())["token"])

        for start in range(0, len(names), LOGINS_PER_ADDRESS):
            k = start // LOGINS_PER_ADDRESS
            address = f"127.0.{1 + k // 250}.{1 + k % 250}"
            connector = aiohttp.TCPConnector(local_addr=(address, 0))
            async with aiohttp.ClientSession(connector=connector) as http:
                await asyncio.gather(*(one(http, n)
                                       for n in names[start:start + LOGINS_PER_ADDRESS]))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --------------------------------------------------------------------------------------
# The run.
# --------------------------------------------------------------------------------------

@dataclass
class Post:
    seq: int
    node: int
    officer: str
    target: float  # when the schedule wanted it sent
    sent: float = math.nan
    answered: float = math.nan
    status: int = 0
    alert_id: str | None = None
    error: str | None = None
    measured: bool = True


async def post_alerts(http: Any, nodes: list[Node], officers: list[str], rate: float,
                      seconds: float, warmup: float, run_id: str) -> list[Post]:
    """Open-loop POSTs at `rate`/s, alternately to each node; warm-up ones are not measured."""
    posts: list[Post] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(p: Post) -> None:
        node = nodes[p.node]
        headers = {"Authorization": f"Bearer {node.tokens[p.officer]}",
                   "Idempotency-Key": f"bench-{run_id}-{p.seq:07d}"}
        p.sent = time.monotonic()
        try:
            async with http.post(f"{node.base}/api/alerts", json={"kind": "sos"},
                                 headers=headers) as r:
                body = await r.json()
                p.answered = time.monotonic()
                p.status = r.status
                if r.status in (200, 201):
                    p.alert_id = str(body["id"])
                else:
                    p.error = f"{r.status} {body}"
        except Exception as exc:
            p.answered = time.monotonic()
            p.error = repr(exc)

    n_warm, n_main = round(warmup * rate), round(seconds * rate)
    start = time.monotonic() + 0.05
    for seq in range(n_warm + n_main):
        p = Post(seq, seq % len(nodes), officers[(seq // len(nodes)) % len(officers)],
                 start + seq / rate, measured=seq >= n_warm)
        posts.append(p)
        delay = p.target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(p)))
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return posts


@dataclass
class Window:
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    host_busy: float = 0.0  # fraction of all CPUs
    cpu_pressure: float = math.nan  # fraction of time some runnable task waited for a CPU

    @property
    def foreign_cpu(self) -> float:
        """CPU seconds the rest of the machine used meanwhile (not this benchmark's)."""
        return max(0.0, self.host_busy * (os.cpu_count() or 1) * self.seconds
                   - sum(self.cpu.values()))


def cpu_pressure_us() -> float:
    """Total µs some task waited for a CPU (/proc/pressure/cpu), nan without PSI."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return math.nan
    return float(first.rpartition("total=")[2])


class CpuMeter:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.t0 = time.monotonic()
        self.c0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        self.h0 = host_busy()
        self.p0 = cpu_pressure_us()

    def read(self) -> Window:
        h1 = host_busy()
        seconds = time.monotonic() - self.t0
        return Window(seconds,
                      {n: cpu_seconds(pid) - self.c0[n] for n, pid in self.pids.items()},
                      (h1[0] - self.h0[0]) / max(1, h1[1] - self.h0[1]),
                      (cpu_pressure_us() - self.p0) / 1e6 / seconds)


def summarize(posts: list[Post], consoles: list[Console]) -> dict[str, Any]:
    measured = [p for p in posts if p.measured]
    ok = [p for p in measured if p.alert_id is not None]
    by_id = {p.alert_id: p for p in measured if p.alert_id is not None}
    lat: list[float] = []
    lat_by_path: dict[str, list[float]] = defaultdict(list)
    lat_by_bucket: dict[int, list[float]] = defaultdict(list)
    t_start = min((p.target for p in measured), default=0.0)
    lost = 0
    lost_alerts: set[str] = set()
    per_alert: dict[str, list[float]] = defaultdict(list)
    for c in consoles:
        for aid, p in by_id.items():
            t = c.recv.get(aid)
            if t is None:
                lost += 1
                lost_alerts.add(aid)
                continue
            ms = 1000 * (t - p.sent)
            lat.append(ms)
            per_alert[aid].append(ms)
            lat_by_path["same node" if c.node == p.node else "other node"].append(ms)
            lat_by_bucket[int((p.target - t_start) // 10)].append(ms)
    lat.sort()
    post_ms = sorted(1000 * (p.answered - p.sent) for p in ok)
    lag_ms = sorted(1000 * (p.sent - p.target) for p in measured)

    def stats(values: list[float]) -> dict[str, float]:
        values = sorted(values)
        return {"n": len(values), "p50": percentile(values, 50), "p99": percentile(values, 99),
                "p999": percentile(values, 99.9), "max": values[-1] if values else math.nan}

    # One row per alert (for --json): when it was sent, where, its POST time and how its
    # consoles got it. The slowest ones are printed, to line a stall up with the node logs.
    alerts = []
    for p in ok:
        got = sorted(per_alert.get(p.alert_id or "", []))
        alerts.append({"id": p.alert_id, "t_s": round(p.target - t_start, 3), "node": p.node,
                       "post_ms": round(1000 * (p.answered - p.sent), 2), "consoles": len(got),
                       "min_ms": round(got[0], 2) if got else None,
                       "p50_ms": round(percentile(got, 50), 2) if got else None,
                       "max_ms": round(got[-1], 2) if got else None})

    return {
        "alerts_posted": len(measured), "alerts_ok": len(ok),
        "post_errors": [p.error for p in measured if p.error][:5],
        "post_failed": sum(1 for p in measured if p.alert_id is None),
        "pairs_expected": len(ok) * len(consoles), "lost": lost,
        "alerts_with_a_loss": len(lost_alerts),
        "latency_ms": stats(lat),
        "latency_by_path_ms": {k: stats(v) for k, v in sorted(lat_by_path.items())},
        "latency_by_10s_ms": {f"{10 * k}-{10 * k + 10}s": stats(v)
                              for k, v in sorted(lat_by_bucket.items())},
        "post_ms": stats(post_ms),
        "send_lag_ms": stats(lag_ms),
        "duplicates": sum(c.dups for c in consoles),
        "alert_updated_per_console": (sum(c.updated for c in consoles) / len(consoles)
                                      if consoles else 0),
        "batches_per_console": (sum(c.batches for c in consoles) / len(consoles)
                                if consoles else 0),
        "consoles_closed": [(c.index, c.close_code, c.error) for c in consoles
                            if c.close_code is not None or c.error][:10],
        "alerts": alerts,
    }


async def wait_for_quiet(pids: dict[str, int], limit_s: float) -> bool:
    """Wait (at most limit_s) until the rest of the machine has used under
    FOREIGN_WARN_PCT of a core for two 2-second samples in a row."""
    deadline = time.monotonic() + limit_s
    quiet = 0
    while time.monotonic() < deadline:
        meter = CpuMeter(pids)
        await asyncio.sleep(2.0)
        w = meter.read()
        foreign = 100 * w.foreign_cpu / w.seconds
        quiet = quiet + 1 if foreign < FOREIGN_WARN_PCT else 0
        if quiet >= 2:
            return True
        print(f"[wait] other processes use {foreign:.0f}% of a core; waiting for quiet",
              file=sys.stderr, flush=True)
    return False


def redis_latency(rows: list[Any]) -> dict[str, str]:
    """LATENCY LATEST: events over the monitor threshold (e.g. aof-fsync-always)."""
    return {str(r[0]): f"latest {r[2]} ms, max {r[3]} ms" for r in rows}


def redis_stats(info: str) -> dict[str, str]:
    out = {}
    for line in info.splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:", "cmdstat_publish:",
                            "cmdstat_smembers:", "cmdstat_mget:", "cmdstat_xrange:")):
            name, _, rest = line.partition(":")
            fields = dict(kv.split("=") for kv in rest.split(","))
            out[name.removeprefix("cmdstat_")] = (f"{fields['calls']} calls, "
                                                  f"{fields['usec_per_call']} us/call")
    return out


def git_commit() -> str:
    """The commit the nodes ran, `+dirty` when the work tree had changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=REPO, text=True, capture_output=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "(not a git checkout)"
    return head + ("+dirty" if dirty else "")


def redis_version() -> str:
    try:
        out = subprocess.run(["redis-server", "--version"], text=True, capture_output=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "redis-server ?"
    m = re.search(r"v=(\S+)", out)
    return f"Redis {m.group(1) if m else '?'}"


def short_callback(what: str) -> str:
    """`AlertDesk._listen() at alerts.py:230` from a Task's or a callback's repr."""
    m = re.search(r"coro=<([\w.<>]+)\(\) running at ([^>]+)>", what)
    if m:
        return f"{m.group(1)}() at {Path(m.group(2).rsplit(':', 1)[0]).name}:" \
               f"{m.group(2).rsplit(':', 1)[-1]}"
    return re.sub(r" at 0x[0-9a-f]+", "", what)[:100]


def fmt(v: float) -> str:
    return "n/a" if math.isnan(v) else f"{v:.1f}"


def report(args: argparse.Namespace, s: dict[str, Any], window: Window,
           redis_info: dict[str, str], profile: dict[str, Path]) -> str:
    """The human-readable result: a table row, then the breakdowns behind it."""
    lat, post = s["latency_ms"], s["post_ms"]
    cpu = {n: 100 * v / window.seconds for n, v in window.cpu.items()}
    lines = [
        f"alerts: {s['alerts_posted']} posted ({s['alerts_ok']} answered 2xx) at "
        f"{args.rate:g}/s for {args.seconds:g} s, alternately to node-a and node-b; "
        f"{args.consoles} consoles ({(args.consoles + 1) // 2}/{args.consoles // 2}); "
        f"Redis appendfsync {args.appendfsync}",
        "",
        "| consoles | alerts/s | s | latency p50 ms | p99 ms | p99.9 ms | max ms | lost | "
        "POST p50 ms | POST p99 ms | node-a CPU | node-b CPU | redis CPU | host CPU busy |",
        "|" + "---|" * 14,
        f"| {args.consoles} | {args.rate:g} | {args.seconds:g} | {fmt(lat['p50'])} | "
        f"{fmt(lat['p99'])} | {fmt(lat['p999'])} | {fmt(lat['max'])} | "
        f"{s['lost']} of {s['pairs_expected']} | {fmt(post['p50'])} | {fmt(post['p99'])} | "
        f"{cpu['node-a']:.0f}% | {cpu['node-b']:.0f}% | {cpu['redis']:.0f}% | "
        f"{100 * window.host_busy:.0f}% |",
        "",
    ]
    for path, st in s["latency_by_path_ms"].items():
        lines.append(f"console on the {path} as the POST: p50 {fmt(st['p50'])} ms, "
                     f"p99 {fmt(st['p99'])} ms, max {fmt(st['max'])} ms ({st['n']} pairs)")
    lines.append("by send time: " + "; ".join(
        f"{k} p50 {fmt(v['p50'])} p99 {fmt(v['p99'])} max {fmt(v['max'])}"
        for k, v in s["latency_by_10s_ms"].items()))
    lines.append(f"POST max {fmt(post['max'])} ms; failed POSTs {s['post_failed']}"
                 + (f" (first: {s['post_errors'][0]})" if s["post_errors"] else "")
                 + f"; sender lag behind schedule p99 {fmt(s['send_lag_ms']['p99'])} ms, "
                 f"max {fmt(s['send_lag_ms']['max'])} ms")
    worst = sorted((a for a in s["alerts"] if a["max_ms"] is not None),
                   key=lambda a: -a["max_ms"])[:5]
    lines.append("slowest alerts (send time in the window, node, POST ms, console min/p50/max "
                 "ms): " + "; ".join(
                     f"{a['t_s']:.1f} s {NODES[a['node']]} POST {a['post_ms']:.0f} "
                     f"{a['min_ms']:.0f}/{a['p50_ms']:.0f}/{a['max_ms']:.0f}" for a in worst))
    lines.append(f"duplicates {s['duplicates']}; alert.updated events per console "
                 f"{s['alert_updated_per_console']:.0f} (escalations), of them in "
                 f"{s['batches_per_console']:.0f} alerts.updated messages; alerts with a loss "
                 f"{s['alerts_with_a_loss']}; closed consoles {s['consoles_closed'] or 'none'}")
    lines.append(f"CPU over the {window.seconds:.1f} s window (% of one core): "
                 + ", ".join(f"{n} {v:.0f}%" for n, v in cpu.items())
                 + "; everything else on the machine "
                 f"{100 * window.foreign_cpu / window.seconds:.0f}%"
                 + f"; CPU pressure (some task waiting for a CPU) "
                 f"{100 * window.cpu_pressure:.0f}% of the time")
    cl = s["console_loop_lag_ms"]
    lines.append(f"console processes' event-loop lag: p99 {fmt(cl['p99'])} ms, "
                 f"max {fmt(cl['max'])} ms (the load generator's own delay)")
    if redis_info:
        lines.append("redis: " + "; ".join(f"{k} {v}" for k, v in redis_info.items()))
    for node_id, pauses in s["gc_pauses"].items():
        worst = sorted(pauses, key=lambda x: -x[2])[:3]
        lines.append(f"{node_id} GC pauses >= {GC_PAUSE_MS:g} ms: {len(pauses)}, "
                     f"{sum(ms for _, _, ms in pauses):.0f} ms in all; longest: " + (", ".join(
                         f"{ms:.0f} ms (gen {gen}) at {t:.1f} s" for t, gen, ms in worst)
                         or "none"))
    for node_id, stalls in s["stalls"].items():
        pauses = s["gc_pauses"].get(node_id, [])
        by_what: dict[str, list[float]] = defaultdict(list)
        gc_ms = 0.0
        for at, ms, what in stalls:
            # A GC pause that ended inside this callback is part of it.
            gc_ms += sum(p for t, _, p in pauses if at - ms / 1000 <= t <= at)
            by_what[short_callback(what)].append(ms)
        lines.append(
            f"{node_id} event-loop stalls >= {STALL_MS:g} ms: {len(stalls)}, "
            f"{sum(ms for _, ms, _ in stalls):.0f} ms in all ({gc_ms:.0f} ms of it GC); by "
            "callback: " + ("; ".join(
                f"{what} {len(v)}x, max {max(v):.0f} ms"
                for what, v in sorted(by_what.items(), key=lambda kv: -sum(kv[1]))[:4])
                or "none"))
    if s["redis_latency"]:
        lines.append("redis latency monitor (events over 5 ms): " + "; ".join(
            f"{k} {v}" for k, v in s["redis_latency"].items()))
    for name, path in profile.items():
        lines.append(f"py-spy profile of {name}: {path}")
    foreign = 100 * window.foreign_cpu / window.seconds
    if foreign > FOREIGN_WARN_PCT:
        lines.append(f"WARNING: other processes used {foreign:.0f}% of a core during the window; "
                     "these figures include their contention, not the nodes' alone")
    verdict = ("MEETS" if lat["p99"] <= GOAL_P99_MS and s["lost"] == 0 and s["post_failed"] == 0
               else "MISSES")
    lines.append(f"goal p99 <= {GOAL_P99_MS:g} ms and 0 lost: {verdict}")
    lines.append(f"{os.cpu_count()} CPUs; Linux {platform.release()}; Python "
                 f"{platform.python_version()}; {redis_version()}; fieldrelay {git_commit()}")
    lines.append("command: unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
                 + shlex.join(["-m", "bench.alerts_latency", *sys.argv[1:]]) + "'")
    return "\n".join(lines)


def start_profilers(args: argparse.Namespace, nodes: list[Node], seconds: float
                    ) -> tuple[list[subprocess.Popen[bytes]], dict[str, Path]]:
    if not args.profile:
        return [], {}
    spy = shutil.which("py-spy") or str(Path(args.python).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = make_dir(Path(args.profile))
    procs, files = [], {}
    for node in nodes:
        assert node.proc is not None
        path = out / f"{node.node_id}.{args.profile_format}"
        fmt_ext = {"raw": "raw", "svg": "flamegraph", "speedscope": "speedscope"}
        with open(out / f"{node.node_id}.py-spy.log", "ab") as log:
            procs.append(subprocess.Popen(
                [spy, "record", "--pid", str(node.proc.pid), "--rate", "100", "--nonblocking",
                 "--duration", str(max(1, int(seconds))), "--format",
                 fmt_ext[args.profile_format], "--output", str(path)],
                stdout=subprocess.DEVNULL, stderr=log))
        files[node.node_id] = path
    return procs, files


async def orchestrate(args: argparse.Namespace, workdir: Path) -> int:
    redis = Redis(workdir, args.appendfsync)
    extra = ["--escalate-after", str(args.escalate_after)] if args.escalate_after else []
    nodes = [Node(nid, workdir, args.python, "", extra) for nid in NODES]
    for node in nodes:
        node.trace_stalls = args.trace_stalls
    groups: list[ConsoleGroup] = []
    profilers: list[subprocess.Popen[bytes]] = []
    officers = [f"o{i + 1:02d}" for i in range(args.officers)]
    commanders = [f"c{i + 1:03d}" for i in range(args.commanders)]
    users = [(o, "officer") for o in officers] + [(c, "commander") for c in commanders]
    try:
        await redis.start()
        for node in nodes:
            node.redis_url = redis.url
        t = time.monotonic()
        await asyncio.gather(*(asyncio.to_thread(n.add_users, users) for n in nodes))
        await asyncio.gather(*(n.start() for n in nodes))
        await asyncio.gather(*(n.login_all(officers + commanders) for n in nodes))
        print(f"[setup] redis on {redis.port}, nodes on {nodes[0].port}/{nodes[1].port}, "
              f"{len(users)} users on each, logged in: {time.monotonic() - t:.1f} s",
              file=sys.stderr, flush=True)

        # Console i: node i % 2, commander (i // 2) % commanders: with the default number of
        # commanders, each commander has one console on node A and one on node B.
        specs = []
        for i in range(args.consoles):
            node = nodes[i % 2]
            who = commanders[(i // 2) % len(commanders)]
            specs.append({"index": i, "node": i % 2,
                          "url": f"ws://127.0.0.1:{node.port}/ws?token={node.tokens[who]}",
                          "batches": not args.no_batches})
        n_groups = max(1, args.console_procs)
        for k in range(n_groups):
            part = specs[k::n_groups]
            if part:
                groups.append(ConsoleGroup(f"consoles{k}", part, workdir, args.python,
                                           in_process=args.console_procs == 0))
        await asyncio.gather(*(g.start() for g in groups))
        print(f"[setup] {args.consoles} consoles open in {len(groups)} group(s); "
              f"warm-up {args.warmup:g} s, then {args.rate:g} alerts/s for {args.seconds:g} s",
              file=sys.stderr, flush=True)

        pids = {"node-a": nodes[0].proc.pid, "node-b": nodes[1].proc.pid,  # type: ignore[union-attr]
                "redis": redis.proc.pid, "sender": os.getpid()}  # type: ignore[union-attr]
        for g in groups:
            if g.pid:
                pids[g.name] = g.pid
        if args.wait_quiet:
            await wait_for_quiet(pids, args.wait_quiet)
        run_id = secrets.token_hex(4)
        limits = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=limits) as http:
            meter: CpuMeter | None = None
            profile_files: dict[str, Path] = {}

            async def measure_after_warmup() -> None:
                nonlocal meter, profilers, profile_files
                await asyncio.sleep(args.warmup + 0.05)
                meter = CpuMeter(pids)
                profilers, profile_files = start_profilers(args, nodes, args.seconds)

            starter = asyncio.create_task(measure_after_warmup())
            posts = await post_alerts(http, nodes, officers, args.rate, args.seconds,
                                      args.warmup, run_id)
            await starter
            assert meter is not None
            window = meter.read()
        expect = {p.alert_id for p in posts if p.alert_id is not None}
        results = await asyncio.gather(*(g.finish(expect, args.grace) for g in groups))
        consoles = sorted((c for r, _ in results for c in r), key=lambda c: c.index)
        lags = sorted(lag for _, r in results for lag in r)
        for p in profilers:
            try:
                await asyncio.to_thread(p.wait, 30)
            except subprocess.TimeoutExpired:
                p.terminate()
        info = redis_stats(await redis.command("INFO", "commandstats"))
        summary = summarize(posts, consoles)
        summary["console_loop_lag_ms"] = {"p99": percentile(lags, 99),
                                          "max": lags[-1] if lags else math.nan}
        summary["redis_latency"] = redis_latency(await redis.latency_latest())
        t_start = min(p.target for p in posts if p.measured)
        summary["gc_pauses"], summary["stalls"] = {}, {}
        for n in nodes if args.trace_stalls else []:
            pauses, stalls = n.traced()
            end = window.seconds + args.grace
            summary["gc_pauses"][n.node_id] = [(round(at - t_start, 3), gen, ms)
                                               for at, gen, ms in pauses
                                               if 0 <= at - t_start <= end]
            summary["stalls"][n.node_id] = [(round(at - t_start, 3), ms, what)
                                            for at, ms, what in stalls
                                            if 0 <= at - t_start <= end]
        warnings = {n.node_id: sum(1 for line in n.log.read_text().splitlines()
                                   if " WARNING " in line or " ERROR " in line)
                    for n in nodes}
        print(report(args, summary, window, info, profile_files))
        print(f"node log warnings/errors: {warnings}"
              + (f"; Redis, node data and logs kept in {workdir}" if args.workdir else ""))
        if args.json:
            Path(args.json).write_text(json.dumps(  # noqa: ASYNC240 - at the end
                {"args": vars(args), "summary": summary, "window_s": window.seconds,
                 "cpu_s": window.cpu, "host_busy": window.host_busy,
                 "foreign_cpu_s": window.foreign_cpu, "cpu_pressure": window.cpu_pressure,
                 "redis": info},
                indent=2, default=str))
        return 0
    finally:
        for g in groups:
            await g.stop()
        for p in profilers:
            if p.poll() is None:
                p.terminate()
        for node in nodes:
            await asyncio.to_thread(node.stop)
        redis.stop()


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "_consoles":
        return console_worker()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="alerts per second, 1..1000")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured, 5..600")
    parser.add_argument("--consoles", type=int, default=200, help="commander WebSockets, 2..2000")
    parser.add_argument("--officers", type=int, default=100,
                        help="officers raising alerts, each alternately on both nodes")
    parser.add_argument("--commanders", type=int,
                        help="commander users (default consoles/2, one console on each node)")
    parser.add_argument("--appendfsync", choices=("always", "everysec"), default="always")
    parser.add_argument("--escalate-after", type=float,
                        help="the nodes' --escalate-after (their default, 30 s, otherwise)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of alerts not measured")
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds to wait for late events after the last POST")
    parser.add_argument("--no-batches", action="store_true",
                        help="consoles do not ask for alerts.updated (each escalation is its own "
                        "alert.updated message, as for a client that predates them)")
    parser.add_argument("--console-procs", type=int, default=2,
                        help="processes holding the consoles (0: in this process)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy both nodes during the window")
    parser.add_argument("--trace-stalls", action="store_true",
                        help=f"report the nodes' event-loop callbacks of {STALL_MS:g} ms or more "
                        f"and garbage collections of {GC_PAUSE_MS:g} ms or more "
                        "(with ALERTS_BENCH_GC_TYPES=1 in the environment, the node logs also "
                        "count live objects by type at each long full collection: diagnosis "
                        "only, it stalls the node)")
    parser.add_argument("--profile-format", choices=("raw", "svg", "speedscope"), default="raw")
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                        help="before the warm-up, wait up to S seconds for the rest of the "
                        "machine to fall under 10%% of a core")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--workdir", help="keep Redis, node data and logs here")
    args = parser.parse_args()
    if args.commanders is None:
        args.commanders = max(1, args.consoles // 2)
    if not (1 <= args.rate <= 1000 and 5 <= args.seconds <= 600 and 2 <= args.consoles <= 2000
            and 1 <= args.officers <= 200 and 1 <= args.commanders <= 2000
            and 0 <= args.warmup <= 30 and 0 < args.grace <= 60
            and 0 <= args.console_procs <= 16 and 0 <= args.wait_quiet <= 1800):
        parser.error("--rate 1..1000, --seconds 5..600, --consoles 2..2000, --officers 1..200, "
                     "--commanders 1..2000, --warmup 0..30, --grace 0..60, --console-procs 0..16, "
                     "--wait-quiet 0..1800 (tokens last an hour)")
    per_officer = 60 * args.rate / args.officers / 2  # per minute, on each node
    if per_officer > NODE_ALERTS_PER_MINUTE:
        print(f"warning: {per_officer:.0f} alerts/min per officer on each node is above the "
              f"node's limit of {NODE_ALERTS_PER_MINUTE:g}/min after a burst of 30; expect 429s "
              f"(use more --officers)", file=sys.stderr)
    if not only_loopback():
        sys.exit("bench.alerts_latency runs only in a network namespace whose only interface is "
                 "lo. Run:\n  unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
                 "-m bench.alerts_latency'")
    budget = (args.warmup + args.seconds + args.grace + args.wait_quiet + 2 * SETUP_TIMEOUT
              + 120)
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = make_dir(Path(args.workdir).resolve())
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="alerts-")))

        async def bounded() -> int:
            return await asyncio.wait_for(orchestrate(args, workdir), budget)

        return asyncio.run(bounded())


if __name__ == "__main__":
    sys.exit(main())
