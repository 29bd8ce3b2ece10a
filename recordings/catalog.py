"""A session's listing row, summarized from its chain (the search index stores these)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any


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
