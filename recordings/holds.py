"""Legal holds: a session on hold is kept by retention whatever its age.

A hold is a `session.hold` entry in the node chain (FORMAT.md "Node chain"); the newest one per
session is its state, so a release is a later entry with `hold: false`. With the two-person
release, a first admin's lift is a `session.hold.release_requested` entry that changes nothing
until a second admin confirms it with the `session.hold` release; a newer hold entry cancels
it. Every function blocks on the disk, but `pending_release` and `release_check`.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from recordings.layout import utc_iso
from recordings.store import LedgerFile, read_entries

HOLD = "session.hold"
RELEASE_REQUESTED = "session.hold.release_requested"


def current_holds(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The newest `session.hold` node entry of each session (held or released); a held one
    carries `pending_release` (the request entry) while a release waits for its second admin."""
    holds: dict[str, dict[str, Any]] = {}
    for entry in read_entries(data_dir / "ledger" / "ledger.jsonl"):
        sid = entry.get("session")
        if not isinstance(sid, str):
            continue
        if entry.get("kind") == HOLD:
            holds[sid] = dict(entry)
        elif entry.get("kind") == RELEASE_REQUESTED and holds.get(sid, {}).get("hold"):
            holds[sid]["pending_release"] = {k: entry.get(k) for k in ("by", "reason", "at")}
    return holds


def pending_release(hold: dict[str, Any] | None) -> dict[str, Any] | None:
    """The release request waiting for a second admin, if the session has one (pure)."""
    if not hold or not hold.get("hold"):
        return None
    pending = hold.get("pending_release")
    return pending if isinstance(pending, dict) else None


def release_check(hold: dict[str, Any] | None, by: str, two_person: bool) -> str:
    """What a lift by admin `by` does (pure): "release" at once, "request" (the first of two
    admins), or "same_admin" (the requester cannot confirm their own request)."""
    if not two_person or not hold or not hold.get("hold"):
        return "release"
    pending = pending_release(hold)
    if pending is None:
        return "request"
    return "same_admin" if pending.get("by") == by else "release"


def _now_iso() -> str:
    return utc_iso(datetime.datetime.now(datetime.UTC).timestamp())


def set_hold(node_ledger: LedgerFile, session: str, hold: bool, reason: str | None,
             by: str, **extra: Any) -> dict[str, Any]:
    """Put a session on legal hold or release it: a signed node chain entry (`extra`, e.g.
    who requested a two-person release, goes into the entry)."""
    entry = node_ledger.append({"kind": HOLD, "session": session, "hold": hold,
                                "reason": reason, "by": by, "at": _now_iso(), **extra})
    node_ledger.sign_head()
    return entry


def request_release(node_ledger: LedgerFile, session: str, reason: str,
                    by: str) -> dict[str, Any]:
    """The first admin's half of a two-person release: a signed node chain entry that keeps
    the hold in force until a second admin confirms."""
    entry = node_ledger.append({"kind": RELEASE_REQUESTED, "session": session,
                                "reason": reason, "by": by, "at": _now_iso()})
    node_ledger.sign_head()
    return entry
