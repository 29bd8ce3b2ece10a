"""Live sessions recorded as evidence: real publishers, real segment files, a sealed chain."""

from __future__ import annotations

import asyncio
import fractions
import json
import math
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCRtpSender
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, VIDEO_TIME_BASE

from fieldrelay.config import Config
from recordings.ledger import check_chain
from recordings.signing import verify_head
from recordings.store import read_entries
from signaling.keys import CONFIG
from tests.live import LiveNode
from tests.media import local_pc, publish

pytestmark = pytest.mark.media

FLASH_EVERY_S = 1.0
BEEP_S = 0.1


class FlashTrack(MediaStreamTrack):
    """Dark frames with a white flash on every whole second of a shared clock."""

    kind = "video"

    def __init__(self, t0: float) -> None:
        super().__init__()
        self.t0, self.count = t0, 0

    async def recv(self) -> av.VideoFrame:
        due = self.t0 + self.count / 30
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        phase = (due - self.t0) % FLASH_EVERY_S
        white = phase < 1 / 30
        img = np.full((240, 320, 3), 250 if white else 20, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = int(self.count * VIDEO_CLOCK_RATE / 30)
        frame.time_base = VIDEO_TIME_BASE
        self.count += 1
        return frame


class BeepTrack(MediaStreamTrack):
    """Silence with a 1 kHz beep starting on every whole second of the same clock."""

    kind = "audio"

    def __init__(self, t0: float) -> None:
        super().__init__()
        self.t0, self.count, self.rate = t0, 0, 48000

    async def recv(self) -> av.AudioFrame:
        samples = int(AUDIO_PTIME * self.rate)
        due = self.t0 + self.count * AUDIO_PTIME
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        t = due - self.t0 + np.arange(samples) / self.rate
        beep = (t % FLASH_EVERY_S) < BEEP_S
        pcm = (np.sin(2 * math.pi * 1000 * t) * 12000 * beep).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.count * samples
        frame.time_base = fractions.Fraction(1, self.rate)
        self.count += 1
        return frame


def sessions_dir(node: LiveNode) -> Path:
    config: Config = node.server.app[CONFIG]
    return config.data_dir / "sessions"


def decode_session(folder: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(pts seconds, brightness) per video frame and (pts, rms) per audio frame, all segments."""
    video: list[tuple[float, float]] = []
    audio: list[tuple[float, float]] = []
    for seg in sorted(folder.glob("seg-*")):
        with av.open(str(seg)) as container:
            for frame in container.decode(video=0):
                assert frame.pts is not None and frame.time_base is not None
                video.append((float(frame.pts * frame.time_base),
                              float(frame.to_ndarray(format="gray").mean())))
        with av.open(str(seg)) as container:
            for chunk in container.decode(audio=0):
                assert chunk.pts is not None and chunk.time_base is not None
                pcm = chunk.to_ndarray().astype(np.float64)
                if chunk.format.name.startswith("flt"):
                    pcm = pcm * 32768  # float samples: bring them to the int16 scale
                audio.append((float(chunk.pts * chunk.time_base), float(np.sqrt((pcm**2).mean()))))
    return video, audio


def onsets(series: list[tuple[float, float]], threshold: float) -> list[float]:
    out, above = [], False
    for t, value in series:
        if value > threshold and not above:
            out.append(t)
        above = value > threshold
    return out


async def record(node: LiveNode, seconds: float,
                 before_offer: Any = None) -> tuple[Path, list[dict[str, Any]], float]:
    """Publish for `seconds`, stop, and return the folder, its entries and the seconds of
    video the publisher actually sent (first to last frame)."""
    officer = await node.login("o1")
    t0 = time.monotonic() + 0.5
    pc = local_pc()
    flash = FlashTrack(t0)
    pc.addTransceiver(BeepTrack(t0), direction="sendonly")
    pc.addTransceiver(flash, direction="sendonly")
    pub = await publish(node.http, node.base, officer, video=False, audio=False, pc=pc,
                        before_offer=before_offer)
    stream = node.registry.streams["o1"]
    assert stream.session is not None
    folder = stream.session.folder
    await asyncio.sleep(seconds)
    async with node.http.delete(f"{node.base}{pub.location}",
                                headers={"Authorization": f"Bearer {officer}"}) as resp:
        assert resp.status == 200
    sent_s = (max(flash.count, 1) - 1) / 30
    await pub.pc.close()
    return folder, list(read_entries(folder / "ledger.jsonl")), sent_s


def assert_sealed_chain(folder: Path, entries: list[dict[str, Any]]) -> None:
    assert check_chain(entries) is None
    assert entries[0]["kind"] == "session.start" and entries[-1]["kind"] == "session.seal"
    assert entries[-1]["state"] == "sealed" and entries[-1]["reason"] == "stopped"
    assert not (folder / "OPEN").exists()
    public = (folder.parent.parent / "keys" / "node-ed25519.pub.pem").read_bytes()
    heads = [json.loads(line) for line in (folder / "heads.jsonl").read_text().splitlines()]
    assert heads[-1]["seq"] == entries[-1]["seq"]
    assert all(verify_head(public, h["seq"], h["hash"], h["sig"]) for h in heads)


async def test_vp8_session_is_recorded_in_sync_and_sealed(live_node: LiveNode) -> None:
    folder, entries, sent_s = await record(live_node, 8.0)
    assert_sealed_chain(folder, entries)
    segments = [e for e in entries if e["kind"] == "segment"]
    assert len(segments) >= 2, "8 s must be cut into at least two segments"
    assert all(e["file"].endswith(".webm") for e in segments)
    video, audio = decode_session(folder)
    assert video and audio
    duration = video[-1][0] - video[0][0]
    print(f"sent {sent_s:.2f} s, recorded {duration:.2f} s of video, {len(video)} frames, "
          f"{len(segments)} segments")
    assert abs(duration - sent_s) <= 0.5
    assert video[0][1] > 128, "the recording starts with the first (white) frame"
    flashes, beeps = onsets(video, 128), onsets(audio, 2000)
    assert len(flashes) >= 5 and len(beeps) >= 5
    offsets = [min((abs(f - b), f - b) for b in beeps)[1] for f in flashes]
    print("A/V offsets ms:", [round(o * 1000) for o in offsets])
    # 35-39 ms on a quiet machine (about a frame: the test publisher's own encoder delays);
    # the publisher's RTCP sender reports map RTP to wall time when they are sent, so a loaded
    # machine moves it by a few ms. 45 ms is where an audio lead becomes detectable
    # (ITU-R BT.1359); a recorder that lost sync would be off by whole frames or seconds.
    assert max(abs(o) for o in offsets) <= 0.045


async def test_h264_session_is_recorded_as_mpegts(live_node: LiveNode) -> None:
    def force_h264(pc: Any) -> None:
        caps = RTCRtpSender.getCapabilities("video")
        for t in pc.getTransceivers():
            if t.kind == "video":
                t.setCodecPreferences([c for c in caps.codecs if c.mimeType == "video/H264"])

    folder, entries, sent_s = await record(live_node, 4.0, before_offer=force_h264)
    assert_sealed_chain(folder, entries)
    assert entries[0]["media"]["video"] == "video/h264"
    segments = [e for e in entries if e["kind"] == "segment"]
    assert segments and all(e["file"].endswith(".ts") for e in segments)
    video, audio = decode_session(folder)
    assert len(video) > 60 and audio
    assert abs((video[-1][0] - video[0][0]) - sent_s) <= 0.5
