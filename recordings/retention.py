"""Retention: old sessions go, held ones stay, and the node chain says which.

Legal holds are kept in `recordings.holds`. Removing a session first appends a
`session.removed` tombstone naming the session's sealed head, then moves the folder out of
`sessions/` in one rename and deletes it: a crash in between leaves either a tombstoned
folder (deleted on the next run) or nothing to explain. Every function blocks on the disk.
"""

from __future__ import annotations

import datetime
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.files import private_dir
from recordings.archive.backlog import ARCHIVE_DIR, Backlog
from recordings.archive.confirmed import archived_sources
from recordings.archive.sink import SEALED_FILE, SEGMENT
from recordings.catalog import parse_time
from recordings.holds import current_holds
from recordings.index import SessionIndex
from recordings.layout import OPEN_MARKER, SESSION_ID_RE, utc_iso
from recordings.media import drop_cache
from recordings.signing import NodeKey
from recordings.store import LedgerCorrupt, LedgerFile, read_entries

TRASH_DIR = "trash"


def removed_sessions(data_dir: Path) -> set[str]:
    """Sessions the node chain tombstoned."""
    return {str(e.get("session")) for e in read_entries(data_dir / "ledger" / "ledger.jsonl")
            if e.get("kind") == "session.removed"}


@dataclass(frozen=True)
class Candidate:
    """A session past retention: its id, when it ended, and why it is kept if it is."""

    session: str
    ended_at: str | None
    kept_because: str | None


def _now() -> float:
    return datetime.datetime.now(datetime.UTC).timestamp()


def archive_missing(session: str, entries: list[dict[str, Any]],
                    archived: set[tuple[str, str]], waiting: set[str]) -> str | None:
    """Why a session may not leave a node that archives (None when the archive confirmed
    its sealed chain and every segment file); pure."""
    if session in waiting:
        return "copies still queued for the archive"
    needed = [(SEALED_FILE, f"sessions/{session}/ledger.jsonl")]
    needed += [(SEGMENT, f"sessions/{session}/{e['file']}") for e in entries
               if e.get("kind") == "segment" and isinstance(e.get("file"), str)]
    missing = [path for path in needed if path not in archived]
    if missing:
        return f"the archive has not confirmed {missing[0][1]}"
    return None


def candidates(data_dir: Path, older_than_days: float,
               now: float | None = None) -> list[Candidate]:
    """Sessions that ended more than `older_than_days` ago, each with why it stays, if so.

    A data dir that has an archive (`<data>/archive/`) keeps every session until the
    archive confirmed its copies: a local file is never removed before that.
    """
    cutoff = (now if now is not None else _now()) - older_than_days * 86400
    holds = current_holds(data_dir)
    archives = (data_dir / ARCHIVE_DIR).is_dir()
    archived = set(archived_sources(data_dir)) if archives else set()
    waiting = Backlog(data_dir).waiting_sessions() if archives else set()
    out: list[Candidate] = []
    sessions_dir = data_dir / "sessions"
    for folder in sorted(sessions_dir.iterdir()) if sessions_dir.is_dir() else []:
        if not SESSION_ID_RE.match(folder.name) or not (folder / "ledger.jsonl").is_file():
            continue
        try:
            entries = list(read_entries(folder / "ledger.jsonl"))
        except LedgerCorrupt:
            continue  # damaged evidence is never removed by a timer: a person must look
        seal = next((e for e in entries if e.get("kind") == "session.seal"), None)
        if seal is None or (folder / OPEN_MARKER).exists():
            continue  # live, or never sealed: not ours to remove
        ended = seal.get("at")
        try:
            ended_t = parse_time(str(ended))
        except ValueError:
            continue
        if ended_t > cutoff:
            continue
        hold = holds.get(folder.name)
        kept = f"legal hold: {hold.get('reason') or 'no reason given'}" \
            if hold is not None and hold.get("hold") else None
        if kept is None and archives:
            kept = archive_missing(folder.name, entries, archived, waiting)
        out.append(Candidate(folder.name, str(ended), kept))
    return out


def remove_session(data_dir: Path, node_ledger: LedgerFile, session: str, by: str,
                   reason: str) -> dict[str, Any]:
    """Tombstone a sealed session in the node chain, then delete its folder."""
    folder = data_dir / "sessions" / session
    entries = list(read_entries(folder / "ledger.jsonl"))
    head = entries[-1]
    tombstone = node_ledger.append({
        "kind": "session.removed", "session": session, "at": utc_iso(_now()),
        "head_seq": head["seq"], "head_hash": head["hash"], "by": by, "reason": reason})
    node_ledger.sign_head()
    trash = data_dir / TRASH_DIR
    private_dir(trash)
    moved = trash / session
    folder.rename(moved)
    shutil.rmtree(moved)
    return tombstone


def finish_interrupted_removals(data_dir: Path) -> list[str]:
    """Delete what a crash left behind: trash, and tombstoned folders still in sessions/."""
    done = []
    trash = data_dir / TRASH_DIR
    for leftover in sorted(trash.iterdir()) if trash.is_dir() else []:
        shutil.rmtree(leftover, ignore_errors=True)
    for session in sorted(removed_sessions(data_dir)):
        folder = data_dir / "sessions" / session
        if SESSION_ID_RE.match(session) and folder.is_dir():
            shutil.rmtree(folder)
            done.append(session)
    return done


Report = Callable[[str], None]


def apply_retention(data_dir: Path, node_ledger: LedgerFile, older_than_days: float, by: str,
                    dry_run: bool, say: Report, now: float | None = None) -> list[str]:
    """Remove every expired session not on hold; returns the removed (or, dry, removable) ids."""
    if not dry_run:
        finish_interrupted_removals(data_dir)
    removed = []
    for c in candidates(data_dir, older_than_days, now):
        if c.kept_because is not None:
            say(f"kept {c.session} (ended {c.ended_at}): {c.kept_because}")
            continue
        if dry_run:
            say(f"would remove {c.session} (ended {c.ended_at})")
        else:
            remove_session(data_dir, node_ledger, c.session, by,
                           f"retention: ended more than {older_than_days:g} days ago")
            say(f"removed {c.session} (ended {c.ended_at})")
        removed.append(c.session)
    return removed


def run_retention(data_dir: Path, older_than_days: float, by: str, dry_run: bool,
                  say: Report, key_file: Path | None = None) -> list[str]:
    """Apply retention to a data dir and keep the index and media cache in step."""
    if not (data_dir / "keys").is_dir():
        say(f"{data_dir} holds no evidence (no keys/ folder): nothing to do")
        return []
    node_ledger = LedgerFile(data_dir / "ledger", NodeKey.load_or_create(data_dir, key_file),
                             shared=True)
    removed = apply_retention(data_dir, node_ledger, older_than_days, by, dry_run, say)
    if not dry_run:
        index = SessionIndex(data_dir)
        for session in removed:
            drop_cache(data_dir, session)
            index.forget(session)
    return removed
