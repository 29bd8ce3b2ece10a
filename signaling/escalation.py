"""Escalation: an alert nobody acknowledged in time is raised again and help is sent.

Every node runs the timer; the bus lets only one of them escalate each alert. The nearest
live officers (Redis GEOSEARCH) are dispatched towards the alert's position.

The timer sleeps until the oldest unacknowledged alert is due, and then reads only the alerts
that are due (a heap in the memory bus, a sorted set by raised_at in Redis): its cost follows
the escalations, not the number of open alerts, which a scan every second read and parsed on
the event loop (tens of milliseconds with thousands open).

A pass escalates everything due in one bus call, which every node hands to each console as one
message; passes are at least GATHER_S apart, so under a steady stream of unanswered alerts a
pass carries the few due since the last one instead of each alert making a pass (and a
message to every console) of its own. An alert due while the timer is idle still escalates on
its own deadline.
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

# An alert raised by another node whose clock lags this one's is still seen within this.
MAX_WAIT_S = 5.0
# After a failed pass, or when an escalation did not go through, try again this much later.
RETRY_S = 1.0
BATCH = 100
MAX_BATCHES = 10
# Passes are at least this far apart: an alert escalates at most this late, and 50 unanswered
# alerts a second reach each console as 5 messages a second instead of 50.
GATHER_S = 0.2


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
            try:
                wait = await self._pass()
            except BusUnavailable:
                wait = RETRY_S
            except Exception:
                # Escalation must outlive any one bad alert or bus hiccup.
                log.exception("escalation pass failed; trying again")
                wait = RETRY_S
            await asyncio.sleep(wait)

    async def _pass(self) -> float:
        """Escalate what is due; return how long to sleep until the next alert is."""
        after = self.settings.escalate_after_s
        cutoff = time.time() - after
        for _ in range(MAX_BATCHES):
            due = await self.bus.due_alerts(cutoff, BATCH)
            if due:
                # Those acknowledged meanwhile, or escalated first by another node, are left
                # out by the bus: only what this node escalated is dispatched here.
                escalated = await self.bus.update_alerts([a["id"] for a in due],
                                                         model.escalate)
                try:
                    await self.dispatch(escalated)
                except BusUnavailable as exc:
                    log.error("%d alert(s) escalated but the dispatch failed: %s",
                              len(escalated), exc.detail)
            if len(due) < BATCH:
                break
        cap = min(MAX_WAIT_S, after)
        oldest = await self.bus.next_due()
        if oldest is None:
            return cap  # anything raised from now on is due `after` from now, or later
        if oldest <= cutoff:
            return RETRY_S  # due before this pass and still not escalated: stuck, or too many
        # Due by now, or soon: alerts that fell due while this pass ran go in the next one.
        return max(GATHER_S, min(oldest + after - time.time(), cap))

    async def dispatch(self, escalated: list[Alert]) -> None:
        """Send the nearest live officers to each escalated alert's position (presence and
        positions read once for all of them)."""
        live: set[str] | None = None
        positions: dict[str, dict[str, float]] | None = None
        unknown: list[str] = []
        for alert in escalated:
            lat, lon = alert.get("lat"), alert.get("lon")
            if lat is None or lon is None:
                if positions is None:
                    positions = await self._whereabouts.positions()
                last = positions.get(alert["officer"])
                if last is None:
                    unknown.append(f"{alert['id']} ({alert['officer']})")
                    continue
                lat, lon = last["lat"], last["lon"]
            if live is None:
                live = {o for o, info in (await self._whereabouts.presence()).items()
                        if info.get("live")}
            await self._dispatch_one(alert, lat, lon, live)
        if unknown:
            log.warning("%d alert(s) escalated, but nobody knows where their officers are: %s",
                        len(unknown), ", ".join(unknown[:10])
                        + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""))

    async def _dispatch_one(self, alert: Alert, lat: float, lon: float, live: set[str]) -> None:
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
