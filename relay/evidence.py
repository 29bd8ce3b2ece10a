"""The one way to write evidence from above recordings/: events and case numbers, by officer.

Desks and the API never hold an evidence session: they name the officer, and this writes
into that officer's live session on this node, if there is one, and says whether it did.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from recordings.session import Evidence
from relay.directory import StreamDirectory


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
