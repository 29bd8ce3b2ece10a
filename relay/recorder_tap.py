"""Depacketizes a stream once, for the evidence recorder: RTP packets in, whole frames out."""

from __future__ import annotations

from collections.abc import Callable

from aiortc.rtp import RtpPacket

from recordings.recorder import SessionRecorder
from recordings.session import SessionMedia
from relay import aiortc_hooks as hooks


class RecorderTap:
    """Feeds one stream's packets to a SessionRecorder as whole encoded frames."""

    def __init__(self, recorder: SessionRecorder) -> None:
        self.recorder = recorder
        self._assemblers: dict[str, hooks.FrameAssembler] = {}
        self._sources: dict[str, int] = {}

    def companion(self, track: str, media: SessionMedia, request_keyframe: Callable[[], None],
                  segment_s: float, keyframe_interval_s: float) -> RecorderTap:
        """A tap that records another track (talkback) into the same evidence session, on
        the same timeline as this one."""
        return RecorderTap(SessionRecorder(
            self.recorder.session, media.video, request_keyframe, segment_s,
            keyframe_interval_s, timeline=self.recorder.timeline, track=track, media=media))

    def on_packet(self, kind: str, packet: RtpPacket) -> None:
        """Take one packet; when it completes the frame before it, record that frame."""
        if not packet.payload:
            return  # padding-only probes carry no media
        if self._sources.get(kind) != packet.ssrc:
            if kind in self._sources:
                self.recorder.source_changed()
            self._sources[kind] = packet.ssrc
            self._assemblers[kind] = hooks.frame_assembler(kind)
        frame = self._assemblers[kind].add(packet)
        if frame is not None:
            self.recorder.on_frame(kind, frame.data, frame.timestamp, packet.ssrc)
