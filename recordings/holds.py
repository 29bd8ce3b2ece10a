"""Legal holds: a session on hold is kept by retention whatever its age.

A hold is a `session.hold` entry in the node chain (FORMAT.md "Node chain"); the newest one per
session is its state, so a release is a later entry with `hold: false`. Every function blocks
on the disk.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from recordings.layout import utc_iso
from recordings.store import LedgerFile, read_entries


def current_holds(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The newest `session.hold` node entry of each session (held or released)."""
    holds: dict[str, dict[str, Any]] = {}
    for entry in read_entries(data_dir / "ledger" / "ledger.jsonl"):
        if entry.get("kind") == "session.hold" and isinstance(entry.get("session"), str):
            holds[entry["session"]] = entry
    return holds


def set_hold(node_ledger: LedgerFile, session: str, hold: bool, reason: str | None,
             by: str) -> dict[str, Any]:
    """Put a session on legal hold or release it: a signed node chain entry."""
    now = datetime.datetime.now(datetime.UTC).timestamp()
    entry = node_ledger.append({"kind": "session.hold", "session": session, "hold": hold,
                                "reason": reason, "by": by, "at": utc_iso(now)})
    node_ledger.sign_head()
    return entry
