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


LOOP_SECONDS = 10
GOP_FRAMES = 60  # a keyframe every 2 s, as the node asks of phones while it records


def noisy_pattern_frames(width: int, height: int, count: int) -> Any:
    """The moving bars, box and fresh noise the publisher shows, as yuv420p arrays."""
    import numpy as np

    rng = np.random.default_rng(1)
    x = np.arange(width + height)
    bars = ((np.sin(x / 24.0) + 1) * 80 + 30).astype(np.uint8)
    yy, xx = np.mgrid[0:height, 0:width]
    diag = (yy + xx).astype(np.intp)
    cy, cx = np.mgrid[0:height // 2, 0:width // 2]
    u = (128 + 60 * np.sin(cx / 40.0)).astype(np.uint8)
    v = (128 + 60 * np.cos(cy / 30.0)).astype(np.uint8)
    for n in range(count):
        y = bars[(diag + 4 * n) % bars.size]
        y += rng.integers(0, 24, size=(height, width), dtype=np.uint8)
        bx = int((math.sin(n / 20.0) + 1) / 2 * (width - 96))
        by = int((math.cos(n / 27.0) + 1) / 2 * (height - 96))
        y[by:by + 96, bx:bx + 96] = 235
        yield np.concatenate([y, u.reshape(-1, width), v.reshape(-1, width)])


def preencode(path: Path, video_kbps: int) -> None:
    """Encode LOOP_SECONDS of 640x480@30 VP8 (aiortc's encoder settings, a keyframe every
    GOP_FRAMES) and of a 440 Hz Opus tone once, so publishers only packetize and send."""
    import av
    import numpy as np

    width, height, fps = 640, 480, 30
    out = bytearray()
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = video_kbps * 1000
    codec.time_base = fractions.Fraction(1, fps)
    codec.gop_size = GOP_FRAMES
    codec.qmin, codec.qmax = 2, 56
    rate = str(video_kbps * 1000)
    codec.options = {"bufsize": rate, "cpu-used": "-6", "deadline": "realtime",
                     "lag-in-frames": "0", "minrate": rate, "maxrate": rate,
                     "noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0",
                     "static-thresh": "1", "undershoot-pct": "100"}
    for n, yuv in enumerate(noisy_pattern_frames(width, height, LOOP_SECONDS * fps)):
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = n
        frame.time_base = codec.time_base
        if n % GOP_FRAMES == 0:
            frame.pict_type = av.video.frame.PictureType.I
        data = b"".join(bytes(p) for p in codec.encode(frame))
        out += b"v" + bytes([not data[0] & 1]) + len(data).to_bytes(4, "big") + data
    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate, opus.layout, opus.format = 48000, "mono", "s16"
    opus.bit_rate = 32000
    samples = 960
    for n in range(LOOP_SECONDS * 50):
        t = (np.arange(samples) + n * samples) / 48000
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        audio = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        audio.sample_rate, audio.pts = 48000, n * samples
        audio.time_base = fractions.Fraction(1, 48000)
        for packet in opus.encode(audio):
            data = bytes(packet)
            out += b"a" + b"\0" + len(data).to_bytes(4, "big") + data
    path.write_bytes(bytes(out))


def load_preencoded(path: Path) -> tuple[list[bytes], list[bytes]]:
    """(video frames, Opus packets) written by `preencode`."""
    raw = path.read_bytes()
    video: list[bytes] = []
    audio: list[bytes] = []
    pos = 0
    while pos < len(raw):
        kind, size = raw[pos:pos + 1], int.from_bytes(raw[pos + 2:pos + 6], "big")
        (video if kind == b"v" else audio).append(raw[pos + 6:pos + 6 + size])
        pos += 6 + size
    return video, audio


async def _publish_and_report(url: str, token: str, audio: Any, video: Any) -> None:
    """Publish these tracks over WHIP (VP8), say "ready", then answer stats until told to stop.

    `video` counts its frames (`count`) and notes when the first went out (`start`).
    """
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver(audio, direction="sendonly")
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


async def run_preencoded_publisher(url: str, token: str, media: Path) -> None:
    """A publisher that sends pre-encoded VP8 and Opus in a loop: it only packetizes."""
    import av
    from aiortc import (
        MediaStreamTrack,
    )
    from aiortc.mediastreams import VIDEO_TIME_BASE

    frames, opus = load_preencoded(media)

    class Looped(MediaStreamTrack):
        def __init__(self, kind: str, packets: list[bytes], period: float,
                     ticks: int, time_base: fractions.Fraction) -> None:
            super().__init__()
            self.kind = kind
            self.packets, self.period, self.ticks, self.tb = packets, period, ticks, time_base
            self.count = 0
            self.start: float | None = None

        async def recv(self) -> av.Packet:  # type: ignore[type-arg]
            if self.start is None:
                self.start = time.monotonic()
            delay = self.start + self.count * self.period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            packet = av.Packet(self.packets[self.count % len(self.packets)])
            packet.pts = self.count * self.ticks
            packet.time_base = self.tb
            self.count += 1
            return packet

    video = Looped("video", frames, 1 / 30, 3000, VIDEO_TIME_BASE)
    await _publish_and_report(
        url, token, Looped("audio", opus, 0.02, 960, fractions.Fraction(1, 48000)), video)


async def run_counting_viewer(url: str, token: str) -> None:
    """A viewer that counts frames and lost packets from RTP without decoding (cheap)."""
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.rtp import RtpPacket

    from relay import aiortc_hooks

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    counts = {"video": 0, "audio": 0}
    seqs: dict[str, set[int]] = {"video": set(), "audio": set()}
    last: dict[str, int] = {}
    first = asyncio.Event()

    def sink(kind: str) -> Any:
        def on_packet(packet: RtpPacket) -> None:
            prev = last.get(kind)
            seq = packet.sequence_number
            # Extend the 16-bit number around the last one seen.
            ext = seq if prev is None else prev + ((seq - prev + 0x8000) & 0xFFFF) - 0x8000
            last[kind] = max(prev if prev is not None else ext, ext)
            if ext in seqs[kind]:
                return  # a retransmission of a packet already here: not a new frame
            seqs[kind].add(ext)
            if kind == "audio" or packet.marker:
                counts[kind] += 1
                if kind == "video":
                    first.set()
        return on_packet

    for kind in ("audio", "video"):
        transceiver = pc.addTransceiver(kind, direction="recvonly")
        aiortc_hooks.tap_receiver(transceiver.receiver, sink(kind), lambda p: None,
                                  lambda ssrc, ntp, ts: None)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await _post_sdp(url, token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(first.wait(), 30)
    _emit({"event": "ready"})

    async def stats() -> dict[str, Any]:
        report = await pc.getStats()
        received = sum(s.bytesReceived for s in report.values() if s.type == "transport")
        got = seqs["video"]
        expected = (max(got) - min(got) + 1) if got else 0
        return {"t": time.monotonic(), "frames": counts["video"], "audio": counts["audio"],
                "sizes": [[640, 480]], "bytes": received, "lost": expected - len(got)}

    try:
        await _serve_stats(stats)
    finally:
        await pc.close()


async def run_joiner(url: str, token: str, count: int) -> None:
    """Join `count` times in a row: WHEP POST → first decoded video frame, in ms."""
    import random

    import aiohttp
    from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    results = []
    rng = random.Random(7)
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            await asyncio.sleep(rng.uniform(0.2, 1.2))  # land anywhere in the GOP
            pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
            got = asyncio.get_running_loop().create_future()

            async def first_video(track: MediaStreamTrack, done: asyncio.Future[float]) -> None:
                await track.recv()
                if not done.done():
                    done.set_result(time.monotonic())

            tasks: list[asyncio.Task[None]] = []

            @pc.on("track")
            def on_track(track: MediaStreamTrack, done: asyncio.Future[float] = got,
                         owned: list[asyncio.Task[None]] = tasks) -> None:
                if track.kind == "video":
                    owned.append(asyncio.get_running_loop().create_task(first_video(track, done)))

            pc.addTransceiver("audio", direction="recvonly")
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            t0 = time.monotonic()
            async with http.post(url, data=pc.localDescription.sdp,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/sdp"}) as resp:
                body = await resp.text()
                location = resp.headers.get("Location", "")
                if resp.status != 201:
                    raise RuntimeError(f"POST {url}: {resp.status} {body[:300]}")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
            t1 = await asyncio.wait_for(got, 15)
            results.append((t1 - t0) * 1000)
            for task in tasks:
                task.cancel()
            await pc.close()
            if location:
                base = url.split("/whep/")[0]
                async with http.delete(base + location,
                                       headers={"Authorization": f"Bearer {token}"}):
                    pass
    _emit({"event": "first_frames", "ms": results})


async def run_publisher(url: str, token: str, video_kbps: int) -> None:
    import av
    import numpy as np
    from aiortc import (
        MediaStreamTrack,
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

    await _publish_and_report(url, token, Tone(), NoisyPattern())


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
    idle_rss_mib: float = 0.0
    latency_ms: tuple[float, float] | None = None  # in-node p50, p99
    lost_packets: int | None = None
    first_frame_ms: list[float] = field(default_factory=list)
    load: str = ""
    nodes: int = 1

    @property
    def mib_per_stream(self) -> float:
        return (self.rss_mib - self.idle_rss_mib) / self.publishers

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

    def command(self) -> list[str]:
        return [self.python, "-m", "fieldrelay", "serve", "--ice-host", "127.0.0.1",
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
        pids = system.pids()
        await asyncio.sleep(1.0)
        idle_rss = sum(rss_mib(p) for p in pids)
        pub_args = (["--media", str(args.media)] if args.media
                    else ["--video-kbps", str(args.video_kbps)])
        for i in range(args.publishers):
            url, token = system.whip(i)
            publishers.append(await start_client(system, "publisher", i, url, token, pub_args))
        await await_ready(publishers)
        view_args = ["--count-only"] if args.viewer_mode == "count" else []
        for i in range(args.publishers):
            for j in range(args.viewers):
                url, token = system.whep(i)
                viewers.append(await start_client(system, "viewer", i * args.viewers + j,
                                                  url, token, view_args))
        await await_ready(viewers)
        print(f"[{system.name}] {len(publishers)} publishers, {len(viewers)} viewers up; "
              f"warm-up {args.warmup:g} s, window {args.seconds:g} s", file=sys.stderr, flush=True)
        await asyncio.sleep(args.warmup)

        spies = []
        if args.profile:
            # py-spy (pip install py-spy) samples the node for the window: collapsed stacks.
            for p in pids:
                out = make_dir(Path(args.profile)) / f"{system.name}-{p}.collapsed"
                spies.append(await asyncio.create_subprocess_exec(
                    "py-spy", "record", "--pid", str(p), "--duration", str(int(args.seconds)),
                    "--rate", "100", "--nonblocking", "--format", "raw", "-o", str(out),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
        lat0 = await asyncio.to_thread(system.latency_buckets)
        t0, cpu0, host0 = time.monotonic(), sum(cpu_seconds(p) for p in pids), host_busy()
        v0 = [await c.stats() for c in viewers]
        p0 = [await c.stats() for c in publishers]
        await asyncio.sleep(args.seconds)
        t1, cpu1, host1 = time.monotonic(), sum(cpu_seconds(p) for p in pids), host_busy()
        v1 = [await c.stats() for c in viewers]
        p1 = [await c.stats() for c in publishers]
        rss = sum(rss_mib(p) for p in pids)
        lat1 = await asyncio.to_thread(system.latency_buckets)
        for spy in spies:
            await asyncio.wait_for(spy.wait(), 60)
        load = open("/proc/loadavg").read().split()[:3]  # noqa: ASYNC230, SIM115 - procfs
        first_frames: list[float] = []
        if args.first_frame and isinstance(system, FieldRelay):
            url, token = system.whep(0)
            joiner = await start_client(system, "joiner", 0, url, token,
                                        ["--count", str(args.first_frame)])
            msg = await joiner.read_json(SETUP_TIMEOUT + 20 * args.first_frame)
            first_frames = [float(x) for x in msg["ms"]]
            await joiner.stop()

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
            notes=notes, idle_rss_mib=idle_rss,
            latency_ms=percentiles_ms(lat0, lat1) if lat0 and lat1 else None,
            lost_packets=(sum(b["lost"] - a["lost"] for a, b in zip(v0, v1, strict=True))
                          if args.viewer_mode == "count" else None),
            first_frame_ms=first_frames, load=" ".join(load), nodes=args.nodes)
    finally:
        for client in viewers + publishers:
            await client.stop()
        await system.stop()


def percentiles_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]
                   ) -> tuple[float, float]:
    """p50 and p99 (ms) of the window from two cumulative histograms, interpolated in buckets."""
    counts = [(bound, a - b) for (bound, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0.0

    def pct(q: float) -> float:
        if total <= 0:
            return float("nan")
        target, low, prev = q * total, 0.0, 0.0
        for bound, cum in counts:
            if cum >= target:
                if bound == float("inf"):
                    return low * 1000
                frac = (target - prev) / max(cum - prev, 1e-9)
                return (low + frac * (bound - low)) * 1000
            low, prev = bound, cum
        return low * 1000

    return pct(0.50), pct(0.99)


def extra_table(results: list[Result]) -> str:
    """Latency, memory per stream, loss and first frame: the capacity figures."""
    rows = ["| system | nodes | publishers | in-node added latency p50 / p99 (ms) | "
            "node RSS idle → loaded (MiB) | MiB per stream | lost packets (viewers) | "
            "first frame p50 / p99 (ms, n) | load average (1/5/15 min) |",
            "|" + "---|" * 9]
    for r in results:
        lat = (f"{r.latency_ms[0]:.2f} / {r.latency_ms[1]:.2f}" if r.latency_ms
               else "n/a (transcodes)")
        ff = "-"
        if r.first_frame_ms:
            xs = sorted(r.first_frame_ms)
            p99 = xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]
            ff = f"{xs[len(xs) // 2]:.0f} / {p99:.0f} ({len(xs)})"
        lost = "-" if r.lost_packets is None else str(r.lost_packets)
        rows.append(f"| {r.system} | {r.nodes} | {r.publishers} | {lat} | {r.idle_rss_mib:.0f} → "
                    f"{r.rss_mib:.0f} | {r.mib_per_stream:.1f} | {lost} | {ff} | {r.load} |")
    return "\n".join(rows)


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
        args.media = None
        if args.source == "preencoded":
            args.media = workdir / "media.bin"
            print(f"pre-encoding {LOOP_SECONDS} s of VP8 at {args.video_kbps} kbps and Opus…",
                  file=sys.stderr, flush=True)
            await asyncio.to_thread(preencode, args.media, args.video_kbps)
        for name in args.systems.split(","):
            if name == "fieldrelay" and args.nodes > 1:
                system: System = FieldRelayNodes(workdir / name, args.python, args.nodes)
            else:
                system = systems[name](workdir / name, args.python)
            if isinstance(system, FieldRelay):
                system.node_args = list(args.node_arg or [])
            if isinstance(system, Naive):
                system.record = args.naive_record
            make_dir(system.workdir)
            budget = args.warmup + args.seconds + 300  # set-up and tear-down are bounded too
            results.append(await asyncio.wait_for(measure(system, args), budget))
    import aiortc

    print(table(results))
    print()
    print(extra_table(results))
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
    if len(sys.argv) > 1 and sys.argv[1] in ("_publisher", "_viewer", "_joiner"):
        role = sys.argv[1]
        p = argparse.ArgumentParser()
        p.add_argument("--url", required=True)
        p.add_argument("--token", required=True)
        p.add_argument("--video-kbps", type=int, default=1000)
        p.add_argument("--media", type=Path, help="pre-encoded media (publisher)")
        p.add_argument("--count-only", action="store_true", help="viewer: count, never decode")
        p.add_argument("--count", type=int, default=10, help="joiner: joins in a row")
        a = p.parse_args(sys.argv[2:])
        _client_setup()
        if role == "_publisher" and a.media is not None:
            asyncio.run(run_preencoded_publisher(a.url, a.token, a.media))
        elif role == "_publisher":
            asyncio.run(run_publisher(a.url, a.token, a.video_kbps))
        elif role == "_joiner":
            asyncio.run(run_joiner(a.url, a.token, a.count))
        elif a.count_only:
            asyncio.run(run_counting_viewer(a.url, a.token))
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
    parser.add_argument("--source", choices=("preencoded", "live"), default="preencoded",
                        help="publishers send pre-encoded VP8+Opus (cheap) or encode live")
    parser.add_argument("--viewer-mode", choices=("decode", "count"), default="decode",
                        help="viewers decode every frame, or count frames and loss from RTP")
    parser.add_argument("--first-frame", type=int, default=0, metavar="K",
                        help="after the window, K viewers join one after another: WHEP POST "
                             "to first decoded frame")
    parser.add_argument("--nodes", type=int, default=1,
                        help="fieldrelay nodes on one Redis; publisher i goes to node i mod N")
    parser.add_argument("--node-arg", action="append",
                        help="extra flag for fieldrelay serve (repeatable), e.g. "
                             "--node-arg=--gop-cache-kb=0")
    parser.add_argument("--profile", metavar="DIR",
                        help="sample each node with py-spy over the window (collapsed stacks)")
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
