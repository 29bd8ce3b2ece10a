"""Evidence sessions: one writer thread per session turns frames and events into sealed files."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.cases import PendingCases
from recordings.ledger import canonical
from recordings.segments import ClosedSegment, SegmentWriter, container_for, file_sha256
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries

log = logging.getLogger(__name__)

SESSION_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9._-]{1,64}-[0-9a-f]{8}$")
OPEN_MARKER = "OPEN"
# About 20 s of 30 fps video plus audio: beyond this the disk is not keeping up.
QUEUE_FRAMES = 1500
# Room kept free for events and the seal: they are never dropped for media's sake.
QUEUE_RESERVE = 1000
RETRY_AFTER_S = 2.0
# Frames and events wait this long on the event loop and reach the writer thread together:
# waking the thread (and passing the GIL back and forth) for every frame cost more CPU than
# the relay's whole packet path. A kill -9 can lose what waits, so keep it short.
BATCH_S = 0.04
# A batch this large goes at once (a keyframe's burst, events in a row).
BATCH_ITEMS = 64

StatusCallback = Callable[[bool, str], None]
EntryObserver = Callable[[str, dict[str, Any]], None]


def utc_iso(t: float) -> str:
    """A server-clock time as UTC ISO 8601 with milliseconds."""
    moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_session_id(officer: str, now: float) -> str:
    """A session id: UTC start, officer, and 32 random bits."""
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{officer}-{secrets.token_hex(4)}"


MAIN = "main"
TALKBACK = "talkback"
# File name prefix of each track's segments; the main track's is the original format's.
TRACK_PREFIX = {MAIN: "seg", TALKBACK: "tb"}


@dataclass
class _Frame:
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
class _EndTrack:
    track: str


@dataclass
class _Event:
    fields: dict[str, Any]


@dataclass
class _Seal:
    state: str
    reason: str
    done: Callable[[], None]


_Item = _Frame | _Event | _EndTrack | _Seal | None


@dataclass
class SessionMedia:
    """What a session records: the video codec (or None) and whether there is Opus audio."""

    video: str | None
    audio: bool


@dataclass
class _SegmentState:
    writer: SegmentWriter
    index: int
    start_wall: float
    end_wall: float
    media_start_ms: int
    media_end_ms: int
    track: str = MAIN
    media: SessionMedia | None = None


class Evidence:
    """The evidence store of a data dir: the node key, the node chain and the sessions."""

    def __init__(self, data_dir: Path, node_id: str) -> None:
        self.data_dir = data_dir
        self.node_id = node_id
        self.key = NodeKey.load_or_create(data_dir)
        self.node_ledger = LedgerFile(data_dir / "ledger", self.key, shared=True)
        self.sessions_dir = data_dir / "sessions"
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        self.pending_cases = PendingCases(data_dir)
        # Called on the writer thread with each entry appended to a session chain.
        self.observers: list[EntryObserver] = []

    def notify(self, session_id: str, entry: dict[str, Any]) -> None:
        """Tell every observer (the search index) about a new session entry; never raises."""
        for observer in list(self.observers):
            try:
                observer(session_id, entry)
            except Exception:  # the index is rebuilt from the files; recording goes on
                log.exception("observer failed on session %s", session_id)

    def open_session(self, officer: str, media: SessionMedia, on_status: StatusCallback,
                     loop: asyncio.AbstractEventLoop) -> EvidenceSession:
        """Start recording a new session (its writer thread starts at once)."""
        session = EvidenceSession(self, new_session_id(officer, time.time()), officer, media,
                                  on_status, loop)
        session.start()
        return session

    def recover(self) -> list[str]:
        """Seal every session a crash left open as `interrupted`; returns their ids."""
        recovered = []
        for folder in sorted(self.sessions_dir.iterdir()):
            if folder.is_dir() and (folder / OPEN_MARKER).exists():
                _recover_session(self, folder)
                recovered.append(folder.name)
        return recovered


def _recover_session(evidence: Evidence, folder: Path) -> None:
    ledger = LedgerFile(folder, evidence.key)
    entries = list(read_entries(ledger.path))
    session = folder.name
    seal = next((e for e in entries if e.get("kind") == "session.seal"), None)
    if seal is not None:
        # The crash came after the seal was written: finish the steps that follow it.
        if ledger.last_signed_seq() < int(seal["seq"]):
            ledger.sign_head()
        sealed = any(e.get("kind") == "session.sealed" and e.get("session") == session
                     for e in read_entries(evidence.node_ledger.path))
        if not sealed:
            _note_sealed(evidence, session, seal)
        (folder / OPEN_MARKER).unlink(missing_ok=True)
        return
    start = next((e for e in entries if e.get("kind") == "session.start"), None)
    if start is None:
        # The crash came before the first entry: open the chain so the seal has a start.
        start = ledger.append({
            "kind": "session.start", "session": session,
            "officer": session.split("-", 1)[1].rsplit("-", 1)[0], "node": evidence.node_id,
            "at": utc_iso(folder.stat().st_mtime), "case": None,
            "media": {"video": None, "audio": None}, "container": None, "recovered": True})
        entries = [start]
    officer = str(start["officer"])
    case = start.get("case")
    segments = _ledger_unrecorded_segments(ledger, entries, folder, session, officer, case)
    _seal_chain(evidence, ledger, session, "interrupted", "recovered_after_crash", segments)
    (folder / OPEN_MARKER).unlink(missing_ok=True)
    log.warning("evidence session %s was left open by a crash and is sealed as interrupted",
                session)


def _ledger_unrecorded_segments(ledger: LedgerFile, entries: list[dict[str, Any]], folder: Path,
                                session: str, officer: str, case: object) -> int:
    """Hash and ledger segment files the chain does not name yet (cut short by a crash or a
    failing disk), marked partial; returns the session's segment count."""
    recorded = {e["file"] for e in entries if e.get("kind") == "segment"}
    segments = sum(1 for e in entries if e.get("kind") == "segment" and "track" not in e)
    talkback = len(recorded) - segments
    last_at = str(entries[-1].get("at", entries[-1].get("end", ""))) if entries else ""
    for path in sorted(folder.glob("seg-*")) + sorted(folder.glob("tb-*")):
        if path.name in recorded or not path.is_file():
            continue
        track = TALKBACK if path.name.startswith("tb-") else MAIN
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if track == MAIN:
            segments += 1
        else:
            talkback += 1
        mtime = utc_iso(path.stat().st_mtime)
        entry = {
            "kind": "segment", "session": session, "officer": officer, "case": case,
            "index": segments if track == MAIN else talkback, "file": path.name,
            "size": path.stat().st_size, "sha256": file_sha256(path),
            "start": last_at or mtime, "end": mtime,
            "media_start_ms": None, "media_end_ms": None, "partial": True,
        }
        if track != MAIN:
            entry["track"] = track
        ledger.append(entry)
        ledger.sign_head()
    return segments


