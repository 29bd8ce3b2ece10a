"""Segment files: encoded frames remuxed into a crash-safe container, with no codec at all."""

from __future__ import annotations

import fractions
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import av
import av.container
from av.audio.stream import AudioStream
from av.stream import Stream

from fieldrelay.files import touch_private

MS = fractions.Fraction(1, 1000)
TS_CLOCK = fractions.Fraction(1, 90000)
# Matroska clusters this short keep a kill -9 loss well under half a second.
CLUSTER_MS = 200
HASH_CHUNK = 1 << 20
# RFC 7845 identification header: version 1, 2 channels (WebRTC Opus), 312 samples pre-skip.
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)


def container_for(video_mime: str | None) -> tuple[str, str]:
    """(container format, file extension) for a stream's video codec."""
    if video_mime == "video/h264":
        return "mpegts", "ts"
    return "webm", "webm"


def vp8_dimensions(frame: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 §9.1), or None."""
    if len(frame) < 10 or frame[0] & 0x01 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(frame[6:8], "little") & 0x3FFF
    height = int.from_bytes(frame[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ClosedSegment:
    """A segment after it was flushed, fsynced and hashed."""

    path: Path
    size: int
    sha256: str


class SegmentWriter:
    """Writes one segment file; blocking, so it lives on the recorder's thread.

    Every packet is flushed to the file as it is muxed (flush_packets), so what the node
    received is on disk, bar the open cluster, if the process dies.
    """

    def __init__(self, path: Path, video_mime: str | None, audio: bool,
                 size: tuple[int, int] | None) -> None:
        self.path = path
        fmt, _ = container_for(video_mime)
        options = {"flush_packets": "1"}
        if fmt == "webm":
            options["cluster_time_limit"] = str(CLUSTER_MS)
        self._time_base = TS_CLOCK if fmt == "mpegts" else MS
        # PyAV opens the file by name with the umask's mode: made 0600 first, it keeps that.
        touch_private(path)
        self._container: av.container.OutputContainer = av.open(
            str(path), "w", format=fmt, options=options)
        self._video: Stream | None = None
        self._audio: AudioStream | None = None
        self.frames = 0
        if video_mime is not None:
            # The frames come encoded, so the stream gets no codec context: PyAV would open an
            # encoder only to describe the stream, about 8 MiB (libvpx) or 3 MiB (libx264) of
            # buffers per open segment, never used.
            width, height = size or (640, 480)
            video = self._container.add_mux_stream(
                "h264" if video_mime == "video/h264" else "vp8", rate=30, width=width,
                height=height)
            video.time_base = self._time_base
            self._video = video
        if audio:
            audio_stream = self._container.add_stream("libopus", rate=48000)
            assert isinstance(audio_stream, AudioStream)
            audio_stream.time_base = self._time_base
            audio_stream.codec_context.extradata = OPUS_HEAD
            self._audio = audio_stream

    def write(self, kind: str, data: bytes, pts_ms: int, keyframe: bool) -> None:
        """Mux one encoded frame at its place on the session timeline (milliseconds)."""
        stream: Stream | None = self._video if kind == "video" else self._audio
        if stream is None:
            return
        packet = av.Packet(data)
        packet.stream = stream
        ticks = pts_ms * 90 if self._time_base == TS_CLOCK else pts_ms
        packet.pts = packet.dts = ticks
        packet.time_base = self._time_base
        if keyframe:
            packet.is_keyframe = True
        self._container.mux(packet)
        self.frames += 1

    def close(self) -> ClosedSegment:
        """Finish the file, fsync it and hash what is on disk."""
        self._container.close()
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return ClosedSegment(self.path, self.path.stat().st_size, file_sha256(self.path))
