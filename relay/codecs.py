"""Codec facts read straight from RTP payloads, without decoding anything."""

from __future__ import annotations

VP8 = "video/vp8"
H264 = "video/h264"
OPUS = "audio/opus"
FORWARDABLE = (VP8, H264, OPUS)

_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


def vp8_keyframe_start(payload: bytes) -> bool:
    """True when this RTP payload begins a VP8 keyframe (RFC 7741 descriptor + VP8 header)."""
    n = len(payload)
    if n < 1:
        return False
    first = payload[0]
    extended, start, partition = first & 0x80, first & 0x10, first & 0x07
    if not start or partition != 0:
        return False
    pos = 1
    if extended:
        if n < 2:
            return False
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if pos >= n:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX
            pos += 1
    if pos >= n:
        return False
    # Bit 0 of the VP8 frame tag is the inverse keyframe flag.
    return not payload[pos] & 0x01


def h264_keyframe_start(payload: bytes) -> bool:
    """True when this RTP payload begins an H.264 IDR access unit (SPS or IDR start)."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if size == 0 or pos + 2 >= len(payload):
                return False
            if payload[pos + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            pos += 2 + size
        return False
    if nal_type == _H264_FU_A and len(payload) >= 2:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == _H264_IDR
    return False


def keyframe_start(mime: str, payload: bytes) -> bool:
    """True when the payload starts a keyframe of that codec; always False for audio."""
    if mime == VP8:
        return vp8_keyframe_start(payload)
    if mime == H264:
        return h264_keyframe_start(payload)
    return False
