"""The client processes of the relay benchmarks: one publisher, viewer or joiner each, so their
encode and decode cost is not on the node under test.

    python -m bench.clients publisher|viewer|joiner --url URL --token TOKEN [options]

A client prints {"event": "ready"} as a JSON line once its media flows, then answers each
`stats` line on stdin with a JSON line of counters until stdin closes. bench/relay_cpu.py and
bench/crash_loss.py start them with `bench.nodes.start_client`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import math
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import aioice.ice
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
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, MediaStreamError
from aiortc.rtp import RtpPacket

from relay import aiortc_hooks


def _client_setup() -> None:
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
    async with aiohttp.ClientSession() as http, http.post(
        url, data=sdp, headers={"Authorization": f"Bearer {token}",
                                "Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        if resp.status != 201:
            raise RuntimeError(f"POST {url}: {resp.status} {body[:300]}")
        return body


async def _negotiate_until(pc: RTCPeerConnection, url: str, token: str,
                           ready: asyncio.Event) -> None:
    """Offer, POST it (WHIP/WHEP), apply the answer, and say "ready" once `ready` is set."""
    await pc.setLocalDescription(await pc.createOffer())
    answer = await _post_sdp(url, token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(ready.wait(), 30)
    _emit({"event": "ready"})


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

    await _negotiate_until(pc, url, token, connected)

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
    await _negotiate_until(pc, url, token, first)

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
    await _negotiate_until(pc, url, token, first)

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


def main() -> int:
    """Run one client until stdin closes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=("publisher", "viewer", "joiner"))
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--video-kbps", type=int, default=1000)
    p.add_argument("--media", type=Path, help="pre-encoded media (publisher)")
    p.add_argument("--count-only", action="store_true", help="viewer: count, never decode")
    p.add_argument("--count", type=int, default=10, help="joiner: joins in a row")
    a = p.parse_args()
    _client_setup()
    if a.role == "publisher" and a.media is not None:
        asyncio.run(run_preencoded_publisher(a.url, a.token, a.media))
    elif a.role == "publisher":
        asyncio.run(run_publisher(a.url, a.token, a.video_kbps))
    elif a.role == "joiner":
        asyncio.run(run_joiner(a.url, a.token, a.count))
    elif a.count_only:
        asyncio.run(run_counting_viewer(a.url, a.token))
    else:
        asyncio.run(run_viewer(a.url, a.token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
