"""The alert desk: one-click calls in, every console on every node out, nothing lost.

It owns this node's bus listener, the escalation timer, the outbox flusher and the
presence heartbeat. HTTP handlers for /api/alerts sit at the bottom.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fieldrelay import alerts as model
from fieldrelay.alerts import Alert
from fieldrelay.config import Config
from fieldrelay.errors import BadRequest, NotFound
from fieldrelay.tasks import TaskGroupOwner
from relay.registry import Presence, StreamRegistry
from signaling.auth import authenticate, read_json
from signaling.bus import Bus, BusUnavailable, Event
from signaling.hub import Client, EventHub, dedup_key
from signaling.keys import ALERTS_BY_OFFICER
from signaling.outbox import AlertOutbox

log = logging.getLogger(__name__)

COMMAND_ROLES = ("commander", "admin")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
CURSOR = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")


@dataclass(frozen=True)
class AlertSettings:
    """Timing and reach of escalation, and how long presence and positions stay fresh."""

    escalate_after_s: float = 30.0
    dispatch_count: int = 3
    dispatch_radius_m: float = 5000.0
    presence_ttl_s: float = 30.0
    position_ttl_s: float = 300.0


def alert_event(alert: Alert, kind: str = "alert") -> Event:
    """The WebSocket form of an alert."""
    return {"type": kind, "alert": alert, "cursor": alert.get("cursor")}


class AlertDesk:
    """Alerts, presence and positions for this node, over whichever bus the node has."""

    def __init__(self, config: Config, settings: AlertSettings, bus: Bus, outbox: AlertOutbox,
                 hub: EventHub, registry: Callable[[], StreamRegistry | None]) -> None:
        self.config = config
        self.settings = settings
        self.bus = bus
        self.outbox = outbox
        self.hub = hub
        self._registry = registry
        self._tasks = TaskGroupOwner("alert desk")
        self._outbox_ready = asyncio.Event()
        self._raise_lock = asyncio.Lock()
        # Other desks (instructions, go-live requests, talkback) take the event types
        # this desk does not know.
        self.other_events: list[Callable[[Event], None]] = []
        self.node_url = config.public_url or f"http://{config.host}:{config.port}"
        # Where other nodes pull this node's streams from (a cascade).
        self.relay_url = config.cluster_url or self.node_url

    async def start(self) -> None:
        """Start listening, escalating, flushing and heart-beating."""
        await self.bus.start()
        self._tasks.spawn(self._listen(), name="bus-listener")
        self._tasks.spawn(self._escalate_loop(), name="escalation")
        self._tasks.spawn(self._flush_loop(), name="outbox-flush")
        self._tasks.spawn(self._heartbeat(), name="presence-heartbeat")
        if await asyncio.to_thread(self.outbox.pending):
            self._outbox_ready.set()

    async def aclose(self) -> None:
        """Stop every task, then let go of the bus."""
        await self._tasks.aclose()
        await self.bus.aclose()

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
                self._outbox_ready.set()
                self._deliver(alert_event(alert))  # this node's consoles see it now
                return alert, True
        if created and lat is not None and lon is not None:
            # A retried press carries the first press's position: never move a phone back.
            await self._store_position(officer, lat, lon, alert["raised_at"])
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
        cursor), each once; returns how many were sent."""
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
        for alert, _ in await asyncio.to_thread(self.outbox.pending):
            event = alert_event(alert)
            sent += client.offer(json.dumps(event), dedup_key(event))
        return sent

    # -- presence and positions ----------------------------------------------------

    def presence_changed(self, p: Presence) -> None:
        """Called by the relay when one of this node's officers changes state."""
        self._tasks.spawn(self._share_presence(p), name=f"presence-{p.officer}")

    def _presence_info(self, p: Presence) -> dict[str, Any]:
        return {"officer": p.officer, "live": p.live, "state": p.state, "since": p.since,
                "recording": p.recording, "session": p.session, "node": self.config.node_id,
                "url": self.node_url, "relay_url": self.relay_url}

    async def _share_presence(self, p: Presence) -> None:
        info = self._presence_info(p)
        try:
            if p.live:
                await self.bus.set_presence(p.officer, info, self.settings.presence_ttl_s)
            else:
                await self.bus.clear_presence(p.officer)
            await self.bus.publish({"type": "presence", **info})
        except BusUnavailable:
            self._deliver({"type": "presence", **info})  # at least this node's consoles

    async def presence(self) -> dict[str, dict[str, Any]]:
        """Officers live on any node (this node's own even when the bus is down)."""
        registry = self._registry()
        local = {p.officer: self._presence_info(p) for p in (registry.presence() if registry
                                                              else [])}
        try:
            return {**await self.bus.presence(), **local}
        except BusUnavailable:
            return local

    async def position(self, officer: str, lat: float, lon: float, accuracy: float | None) -> None:
        """An officer's phone reports where it is (evidence too, while live)."""
        now = time.time()
        await self._store_position(officer, lat, lon, now)
        registry = self._registry()
        stream = registry.streams.get(officer) if registry else None
        if stream is not None and stream.session is not None:
            stream.session.event("gps", lat=lat, lon=lon, accuracy=accuracy)

    async def _store_position(self, officer: str, lat: float, lon: float, at: float) -> None:
        event = {"type": "position", "officer": officer, "lat": lat, "lon": lon, "at": at}
        try:
            await self.bus.set_position(officer, lat, lon, at, self.settings.position_ttl_s)
            await self.bus.publish(event)
        except BusUnavailable:
            self._deliver(event)

    async def positions(self) -> dict[str, dict[str, float]]:
        """Last known positions of officers, from the bus."""
        try:
            return await self.bus.positions()
        except BusUnavailable:
            return {}

    # -- background work -----------------------------------------------------------

    def _deliver(self, event: Event) -> None:
        """Hand one bus event to this node's WebSocket clients (and evidence)."""
        kind = event.get("type")
        if kind in ("alert", "alert.updated"):
            alert = event["alert"]
            self.hub.send_to_roles(event, COMMAND_ROLES)
            self.hub.send_to_user(event, alert["officer"])
            self._record(alert)
        elif kind in ("presence", "position"):
            self.hub.send_to_roles(event, COMMAND_ROLES)
        elif kind == "dispatch":
            self.hub.send_to_user(event, event["officer"])
            self.hub.send_to_roles(event, COMMAND_ROLES)
        else:
            for handler in self.other_events:
                handler(event)

    def _record(self, alert: Alert) -> None:
        """Every alert transition is an event in the officer's evidence session, if live here."""
        registry = self._registry()
        stream = registry.streams.get(alert["officer"]) if registry else None
        if stream is not None and stream.session is not None:
            stream.session.event(f"alert.{alert['state']}", alert=alert["id"],
                                 alert_kind=alert["kind"], by=alert.get("by"),
                                 lat=alert.get("lat"), lon=alert.get("lon"))

    async def _listen(self) -> None:
        async for event in self.bus.events():
            try:
                self._deliver(event)
            except Exception:
                log.exception("could not deliver a bus event")

    async def _escalate_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.settings.escalate_after_s / 4))
            try:
                waiting = [a for a in await self.bus.open_alerts() if a["state"] == "raised"]
                now = time.time()
                for alert in waiting:
                    if now - alert["raised_at"] >= self.settings.escalate_after_s:
                        await self._escalate(alert["id"])
            except BusUnavailable:
                continue
            except Exception:
                # Escalation must outlive any one bad alert or bus hiccup.
                log.exception("escalation pass failed; trying again")

    async def _escalate(self, alert_id: str) -> None:
        try:
            escalated = await self.bus.update_alert(alert_id, model.escalate)
        except BusUnavailable:
            return
        if escalated is None:
            return  # acknowledged meanwhile, or another node escalated it first
        try:
            await self._dispatch(escalated)
        except BusUnavailable as exc:
            log.error("alert %s escalated but the dispatch failed: %s", alert_id, exc.detail)

    async def _dispatch(self, alert: Alert) -> None:
        """Send the nearest live officers to the alert's position."""
        lat, lon = alert.get("lat"), alert.get("lon")
        if lat is None or lon is None:
            last = (await self.positions()).get(alert["officer"])
            if last is None:
                log.warning("alert %s escalated, but nobody knows where %s is", alert["id"],
                            alert["officer"])
                return
            lat, lon = last["lat"], last["lon"]
        live = {o for o, info in (await self.presence()).items() if info.get("live")}
        near = await self.bus.nearest(lat, lon, self.settings.dispatch_count + len(live) + 10,
                                      self.settings.dispatch_radius_m, {alert["officer"]})
        chosen = [n for n in near if n.officer in live][: self.settings.dispatch_count]
        for n in chosen:
            bearing = model.bearing_deg(n.lat, n.lon, lat, lon)
            await self.bus.publish({
                "type": "dispatch", "officer": n.officer, "alert": alert,
                "distance_m": round(n.distance_m), "bearing_deg": round(bearing),
                "direction": model.compass(bearing), "lat": lat, "lon": lon})
        log.info("alert %s escalated; dispatched %s", alert["id"],
                 ", ".join(n.officer for n in chosen) or "nobody (no live officer in range)")

    async def _flush_loop(self) -> None:
        while True:
            await self._outbox_ready.wait()
            # Cleared before the outbox is read, never after: an alert that lands in the
            # outbox while this flush runs sets it again, so it is flushed next, not stranded.
            self._outbox_ready.clear()
            try:
                await self._flush_once()
            except BusUnavailable:
                self._outbox_ready.set()
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("outbox flush failed; trying again")
                self._outbox_ready.set()
                await asyncio.sleep(1.0)

    async def _flush_once(self) -> None:
        """Hand every outbox alert to the bus (idempotent: a retry after a partial flush
        finds the ones already stored under their keys)."""
        pending = await asyncio.to_thread(self.outbox.pending)
        done = set()
        for alert, idem in pending:
            await self.bus.store_alert(alert, idem)
            done.add(alert["id"])
        await asyncio.to_thread(self.outbox.remove, done)
        if done:
            log.info("flushed %d alert(s) from the outbox to the bus", len(done))

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.presence_ttl_s / 3)
            registry = self._registry()
            try:
                for p in registry.presence() if registry else []:
                    await self.bus.set_presence(p.officer, self._presence_info(p),
                                                self.settings.presence_ttl_s)
            except BusUnavailable:
                continue
            except Exception:
                log.exception("presence heartbeat failed; trying again")


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
            web.post("/api/alerts/{id}/{action}", act_on_alert)]
