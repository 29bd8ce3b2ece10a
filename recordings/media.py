"""A whole session as one playable file: its segments remuxed end to end, never re-encoded.

VP8 sessions become WebM, H.264 sessions MP4 (both play in browsers). Packets keep their
place on the session timeline, shifted so the file starts at 0: a reconnect gap stays a gap
of the same length, and an event's `t_ms` (recordings.timeline) is the player's currentTime.
Talkback segments (`"track": "talkback"`) become extra streams. The result is cached under
`<data>/cache/media/<session>/`, named after the newest segment entry's hash, so Range
requests read a finished file and a session that grew is remuxed again.
"""

from __future__ import annotations

import fractions
import heapq
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import av.container
from av.packet import Packet
from av.stream import Stream

from fieldrelay.errors import NotFound
from fieldrelay.files import private_dir
from recordings.layout import session_folder
from recordings.store import read_entries

log = logging.getLogger(__name__)

CACHE_DIR = Path("cache") / "media"
# The cache is a convenience beside the evidence: it gives way beyond this size.
CACHE_BYTES = 20 * 1024**3
FORMATS = {"webm": ("webm", "video/webm"), "mp4": ("mp4", "video/mp4")}


class RemuxCancelled(Exception):
    """The node is stopping: the remux stopped and left no file behind."""


@dataclass(frozen=True)
class Piece:
    """One segment file to play: its path, track and start on the session timeline."""

    path: Path
    track: str
    media_start_ms: int | None


@dataclass(frozen=True)
class MediaPlan:
    """What the single file holds and where it is cached."""

    session: str
    container: str
    mime: str
    pieces: tuple[Piece, ...]
    key: str
    base_ms: int

    @property
    def ext(self) -> str:
        """The file extension of the remuxed file."""
        return FORMATS[self.container][0]


def track_of(entry: dict[str, Any]) -> str:
    """A segment entry's track: `main` unless it names another (pure)."""
    return str(entry.get("track") or "main")


def plan_media(session: str, folder: Path, entries: Sequence[dict[str, Any]],
               only: str | None = None) -> MediaPlan | None:
    """The remux plan for a session's chain, or None when nothing was recorded yet (pure).

    `only="talkback"` plans the talkback track alone, on the same timeline as the whole
    file, for players that play one audio stream per element: the page plays it beside the
    video, in step.
    """
    start = next((e for e in entries if e.get("kind") == "session.start"), {})
    video = (start.get("media") or {}).get("video")
    container = "mp4" if video == "video/h264" and only is None else "webm"
    segments = [e for e in entries if e.get("kind") == "segment"]
    main = [e for e in segments if track_of(e) == "main"]
    if not main:
        return None
    pieces = tuple(Piece(folder / str(e["file"]), track_of(e),
                         e.get("media_start_ms") if isinstance(e.get("media_start_ms"), int)
                         else None) for e in segments)
    starts = [p.media_start_ms for p in pieces
              if p.track == "main" and p.media_start_ms is not None]
    base = min(starts) if starts else 0
    key = str(segments[-1]["hash"])[:32] + f"-{len(segments)}"
    if only is not None:
        pieces = tuple(p for p in pieces if p.track == only)
        if not pieces:
            return None
        key += f"-{only}"
    return MediaPlan(session, container, FORMATS[container][1], pieces, key, base)


def _ms(packet: Packet[Stream], value: int) -> float:
    tb = packet.time_base
    assert tb is not None
    return float(value * tb * 1000)


def _ticks(ms: float, tb: fractions.Fraction) -> int:
    return round(fractions.Fraction(ms).limit_denominator(1000) / 1000 / tb)


@dataclass
class _Out:
    stream: Stream
    last_dts: int = -1


