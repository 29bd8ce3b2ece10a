"""The alert desk: one-click calls in, every console on every node out, nothing lost.

It stores alerts (the bus, or the outbox while the bus is down), replays them to consoles
that reconnect, and writes every transition into the officer's evidence. Escalation
(signaling/escalation.py) and the outbox flush (signaling/outbox.py) are its parts;
presence and positions live in signaling/presence.py. HTTP handlers sit at the bottom.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any

from aiohttp import web

from fieldrelay import alerts as model
from fieldrelay.alerts import Alert
from fieldrelay.config import Config
from fieldrelay.errors import BadRequest, NotFound
from relay.evidence import LiveEvidence
from signaling.auth import authenticate, read_json
from signaling.bus import BATCH, Bus, BusUnavailable, Event
from signaling.escalation import Escalation, EscalationSettings
from signaling.hub import COMMAND_ROLES, Client, EventHub, dedup_key
from signaling.keys import ALERTS_BY_OFFICER
from signaling.outbox import AlertOutbox, OutboxFlusher
from signaling.presence import Whereabouts

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
CURSOR = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


def alert_event(alert: Alert, kind: str = "alert") -> Event:
    """The WebSocket form of an alert."""
    return {"type": kind, "alert": alert, "cursor": alert.get("cursor")}


class AlertDesk:
    """Alerts of every node for this node's consoles and officers, over the node's bus."""

    def __init__(self, config: Config, settings: EscalationSettings, bus: Bus,
                 outbox: AlertOutbox, hub: EventHub, whereabouts: Whereabouts,
                 evidence: LiveEvidence) -> None:
        self.config = config
        self.bus = bus
        self.outbox = outbox
        self.hub = hub
        self._whereabouts = whereabouts
        self._evidence = evidence
        self._raise_lock = asyncio.Lock()
        self.escalation = Escalation(settings, bus, whereabouts)
        self.flusher = OutboxFlusher(outbox, bus)

    async def start(self) -> None:
        """Start escalating and flushing (the bus is started by the node)."""
        self.escalation.start()
        await self.flusher.start()

    async def aclose(self) -> None:
        """Stop escalating and flushing, and wait for both."""
        await self.escalation.aclose()
        await self.flusher.aclose()

    # -- alerts ---------------------------------------------------------------------

    async def raise_alert(self, officer: str, key: str, body: dict[str, Any]) -> tuple[Alert, bool]:
        """Store a new alert durably (bus, or outbox if the bus is down) and fan it out."""
        kind, lat, lon, note = model.validate_request(body)
        idem = f"{officer}:{key}"
        alert = model.raise_alert(officer, self.config.node_id, kind, lat, lon, note)
        # One press at a time per node: a retry racing its original must find it.
        async with self._raise_lock:
            pending = await asyncio.to_thread(self.outbox.find, idem)
            if pending is not None:
                return pending, False
            try:
                stored, created = await self.bus.store_alert(alert, idem)
            except BusUnavailable as exc:
                log.warning("bus unavailable (%s): alert %s kept in the outbox", exc.detail,
                            alert["id"])
                await asyncio.to_thread(self.outbox.add, alert, idem)
                self.flusher.wake()
                self.deliver(alert_event(alert))  # this node's consoles see it now
                return alert, True
        if created and lat is not None and lon is not None:
            # A retried press carries the first press's position: never move a phone back.
            await self._whereabouts.store_position(officer, lat, lon, alert["raised_at"])
        return stored, created

    async def get(self, alert_id: str) -> Alert | None:
        """One alert, from the bus or this node's outbox."""
        try:
            alert = await self.bus.get_alert(alert_id)
        except BusUnavailable:
            alert = None
        if alert is None:
            alert = next((a for a, _ in await asyncio.to_thread(self.outbox.pending)
                          if a["id"] == alert_id), None)
        return alert

    async def act(self, alert_id: str, action: str, by: str) -> Alert:
        """A commander acknowledges, resolves or calls a false alarm."""
        if action not in model.ACTIONS:
            raise BadRequest(f"action must be one of {', '.join(model.ACTIONS)}")
        updated = await self.bus.update_alert(alert_id, lambda a: model.apply(a, action, by))
        if updated is None:
            raise NotFound("no such alert")
        return updated

    async def move(self, alert_id: str, officer: str, body: dict[str, Any]) -> Alert:
        """The raising officer's fresher position for an open alert (NotFound if it is not
        theirs, Conflict once closed); it is also the officer's last known position."""
        lat, lon, accuracy = model.validate_position(body)
        current = await self.get(alert_id)
        if current is None or current["officer"] != officer:
            raise NotFound("no such alert")
        # BusUnavailable (503) while the bus is down: the phone sends the fix again.
        updated = await self.bus.update_alert(
            alert_id, lambda a: model.move(a, lat, lon, accuracy))
        if updated is None:
            # Still only in this node's outbox: the flush stores it soon.
            raise BusUnavailable("the alert is not stored yet; send the position again")
        await self._whereabouts.store_position(officer, lat, lon, updated["updated_at"])
        return updated

    async def open_alerts(self) -> list[Alert]:
        """Open alerts from the bus, plus any still waiting in this node's outbox."""
        pending = [a for a, _ in await asyncio.to_thread(self.outbox.pending)]
        try:
            stored = await self.bus.open_alerts()
        except BusUnavailable:
            stored = []
        known = {a["id"] for a in stored}
        return stored + [a for a in pending if a["id"] not in known]

    async def replay(self, client: Client, after: str) -> int:
        """Send a reconnecting console every alert event after `after` (an alert id or a
        cursor), each once; returns how many were sent.

        While the bus is down, the alerts held in this node's outbox are still sent (they
        exist nowhere else yet), and then BusUnavailable tells the console that the rest
        must wait for the bus."""
        try:
            sent = await self._replay_stored(client, after)
        except BusUnavailable:
            await self._replay_outbox(client)
            raise
        return sent + await self._replay_outbox(client)

    async def _replay_stored(self, client: Client, after: str) -> int:
        cursor = after if CURSOR.match(after) else None
        if cursor is None:
            alert = await self.bus.get_alert(after)
            # From where that alert was raised: later updates of older alerts follow it.
            cursor = (alert.get("raised_cursor") or alert.get("cursor")) if alert else None
        if cursor is None:
            raise BadRequest("resume needs the id of an alert this system knows")
        sent = 0
        while True:
            events = await self.bus.events_after(cursor, limit=500)
            for event in events:
                sent += client.offer(json.dumps(event), dedup_key(event))
                cursor = event["cursor"]
            if len(events) < 500:
                break
        return sent

    async def _replay_outbox(self, client: Client) -> int:
        sent = 0
        for alert, _ in await asyncio.to_thread(self.outbox.pending):
            event = alert_event(alert)
            sent += client.offer(json.dumps(event), dedup_key(event))
        return sent

    # -- delivery -------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """Hand an alert or dispatch event to this node's clients (and alerts to evidence);
        other kinds are other desks'."""
        kind = event.get("type")
        if kind in ("alert", "alert.updated"):
            alert = event["alert"]
            self.hub.send_to_roles(event, COMMAND_ROLES)
            self.hub.send_to_user(event, alert["officer"])
            self._record(alert)
        elif kind == BATCH:
            # An escalation pass: one message to each console that takes batches; each
            # officer still gets its own alert's update on its own.
            events: list[Event] = event["events"]
            self.hub.send_batch_to_roles(events, COMMAND_ROLES)
            for one in events:
                self.hub.send_to_user(one, one["alert"]["officer"])
                self._record(one["alert"])
        elif kind == "dispatch":
            self.hub.send_to_user(event, event["officer"])
            self.hub.send_to_roles(event, COMMAND_ROLES)

    def _record(self, alert: Alert) -> None:
        """Every alert transition is an event in the officer's evidence session, if live here;
        so is a fresher position sent for it."""
        moved = alert.get("position_at") is not None and alert["position_at"] == alert["updated_at"]
        event = "alert.position" if moved else f"alert.{alert['state']}"
        self._evidence.record(alert["officer"], event, alert=alert["id"],
                              alert_kind=alert["kind"], by=alert.get("by"),
                              lat=alert.get("lat"), lon=alert.get("lon"))


