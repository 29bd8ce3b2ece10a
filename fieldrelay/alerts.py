"""The one-click call's alert: its fields and its state machine (pure, no I/O).

raised → (escalated →) acknowledged → resolved | false_alarm. An alert that nobody
acknowledges within the escalation time is escalated once; acknowledging or closing it
is allowed from raised or escalated. Every transition names who made it and when.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

from fieldrelay.errors import BadRequest, Conflict

KINDS = ("sos", "backup", "medical", "officer_down", "other")
OPEN_STATES = ("raised", "escalated", "acknowledged")
ACTIONS = {
    "ack": ("acknowledged", ("raised", "escalated")),
    "resolve": ("resolved", ("raised", "escalated", "acknowledged")),
    "false-alarm": ("false_alarm", ("raised", "escalated", "acknowledged")),
}
MAX_NOTE = 500

Alert = dict[str, Any]


def new_alert_id(now: float) -> str:
    """A sortable alert id: milliseconds since the epoch, then 48 random bits."""
    return f"{int(now * 1000):013d}-{secrets.token_hex(6)}"


def validate_request(body: dict[str, Any]) -> tuple[str, float | None, float | None, str | None]:
    """(kind, lat, lon, note) from a POST /api/alerts body, or BadRequest saying why."""
    kind = body.get("kind", "sos")
    if kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    lat, lon = body.get("lat"), body.get("lon")
    if (lat is None) != (lon is None):
        raise BadRequest("send lat and lon together, or neither")
    if lat is not None and not _valid_position(lat, lon):
        raise BadRequest("lat must be within -90..90 and lon within -180..180")
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise BadRequest(f"note must be text of at most {MAX_NOTE} characters")
    if lat is None or lon is None:
        return str(kind), None, None, note
    return str(kind), float(lat), float(lon), note


def _valid_position(lat: Any, lon: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lat, lon))
    return (numbers and math.isfinite(lat) and math.isfinite(lon)
            and -90 <= lat <= 90 and -180 <= lon <= 180)


def raise_alert(officer: str, node: str, kind: str, lat: float | None, lon: float | None,
                note: str | None, now: float | None = None) -> Alert:
    """A new alert in state `raised`."""
    now = time.time() if now is None else now
    return {
        "id": new_alert_id(now), "officer": officer, "kind": kind, "state": "raised",
        "raised_at": now, "node": node, "lat": lat, "lon": lon, "note": note,
        "updated_at": now, "by": None, "acknowledged_by": None, "acknowledged_at": None,
        "closed_by": None, "closed_at": None, "escalated_at": None, "history": [
            {"state": "raised", "at": now, "by": officer}],
    }


def apply(alert: Alert, action: str, by: str, now: float | None = None) -> Alert:
    """The alert after a commander's action; Conflict when the state does not allow it."""
    if action not in ACTIONS:
        raise BadRequest(f"action must be one of {', '.join(ACTIONS)}")
    target, allowed_from = ACTIONS[action]
    if alert["state"] not in allowed_from:
        raise Conflict(f"the alert is already {alert['state'].replace('_', ' ')}")
    now = time.time() if now is None else now
    updated = {**alert, "state": target, "updated_at": now, "by": by,
               "history": [*alert["history"], {"state": target, "at": now, "by": by}]}
    if target == "acknowledged":
        updated["acknowledged_by"], updated["acknowledged_at"] = by, now
    else:
        updated["closed_by"], updated["closed_at"] = by, now
    return updated


def validate_position(body: dict[str, Any]) -> tuple[float, float, float | None]:
    """(lat, lon, accuracy_m) from a POST /api/alerts/<id>/position body, or BadRequest."""
    lat, lon, accuracy = body.get("lat"), body.get("lon"), body.get("accuracy_m")
    if lat is None or lon is None or not _valid_position(lat, lon):
        raise BadRequest("send lat within -90..90 and lon within -180..180")
    if accuracy is not None and (isinstance(accuracy, bool)
                                 or not isinstance(accuracy, (int, float))
                                 or not math.isfinite(accuracy) or not 0 <= accuracy <= 1e6):
        raise BadRequest("accuracy_m must be a number of metres (0..1000000)")
    return float(lat), float(lon), None if accuracy is None else float(accuracy)


def move(alert: Alert, lat: float, lon: float, accuracy_m: float | None,
         now: float | None = None) -> Alert:
    """The alert with a fresher position from the officer who raised it (the press sends at
    once with the last known position; the fix that follows updates the same alert).

    Conflict once the alert is closed. Its state and history stay as they are: consoles take
    the version with the later `updated_at`.
    """
    if not is_open(alert):
        raise Conflict(f"the alert is already {alert['state'].replace('_', ' ')}")
    now = time.time() if now is None else now
    return {**alert, "lat": lat, "lon": lon, "accuracy_m": accuracy_m, "position_at": now,
            "updated_at": max(now, float(alert.get("updated_at") or 0) + 1e-6)}


def escalate(alert: Alert, now: float | None = None) -> Alert | None:
    """The alert escalated by the node, or None if it is no longer waiting for an ack."""
    if alert["state"] != "raised":
        return None
    now = time.time() if now is None else now
    return {**alert, "state": "escalated", "escalated_at": now, "updated_at": now,
            "by": "escalation",
            "history": [*alert["history"], {"state": "escalated", "at": now, "by": "escalation"}]}


def is_open(alert: Alert) -> bool:
    """True until the alert is resolved or called a false alarm."""
    return alert["state"] in OPEN_STATES


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Initial compass bearing from point 1 to point 2, 0..360 degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    x = math.sin(dl) * math.cos(p2)
    y = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(x, y)) + 360) % 360


def compass(bearing: float) -> str:
    """An eight-point compass direction for a bearing."""
    return ("N", "NE", "E", "SE", "S", "SW", "W", "NW")[int((bearing + 22.5) // 45) % 8]
