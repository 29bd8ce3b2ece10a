"""Escalation: an alert nobody acknowledged in time is raised again and help is sent.

Every node runs the check; the bus lets only one of them escalate each alert. The nearest
live officers (Redis GEOSEARCH) are dispatched towards the alert's position.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

from fieldrelay import alerts as model
from fieldrelay.alerts import Alert
from fieldrelay.tasks import TaskGroupOwner
from signaling.bus import Bus, BusUnavailable
from signaling.presence import Whereabouts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EscalationSettings:
    """When an alert escalates, and how many officers within what distance are sent."""

    escalate_after_s: float = 30.0
    dispatch_count: int = 3
    dispatch_radius_m: float = 5000.0


class Escalation:
    """Owns the escalation timer of this node."""

    def __init__(self, settings: EscalationSettings, bus: Bus, whereabouts: Whereabouts) -> None:
        self.settings = settings
        self.bus = bus
        self._whereabouts = whereabouts
        self._tasks = TaskGroupOwner("escalation")

    def start(self) -> None:
        """Start checking for alerts that wait too long."""
        self._tasks.spawn(self._loop(), name="escalation")

    async def aclose(self) -> None:
        """Stop the timer and wait for it."""
        await self._tasks.aclose()

    async def _loop(self) -> None:
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
            await self.dispatch(escalated)
        except BusUnavailable as exc:
            log.error("alert %s escalated but the dispatch failed: %s", alert_id, exc.detail)

    async def dispatch(self, alert: Alert) -> None:
        """Send the nearest live officers to the alert's position."""
        lat, lon = alert.get("lat"), alert.get("lon")
        if lat is None or lon is None:
            last = (await self._whereabouts.positions()).get(alert["officer"])
            if last is None:
                log.warning("alert %s escalated, but nobody knows where %s is", alert["id"],
                            alert["officer"])
                return
            lat, lon = last["lat"], last["lon"]
        live = {o for o, info in (await self._whereabouts.presence()).items()
                if info.get("live")}
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