# -- HTTP -------------------------------------------------------------------------------

DESK = web.AppKey("alert_desk", AlertDesk)


async def post_alert(request: web.Request) -> web.Response:
    """POST /api/alerts: an officer's one-click call (idempotent by Idempotency-Key)."""
    claims = authenticate(request, "officer")
    key = request.headers.get("Idempotency-Key", "")
    request.app[ALERTS_BY_OFFICER].check(claims.name)
    if not IDEMPOTENCY_KEY.match(key):
        raise BadRequest("send an Idempotency-Key header of 8-128 letters, digits or ._:-")
    body = await read_json(request)
    alert, created = await request.app[DESK].raise_alert(claims.name, key, body)
    return web.json_response(alert, status=201 if created else 200)


async def list_alerts(request: web.Request) -> web.Response:
    """GET /api/alerts?state=open: alerts still open, oldest first."""
    authenticate(request, *COMMAND_ROLES)
    if request.query.get("state", "open") != "open":
        raise BadRequest("state=open is the only listing")
    return web.json_response({"alerts": await request.app[DESK].open_alerts()})


async def get_alert(request: web.Request) -> web.Response:
    """GET /api/alerts/<id>: commanders, and the officer who raised it (after a reload)."""
    claims = authenticate(request, *COMMAND_ROLES, "officer")
    alert = await request.app[DESK].get(request.match_info["id"])
    if alert is None or (claims.role == "officer" and alert["officer"] != claims.name):
        raise NotFound("no such alert")
    return web.json_response(alert)


async def post_alert_position(request: web.Request) -> web.Response:
    """POST /api/alerts/<id>/position `{"lat","lon","accuracy_m"?}`: the raising officer's
    fresh fix for an open alert; `200` with the updated alert (`alert.updated` to consoles)."""
    claims = authenticate(request, "officer")
    body = await read_json(request)
    alert = await request.app[DESK].move(request.match_info["id"], claims.name, body)
    return web.json_response(alert)


async def act_on_alert(request: web.Request) -> web.Response:
    """POST /api/alerts/<id>/ack|resolve|false-alarm."""
    claims = authenticate(request, *COMMAND_ROLES)
    alert = await request.app[DESK].act(request.match_info["id"], request.match_info["action"],
                                        claims.name)
    return web.json_response(alert)


def routes() -> list[web.RouteDef]:
    """The alert routes."""
    return [web.post("/api/alerts", post_alert),
            web.get("/api/alerts", list_alerts),
            web.get("/api/alerts/{id}", get_alert),
            web.post("/api/alerts/{id}/position", post_alert_position),
            web.post("/api/alerts/{id}/{action}", act_on_alert)]
