"""A cheap load generator: many viewers in one process that count packets without decrypting.

    python -m bench.loadgen viewers --url URL --token TOKEN --count N

Each viewer is a real aiortc peer connection (ICE, DTLS, RTCP receiver reports), but once
it is connected its inbound RTP is never decrypted, parsed or jitter-buffered: the RTP header
travels in the clear, so frames (marker bits on the video payload type) and lost packets
(gaps in the video sequence numbers; retransmissions, on the RTX payload type, are not
counted) are read from it directly (relay/aiortc_hooks.py `count_srtp_headers`). All viewers
of one process share its interpreter and event loop. The publishers stay bench/clients.py's
pre-encoded ones (they only packetize).

It prints {"event": "ready"} once every viewer has counted a video frame, then answers each
`stats` line on stdin with {"t": ..., "viewers": [{frames, audio, lost, bytes, sizes}, ...]}.
bench/relay_cpu.py starts one per publisher with `--viewer-mode headers`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.sdp import SessionDescription

from bench.clients import _client_setup, _emit, _post_sdp, _serve_stats
from relay import aiortc_hooks

MAX_VIEWERS = 50


@dataclass
class Counter:
    """What one viewer counted from the clear RTP headers."""

    video_pts: set[int] = field(default_factory=set)
    audio_pts: set[int] = field(default_factory=set)
    frames: int = 0
    audio: int = 0
    octets: int = 0
    last_seq: int | None = None
    seqs: set[int] = field(default_factory=set)
    first: asyncio.Event = field(default_factory=asyncio.Event)

    def on_packet(self, data: bytes) -> None:
        self.octets += len(data)
        if len(data) < 12:
            return
        pt = data[1] & 0x7F
        if pt in self.audio_pts:
            self.audio += 1
            return
        if pt not in self.video_pts:
            return  # RTX or padding on its own payload type: not a new packet
        seq = int.from_bytes(data[2:4], "big")
        prev = self.last_seq
        # Extend the 16-bit number around the last one seen.
        ext = seq if prev is None else prev + ((seq - prev + 0x8000) & 0xFFFF) - 0x8000
        self.last_seq = max(prev if prev is not None else ext, ext)
        if ext in self.seqs:
            return
        self.seqs.add(ext)
        if data[1] & 0x80:
            self.frames += 1
            self.first.set()

    def stats(self) -> dict[str, Any]:
        got = self.seqs
        expected = (max(got) - min(got) + 1) if got else 0
        return {"frames": self.frames, "audio": self.audio, "bytes": self.octets,
                "lost": expected - len(got), "sizes": [[640, 480]]}


async def open_viewer(url: str, token: str) -> tuple[RTCPeerConnection, Counter]:
    """Negotiate one viewer over WHEP and switch it to counting once DTLS is up."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    counter = Counter()
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    for kind in ("audio", "video"):
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    answer = await _post_sdp(url, token, pc.localDescription.sdp)
    for media in SessionDescription.parse(answer).media:
        for codec in media.rtp.codecs:
            if codec.mimeType.lower().endswith("/rtx"):
                continue
            assert codec.payloadType is not None
            (counter.video_pts if media.kind == "video" else counter.audio_pts).add(
                codec.payloadType)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    await asyncio.wait_for(connected.wait(), 30)
    # Connected means every DTLS transport has its SRTP session.
    if not aiortc_hooks.count_srtp_headers(pc, counter.on_packet):
        raise RuntimeError("connected, but a transport has no SRTP session")
    return pc, counter


async def run_viewers(url: str, token: str, count: int) -> None:
    viewers: list[tuple[RTCPeerConnection, Counter]] = []
    try:
        for _ in range(count):
            viewers.append(await open_viewer(url, token))
        async with asyncio.timeout(60):
            for _, counter in viewers:
                await counter.first.wait()
        _emit({"event": "ready"})

        async def stats() -> dict[str, Any]:
            return {"t": time.monotonic(), "viewers": [c.stats() for _, c in viewers]}

        await _serve_stats(stats)
    finally:
        for pc, _ in viewers:
            await pc.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=("viewers",))
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--count", type=int, default=3, help=f"viewers, 1..{MAX_VIEWERS}")
    a = p.parse_args()
    if not 1 <= a.count <= MAX_VIEWERS:
        p.error(f"--count 1..{MAX_VIEWERS}")
    _client_setup()
    asyncio.run(run_viewers(a.url, a.token, a.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
