"""Keyframe detection from RTP payloads, against payloads built by aiortc's own packetizers."""

from __future__ import annotations

import fractions

import av
import numpy as np
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from relay.codecs import h264_keyframe_start, keyframe_start, vp8_keyframe_start


def encoded_payloads(mime: str, frames: int) -> list[tuple[bool, list[bytes]]]:
    """(forced keyframe?, RTP payloads) per frame, from aiortc's real encoder."""
    params: dict[str, int | str | None] = (
        {"packetization-mode": "1", "profile-level-id": "42e01f"} if "264" in mime else {})
    codec = RTCRtpCodecParameters(mimeType=mime, clockRate=90000, payloadType=96,
                                  parameters=params)
    encoder = get_encoder(codec)
    out = []
    for i in range(frames):
        img = np.random.default_rng(i).integers(0, 255, (240, 320, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        force = i in (0, 5)
        payloads, _ = encoder.encode(frame, force_keyframe=force)
        out.append((force, payloads))
    return out


def test_vp8_keyframes_are_found_only_at_frame_starts() -> None:
    for forced, payloads in encoded_payloads("video/VP8", 8):
        assert vp8_keyframe_start(payloads[0]) == forced
        assert not any(vp8_keyframe_start(p) for p in payloads[1:])


def test_h264_keyframes_are_found_at_access_unit_starts() -> None:
    for forced, payloads in encoded_payloads("video/H264", 8):
        if forced:
            assert h264_keyframe_start(payloads[0])
        else:
            assert not any(h264_keyframe_start(p) for p in payloads)


def test_truncated_and_empty_payloads_are_not_keyframes() -> None:
    # VP8: descriptor cut before the frame tag, or a start bit missing.
    for payload in (b"", b"\x90", b"\x90\x80", b"\x90\x80\x81", b"\x00\x00"):
        assert not vp8_keyframe_start(payload)
    # H.264: empty, a STAP-A cut short, an FU-A without its header, a non-IDR slice.
    for payload in (b"", b"\x18\x00", b"\x7c", b"\x41\x9a"):
        assert not h264_keyframe_start(payload)
    assert not keyframe_start("audio/opus", b"\x10\x00")
