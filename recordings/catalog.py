"""What the reviewers' API lists: sessions summarized straight from their ledgers."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recordings.session import OPEN_MARKER, SESSION_ID_RE
from recordings.store import LedgerCorrupt, read_entries
from recordings.verifier import verify_session_dir


def parse_time(value: str) -> float:
    """Unix seconds from an ISO 8601 time (a trailing Z allowed) or from a number."""
    try:
        return float(value)
    except ValueError:
        pass
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def summarize(session_id: str, entries: Iterable[dict[str, Any]], is_open: bool) -> dict[str, Any]:
    """A session's listing row, from its chain's entries (pure)."""
    start: dict[str, Any] = {}
    seal: dict[str, Any] | None = None
    segments: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    case: str | None = None
    for entry in entries:
        kind = entry.get("kind")
        if kind == "session.start":
            start, case = entry, entry.get("case")
        elif kind == "segment":
            segments.append(entry)
        elif kind == "event":
            events.append(entry)
            if entry.get("event") == "case.set":
                case = entry.get("case")
        elif kind == "session.seal":
            seal = entry
    started = start.get("at")
    ended = seal.get("at") if seal else None
    state = "live" if is_open and seal is None else (seal or {}).get("state", "interrupted")
    duration = None
    if started:
        end_t = parse_time(ended) if ended else datetime.datetime.now(datetime.UTC).timestamp()
        duration = round(end_t - parse_time(started), 3)
    return {
        "id": session_id, "officer": start.get("officer"), "case": case,
        "node": start.get("node"), "started_at": started, "ended_at": ended, "state": state,
        "duration_s": duration, "media": start.get("media"),
        "alerts": sum(1 for e in events if str(e.get("event", "")).startswith("alert.raised")),
        "segments": len(segments), "bytes": sum(int(s.get("size", 0)) for s in segments),
        "seal_reason": seal.get("reason") if seal else None,
    }


def _damaged(session_id: str) -> dict[str, Any]:
    return {"id": session_id, "officer": None, "case": None, "node": None, "started_at": None,
            "ended_at": None, "state": "damaged", "duration_s": None, "media": None,
            "alerts": 0, "segments": 0, "bytes": 0, "seal_reason": None}


def _summarize_folder(folder: Path) -> dict[str, Any]:
    """A listing row; a ledger that cannot be read still lists, as `damaged`."""
    try:
        return summarize(folder.name, read_entries(folder / "ledger.jsonl"),
                         (folder / OPEN_MARKER).exists())
    except (LedgerCorrupt, ValueError, TypeError, KeyError):
        return _damaged(folder.name)


class SessionCatalog:
    """Reads the sessions folder; every call blocks on the disk (run it in a thread)."""

    def __init__(self, sessions_dir: Path) -> None:
        self.sessions_dir = sessions_dir

    def folder(self, session_id: str) -> Path | None:
        """The folder of a session id, or None for an unknown or malformed id."""
        if not SESSION_ID_RE.match(session_id):
            return None
        folder = self.sessions_dir / session_id
        return folder if (folder / "ledger.jsonl").is_file() else None

    def list(self, officer: str | None = None, since: float | None = None,
             until: float | None = None, with_alerts: bool = False) -> list[dict[str, Any]]:
        """Every session matching the filters, newest first."""
        rows: list[dict[str, Any]] = []
        if not self.sessions_dir.is_dir():
            return rows
        for folder in self.sessions_dir.iterdir():
            if not SESSION_ID_RE.match(folder.name) or not (folder / "ledger.jsonl").is_file():
                continue
            row = _summarize_folder(folder)
            if officer and row["officer"] != officer:
                continue
            started = parse_time(row["started_at"]) if row["started_at"] else 0.0
            ended = parse_time(row["ended_at"]) if row["ended_at"] else float("inf")
            if since is not None and ended < since:
                continue
            if until is not None and started > until:
                continue
            if with_alerts and not row["alerts"]:
                continue
            rows.append(row)
        rows.sort(key=lambda r: r["started_at"] or "", reverse=True)
        return rows

    def integrity(self, session_id: str, public_pem: bytes) -> dict[str, Any] | None:
        """Verify one session now (hashes every segment): ok, the first break, counts."""
        folder = self.folder(session_id)
        if folder is None:
            return None
        report = verify_session_dir(folder, public_pem)
        return {"ok": report.ok, "first_break": report.first_break, "notes": report.notes,
                "segments_checked": report.checked.segments,
                "entries_checked": report.checked.entries,
                "signatures_checked": report.checked.signatures}

    def detail(self, session_id: str) -> dict[str, Any] | None:
        """A session's summary with its segments and events, or None if unknown."""
        folder = self.folder(session_id)
        if folder is None:
            return None
        try:
            entries = list(read_entries(folder / "ledger.jsonl"))
            row = summarize(session_id, entries, (folder / OPEN_MARKER).exists())
        except (LedgerCorrupt, ValueError, TypeError, KeyError):
            row = _damaged(session_id)
            row.update(segments=[], events=[])
            return row
        row["segments"] = [
            {k: e.get(k) for k in ("index", "file", "size", "sha256", "start", "end",
                                   "media_start_ms", "media_end_ms", "partial")}
            for e in entries if e.get("kind") == "segment"]
        row["events"] = [
            {k: v for k, v in e.items() if k not in ("v", "prev", "hash", "session", "kind")}
            for e in entries if e.get("kind") == "event"]
        return row
