"""The review desk: what the review API holds (index, audit log, verify jobs, remux locks).

It is app state under the REVIEW key, built and started by `signaling.app`, and every access
a person makes to evidence through it is recorded on the audit chain.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

from aiohttp import web

from fieldrelay.tokens import Claims
from recordings.audit import AuditLog
from recordings.index import SessionIndex
from recordings.session import Evidence
from signaling.verify_jobs import VerifyJobs


class ReviewDesk:
    """What the review API holds: the index, the audit log, verify jobs and remux locks."""

    def __init__(self, data_dir: Path, evidence: Evidence) -> None:
        self.data_dir = data_dir
        self.evidence = evidence
        self.index = SessionIndex(data_dir)
        self.audit = AuditLog(data_dir, evidence.key)
        self.verifies = VerifyJobs(data_dir, self.index, self.record)
        self.stop = threading.Event()
        self._remux_locks: dict[str, asyncio.Lock] = {}

    def remux_lock(self, session_id: str) -> asyncio.Lock:
        """One remux per session at a time; later requests wait and reuse the cached file."""
        return self._remux_locks.setdefault(session_id, asyncio.Lock())

    async def record(self, claims: Claims | None, action: str, session: str | None,
                     outcome: str, detail: object = None, **extra: Any) -> None:
        """Append an access record (off the event loop)."""
        who, role = (claims.name, claims.role) if claims else ("anonymous", "none")
        await asyncio.to_thread(self.audit.append, who, role, action, session, outcome,
                                detail, **extra)

    async def start(self) -> None:
        """Catch the index up with the files, then keep it current as ledgers grow."""
        await asyncio.to_thread(self.index.sync)
        # Exports a crash interrupted left their work files here.
        await asyncio.to_thread(shutil.rmtree, self.data_dir / "cache" / "exports", True)
        self.evidence.observers.append(self.index.note_entry)

    async def aclose(self) -> None:
        """Stop watching ledgers, stop remuxes and verifies, and wait for their tasks."""
        if self.index.note_entry in self.evidence.observers:
            self.evidence.observers.remove(self.index.note_entry)
        self.stop.set()
        await self.verifies.aclose()


REVIEW = web.AppKey("review", ReviewDesk)
