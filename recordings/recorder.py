"""The session timeline: whole encoded frames in, segment cuts and timestamps out."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from recordings.layout import MAIN
from recordings.segments import vp8_dimensions
from recordings.session import EvidenceSession
from recordings.tracks import SessionMedia

CLOCK_RATES = {"video": 90000, "audio": 48000}


def frame_is_keyframe(mime: str, frame: bytes) -> bool:
    """True for a VP8 keyframe or an H.264 access unit holding an IDR slice."""
    if mime == "video/vp8":
        return bool(frame) and not frame[0] & 0x01
    if mime == "video/h264":
        pos = frame.find(b"\x00\x00\x01")
        while pos != -1 and pos + 3 < len(frame):
            if frame[pos + 3] & 0x1F == 5:
                return True
            pos = frame.find(b"\x00\x00\x01", pos + 3)
    return False


@dataclass
class _Clock:
    """Maps one RTP source's timestamps onto the session timeline (milliseconds)."""

    source: int
    clock_rate: int
    base_rtp: int
    base_ms: int
    last_rtp: int
    unwrapped: int = 0

    def to_ms(self, rtp_ts: int) -> int:
        delta = (rtp_ts - self.last_rtp) & 0xFFFFFFFF
        if delta >= 1 << 31:  # a frame from just before the last one
            delta -= 1 << 32
        self.unwrapped += delta
        self.last_rtp = rtp_ts
        return self.base_ms + (self.unwrapped * 1000) // self.clock_rate


class Timeline:
    """The session's clock origin, shared by every track so they line up in playback."""

    def __init__(self) -> None:
        self.origin: float | None = None

    def start(self, now: float) -> float:
        """The origin, set by the first track that records anything."""
        if self.origin is None:
            self.origin = now
        return self.origin


class SessionRecorder:
    """Decides where segments start and where each frame sits in time, then hands off.

    Recording starts at the first keyframe. A new segment starts on a keyframe once the
    current one is `segment_s` long, when the picture size changes, or after frames were
    lost. A keyframe is asked for whenever `keyframe_interval_s` passes without one, so a
    segment can always be cut and a crash loses little.
    """

    def __init__(self, session: EvidenceSession, video_mime: str | None,
                 request_keyframe: Callable[[], None], segment_s: float = 6.0,
                 keyframe_interval_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 timeline: Timeline | None = None, track: str = MAIN,
                 media: SessionMedia | None = None) -> None:
        self.session = session
        self.video_mime = video_mime
        self.timeline = timeline or Timeline()
        self.track = track
        self._media = media
        self._request_keyframe = request_keyframe
        self._segment_ms = int(segment_s * 1000)
        self._keyframe_interval_s = keyframe_interval_s
        self._now = clock
        self._t0: float | None = None
        self._clocks: dict[str, _Clock] = {}
        self._last_ms: dict[str, int] = {}
        self._segment_start_ms: int | None = None
        self._size: tuple[int, int] | None = None
        self._need_cut = True
        self._last_keyframe_at = clock()
        self._last_request_at = 0.0
        self.frames = 0

    def source_changed(self) -> None:
        """The publisher reconnected: start a fresh segment at its first keyframe."""
        self._need_cut = True

    def on_frame(self, kind: str, data: bytes, rtp_ts: int, source: int) -> None:
        """Place one whole encoded frame (video or Opus) on the session timeline."""
        now = self._now()
        keyframe = False
        if kind == "video" and self.video_mime is not None:
            keyframe = frame_is_keyframe(self.video_mime, data)
            if keyframe:
                self._last_keyframe_at = now
            elif (now - self._last_keyframe_at >= self._keyframe_interval_s
                  and now - self._last_request_at >= 0.5):
                self._last_request_at = now
                self._request_keyframe()
        if self._t0 is None:
            if self.video_mime is not None and not keyframe:
                return  # evidence starts at the first picture that can be decoded alone
            self._t0 = self.timeline.start(now)
        pts = self._pts(kind, rtp_ts, source, now)
        cut = False
        if kind == "video" and keyframe:
            size = vp8_dimensions(data) if self.video_mime == "video/vp8" else None
            long_enough = (self._segment_start_ms is not None
                           and pts - self._segment_start_ms >= self._segment_ms)
            resized = size is not None and self._size is not None and size != self._size
            if self._need_cut or long_enough or resized:
                cut, self._need_cut, self._segment_start_ms = True, False, pts
            if size is not None:
                self._size = size
        elif self.video_mime is not None:
            if self._need_cut:
                return  # everything waits for the video keyframe that opens the segment
        elif (self._need_cut or self._segment_start_ms is None
              or pts - self._segment_start_ms >= self._segment_ms):
            cut, self._need_cut, self._segment_start_ms = True, False, pts  # audio only
        if not self.session.frame(kind, data, pts, keyframe, cut, self._size, self.track,
                                  self._media):
            self._need_cut = True  # the disk fell behind: restart cleanly at a keyframe
            self._request_keyframe()
            return
        self.frames += 1

    def _pts(self, kind: str, rtp_ts: int, source: int, now: float) -> int:
        assert self._t0 is not None
        clock = self._clocks.get(kind)
        if clock is None or clock.source != source:
            # A new source starts where the wall clock says, never before what was written.
            base = max(int((now - self._t0) * 1000), self._last_ms.get(kind, -1) + 1)
            clock = _Clock(source, CLOCK_RATES[kind], rtp_ts, base, rtp_ts)
            self._clocks[kind] = clock
        pts = max(clock.to_ms(rtp_ts), self._last_ms.get(kind, -1) + 1)
        self._last_ms[kind] = pts
        return pts