def _seal_chain(evidence: Evidence, ledger: LedgerFile, session: str, state: str, reason: str,
                segments: int) -> None:
    seal = ledger.append({"kind": "session.seal", "session": session, "at": utc_iso(time.time()),
                          "state": state, "segments": segments, "reason": reason})
    ledger.sign_head()
    _note_sealed(evidence, session, seal)
    evidence.notify(session, seal)


def _note_sealed(evidence: Evidence, session: str, seal: dict[str, Any]) -> None:
    evidence.node_ledger.append({"kind": "session.sealed", "session": session,
                                 "at": seal["at"], "state": seal["state"],
                                 "head_seq": seal["seq"], "head_hash": seal["hash"]})
    evidence.node_ledger.sign_head()


class EvidenceSession:
    """One officer's evidence session. The event loop only enqueues; a thread does the disk."""

    def __init__(self, evidence: Evidence, session_id: str, officer: str, media: SessionMedia,
                 on_status: StatusCallback, loop: asyncio.AbstractEventLoop) -> None:
        self.evidence = evidence
        self.id = session_id
        self.officer = officer
        self.media = media
        self.folder = evidence.sessions_dir / session_id
        self.case: str | None = None
        self.recording = True
        self.dropped_frames = 0
        self.failures = 0
        self._format, self._ext = container_for(media.video)
        self._loop = loop
        self._on_status = on_status
        # Batches, in order; a batch holds at least one item, so the item bound bounds it too.
        self._queue: queue.Queue[list[_Item]] = queue.Queue(QUEUE_FRAMES + QUEUE_RESERVE)
        # Items gathered on the event loop for the next hand-off, and the timer that sends them.
        self._batch: list[_Item] = []
        self._flush_timer: asyncio.TimerHandle | None = None
        # Items handed to the writer thread and not yet written: with the batch, what the
        # queue bound counts (items, never batches).
        self._backlog = 0
        self._backlog_lock = threading.Lock()
        self.dropped_events = 0
        self._thread = threading.Thread(target=self._run, name=f"evidence-{session_id}",
                                        daemon=True)
        self._ledger: LedgerFile | None = None
        self._segment: _SegmentState | None = None
        self._segments = 0
        # Other tracks (talkback) have their own open segment and numbering.
        self._track_segments: dict[str, _SegmentState] = {}
        self._track_counts: dict[str, int] = {}
        self._pending_events: list[dict[str, Any]] = []
        self._failed_at: float | None = None
        self._sealed = False
        self.started_at = time.time()

    # -- the event loop's side ---------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread; the session folder and its first entries follow."""
        self._thread.start()

    def frame(self, kind: str, data: bytes, pts_ms: int, keyframe: bool, cut: bool,
              size: tuple[int, int] | None, track: str = MAIN,
              media: SessionMedia | None = None) -> bool:
        """Queue a frame for the segment files; False when it had to be dropped.

        `track` other than the main one (talkback) goes to that track's own segment
        files, whose streams `media` names.
        """
        if self._sealed or self._pending() >= QUEUE_FRAMES:
            self.dropped_frames += 1
            return False
        self._add(_Frame(kind, data, pts_ms, keyframe, time.time(), cut, size, track, media))
        return True

    def end_track(self, track: str) -> None:
        """Close a side track's open segment now (its span ended), so it is ledgered."""
        if not self._sealed and self._pending() < QUEUE_FRAMES + QUEUE_RESERVE - 2:
            self._add(_EndTrack(track))

    def event(self, name: str, **fields: Any) -> None:
        """Record a session event in the chain, in order with the media around it.

        Raises ValueError for fields the ledger cannot hold (NaN, infinities, non-JSON), so
        bad input is refused where it arrives and never reaches the writer thread.
        """
        entry = {"kind": "event", "session": self.id, "event": name, "at": utc_iso(time.time()),
                 **fields}
        canonical(entry)  # raises on what the chain could not store
        if self._sealed:
            log.warning("event %s for sealed session %s dropped", name, self.id)
            return
        if self._pending() >= QUEUE_FRAMES + QUEUE_RESERVE - 2:  # two slots: the seal
            self.dropped_events += 1
            log.error("evidence session %s dropped event %s: the writer is stuck", self.id, name)
            return
        self._add(_Event(entry))

    def set_case(self, case: str, by: str) -> None:
        """Give the live session a case number: later segments carry it, the chain records it."""
        self.case = case
        self.event("case.set", case=case, by=by)

    async def seal(self, reason: str) -> None:
        """Close the last segment, seal the chain and wait until it is on disk.

        The seal is queued before the first await, so cancelling the caller cannot leave a
        session half-sealed; the wait itself is shielded.
        """
        if self._sealed:
            return
        self._sealed = True
        done = self._loop.create_future()

        def resolve() -> None:
            if not done.done():
                done.set_result(None)

        def finished() -> None:
            self._loop.call_soon_threadsafe(resolve)

        # Frames stop at QUEUE_FRAMES, so the reserve always has room for these two; they go
        # with what is still gathered, after it.
        self._batch.append(_Seal("sealed", reason, finished))
        self._batch.append(None)
        self._hand_over()
        await asyncio.shield(done)
        # The thread has only the stop signal left to read; join it so none outlives its session.
        await asyncio.to_thread(self._thread.join, 5.0)

    def _pending(self) -> int:
        return self._backlog + len(self._batch)

    def _add(self, item: _Item) -> None:
        self._batch.append(item)
        if len(self._batch) >= BATCH_ITEMS:
            self._hand_over()
        elif self._flush_timer is None:
            self._flush_timer = self._loop.call_later(BATCH_S, self._hand_over)

    def _hand_over(self) -> None:
        """Give the writer thread everything gathered so far, as one batch."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        with self._backlog_lock:
            self._backlog += len(batch)
        self._queue.put_nowait(batch)

    # -- the writer thread -----------------------------------------------------------

    def _status(self, recording: bool, reason: str) -> None:
        if recording != self.recording:
            self.recording = recording
            self._loop.call_soon_threadsafe(self._on_status, recording, reason)

    def _run(self) -> None:
        try:
            self._open()
        except OSError as exc:
            self._fail(f"cannot create the session on disk: {exc}")
        while True:
            batch = self._queue.get()
            try:
                for item in batch:
                    if item is None:
                        return
                    self._write_item(item)
            finally:
                # Counted until written, so a stuck disk holds the bound on what waits in memory.
                with self._backlog_lock:
                    self._backlog -= len(batch)

    def _write_item(self, item: _Frame | _Event | _EndTrack | _Seal) -> None:
        try:
            if self._ledger is None:
                self._open()
            self._flush_pending()
            if isinstance(item, _Frame):
                if item.track == MAIN:
                    self._write_frame(item)
                else:
                    self._write_track_frame(item)
            elif isinstance(item, _Event):
                self._append(item.fields)
            elif isinstance(item, _EndTrack):
                self._close_track(item.track)
            else:
                for track in list(self._track_segments):
                    self._close_track(track)
                self._close_segment()
                assert self._ledger is not None
                self._segments = _ledger_unrecorded_segments(
                    self._ledger, list(read_entries(self._ledger.path)), self.folder,
                    self.id, self.officer, self.case)
                _seal_chain(self.evidence, self._ledger, self.id, item.state, item.reason,
                            self._segments)
                (self.folder / OPEN_MARKER).unlink(missing_ok=True)
        except OSError as exc:  # a full or broken disk must not end the live stream
            if isinstance(item, _Event):
                self._pending_events.append(item.fields)
            self._fail(str(exc))
        except Exception as exc:
            # Not the disk: retrying would fail the same way for ever, so drop this item.
            log.exception("evidence session %s could not write %s", self.id,
                          type(item).__name__)
            if not isinstance(item, _Event):
                self._fail(repr(exc))
        finally:
            if isinstance(item, _Seal):
                item.done()

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / OPEN_MARKER).write_text("recording\n")
        ledger = LedgerFile(self.folder, self.evidence.key)
        start = utc_iso(self.started_at)
        if self.case is None:
            try:
                self.case = self.evidence.pending_cases.take(self.officer)
            except OSError as exc:  # a case number is never worth not recording
                log.error("session %s starts without its waiting case number: %s", self.id, exc)
        first = ledger.append({
            "kind": "session.start", "session": self.id, "officer": self.officer,
            "node": self.evidence.node_id, "at": start, "case": self.case,
            "media": {"video": self.media.video,
                      "audio": "audio/opus" if self.media.audio else None},
            "container": self._format,
        })
        # Only a chain whose start is on disk may take other entries.
        self._ledger = ledger
        ledger.sign_head()
        self.evidence.node_ledger.append({"kind": "session.opened", "session": self.id,
                                          "officer": self.officer, "at": start})
        self.evidence.notify(self.id, first)

    def _append(self, fields: dict[str, Any]) -> None:
        assert self._ledger is not None
        self.evidence.notify(self.id, self._ledger.append(fields))

    def _flush_pending(self) -> None:
        while self._pending_events:
            self._append(self._pending_events[0])
            self._pending_events.pop(0)

    def _fail(self, reason: str) -> None:
        log.error("evidence session %s is not recording: %s", self.id, reason)
        self.failures += 1
        if self._segment is not None:
            try:
                self._close_segment()
            except Exception:  # the file stays; the seal ledgers it as partial
                self._segment = None
        for track in list(self._track_segments):
            try:
                self._close_track(track)
            except Exception:
                self._track_segments.pop(track, None)
        if self.recording:
            self._pending_events.append({"kind": "event", "session": self.id,
                                         "event": "recording.failed", "at": utc_iso(time.time()),
                                         "reason": reason})
        self._failed_at = time.monotonic()
        self._status(False, reason)

    def _write_frame(self, frame: _Frame) -> None:
        if self._failed_at is not None:
            # Retry on a keyframe once the disk had a moment; until then frames are lost.
            if not frame.keyframe or time.monotonic() - self._failed_at < RETRY_AFTER_S:
                return
            frame.cut = True
        if frame.cut or self._segment is None:
            if self._segment is None and not frame.keyframe and self.media.video:
                return
            self._close_segment()
            self._segments += 1
            path = self.folder / f"seg-{self._segments:06d}.{self._ext}"
            writer = SegmentWriter(path, self.media.video, self.media.audio, frame.size)
            self._segment = _SegmentState(writer, self._segments, frame.wall, frame.wall,
                                          frame.pts_ms, frame.pts_ms)
        segment = self._segment
        segment.writer.write(frame.kind, frame.data, frame.pts_ms, frame.keyframe)
        segment.end_wall = frame.wall
        segment.media_end_ms = max(segment.media_end_ms, frame.pts_ms)
        if self._failed_at is not None:
            self._failed_at = None
            self._append({"kind": "event", "session": self.id, "event": "recording.resumed",
                          "at": utc_iso(time.time())})
            self._status(True, "recording")

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        closed: ClosedSegment = segment.writer.close()
        self._append({
            "kind": "segment", "session": self.id, "officer": self.officer, "case": self.case,
            "index": segment.index, "file": closed.path.name, "size": closed.size,
            "sha256": closed.sha256, "start": utc_iso(segment.start_wall),
            "end": utc_iso(segment.end_wall), "media_start_ms": segment.media_start_ms,
            "media_end_ms": segment.media_end_ms, "partial": False,
        })
        assert self._ledger is not None
        self._ledger.sign_head()

    def _write_track_frame(self, frame: _Frame) -> None:
        """A side track's frame: its own files, never cut by or cutting the main track."""
        if self._failed_at is not None:
            return  # the disk is failing; the main track decides when to try again
        segment = self._track_segments.get(frame.track)
        media = frame.media or SessionMedia(video=None, audio=True)
        if frame.cut or segment is None:
            if segment is None and not frame.keyframe and media.video:
                return
            self._close_track(frame.track)
            index = self._track_counts.get(frame.track, 0) + 1
            self._track_counts[frame.track] = index
            _, ext = container_for(media.video)
            path = self.folder / f"{TRACK_PREFIX[frame.track]}-{index:06d}.{ext}"
            writer = SegmentWriter(path, media.video, media.audio, frame.size)
            segment = _SegmentState(writer, index, frame.wall, frame.wall, frame.pts_ms,
                                    frame.pts_ms, frame.track, media)
            self._track_segments[frame.track] = segment
        segment.writer.write(frame.kind, frame.data, frame.pts_ms, frame.keyframe)
        segment.end_wall = frame.wall
        segment.media_end_ms = max(segment.media_end_ms, frame.pts_ms)

    def _close_track(self, track: str) -> None:
        segment = self._track_segments.pop(track, None)
        if segment is None:
            return
        closed: ClosedSegment = segment.writer.close()
        self._append({
            "kind": "segment", "session": self.id, "officer": self.officer, "case": self.case,
            "index": segment.index, "file": closed.path.name, "size": closed.size,
            "sha256": closed.sha256, "start": utc_iso(segment.start_wall),
            "end": utc_iso(segment.end_wall), "media_start_ms": segment.media_start_ms,
            "media_end_ms": segment.media_end_ms, "partial": False, "track": segment.track,
        })
        assert self._ledger is not None
        self._ledger.sign_head()
