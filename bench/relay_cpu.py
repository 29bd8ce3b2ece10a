"""Node CPU per relayed stream: fieldrelay against the naive aiortc relay, in one run.

For each system this starts the node, N publishers and V viewers per publisher, each
in its own process (so their encode and decode cost is not on the node). A publisher
sends 640x480@30 VP8 (a moving pattern with noise, encoder pinned at --video-kbps)
and a 440 Hz Opus tone over WHIP; a viewer pulls it over WHEP, decodes and counts
frames. After a warm-up the node's CPU time (utime+stime from /proc/<pid>/stat) is
measured over a window, together with the frames each viewer decoded.

It carries WebRTC media, so it only runs in a network namespace that has loopback only:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python bench/relay_cpu.py'

Options: --publishers N (default 1), --viewers V per publisher (3), --seconds (30).
The publisher and viewer processes are this script run with `_publisher` / `_viewer`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import os
import platform
import shlex
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

SELF = Path(__file__).resolve()
REPO = SELF.parent.parent
PASSWORD = "bench-password-123"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MAX_PUBLISHERS, MAX_VIEWERS, MAX_SECONDS = 8, 10, 300
SETUP_TIMEOUT = 60.0


def only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------
# Client processes: one publisher or one viewer each.
# --------------------------------------------------------------------------------------

def _client_setup() -> None:
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines from stdin (None at EOF), read by a thread so the event loop never blocks."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, daemon=True).start()
    return queue


async def _post_sdp(url: str, token: str, sdp: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(
        url, data=sdp, headers={"Authorization": f"Bearer {token}",
                                "Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        if resp.status != 201:
            raise RuntimeError(f"POST {url}: {resp.status} {body[:300]}")
        return body


async def _serve_stats(stats: Any) -> None:
    """Answer each stdin line with a JSON line of counters; return at EOF."""
    lines = _stdin_lines(asyncio.get_running_loop())
    while (line := await lines.get()) is not None:
        if line == "stats":
            _emit(await stats())


async def run_publisher(url: str, token: str, video_kbps: int) -> None:
    import av
    import numpy as np
    from aiortc import (
        MediaStreamTrack,
        RTCConfiguration,
        RTCPeerConnection,
        RTCRtpSender,
        RTCSessionDescription,
    )
    from aiortc.codecs import vpx
    from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

    # Pin the VP8 encoder's rate so both systems carry the same stream (REMB cannot move it).
    vpx.DEFAULT_BITRATE = vpx.MIN_BITRATE = vpx.MAX_BITRATE = video_kbps * 1000
    width, height, fps = 640, 480, 30

    class NoisyPattern(MediaStreamTrack):
        """Moving diagonal bars and a moving box, with fresh luma noise in every frame."""

        kind = "video"

        def __init__(self) -> None:
            super().__init__()
            self.count = 0
            self.start: float | None = None
            self.rng = np.random.default_rng(1)
            x = np.arange(width + height)
            self.bars = ((np.sin(x / 24.0) + 1) * 80 + 30).astype(np.uint8)
            yy, xx = np.mgrid[0:height, 0:width]
            self.diag = (yy + xx).astype(np.intp)
            cy, cx = np.mgrid[0:height // 2, 0:width // 2]
            self.u = (128 + 60 * np.sin(cx / 40.0)).astype(np.uint8)
            self.v = (128 + 60 * np.cos(cy / 30.0)).astype(np.uint8)

        async def recv(self) -> av.VideoFrame:
            if self.start is None:
                self.start = time.monotonic()
            delay = self.start + self.count / fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            n = self.count
            y = self.bars[(self.diag + 4 * n) % self.bars.size]
            y += self.rng.integers(0, 24, size=(height, width), dtype=np.uint8)
            bx = int((math.sin(n / 20.0) + 1) / 2 * (width - 96))
            by = int((math.cos(n / 27.0) + 1) / 2 * (height - 96))
            y[by:by + 96, bx:bx + 96] = 235
            yuv = np.concatenate([y, self.u.reshape(-1, width), self.v.reshape(-1, width)])
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = int(n * VIDEO_CLOCK_RATE / fps)
            frame.time_base = VIDEO_TIME_BASE
            self.count += 1
            return frame

    class Tone(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.rate = 48000
            self.samples = int(AUDIO_PTIME * self.rate)
            self.count = 0
            self.start: float | None = None

        async def recv(self) -> av.AudioFrame:
            if self.start is None:
                self.start = time.monotonic()
            delay = self.start + self.count * AUDIO_PTIME - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            t = (np.arange(self.samples) + self.count * self.samples) / self.rate
            pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = self.rate
            frame.pts = self.count * self.samples
            frame.time_base = fractions.Fraction(1, self.rate)
            self.count += 1
            return frame

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video = NoisyPattern()
    pc.addTransceiver(Tone(), direction="sendonly")
    vt = pc.addTransceiver(video, direction="sendonly")
    caps = RTCRtpSender.getCapabilities("video")
    vt.setCodecPreferences([c for c in caps.codecs if c.mimeType in ("video/VP8", "video/rtx")])
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    answer = await _post_sdp(url, token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(connected.wait(), 30)
    _emit({"event": "ready"})

    async def stats() -> dict[str, Any]:
        report = await vt.sender.getStats()
        sent = sum(s.bytesSent for s in report.values() if s.type == "outbound-rtp")
        # first_frame_t: time.monotonic() (system-wide) when the first video frame went to the
        # encoder, so another process on this machine can tell how long media has been sent.
        return {"t": time.monotonic(), "frames": video.count, "video_bytes": sent,
                "first_frame_t": video.start}

    try:
        await _serve_stats(stats)
    finally:
        await pc.close()


async def run_viewer(url: str, token: str) -> None:
    import av
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    counts = {"video": 0, "audio": 0}
    sizes: set[tuple[int, int]] = set()
    first = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def consume(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                counts[track.kind] += 1
                if isinstance(frame, av.VideoFrame):
                    sizes.add((frame.width, frame.height))
                    first.set()

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        tasks.append(asyncio.get_running_loop().create_task(consume(track)))

    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await _post_sdp(url, token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(first.wait(), 30)
    _emit({"event": "ready"})

    async def stats() -> dict[str, Any]:
        report = await pc.getStats()
        received = sum(s.bytesReceived for s in report.values() if s.type == "transport")
        return {"t": time.monotonic(), "frames": counts["video"], "audio": counts["audio"],
                "sizes": sorted(sizes), "bytes": received}

    try:
        await _serve_stats(stats)
    finally:
        for task in tasks:
            task.cancel()
        await pc.close()


# --------------------------------------------------------------------------------------
# The orchestrator.
# --------------------------------------------------------------------------------------

def append(path: Path) -> BinaryIO:
    return open(path, "ab")


def make_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 2**20


def host_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Client:
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


@dataclass
class Result:
    system: str
    publishers: int
    viewers: int
    window_s: float
    node_cpu_s: float
    viewer_fps: list[float]
    publisher_fps: list[float]
    video_kbps: list[float]
    viewer_kbps: list[float]
    viewer_frames: int
    rss_mib: float
    host_busy: float
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_per_stream_s(self) -> float:
        return self.node_cpu_s / (self.window_s * self.publishers)

    @property
    def cpu_ms_per_frame(self) -> float:
        """Node CPU per video frame a viewer decoded: fair when an overloaded node drops frames."""
        return 1000 * self.node_cpu_s / max(1, self.viewer_frames)


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
                *self.command(), stdout=log, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
                env={**os.environ, "PYTHONUNBUFFERED": "1"})
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

    def command(self) -> list[str]:
        return [self.python, "-m", "fieldrelay", "serve", "--ice-host", "127.0.0.1",
                "--port", str(self.port), "--data-dir", str(self.data)]

    def _cli(self, *args: str, stdin: str) -> None:
        import subprocess

        res = subprocess.run([self.python, "-m", "fieldrelay", *args, "--data-dir", str(self.data)],
                             input=stdin, capture_output=True, text=True, timeout=60, cwd=REPO,
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


class Naive(System):
    name = "naive"
    record: str | None = None

    def command(self) -> list[str]:
        record = ["--record", self.record] if self.record else []
        return [self.python, str(REPO / "bench" / "baseline_naive.py"), "--port", str(self.port),
                *record]

    def whip(self, index: int) -> tuple[str, str]:
        return f"{self.base}/whip?name=o{index + 1}", "ignored"

    def whep(self, index: int) -> tuple[str, str]:
        return f"{self.base}/whep/o{index + 1}", "ignored"


async def start_client(system: System, role: str, index: int, url: str, token: str,
                       extra: list[str]) -> Client:
    name = f"{system.name}-{role}{index}"
    log = system.workdir / f"{name}.log"
    with append(log) as err:
        proc = await asyncio.create_subprocess_exec(
            system.python, str(SELF), f"_{role}", "--url", url,
            "--token", token, *extra, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=err, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return Client(name, proc, log)


async def await_ready(clients: list[Client]) -> None:
    for client in clients:
        msg = await client.read_json(SETUP_TIMEOUT)
        if msg.get("event") != "ready":
            raise RuntimeError(f"{client.name}: unexpected {msg}")


async def measure(system: System, args: argparse.Namespace) -> Result:
    publishers: list[Client] = []
    viewers: list[Client] = []
    try:
        await system.start(args.publishers)
        assert system.proc is not None
        pid = system.proc.pid
        for i in range(args.publishers):
            url, token = system.whip(i)
            publishers.append(await start_client(system, "publisher", i, url, token,
                                                 ["--video-kbps", str(args.video_kbps)]))
        await await_ready(publishers)
        for i in range(args.publishers):
            for j in range(args.viewers):
                url, token = system.whep(i)
                viewers.append(await start_client(system, "viewer", i * args.viewers + j,
                                                  url, token, []))
        await await_ready(viewers)
        print(f"[{system.name}] {len(publishers)} publishers, {len(viewers)} viewers up; "
              f"warm-up {args.warmup:g} s, window {args.seconds:g} s", file=sys.stderr, flush=True)
        await asyncio.sleep(args.warmup)

        t0, cpu0, host0 = time.monotonic(), cpu_seconds(pid), host_busy()
        v0 = [await c.stats() for c in viewers]
        p0 = [await c.stats() for c in publishers]
        await asyncio.sleep(args.seconds)
        t1, cpu1, host1 = time.monotonic(), cpu_seconds(pid), host_busy()
        v1 = [await c.stats() for c in viewers]
        p1 = [await c.stats() for c in publishers]
        rss = rss_mib(pid)

        def rate(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
            return float(b[key] - a[key]) / float(b["t"] - a["t"])

        notes = []
        sizes = {tuple(s) for v in v1 for s in v["sizes"]}
        if sizes != {(640, 480)}:
            notes.append(f"viewer frame sizes {sorted(sizes)}")
        if any(v["audio"] == 0 for v in v1):
            notes.append("a viewer decoded no audio")
        return Result(
            system=system.name, publishers=args.publishers, viewers=args.viewers,
            window_s=t1 - t0, node_cpu_s=cpu1 - cpu0,
            viewer_fps=[rate(a, b, "frames") for a, b in zip(v0, v1, strict=True)],
            publisher_fps=[rate(a, b, "frames") for a, b in zip(p0, p1, strict=True)],
            video_kbps=[rate(a, b, "video_bytes") * 8 / 1000 for a, b in zip(p0, p1, strict=True)],
            viewer_kbps=[rate(a, b, "bytes") * 8 / 1000 for a, b in zip(v0, v1, strict=True)],
            viewer_frames=sum(b["frames"] - a["frames"] for a, b in zip(v0, v1, strict=True)),
            rss_mib=rss, host_busy=(host1[0] - host0[0]) / max(1, host1[1] - host0[1]),
            notes=notes)
    finally:
        for client in viewers + publishers:
            await client.stop()
        await system.stop()


def table(results: list[Result]) -> str:
    head = ("| system | publishers | viewers/publisher | node CPU-s per stream-s | "
            "node CPU ms per delivered frame | "
            "viewer fps mean (min) | publisher fps | publisher video kbps | viewer rx kbps | "
            "node RSS MiB | host CPU busy |")
    rows = [head, "|" + "---|" * 11]
    for r in results:
        rows.append(
            f"| {r.system} | {r.publishers} | {r.viewers} | {r.cpu_per_stream_s:.3f} | "
            f"{r.cpu_ms_per_frame:.2f} | "
            f"{statistics.mean(r.viewer_fps):.1f} ({min(r.viewer_fps):.1f}) | "
            f"{statistics.mean(r.publisher_fps):.1f} | {statistics.mean(r.video_kbps):.0f} | "
            f"{statistics.mean(r.viewer_kbps):.0f} | "
            f"{r.rss_mib:.0f} | {100 * r.host_busy:.0f}% |")
    by = {r.system: r for r in results}
    if "naive" in by and "fieldrelay" in by:
        n, f = by["naive"], by["fieldrelay"]
        rows.append("")
        rows.append(f"ratio naive/fieldrelay: CPU per stream-s "
                    f"{n.cpu_per_stream_s / f.cpu_per_stream_s:.1f}x, CPU per delivered frame "
                    f"{n.cpu_ms_per_frame / f.cpu_ms_per_frame:.1f}x, "
                    f"RSS {n.rss_mib / f.rss_mib:.1f}x")
    for r in results:
        for note in r.notes:
            rows.append(f"note ({r.system}): {note}")
    return "\n".join(rows)


async def orchestrate(args: argparse.Namespace) -> int:
    systems = {"fieldrelay": FieldRelay, "naive": Naive}
    results = []
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = make_dir(Path(args.workdir))
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="relay-cpu-")))
        for name in args.systems.split(","):
            system = systems[name](workdir / name, args.python)
            if isinstance(system, Naive):
                system.record = args.naive_record
            make_dir(system.workdir)
            budget = args.warmup + args.seconds + 300  # set-up and tear-down are bounded too
            results.append(await asyncio.wait_for(measure(system, args), budget))
    import aiortc

    print(table(results))
    print()
    print(f"warm-up {args.warmup:g} s, window {results[0].window_s:.1f} s; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}, aiortc {aiortc.__version__}")
    print("command: unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
          + shlex.join(["bench/relay_cpu.py", *sys.argv[1:]]) + "'")
    if args.json:
        rows = [r.__dict__ | {"cpu_per_stream_s": r.cpu_per_stream_s,
                              "cpu_ms_per_frame": r.cpu_ms_per_frame} for r in results]
        Path(args.json).write_text(json.dumps(rows, indent=2))  # noqa: ASYNC240 - at the end
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in ("_publisher", "_viewer"):
        role = sys.argv[1]
        p = argparse.ArgumentParser()
        p.add_argument("--url", required=True)
        p.add_argument("--token", required=True)
        p.add_argument("--video-kbps", type=int, default=1000)
        a = p.parse_args(sys.argv[2:])
        _client_setup()
        if role == "_publisher":
            asyncio.run(run_publisher(a.url, a.token, a.video_kbps))
        else:
            asyncio.run(run_viewer(a.url, a.token))
        return 0

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishers", type=int, default=1, help=f"1..{MAX_PUBLISHERS}")
    parser.add_argument("--viewers", type=int, default=3, help=f"per publisher, 1..{MAX_VIEWERS}")
    parser.add_argument("--seconds", type=float, default=30.0, help=f"window, 5..{MAX_SECONDS}")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--video-kbps", type=int, default=1000, help="publisher VP8 rate")
    parser.add_argument("--systems", default="fieldrelay,naive")
    parser.add_argument("--naive-record", metavar="DIR",
                        help="the naive node also records to DIR/*.mkv (MediaRecorder)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--workdir", help="keep node data and logs here (default: a temp dir)")
    args = parser.parse_args()
    if not 1 <= args.publishers <= MAX_PUBLISHERS or not 1 <= args.viewers <= MAX_VIEWERS:
        parser.error(f"--publishers 1..{MAX_PUBLISHERS}, --viewers 1..{MAX_VIEWERS}")
    if not 5 <= args.seconds <= MAX_SECONDS or not 0 <= args.warmup <= 60:
        parser.error(f"--seconds 5..{MAX_SECONDS}, --warmup 0..60")
    if not set(args.systems.split(",")) <= {"fieldrelay", "naive"}:
        parser.error("--systems takes fieldrelay and/or naive")
    if not only_loopback():
        sys.exit("relay_cpu.py carries WebRTC media, so it runs only in a network namespace "
                 "whose only interface is lo. Run:\n  unshare -n bash -c 'ip link set lo up && "
                 "exec .venv/bin/python bench/relay_cpu.py'")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
