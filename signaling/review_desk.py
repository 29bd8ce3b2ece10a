"""The review desk: what the review API holds (index, audit log, verify jobs, remux locks).

It is app state under the REVIEW key, owned by `review_ctx`, and every access a person makes
to evidence through it is recorded on the audit chain.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web

from fieldrelay.tokens import Claims
from recordings.audit import AuditLog
from recordings.index import SessionIndex
from recordings.session import Evidence
from signaling.keys import CONFIG, REGISTRY
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

    async def aclose(self) -> None:
        """Stop remuxes and verifies, and wait for their tasks."""
        self.stop.set()
        await self.verifies.aclose()


REVIEW = web.AppKey("review", ReviewDesk)


async def review_ctx(app: web.Application) -> AsyncIterator[None]:
    """Owns the review desk; runs after the relay context, whose evidence it observes."""
    config = app[CONFIG]
    evidence = app[REGISTRY].evidence
    desk = ReviewDesk(config.data_dir, evidence)
    app[REVIEW] = desk
    await asyncio.to_thread(desk.index.sync)
    # Exports a crash interrupted left their work files here.
    await asyncio.to_thread(shutil.rmtree, config.data_dir / "cache" / "exports", True)
    evidence.observers.append(desk.index.note_entry)
    try:
        yield
    finally:
        if desk.index.note_entry in evidence.observers:
            evidence.observers.remove(desk.index.note_entry)
        await desk.aclose()
