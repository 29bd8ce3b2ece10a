"""A session's seal always returns: its writer thread does not die of a chain start it cannot
write (and a writer that ended anyway answers every seal and material handed to it).

The node's shutdown awaits every seal, so a seal that waited for a dead writer hung it.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from recordings.layout import OPEN_MARKER
from recordings.session import Evidence, SessionMedia

pytestmark = pytest.mark.timeout(60)

MEDIA = SessionMedia(video=None, audio=True)


async def test_a_chain_start_the_writer_cannot_write_fails_the_recording_not_the_seal(
        tmp_path: Path) -> None:
    evidence = Evidence(tmp_path / "data", "node-a")
    # A waiting case number the chain cannot hold (a lone surrogate: not UTF-8), as a
    # hand-edited or damaged pending file can give: the chain's first entry is refused.
    evidence.pending_cases.put("o1", "\ud800")
    statuses: list[tuple[bool, str]] = []
    session = evidence.open_session("o1", MEDIA,
                                    lambda recording, reason: statuses.append((recording, reason)),
                                    asyncio.get_running_loop())
    session.event("note", n=1)
    await asyncio.wait_for(session.seal("stopped"), 10)
    assert not [t for t in threading.enumerate() if t.name == f"evidence-{session.id}"]
    assert statuses and statuses[0][0] is False and "UnicodeEncodeError" in statuses[0][1]
    # Nothing was sealed: the start that crash recovery seals as interrupted is all there is.
    assert (tmp_path / "data" / "sessions" / session.id / OPEN_MARKER).exists()
