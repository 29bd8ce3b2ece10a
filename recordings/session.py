"""Evidence sessions: one writer thread per session turns frames and events into sealed files.

`Evidence` is a data dir's store (the node key, the node chain, the sessions); an
`EvidenceSession` queues frames and events on the event loop and writes them on its thread.
The segment files of each track are `recordings.tracks`; sealing and crash recovery are
`recordings.recovery`; names and times on disk are `recordings.layout`.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.files import claim_dir, private_dir, replace_private
from recordings.archive.sink import PUBLIC_KEY, ArchiveSink
from recordings.cases import PendingCases, PendingStore
from recordings.layout import MAIN, OPEN_MARKER, TALKBACK, new_session_id, utc_iso
from recordings.ledger import canonical
from recordings.materials import MaterialChains, place_file, unplace_file
from recordings.recovery import (
    EntryObserver,
    ledger_unrecorded_segments,
    recover_session,
    seal_chain,
)
from recordings.segments import ClosedSegment, container_for
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from recordings.tracks import Frame, OpenSegment, SessionMedia, Tracks

# TALKBACK and SessionMedia live in layout and tracks; the relay takes them from here.
__all__ = [
    "BATCH_ITEMS", "BATCH_S", "QUEUE_FRAMES", "QUEUE_RESERVE", "RETRY_AFTER_S", "TALKBACK",
    "Evidence", "EvidenceSession", "SessionMedia",
]

log = logging.getLogger(__name__)

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


# What a material's arrival adds to the session, from the session's entries as they stand
# when it is sealed (the gaps a gap-fill covers): the writer thread computes it, so every
# event queued before the material is on disk by then.
Links = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
Added = tuple[dict[str, Any], list[dict[str, Any]]]


@dataclass
class _Material:
    """A complete upload to move into the session folder and ledger, with its events."""

    source: Path
    fields: dict[str, Any]
    links: Links
    done: Callable[[Added | None], None]


_Item = Frame | _Event | _EndTrack | _Seal | _Material | None


def _unwritten(items: list[_Item]) -> None:
    """Answer the callers waiting on items no writer will take: a seal returns, and a
    material is refused (its file stays where it was, to be sealed elsewhere)."""
    for item in items:
        if isinstance(item, _Seal):
            item.done()
        elif isinstance(item, _Material):
            item.done(None)


class Evidence:
    """The evidence store of a data dir: the node key, the node chain and the sessions."""

    def __init__(self, data_dir: Path, node_id: str, key_file: Path | None = None,
                 archive: ArchiveSink | None = None) -> None:
        self.data_dir = data_dir
        self.node_id = node_id
        if not (data_dir / "sessions").exists():
            # A data dir that holds no evidence yet (made by `fieldrelay user add`, or by
            # hand) becomes the service user's alone before the first key or entry lands.
            claim_dir(data_dir)
        self.key = NodeKey.load_or_create(data_dir, key_file)
        # Every chain line, segment and seal of this store is queued for the archive here.
        self.archive = archive
        if archive is not None:
            # The archive alone must be enough to check what it holds: the public key goes too.
            archive.enqueue(data_dir / "keys" / "node-ed25519.pub.pem", PUBLIC_KEY)
        self.node_ledger = LedgerFile(data_dir / "ledger", self.key, shared=True,
                                      archive=archive)
        self.sessions_dir = data_dir / "sessions"
        private_dir(self.sessions_dir)
        # A node with a shared catalog puts its own store here (signaling.catalog).
        self.pending_cases: PendingStore = PendingCases(data_dir)
        # Materials sealed outside a live session of this node: one chain per case.
        self.materials = MaterialChains(data_dir, self.key, node_id, archive)
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
                recover_session(folder, self.key, self.node_ledger, self.node_id, self.notify,
                                self.archive)
                recovered.append(folder.name)
        return recovered


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
        self._format = container_for(media.video)[0]
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
        # Set (under the lock) when the writer thread has ended: what is handed over after
        # that is answered at once instead of queued for a thread that will never read it.
        self._writer_ended = False
        self.dropped_events = 0
        self._thread = threading.Thread(target=self._run, name=f"evidence-{session_id}",
                                        daemon=True)
        self._ledger: LedgerFile | None = None
        # Other tracks (talkback) have their own open segment and numbering.
        self._tracks = Tracks(self.folder, media, self._ledger_segment)
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
        self._add(Frame(kind, data, pts_ms, keyframe, time.time(), cut, size, track, media))
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

    async def add_material(self, source: Path, fields: dict[str, Any],
                           links: Links) -> Added | None:
        """Seal a material into this session's chain: its file (`fields["file"]`) moved from
        `source` into the session folder, its entry and the events `links` makes of the
        session's entries appended and signed, in order with the media around it. Returns
        (entry, events) once on disk; None when the session is sealed, its writer is stuck
        or the disk refused (the file is then back at `source`, to be sealed elsewhere)."""
        if self._sealed or self._pending() >= QUEUE_FRAMES + QUEUE_RESERVE - 3:
            return None
        done: asyncio.Future[Added | None] = self._loop.create_future()

        def resolve(added: Added | None) -> None:
            if not done.done():
                done.set_result(added)

        def finished(added: Added | None) -> None:
            self._loop.call_soon_threadsafe(resolve, added)

        self._add(_Material(source, {**fields, "session": self.id}, links, finished))
        self._hand_over()
        return await asyncio.shield(done)

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
            if not self._writer_ended:
                self._backlog += len(batch)
                self._queue.put_nowait(batch)
                return
        _unwritten(batch)

    # -- the writer thread -----------------------------------------------------------

    def _status(self, recording: bool, reason: str) -> None:
        if recording != self.recording:
            self.recording = recording
            self._loop.call_soon_threadsafe(self._on_status, recording, reason)

    def _run(self) -> None:
        try:
            self._write_until_sealed()
        finally:
            # However the thread ends, nobody may wait for ever for a seal or a material it
            # will never write (a seal() awaits its done callback, and the node's shutdown
            # awaits the seal).
            with self._backlog_lock:
                self._writer_ended = True
                left: list[_Item] = []
                while True:
                    try:
                        left += self._queue.get_nowait()
                    except queue.Empty:
                        break
            if any(isinstance(item, (_Seal, _Material)) for item in left):
                log.error("evidence session %s: the writer ended before the seal", self.id)
            _unwritten(left)

    def _write_until_sealed(self) -> None:
        try:
            self._open()
        except Exception as exc:  # the disk, or a chain start it refuses: not the thread's end
            self._fail(f"cannot create the session on disk: {exc!r}")
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

    def _write_material(self, item: _Material) -> None:
        """Move the material in, append its entry and events, sign; tell the caller either way."""
        added: Added | None = None
        dest = self.folder / str(item.fields["file"])
        try:
            if self._ledger is None:
                self._open()
            self._flush_pending()
            assert self._ledger is not None
            events = item.links(list(read_entries(self._ledger.path)))
            place_file(item.source, dest)
            try:
                entry = self._ledger.append(item.fields)
            except BaseException:
                unplace_file(dest, item.source)
                raise
            added = (entry, [])
            self.evidence.notify(self.id, entry)
            for event in events:
                self._append({"kind": "event", "session": self.id, "at": entry["at"], **event})
                added[1].append(event)
            self._ledger.sign_head()
        except Exception:
            # The material is sealed elsewhere (its case's materials chain); recording goes on.
            log.exception("evidence session %s could not take material %s", self.id,
                          item.fields.get("material"))
        finally:
            item.done(added)

    def _write_item(self, item: Frame | _Event | _EndTrack | _Seal | _Material) -> None:
        if isinstance(item, _Material):
            self._write_material(item)
            return
        try:
            if self._ledger is None:
                self._open()
            self._flush_pending()
            if isinstance(item, Frame):
                if item.track == MAIN:
                    self._write_frame(item)
                else:
                    self._write_track_frame(item)
            elif isinstance(item, _Event):
                self._append(item.fields)
            elif isinstance(item, _EndTrack):
                self._tracks.close_side(item.track)
            else:
                self._tracks.close_all()
                assert self._ledger is not None
                segments = ledger_unrecorded_segments(
                    self._ledger, list(read_entries(self._ledger.path)), self.folder,
                    self.id, self.officer, self.case)
                seal_chain(self._ledger, self.evidence.node_ledger, self.evidence.notify,
                           self.id, item.state, item.reason, segments)
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
        private_dir(self.folder)
        replace_private(self.folder / OPEN_MARKER, b"recording\n")
        ledger = LedgerFile(self.folder, self.evidence.key, archive=self.evidence.archive)
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
        self._tracks.drop_after_failure()
        if self.recording:
            self._pending_events.append({"kind": "event", "session": self.id,
                                         "event": "recording.failed", "at": utc_iso(time.time()),
                                         "reason": reason})
        self._failed_at = time.monotonic()
        self._status(False, reason)

    def _write_frame(self, frame: Frame) -> None:
        if self._failed_at is not None:
            # Retry on a keyframe once the disk had a moment; until then frames are lost.
            if not frame.keyframe or time.monotonic() - self._failed_at < RETRY_AFTER_S:
                return
            frame.cut = True
        if not self._tracks.write_main(frame):
            return
        if self._failed_at is not None:
            self._failed_at = None
            self._append({"kind": "event", "session": self.id, "event": "recording.resumed",
                          "at": utc_iso(time.time())})
            self._status(True, "recording")

    def _write_track_frame(self, frame: Frame) -> None:
        if self._failed_at is not None:
            return  # the disk is failing; the main track decides when to try again
        self._tracks.write_side(frame)

    def _ledger_segment(self, segment: OpenSegment) -> None:
        """Close a segment file and append its signed entry."""
        closed: ClosedSegment = segment.writer.close()
        track = {} if segment.track == MAIN else {"track": segment.track}
        self._append({
            "kind": "segment", "session": self.id, "officer": self.officer, "case": self.case,
            "index": segment.index, "file": closed.path.name, "size": closed.size,
            "sha256": closed.sha256, "start": utc_iso(segment.start_wall),
            "end": utc_iso(segment.end_wall), "media_start_ms": segment.media_start_ms,
            "media_end_ms": segment.media_end_ms, "partial": False, **track,
        })
        assert self._ledger is not None
        self._ledger.sign_head()
