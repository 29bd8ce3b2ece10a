"""How the Redis bus writes and reads its records: compact JSON, sealed with the cluster
secret when there is one. A record that fails its seal is dropped (None), logged (at most
once in a while: a forged record is read again and again) and counted by the seal.

Replays of sealed records are refused too, as far as a reader can tell: short-lived records
and events expire inside their seal, a published event is taken once (its one-use id), and an
alert must have been sealed about when Redis filed it (its cursor is Redis's clock), so a
sealed alert copied into a new stream entry later is refused."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fieldrelay.alerts import Alert
from fieldrelay.instructions import Instruction
from signaling.bus import BATCH, Event
from signaling.busseal import CLOCK_SKEW_S, MAC, BusSeal, Sealed, unsealed
from signaling.replay import ReplayCache

log = logging.getLogger(__name__)

REFUSAL_LOG_EVERY_S = 10.0
ALERT_EVENTS = ("alert", "alert.updated")
INSTRUCTION_EVENTS = ("instruction", "instruction.updated")
# A published event is delivered within milliseconds; a copy replayed later is stale.
EVENT_TTL_S = 30.0
# An alert is sealed just before Redis files it: its seal's time and its cursor's agree
# within the clocks' difference (the node's and Redis's). Generous: a node whose clock is off
# by more also fails node tokens and logins, and says so; a copy older than this is refused.
ALERT_FILED_WITHIN_S = 600.0
# Published events' one-use ids, kept until they expire (thousands of officers' positions).
EVENT_IDS = 250_000


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
        self._event_ids = ReplayCache(EVENT_IDS)

    def sealed(self, context: str, body: dict[str, Any],
               ttl_s: float | None = None) -> dict[str, Any]:
        """`body` as written: with its seal for `context` when the node has a secret."""
        if self._seal is None:
            return body
        return self._seal.seal(context, body, time.time(), ttl_s)

    def opened(self, context: str, raw: str | bytes | None, what: str) -> dict[str, Any] | None:
        """A record read back: parsed and its seal checked (None when absent or refused)."""
        return self.checked(context, _parsed(raw), what) if raw is not None else None

    def checked(self, context: str, body: object, what: str) -> dict[str, Any] | None:
        """A parsed record without its seal, or None (logged) when the seal fails."""
        if self._seal is None:
            return unsealed(body) if isinstance(body, dict) else None
        opened = self._check(context, body, what)
        return opened.body if opened is not None else None

    def _check(self, context: str, body: object, what: str) -> Sealed | None:
        assert self._seal is not None
        opened = self._seal.check(context, body, time.time())
        if opened is None:
            self._refused(what, "its seal is missing, wrong or expired (not written lately by "
                                "a node with the cluster secret)")
        return opened

    def _replayed(self, what: str, why: str) -> None:
        assert self._seal is not None
        self._seal.refuse()
        self._refused(what, why)

    def _refused(self, what: str, why: str) -> None:
        now = time.monotonic()
        if now - self._logged_at < REFUSAL_LOG_EVERY_S:
            self._unlogged += 1
            return
        log.warning("dropped %s from Redis: %s%s", what, why,
                    f"; {self._unlogged} more dropped since the last warning"
                    if self._unlogged else "")
        self._logged_at, self._unlogged = now, 0

    # -- alerts ---------------------------------------------------------------------------

    def alert_body(self, alert: Alert) -> str:
        """The stored form of an alert, sealed (Redis adds the cursors, which are not)."""
        return dump(self.sealed("alert", {k: v for k, v in alert.items() if k != "cursor"}))

    def alert(self, raw: str | bytes | None, cursor: str | None = None,
              filed: bool = True) -> Alert | None:
        """An alert read back (a key, or a stream entry with its id), its seal checked; with
        `filed`, also that Redis filed it about when it was sealed (not a copy)."""
        if raw is None:
            return None
        body = _parsed(raw)
        if not isinstance(body, dict):
            return self.checked("alert", body, "a malformed alert")
        return self.alert_of(body, cursor, filed)

    def alert_of(self, body: dict[str, Any], cursor: str | None = None,
                 filed: bool = True) -> Alert | None:
        """A parsed alert, its seal checked; the cursors the store scripts added kept."""
        body = dict(body)
        added = {"cursor": body.pop("cursor")} if "cursor" in body else {}
        if added and body.get("raised_cursor") == added["cursor"]:
            added["raised_cursor"] = body.pop("raised_cursor")  # set by the store script
        what = f"alert {str(body.get('id'))[:80]!r}"
        if self._seal is None:
            return {**unsealed(body), **added}
        opened = self._check("alert", body, what)
        if opened is None:
            return None
        filing = cursor or added.get("cursor")
        if filed and isinstance(filing, str) and not _filed_when_sealed(filing, opened.at):
            self._replayed(what, "Redis filed it long after it was sealed (a copy replayed)")
            return None
        return {**opened.body, **added}

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
        if isinstance(event, dict) and event.get("type") == BATCH and MAC not in event:
            return self._batch(event)
        if self._seal is None:
            return self.checked("event", event, "a published event")
        if not isinstance(event, dict) or MAC in event:
            return self._event(event)
        kind = event.get("type")
        if kind in ALERT_EVENTS and isinstance(event.get("alert"), dict):
            alert = self.alert_of(event["alert"])
            return {**event, "alert": alert} if alert is not None else None
        if kind in INSTRUCTION_EVENTS:
            instruction = self.checked("instruction", event.get("instruction"),
                                       "a published instruction")
            return {**event, "instruction": instruction} if instruction is not None else None
        return self._event(event)

    def _batch(self, event: dict[str, Any]) -> Event | None:
        """Several alert updates published by one script: each is an alert event (with a
        cursor) checked as one; what fails is dropped, the rest kept (None: nothing left)."""
        events = event.get("events")
        kept: list[Event] = []
        for one in events if isinstance(events, list) else []:
            if not (isinstance(one, dict) and one.get("type") in ALERT_EVENTS
                    and isinstance(one.get("alert"), dict)
                    and isinstance(one.get("cursor"), str)):
                self._refused("a malformed alert event in a batch", "it is not an alert event")
                continue
            alert = self.alert_of(one["alert"]) if self._seal is not None \
                else unsealed(one["alert"])
            if alert is not None:
                kept.append({"type": one["type"], "cursor": one["cursor"], "alert": alert})
        return {"type": BATCH, "events": kept} if kept else None

    def _event(self, event: object) -> Event | None:
        """A published event: sealed, not expired, and not seen before."""
        opened = self._check("event", event, "a published event")
        if opened is None:
            return None
        if not self._event_ids.first_use(opened.nonce, (opened.expires or opened.at
                                                        + EVENT_TTL_S) + CLOCK_SKEW_S):
            self._replayed("a published event", "it was seen before (a copy replayed)")
            return None
        return opened.body


def _filed_when_sealed(cursor: str, sealed_at: float) -> bool:
    """True when a stream cursor (`<ms>-<seq>`, Redis's clock) is about the seal's time."""
    ms, _, _ = cursor.partition("-")
    return ms.isdigit() and abs(int(ms) / 1000 - sealed_at) <= ALERT_FILED_WITHIN_S
