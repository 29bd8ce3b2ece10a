"""Real aiortc peers for tests: a WHIP publisher with a test pattern, and WHEP viewers."""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass
class Publisher:
    """A WHIP publisher session."""

    pc: RTCPeerConnection
    location: str
    video: PatternVideoTrack | None


async def publish(http: aiohttp.ClientSession, base: str, token: str, *, video: bool = True,
                  audio: bool = True, pc: RTCPeerConnection | None = None,
                  before_offer: Callable[[RTCPeerConnection], None] | None = None) -> Publisher:
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
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return Publisher(pc, location, vtrack)


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
    shades: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _consume(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.frames += 1
                    if self.first_frame_at is None:
                        self.first_frame_at = time.monotonic()
                    self.sizes.add((frame.width, frame.height))
                    plane = frame.to_ndarray(format="gray")
                    self.shades.append(int(plane[plane.shape[0] // 2, -1]))
                else:
                    self.audio_frames += 1
        except MediaStreamError:
            return

    async def wait_frames(self, count: int, timeout: float) -> None:
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
