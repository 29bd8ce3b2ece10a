"""Background verifies of one session each, for the review API, and what they found.

A verify runs in a thread and reports its progress; its verdict goes into the search index
first and the audit chain after, so a listing never shows a job as done before it is. The
first break is reported as fields rendered from the verifier's structured break.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fieldrelay.tasks import TaskGroupOwner
from fieldrelay.tokens import Claims
from recordings.audit import utc_now
from recordings.index import SessionIndex
from recordings.store import LedgerCorrupt, read_entries
from recordings.verify import PUBLIC_KEY_FILE, RULE_FILES, Break, verify_session_dir


@dataclass
class VerifyJob:
    """A background verify of one session and what it found."""

    state: str = "running"
    progress: float = 0.0
    broken: dict[str, Any] | None = None
    checked_at: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def public(self) -> dict[str, Any]:
        """The job as GET /verify reports it."""
        return {"state": self.state, "progress": round(self.progress, 4),
                "broken": self.broken, "checked_at": self.checked_at}


class VerifyCancelled(Exception):
    """The node is stopping: the verify gives up mid-file."""


class Record(Protocol):
    """Appends an access record to the audit chain (the review desk's `record`)."""

    async def __call__(self, claims: Claims | None, action: str, session: str | None,
                      outcome: str, detail: object = None, **extra: Any) -> None: ...


def broken_detail(brk: Break) -> dict[str, Any]:
    """The first break as the review API and the audit chain report it (pure).

    {file, segment, seq, reason}: `file` and `segment` name a segment file that the ledger
    lists (None for breaks elsewhere: the ledger, its signatures, an unlisted file), `seq`
    the ledger entry concerned, `reason` the verifier's sentence.
    """
    listed = brk.rule == RULE_FILES and brk.entry is not None
    return {"file": brk.file if listed else None, "segment": brk.segment if listed else None,
            "seq": brk.entry, "reason": brk.sentence}


def run_verify(data_dir: Path, sid: str, job: VerifyJob) -> tuple[Break | None, str | None]:
    """(first break or None, the head hash it covers); blocks for the whole verify."""
    folder = data_dir / "sessions" / sid
    try:
        entries = list(read_entries(folder / "ledger.jsonl"))
    except LedgerCorrupt:
        entries = []
    head = str(entries[-1]["hash"]) if entries and "hash" in entries[-1] else None

    def progress(done: int, total: int) -> None:
        if job.cancel.is_set():
            raise VerifyCancelled()
        job.progress = done / total if total else 1.0

    pem = (data_dir / "keys" / PUBLIC_KEY_FILE).read_bytes()
    return verify_session_dir(folder, pem, progress).first, head


class VerifyJobs:
    """The verifies of the review desk: one running per session; `aclose` stops them all."""

    def __init__(self, data_dir: Path, index: SessionIndex, record: Record) -> None:
        self.data_dir = data_dir
        self.index = index
        self.record = record
        self.jobs: dict[str, VerifyJob] = {}
        self.tasks = TaskGroupOwner("verify jobs")

    async def start(self, claims: Claims, sid: str) -> VerifyJob:
        """The running verify of `sid`, started now (and audited) unless one runs."""
        job = self.jobs.get(sid)
        if job is None or job.state != "running":
            job = VerifyJob()
            self.jobs[sid] = job
            await self.record(claims, "verify", sid, "started")
            self.tasks.spawn(self._run(claims, sid, job), name=f"verify-{sid}")
        return job

    def integrity(self, sid: str) -> dict[str, Any]:
        """The running or last verify of a session, as GET /verify reports it; blocks."""
        job = self.jobs.get(sid)
        if job is not None and job.state == "running":
            return job.public()
        # A finished job wrote the index before it said so; the index also knows when the
        # session grew since (then it is no longer verified).
        stored = self.index.integrity_of(sid)
        if stored is None or stored["state"] not in ("verified", "broken"):
            return {"state": "idle", "progress": 0.0, "broken": None, "checked_at": None}
        return {"state": stored["state"], "progress": 1.0, "broken": stored["broken"],
                "checked_at": stored["at"]}

    async def _run(self, claims: Claims, sid: str, job: VerifyJob) -> None:
        try:
            first, head = await asyncio.to_thread(run_verify, self.data_dir, sid, job)
        except asyncio.CancelledError:
            job.cancel.set()
            job.state = "idle"
            raise
        except VerifyCancelled:
            job.state = "idle"
            return
        checked_at = utc_now()
        broken = broken_detail(first) if first is not None else None
        state = "broken" if first is not None else "verified"
        # The index first: once the job reports done, every listing shows the same verdict.
        await asyncio.to_thread(self.index.set_integrity, sid, state, checked_at, head, broken)
        job.checked_at, job.progress, job.broken, job.state = checked_at, 1.0, broken, state
        await self.record(claims, "verify", sid, state, head=head, broken=broken,
                          checked_at=checked_at)

    async def aclose(self) -> None:
        """Stop every verify mid-file and wait for its task."""
        for job in self.jobs.values():
            job.cancel.set()
        await self.tasks.aclose()
