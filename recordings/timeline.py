"""Where a moment of the session falls in its single media file (pure).

Segments record both the server clock (`start`, `end`) and their span on the media timeline
(`media_start_ms`, `media_end_ms`). An event's wall time is placed inside the segment it
happened in; one that happened in a gap sits at the start of the next segment.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recordings.catalog import parse_time


@dataclass(frozen=True)
class _Span:
    wall_start: float
    wall_end: float
    media_start: int
    media_end: int


class Timeline:
    """Maps server-clock times to milliseconds on the remuxed file's timeline."""

    def __init__(self, segments: Iterable[Mapping[str, Any]]) -> None:
        spans = []
        for s in segments:
            if s.get("track") not in (None, "main"):
                continue
            ms0, ms1 = s.get("media_start_ms"), s.get("media_end_ms")
            if not isinstance(ms0, int) or not isinstance(ms1, int):
                continue
            try:
                spans.append(_Span(parse_time(str(s["start"])), parse_time(str(s["end"])),
                                   ms0, ms1))
            except (KeyError, ValueError):
                continue
        self.spans = sorted(spans, key=lambda s: s.media_start)
        self.base = self.spans[0].media_start if self.spans else 0
        self._starts = [s.wall_start for s in self.spans]

    @property
    def duration_ms(self) -> int:
        """The length of the media timeline."""
        return max((s.media_end for s in self.spans), default=self.base) - self.base

    def offset_ms(self, at: str | None) -> int | None:
        """The offset of a server-clock time in the file, or None without media or time."""
        if not self.spans or not at:
            return None
        try:
            t = parse_time(at)
        except ValueError:
            return None
        i = bisect.bisect_right(self._starts, t) - 1
        if i < 0:
            return 0
        span = self.spans[i]
        ms = span.media_start + round((t - span.wall_start) * 1000)
        if i + 1 < len(self.spans):
            ms = min(ms, self.spans[i + 1].media_start)  # in a gap: where the picture resumes
        return max(0, min(ms - self.base, self.duration_ms))
