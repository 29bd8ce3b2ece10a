"""Real media for tests and benchmarks: a WHIP publisher with a test pattern, WHEP viewers,
bare SDP offers, and short VP8+Opus WebM files."""

from __future__ import annotations

import asyncio
import fractions
import functools
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import aiohttp
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, MediaStreamError
from aiortc.rtp import RtpPacket

from relay import aiortc_hooks as hooks

VIDEO_FPS = 30
WEBM_FPS = 15


class PatternVideoTrack(MediaStreamTrack):
    """640x480 frames at 30 fps whose brightness encodes the frame number."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__()
        self.width, self.height = width, height
        self.count = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.count / VIDEO_FPS
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        shade = (self.count * 8) % 256
        img = np.full((self.height, self.width, 3), shade, dtype=np.uint8)
        img[:, : self.width // 8, 0] = 255 - shade
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = int(self.count * VIDEO_CLOCK_RATE / VIDEO_FPS)
        frame.time_base = VIDEO_TIME_BASE
        self.count += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms Opus-sized frames."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sample_rate = 48000
        self.samples = int(AUDIO_PTIME * self.sample_rate)
        self.count = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.count * AUDIO_PTIME
        delay = target - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (np.arange(self.samples) + self.count * self.samples) / self.sample_rate
        pcm = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self.count * self.samples
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self.count += 1
        return frame


def local_pc() -> RTCPeerConnection:
    """A client peer connection that never reaches for a public STUN server."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def offer_sdp(direction: str) -> str:
    """A real audio+video SDP offer (`sendonly` or `recvonly`) from a peer that is closed again."""
    pc = local_pc()
    try:
        for kind in ("audio", "video"):
            pc.addTransceiver(kind, direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


@dataclass
class Publisher:
    """A WHIP publisher session."""

    pc: RTCPeerConnection
    location: str
    video: PatternVideoTrack | None
    # The evidence session the node records into (its `Fieldrelay-Session` header).
    session: str | None = None


async def publish(http: aiohttp.ClientSession, base: str, token: str, *, video: bool = True,
                  audio: bool = True, pc: RTCPeerConnection | None = None,
                  before_offer: Callable[[RTCPeerConnection], object] | None = None) -> Publisher:
    """Publish a test pattern (and tone) over WHIP; returns once the answer is applied."""
    pc = pc or local_pc()
    vtrack = PatternVideoTrack() if video else None
    if audio:
        pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
    if vtrack is not None:
        pc.addTransceiver(vtrack, direction="sendonly")
    if before_offer is not None:
        before_offer(pc)
    await pc.setLocalDescription(await pc.createOffer())
    async with http.post(f"{base}/whip", data=pc.localDescription.sdp,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        assert resp.status == 201, (resp.status, body)
        location = resp.headers["Location"]
        session = resp.headers.get("Fieldrelay-Session")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return Publisher(pc, location, vtrack, session)


@dataclass
class ViewerClient:
    """A WHEP viewer that decodes what it receives and keeps count."""

    pc: RTCPeerConnection
    location: str = ""
    frames: int = 0
    audio_frames: int = 0
    first_frame_at: float | None = None
    started_at: float = 0.0
    sizes: set[tuple[int, int]] = field(default_factory=set)
    # The size of the last decoded picture (weak-link runs follow it step by step).
    last_size: tuple[int, int] | None = None
    shades: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    frame = cast(av.VideoFrame, frame)  # a received video track decodes
                    self.frames += 1
                    if self.first_frame_at is None:
                        self.first_frame_at = time.monotonic()
                    self.sizes.add((frame.width, frame.height))
                    self.last_size = (frame.width, frame.height)
                    plane = frame.to_ndarray(format="gray")
                    self.shades.append(int(plane[plane.shape[0] // 2, -1]))
                else:
                    self.audio_frames += 1
        except MediaStreamError:
            return

    async def wait_frames(self, count: int, timeout: float) -> None:  # noqa: ASYNC109 - a deadline poll
        """Wait until `count` video frames were decoded."""
        deadline = time.monotonic() + timeout
        while self.frames < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.frames} of {count} frames within {timeout} s")
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks)
        await self.pc.close()


async def view(http: aiohttp.ClientSession, base: str, token: str, officer: str,
               kinds: tuple[str, ...] = ("audio", "video"),
               on_rtp: Callable[[str, RtpPacket], None] | None = None,
               pc: RTCPeerConnection | None = None) -> ViewerClient:
    """Start a WHEP viewer of an officer; `on_rtp(kind, packet)` sees every packet on the wire."""
    client = ViewerClient(pc or local_pc(), started_at=time.monotonic())

    @client.pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        client.tasks.append(asyncio.get_running_loop().create_task(client._consume(track)))

    for kind in kinds:
        transceiver = client.pc.addTransceiver(kind, direction="recvonly")
        if on_rtp is not None:
            hooks.observe_rtp(transceiver.receiver,
                              lambda packet, kind=kind: on_rtp(kind, packet))  # type: ignore[misc]
    await client.pc.setLocalDescription(await client.pc.createOffer())
    async with http.post(f"{base}/whep/{officer}", data=client.pc.localDescription.sdp,
                         headers={"Authorization": f"Bearer {token}",
                                  "Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        assert resp.status == 201, (resp.status, body)
        client.location = resp.headers["Location"]
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return client


@functools.cache  # the same file each time: tests ask for the same seeds again and again
def webm_segment(seed: int, seconds: float = 1.0) -> bytes:
    """A real WebM file: VP8 video (64x48, 15 fps) and Opus audio, about `seconds` long; its
    picture and tone follow `seed`."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        video = out.add_stream("libvpx", rate=WEBM_FPS)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        for i in range(int(WEBM_FPS * seconds)):
            img = np.full((48, 64, 3), (seed * 37 + i * 7) % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        t, samples = 0, 960
        while t < 48000 * seconds:
            wave = np.sin(2 * np.pi * (300 + seed * 20) * (np.arange(samples) + t) / 48000)
            pcm = (wave * 0.3).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([pcm, pcm]).reshape(1, -1),
                                               format="flt", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, t
            for packet in audio.encode(chunk):
                out.mux(packet)
            t += samples
        for packet in audio.encode():
            out.mux(packet)
    return buf.getvalue()
