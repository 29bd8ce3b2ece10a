"""The one way to write evidence from above recordings/: events and case numbers, by officer.

Desks and the API never hold an evidence session: they name the officer, and this writes
into that officer's live session on this node, if there is one, and says whether it did.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.errors import NotFound
from recordings.layout import SESSION_ID_RE
from recordings.material_rules import Sealing, gap_fills
from recordings.session import Evidence, EvidenceSession
from recordings.store import LedgerCorrupt, read_entries
from relay.directory import StreamDirectory


@dataclass(frozen=True)
class SealedMaterial:
    """A material on disk: its entry and the folder of the chain that holds it."""

    entry: dict[str, Any]
    chain: str  # `sessions/<id>` or `materials/<name>`
    events: list[dict[str, Any]]  # the events it caused (gap.filled, preevent.attached)


@dataclass(frozen=True)
class LiveSession:
    """An officer's live evidence session on this node."""

    id: str
    case: str | None


class LiveEvidence:
    """Writes events and case numbers into the live evidence sessions of this node."""

    def __init__(self, store: Evidence, streams: StreamDirectory) -> None:
        self.store = store
        self._streams = streams

    def record(self, officer: str, event: str, **fields: Any) -> bool:
        """Append an event to the officer's live session here; False if none is live here.

        Raises ValueError for fields the ledger cannot hold (NaN, infinities, non-JSON).
        """
        stream = self._streams.get(officer)
        return stream is not None and stream.record(event, **fields)

    def is_recording(self, officer: str) -> bool:
        """True while the officer has a live evidence session on this node."""
        return self.live_session(officer) is not None

    def live_session(self, officer: str) -> LiveSession | None:
        """The officer's live session here: its id and case number."""
        stream = self._streams.get(officer)
        session = stream.session if stream is not None else None
        return LiveSession(session.id, session.case) if session is not None else None

    def set_case(self, officer: str, case: str, by: str) -> str | None:
        """Give the officer's live session a case number (recorded as an event, and carried
        by its later segments); returns the session's id, or None if none is live here."""
        stream = self._streams.get(officer)
        session = stream.session if stream is not None else None
        if session is None:
            return None
        session.set_case(case, by)
        return session.id

    async def pending_case(self, officer: str) -> str | None:
        """The case number the officer's next session will carry, if one is set."""
        return await asyncio.to_thread(self.store.pending_cases.get, officer)

    async def set_pending_case(self, officer: str, case: str | None) -> None:
        """Set (or clear, with None) the case number of the officer's next session."""
        await asyncio.to_thread(self.store.pending_cases.put, officer, case)

    def session_entries(self, officer: str, session_id: str) -> list[dict[str, Any]]:
        """The entries of one of the officer's sessions (blocks on the disk); NotFound when
        there is no such session of this officer."""
        folder = self.store.sessions_dir / session_id
        if not SESSION_ID_RE.fullmatch(session_id) or not (folder / "ledger.jsonl").is_file():
            raise NotFound(f"there is no session {session_id} of yours on this node")
        try:
            entries = list(read_entries(folder / "ledger.jsonl"))
        except LedgerCorrupt:
            entries = []
        start = entries[0] if entries else {}
        if start.get("kind") != "session.start" or start.get("officer") != officer:
            raise NotFound(f"there is no session {session_id} of yours on this node")
        return entries

    async def check_session(self, officer: str, session_id: str) -> None:
        """NotFound unless `session_id` is one of the officer's sessions here. A session live
        on this node counts at once, before its writer has put its start on disk."""
        if self._live(officer, session_id) is None:
            await asyncio.to_thread(self.session_entries, officer, session_id)

    async def seal_material(self, sealing: Sealing, source: Path,
                            then: Callable[[SealedMaterial], None] | None = None
                            ) -> SealedMaterial:
        """Seal a complete upload as a material and return it once it is on disk.

        Linked to a session (`session`) that is live here, it goes into that session's
        chain, with its events (`preevent.attached`, `gap.filled`) among the session's own;
        else into the materials chain of its case, the events with it. A session the officer
        does not own is NotFound. `then(sealed)` is disk work that follows the seal, run in
        the thread that sealed it where there is one (one hand-off fewer for a photo).
        """
        session_id = sealing.meta["session"]
        events: list[dict[str, Any]] = []
        if session_id is not None:
            live = self._live(sealing.officer, session_id)
            # A live session takes the material through its writer (after its start);
            # another must already be on disk.
            entries = [] if live is not None else await asyncio.to_thread(
                self.session_entries, sealing.officer, session_id)
            if sealing.meta["case"] is None:
                # A material of a session belongs to the session's case (a live session's
                # newest case may still wait in its writer's queue).
                case = live.case if live is not None else _case_of(entries)
                sealing = dataclasses.replace(sealing, meta={**sealing.meta, "case": case})
            if live is not None:
                linked = sealing
                added = await live.add_material(source, sealing.entry(self.store.node_id,
                                                                      session_id),
                                                lambda now: _links(linked, now))
                if added is not None:
                    sealed = SealedMaterial(added[0], f"sessions/{session_id}",
                                            _as_entries(added[1], session_id))
                    if then is not None:
                        await asyncio.to_thread(then, sealed)
                    return sealed
                # Sealed meanwhile: its chain is complete now.
                entries = await asyncio.to_thread(self.session_entries, sealing.officer,
                                                  session_id)
            events = _links(sealing, entries)
        chains = self.store.materials
        folder = f"materials/{chains.folder(sealing.meta['case']).name}"

        def seal() -> SealedMaterial:
            entry = chains.seal(sealing, source, session_id, events)
            sealed = SealedMaterial(entry, folder, _as_entries(events, session_id))
            if then is not None:
                then(sealed)
            return sealed

        return await asyncio.to_thread(seal)

    def _live(self, officer: str, session_id: str) -> EvidenceSession | None:
        stream = self._streams.get(officer)
        session = stream.session if stream is not None else None
        return session if session is not None and session.id == session_id else None


def _links(sealing: Sealing, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The session events a linked material causes: the pre-event seconds attached, or the
    gaps a gap-fill clip covers."""
    claims = sealing.meta["claims"]
    if sealing.meta["kind"] == "preevent":
        return [{"event": "preevent.attached", "material": sealing.id,
                 "from": claims.get("from"), "to": claims.get("to")}]
    if sealing.meta["kind"] == "gapfill":
        return gap_fills(sealing.id, entries, claims["from"], claims["to"])
    return []


def _case_of(entries: list[dict[str, Any]]) -> str | None:
    """The session's newest case number (its start's, or the last `case.set`)."""
    case = None
    for e in entries:
        if e.get("kind") == "session.start" or e.get("event") == "case.set":
            value = e.get("case")
            case = value if isinstance(value, str) and value else case
    return case


def _as_entries(events: list[dict[str, Any]], session_id: str | None) -> list[dict[str, Any]]:
    return [{"kind": "event", "session": session_id, **e} for e in events]
