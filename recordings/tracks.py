"""The segment files a session is writing: the main track's and each side track's (talkback).

Each track cuts its own files on keyframes and numbers them on its own; a segment that
closes is handed to the session to ledger. Used on the session's writer thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recordings.layout import MAIN, TRACK_PREFIX
from recordings.segments import SegmentWriter, container_for


@dataclass
class SessionMedia:
    """What a session records: the video codec (or None) and whether there is Opus audio."""

    video: str | None
    audio: bool


@dataclass
class Frame:
    """An encoded frame on its way to a segment file (`media`: a side track's streams)."""

    kind: str
    data: bytes
    pts_ms: int
    keyframe: bool
    wall: float
    cut: bool
    size: tuple[int, int] | None
    track: str = MAIN
    media: SessionMedia | None = None


@dataclass
class OpenSegment:
    """A segment file being written, with its span on the server clock and the timeline."""

    writer: SegmentWriter
    index: int
    start_wall: float
    end_wall: float
    media_start_ms: int
    media_end_ms: int
    track: str = MAIN
    media: SessionMedia | None = None

    def write(self, frame: Frame) -> None:
        """Append the frame and stretch the segment's span to it."""
        self.writer.write(frame.kind, frame.data, frame.pts_ms, frame.keyframe)
        self.end_wall = frame.wall
        self.media_end_ms = max(self.media_end_ms, frame.pts_ms)


class Tracks:
    """The open segment of the main track and of each side track; `closed` ledgers one."""

    def __init__(self, folder: Path, media: SessionMedia,
                 closed: Callable[[OpenSegment], None]) -> None:
        self.folder = folder
        self.media = media
        self._ext = container_for(media.video)[1]
        self._closed = closed
        self.main: OpenSegment | None = None
        self.main_count = 0
        self.sides: dict[str, OpenSegment] = {}
        self._side_counts: dict[str, int] = {}

    def write_main(self, frame: Frame) -> bool:
        """Write a main-track frame, cutting a new file on `frame.cut`.

        False when the frame is dropped: a video track starts its first file on a keyframe.
        """
        if frame.cut or self.main is None:
            if self.main is None and not frame.keyframe and self.media.video:
                return False
            self.close_main()
            self.main_count += 1
            path = self.folder / f"{TRACK_PREFIX[MAIN]}-{self.main_count:06d}.{self._ext}"
            writer = SegmentWriter(path, self.media.video, self.media.audio, frame.size)
            self.main = OpenSegment(writer, self.main_count, frame.wall, frame.wall,
                                    frame.pts_ms, frame.pts_ms)
        self.main.write(frame)
        return True

    def write_side(self, frame: Frame) -> None:
        """A side track's frame: its own files, never cut by or cutting the main track."""
        segment = self.sides.get(frame.track)
        media = frame.media or SessionMedia(video=None, audio=True)
        if frame.cut or segment is None:
            if segment is None and not frame.keyframe and media.video:
                return
            self.close_side(frame.track)
            index = self._side_counts.get(frame.track, 0) + 1
            self._side_counts[frame.track] = index
            _, ext = container_for(media.video)
            path = self.folder / f"{TRACK_PREFIX[frame.track]}-{index:06d}.{ext}"
            writer = SegmentWriter(path, media.video, media.audio, frame.size)
            segment = OpenSegment(writer, index, frame.wall, frame.wall, frame.pts_ms,
                                  frame.pts_ms, frame.track, media)
            self.sides[frame.track] = segment
        segment.write(frame)

    def close_main(self) -> None:
        """Close and ledger the main track's open segment, if any."""
        segment, self.main = self.main, None
        if segment is not None:
            self._closed(segment)

    def close_side(self, track: str) -> None:
        """Close and ledger a side track's open segment, if any."""
        segment = self.sides.pop(track, None)
        if segment is not None:
            self._closed(segment)

    def close_all(self) -> None:
        """Close every open segment: the side tracks', then the main track's."""
        for track in list(self.sides):
            self.close_side(track)
        self.close_main()

    def drop_after_failure(self) -> None:
        """Close what still closes after a disk failure; forget what does not.

        A file that cannot be closed stays on disk, and the seal ledgers it as partial.
        """
        if self.main is not None:
            try:
                self.close_main()
            except Exception:
                self.main = None
        for track in list(self.sides):
            try:
                self.close_side(track)
            except Exception:
                self.sides.pop(track, None)
