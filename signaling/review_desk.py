"""The review desk: what the review API holds (index, audit log, verify jobs, remux locks).

It is app state under the REVIEW key, built and started by `signaling.app`, and every access
a person makes to evidence through it is recorded on the audit chain.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from fieldrelay.tasks import cancel_and_wait
from fieldrelay.tokens import Claims
from recordings.audit import AuditLog
from recordings.audit_merge import MinuteMerger
from recordings.index import SessionIndex
from recordings.session import Evidence
from signaling.verify_jobs import VerifyJobs

log = logging.getLogger(__name__)
# How often the counts of merged records are written once their minute is over, so an idle
# node (or one that is killed) loses at most this long of counts.
FLUSH_EVERY_S = 10.0

# who, role, action, session, outcome, detail: what a merged record and its summary say.
MergeKey = tuple[str, str, str, str | None, str, str | None]


class ReviewDesk:
    """What the review API holds: the index, the audit log, verify jobs and remux locks."""

    def __init__(self, data_dir: Path, evidence: Evidence) -> None:
        self.data_dir = data_dir
        self.evidence = evidence
        self.index = SessionIndex(data_dir)
        self.audit = AuditLog(data_dir, evidence.key, evidence.archive)
        self.verifies = VerifyJobs(data_dir, self.index, self.record)
        self.stop = threading.Event()
        self._remux_locks: dict[str, asyncio.Lock] = {}
        self._merger: MinuteMerger[MergeKey] = MinuteMerger()
        # Which minute a record falls in; tests set it to cross a minute on purpose.
        self.clock: Callable[[], float] = time.time
        # One hold change at a time, so two admins cannot both be "the first" of a release.
        self.hold_lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

    def remux_lock(self, session_id: str) -> asyncio.Lock:
        """One remux per session at a time; later requests wait and reuse the cached file."""
        return self._remux_locks.setdefault(session_id, asyncio.Lock())

    async def record(self, claims: Claims | None, action: str, session: str | None,
                     outcome: str, detail: object = None, **extra: Any) -> None:
        """Append an access record (off the event loop)."""
        await self.flush_merged()
        who, role = (claims.name, claims.role) if claims else ("anonymous", "none")
        await asyncio.to_thread(self.audit.append, who, role, action, session, outcome,
                                detail, **extra)

    async def record_merged(self, claims: Claims | None, action: str, session: str | None,
                            outcome: str, detail: str | None = None, *,
                            merge_session: bool = True, **extra: Any) -> None:
        """Append an access record, or only count it when the same user already has one of
        this action, outcome and detail (and session, with `merge_session`) this minute.

        The first record of a minute is durable before this returns; the count of its repeats
        follows as one record with `repeats` and `minute` once the minute is over. Refusals
        merge across sessions (`merge_session=False`), so a client cycling through made-up
        ids still adds at most one record per action and minute.
        """
        await self.flush_merged()
        who, role = (claims.name, claims.role) if claims else ("anonymous", "none")
        key = (who, role, action, session if merge_session else None, outcome,
               detail if merge_session else None)
        if self._merger.note(key, self.clock()):
            await asyncio.to_thread(self.audit.append, who, role, action, session, outcome,
                                    detail, **{k: v for k, v in extra.items() if v is not None})

    async def flush_merged(self, everything: bool = False) -> None:
        """Write the repeat counts of minutes that are over (all of them with `everything`)."""
        due = self._merger.take_due(self.clock(), everything)
        for done, merged in enumerate(due):
            who, role, action, session, outcome, detail = merged.key
            try:
                await asyncio.to_thread(self.audit.append, who, role, action, session,
                                        outcome, detail, repeats=merged.repeats,
                                        minute=merged.minute)
            except BaseException:
                self._merger.requeue(due[done:])  # written next time, not lost
                raise

    async def start(self) -> None:
        """Catch the index up with the files, then keep it current as ledgers grow."""
        await asyncio.to_thread(self.index.sync)
        # Exports a crash interrupted left their work files here.
        await asyncio.to_thread(shutil.rmtree, self.data_dir / "cache" / "exports", True)
        self.evidence.observers.append(self.index.note_entry)
        self._flusher = asyncio.get_running_loop().create_task(self._flush_forever(),
                                                                 name="audit-merge-flush")

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY_S)
            try:
                await self.flush_merged()
            except OSError:
                # A full disk: the counts stay due and go with the next try.
                log.exception("cannot write merged audit records")

    async def aclose(self) -> None:
        """Stop watching ledgers, stop remuxes and verifies, and wait for their tasks."""
        if self.index.note_entry in self.evidence.observers:
            self.evidence.observers.remove(self.index.note_entry)
        self.stop.set()
        await cancel_and_wait(self._flusher)
        await self.verifies.aclose()
        await self.flush_merged(everything=True)


REVIEW = web.AppKey("review", ReviewDesk)
