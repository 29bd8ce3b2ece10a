"""Depacketizes a stream once, for the evidence recorder: RTP packets in, whole frames out."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from aiortc.rtp import RtpPacket

from recordings.recorder import SessionRecorder
from recordings.session import SessionMedia
from relay import aiortc_hooks as hooks
from relay.red import Frame, Unwrapper
from relay.reorder import InOrder


class RecorderTap:
    """Feeds one stream's packets to a SessionRecorder as whole encoded frames.

    Video frames are assembled by aiortc's jitter buffer. Audio needs no assembly (one
    Opus frame per packet): each packet is recorded as it is, put back in order, and RED
    packets are unwrapped to plain Opus, with frames whose own packet was lost taken from
    the redundancy of the next one.
    """

    def __init__(self, recorder: SessionRecorder) -> None:
        self.recorder = recorder
        self._assemblers: dict[str, hooks.FrameAssembler] = {}
        self._sources: dict[str, int] = {}
        self._audio_order = InOrder()
        self._unwrapper = Unwrapper()
        # Audio frames recorded, and how many of them came from RED redundancy.
        self.audio_frames = 0
        self.audio_recovered = 0

    def companion(self, track: str, media: SessionMedia, request_keyframe: Callable[[], None],
                  segment_s: float, keyframe_interval_s: float) -> RecorderTap:
        """A tap that records another track (talkback) into the same evidence session, on
        the same timeline as this one."""
        return RecorderTap(SessionRecorder(
            self.recorder.session, media.video, request_keyframe, segment_s,
            keyframe_interval_s, timeline=self.recorder.timeline, track=track, media=media))

    def on_packet(self, kind: str, packet: RtpPacket, red: bool = False) -> None:
        """Take one packet; record every frame it completes. `red`: an RFC 2198 payload."""
        if not packet.payload:
            return  # padding-only probes carry no media
        if self._sources.get(kind) != packet.ssrc:
            if kind in self._sources:
                if kind == "audio":
                    self._record_audio(self._audio_order.flush(), self._sources[kind])
                self.recorder.source_changed()
            self._sources[kind] = packet.ssrc
            self._assemblers[kind] = hooks.frame_assembler(kind)
            if kind == "audio":
                self._audio_order, self._unwrapper = InOrder(), Unwrapper()
        if kind == "audio":
            if red:
                frames: Iterable[Frame] = self._unwrapper.frames(
                    packet.sequence_number, packet.timestamp, packet.payload)
            else:
                frames = (Frame(packet.sequence_number, packet.timestamp, packet.payload),)
            for frame in frames:
                self._record_audio(self._audio_order.push(frame), packet.ssrc)
            return
        assembled = self._assemblers[kind].add(packet)
        if assembled is not None:
            self.recorder.on_frame(kind, assembled.data, assembled.timestamp, packet.ssrc)

    def _record_audio(self, frames: list[Frame], ssrc: int) -> None:
        for frame in frames:
            self.audio_frames += 1
            self.audio_recovered += frame.recovered
            self.recorder.on_frame("audio", frame.data, frame.timestamp, ssrc)