class _Remuxer:
    def __init__(self, plan: MediaPlan, out: av.container.OutputContainer,
                 stop: threading.Event | None) -> None:
        self.plan = plan
        self.out = out
        self.stop = stop
        self.streams: dict[tuple[str, str], _Out] = {}

    def _stream_for(self, track: str, template: Stream) -> _Out | None:
        key = (track, template.type)
        if key not in self.streams:
            if track != "main" and self.plan.container == "mp4" and template.type == "video":
                return None  # talkback video is VP8, which MP4 players do not take
            self.streams[key] = _Out(self.out.add_stream_from_template(template))
        return self.streams[key]

    def _packets(self, track: str) -> Iterator[tuple[float, int, Packet[Stream], _Out]]:
        """One track's packets in file order, as (output ms, tiebreak, packet, stream)."""
        shift_ms = 0.0
        order = 0
        for piece in self.plan.pieces:
            if piece.track != track or not piece.path.is_file():
                continue
            try:
                for packet, out, shift in self._piece(piece, track, shift_ms):
                    shift_ms = shift
                    order += 1
                    assert packet.dts is not None
                    yield (_ms(packet, packet.dts) + shift_ms - self.plan.base_ms, order,
                           packet, out)
            except av.error.FFmpegError as exc:
                # A file cut short by a crash ends early; what was read still plays.
                log.warning("%s: %s ends early: %s", self.plan.session, piece.path.name, exc)

    def _piece(self, piece: Piece, track: str,
               shift_ms: float) -> Iterator[tuple[Packet[Stream], _Out, float]]:
        """A segment's packets with the shift that puts them on the session timeline.

        The shift comes from the segment's first video packet (its first packet when it has
        no video); packets before that one wait for it. A partial segment has no recorded
        start and keeps the shift of the one before it.
        """
        with av.open(str(piece.path)) as src:
            ins = [s for s in src.streams if s.type in ("video", "audio")]
            outs = {s.index: self._stream_for(track, s) for s in ins}
            anchor = next((s for s in ins if s.type == "video"), ins[0] if ins else None)
            known = piece.media_start_ms is None
            waiting: list[tuple[Packet[Stream], _Out]] = []
            for packet in src.demux(ins):
                if packet.pts is None or packet.dts is None or packet.size == 0:
                    continue
                out = outs.get(packet.stream.index)
                if not known and anchor is not None and packet.stream.index == anchor.index:
                    assert piece.media_start_ms is not None
                    shift_ms = piece.media_start_ms - _ms(packet, packet.pts)
                    known = True
                    for held, held_out in waiting:
                        yield held, held_out, shift_ms
                    waiting = []
                if out is None:
                    continue
                if known:
                    yield packet, out, shift_ms
                else:
                    waiting.append((packet, out))
            for held, held_out in waiting:
                yield held, held_out, shift_ms

    def run(self) -> None:
        tracks = sorted({p.track for p in self.plan.pieces}, key=lambda t: t != "main")
        # Open the main track's first file first, so its streams come first in the output.
        merged = heapq.merge(*(self._packets(t) for t in tracks), key=lambda x: (x[0], x[1]))
        for out_ms, _, packet, out in merged:
            if self.stop is not None and self.stop.is_set():
                raise RemuxCancelled()
            tb = packet.time_base
            assert tb is not None and packet.pts is not None and packet.dts is not None
            pts_ms = _ms(packet, packet.pts) - _ms(packet, packet.dts) + out_ms
            dts = max(_ticks(max(out_ms, 0.0), tb), out.last_dts + 1)
            pts = max(_ticks(max(pts_ms, 0.0), tb), dts)
            packet.dts, packet.pts = dts, pts
            out.last_dts = dts
            packet.stream = out.stream
            self.out.mux(packet)


def remux(plan: MediaPlan, out_path: Path, stop: threading.Event | None = None) -> None:
    """Write the plan's single file to `out_path` (whole or not at all)."""
    private_dir(out_path.parent)
    fd, tmp = tempfile.mkstemp(prefix=".remux.", suffix=f".{plan.ext}", dir=out_path.parent)
    os.close(fd)
    try:
        options = {"movflags": "+faststart"} if plan.container == "mp4" else {}
        with av.open(tmp, "w", format=plan.container, options=options) as out:
            _Remuxer(plan, out, stop).run()
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def session_plan(data_dir: Path, session_id: str, only: str | None = None) -> MediaPlan:
    """The remux plan of an existing session; NotFound for unknown ids or no media yet."""
    folder = session_folder(data_dir, session_id)
    plan = plan_media(session_id, folder, list(read_entries(folder / "ledger.jsonl")), only)
    if plan is None:
        what = "segment" if only is None else f"{only} segment"
        raise NotFound(f"session {session_id} has no recorded {what} yet")
    return plan


def cached_file(data_dir: Path, plan: MediaPlan) -> Path:
    """Where the plan's remuxed file lives in the cache."""
    return data_dir / CACHE_DIR / plan.session / f"{plan.key}.{plan.ext}"


def session_media(data_dir: Path, session_id: str, stop: threading.Event | None = None,
                  cache_bytes: int = CACHE_BYTES, only: str | None = None
                  ) -> tuple[Path, MediaPlan]:
    """The session's single file, remuxed now unless the cache has it for its newest segment."""
    plan = session_plan(data_dir, session_id, only)
    path = cached_file(data_dir, plan)
    if path.is_file():
        os.utime(path)  # recently played: the last to be evicted
        return path, plan
    remux(plan, path, stop)
    suffix = f"-{only}" if only else ""
    for old in path.parent.iterdir():
        # Older copies of the same file only: the whole file and the talkback file coexist.
        same_kind = old.stem.endswith(suffix) if suffix else not old.stem.endswith("-talkback")
        if old != path and same_kind and not old.name.startswith(".remux."):
            old.unlink(missing_ok=True)
    evict(data_dir / CACHE_DIR, cache_bytes, keep=path)
    return path, plan


def evict(cache: Path, limit: int, keep: Path) -> list[Path]:
    """Delete the least recently used cached files until the cache fits in `limit` bytes."""
    files = [(f.stat().st_mtime, f.stat().st_size, f) for f in cache.glob("*/*")
             if f.is_file() and not f.name.startswith(".remux.")]
    total = sum(size for _, size, _ in files)
    removed = []
    for _, size, f in sorted(files, key=lambda x: x[0]):
        if total <= limit:
            break
        if f == keep:
            continue
        f.unlink(missing_ok=True)
        total -= size
        removed.append(f)
    return removed


def drop_cache(data_dir: Path, session_id: str) -> None:
    """Delete a session's cached single file (it was removed)."""
    shutil.rmtree(data_dir / CACHE_DIR / session_id, ignore_errors=True)
