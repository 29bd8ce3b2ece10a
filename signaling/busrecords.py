"""How the Redis bus writes and reads its records: compact JSON, sealed with the cluster
secret when there is one. A record that fails its seal is dropped (None), logged (at most
once in a while: a forged record is read again and again) and counted by the seal."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fieldrelay.alerts import Alert
from fieldrelay.instructions import Instruction
from signaling.bus import Event
from signaling.busseal import MAC, BusSeal, unsealed

log = logging.getLogger(__name__)

REFUSAL_LOG_EVERY_S = 10.0
ALERT_EVENTS = ("alert", "alert.updated")
INSTRUCTION_EVENTS = ("instruction", "instruction.updated")


def dump(obj: dict[str, Any]) -> str:
    """The compact, key-sorted JSON the bus stores."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _parsed(raw: str | bytes | None) -> object:
    try:
        return json.loads(raw) if raw is not None else None
    except ValueError:
        return None


class BusRecords:
    """Seals what this node writes and checks what it reads (as is without a seal)."""

    def __init__(self, seal: BusSeal | None) -> None:
        self._seal = seal
        self._logged_at = -REFUSAL_LOG_EVERY_S
        self._unlogged = 0

    def sealed(self, context: str, body: dict[str, Any]) -> dict[str, Any]:
        """`body` as written: with its seal for `context` when the node has a secret."""
        return self._seal.seal(context, body) if self._seal is not None else body

    def opened(self, context: str, raw: str | bytes | None, what: str) -> dict[str, Any] | None:
        """A record read back: parsed and its seal checked (None when absent or refused)."""
        return self.checked(context, _parsed(raw), what) if raw is not None else None

    def checked(self, context: str, body: object, what: str) -> dict[str, Any] | None:
        """A parsed record without its seal, or None (logged) when the seal fails."""
        if self._seal is None:
            return unsealed(body) if isinstance(body, dict) else None
        opened = self._seal.check(context, body)
        if opened is None:
            self._refused(what)
        return opened

    def _refused(self, what: str) -> None:
        now = time.monotonic()
        if now - self._logged_at < REFUSAL_LOG_EVERY_S:
            self._unlogged += 1
            return
        log.warning("dropped %s from Redis: its seal is missing or wrong (not written by a "
                    "node with the cluster secret)%s", what,
                    f"; {self._unlogged} more dropped since the last warning"
                    if self._unlogged else "")
        self._logged_at, self._unlogged = now, 0

    # -- alerts ---------------------------------------------------------------------------

    def alert_body(self, alert: Alert) -> str:
        """The stored form of an alert, sealed (Redis adds the cursors, which are not)."""
        return dump(self.sealed("alert", {k: v for k, v in alert.items() if k != "cursor"}))

    def alert(self, raw: str | bytes | None) -> Alert | None:
        """An alert read back (a key or a stream entry), its seal checked."""
        if raw is None:
            return None
        body = _parsed(raw)
        if not isinstance(body, dict):
            return self.checked("alert", body, "a malformed alert")
        return self.alert_of(body)

    def alert_of(self, body: dict[str, Any]) -> Alert | None:
        """A parsed alert, its seal checked; the cursors the store scripts added kept."""
        body = dict(body)
        added = {"cursor": body.pop("cursor")} if "cursor" in body else {}
        if added and body.get("raised_cursor") == added["cursor"]:
            added["raised_cursor"] = body.pop("raised_cursor")  # set by the store script
        opened = self.checked("alert", body, f"alert {str(body.get('id'))[:80]!r}")
        return {**opened, **added} if opened is not None else None

    # -- other records ----------------------------------------------------------------------

    def instruction(self, raw: str | bytes | None) -> Instruction | None:
        """An instruction read back, its seal checked."""
        instruction: Instruction | None = self.opened("instruction", raw, "an instruction")
        return instruction

    def position(self, key: str, raw: str | bytes | None) -> dict[str, float] | None:
        """A position record ({"lat", "lon", "at"}) read back from `key`, its seal checked."""
        pos = self.opened(key, raw, f"the position record {key[-80:]!r}")
        if pos is None or not all(isinstance(pos.get(f), int | float) for f in ("lat", "lon")):
            return None
        return {k: float(v) for k, v in pos.items() if isinstance(v, int | float)}

    def received(self, data: str) -> Event | None:
        """A published message, its seal checked: alerts and instructions published by the
        store scripts carry the seal of the record they hold, any other event its own."""
        event = _parsed(data)
        if not isinstance(event, dict) or self._seal is None or MAC in event:
            return self.checked("event", event, "a published event")
        kind = event.get("type")
        if kind in ALERT_EVENTS and isinstance(event.get("alert"), dict):
            alert = self.alert_of(event["alert"])
            return {**event, "alert": alert} if alert is not None else None
        if kind in INSTRUCTION_EVENTS:
            instruction = self.checked("instruction", event.get("instruction"),
                                       "a published instruction")
            return {**event, "instruction": instruction} if instruction is not None else None
        return self.checked("event", event, f"a published {str(kind)[:40]!r} event")
