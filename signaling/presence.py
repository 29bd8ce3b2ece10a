"""Where officers are: presence (who is live, on which node) and positions, over the bus.

This node's own officers are announced as they change and re-announced on a heartbeat,
so the bus forgets an officer whose node died. A phone's position is evidence too while
the officer is live here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.tasks import TaskGroupOwner
from relay.directory import StreamDirectory
from relay.evidence import LiveEvidence
from relay.signals import Presence
from signaling.bus import Bus, BusUnavailable, Event
from signaling.hub import COMMAND_ROLES, EventHub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PresenceSettings:
    """How long presence and positions stay fresh on the bus."""

    presence_ttl_s: float = 30.0
    position_ttl_s: float = 300.0


class Whereabouts:
    """Presence and positions of officers on every node, as this node sees them."""

    def __init__(self, config: Config, settings: PresenceSettings, bus: Bus, hub: EventHub,
                 streams: StreamDirectory, evidence: LiveEvidence) -> None:
        self.settings = settings
        self.bus = bus
        self.hub = hub
        self.node_id = config.node_id
        self.node_url = config.public_url or f"http://{config.host}:{config.port}"
        # Where other nodes pull this node's streams from (a cascade).
        self.relay_url = config.cluster_url or self.node_url
        self._streams = streams
        self._evidence = evidence
        self._tasks = TaskGroupOwner("whereabouts")
        # The last link step each officer's phone reported (from any node), for consoles
        # that connect later: a tile whose picture is poor or gone says why at once.
        self._links: dict[str, Event] = {}

    def start(self) -> None:
        """Start re-announcing this node's officers."""
        self._tasks.spawn(self._heartbeat(), name="presence-heartbeat")

    async def aclose(self) -> None:
        """Stop the heartbeat and any announcement still under way."""
        await self._tasks.aclose()

    # -- presence ---------------------------------------------------------------------

    def presence_changed(self, p: Presence) -> None:
        """Called by the relay when one of this node's officers changes state."""
        self._tasks.spawn(self._share_presence(p), name=f"presence-{p.officer}")

    def _presence_info(self, p: Presence) -> dict[str, Any]:
        return {"officer": p.officer, "live": p.live, "state": p.state, "since": p.since,
                "recording": p.recording, "session": p.session, "node": self.node_id,
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
            self.deliver({"type": "presence", **info})  # at least this node's consoles

    async def presence(self) -> dict[str, dict[str, Any]]:
        """Officers live on any node (this node's own even when the bus is down)."""
        local = {p.officer: self._presence_info(p) for p in self._streams.presence()}
        try:
            return {**await self.bus.presence(), **local}
        except BusUnavailable:
            return local

    # -- positions --------------------------------------------------------------------

    async def position(self, officer: str, lat: float, lon: float, accuracy: float | None) -> None:
        """An officer's phone reports where it is (evidence too, while live)."""
        await self.store_position(officer, lat, lon, time.time())
        self._evidence.record(officer, "gps", lat=lat, lon=lon, accuracy=accuracy)

    async def store_position(self, officer: str, lat: float, lon: float, at: float) -> None:
        """Keep an officer's last position and show it on every console."""
        event = {"type": "position", "officer": officer, "lat": lat, "lon": lon, "at": at}
        try:
            await self.bus.set_position(officer, lat, lon, at, self.settings.position_ttl_s)
            await self.bus.publish(event)
        except BusUnavailable:
            self.deliver(event)

    async def positions(self) -> dict[str, dict[str, float]]:
        """Last known positions of officers, from the bus."""
        try:
            return await self.bus.positions()
        except BusUnavailable:
            return {}

    # -- the phone's link -------------------------------------------------------------

    async def link(self, officer: str, step: int, label: str) -> None:
        """The officer's phone stepped its media up or down for its uplink (0: full video,
        higher: less): every console shows it on the tile, the evidence keeps it."""
        event = {"type": "link", "officer": officer, "step": step, "label": label,
                 "at": time.time()}
        self._evidence.record(officer, "link.step", step=step, label=label)
        try:
            await self.bus.publish(event)
        except BusUnavailable:
            self.deliver(event)

    def links(self) -> list[Event]:
        """The last link step of every officer that reported one (step 0 is not kept)."""
        return list(self._links.values())

    # -- delivery ---------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """Hand a presence, position or link event to this node's consoles (other kinds: not
        ours)."""
        kind = event.get("type")
        if kind == "link":
            officer = str(event.get("officer"))
            if event.get("step"):
                self._links[officer] = event
            else:
                self._links.pop(officer, None)
        elif kind == "presence" and not event.get("live"):
            self._links.pop(str(event.get("officer")), None)
        if kind in ("presence", "position", "link"):
            self.hub.send_to_roles(event, COMMAND_ROLES)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.presence_ttl_s / 3)
            try:
                for p in self._streams.presence():
                    await self.bus.set_presence(p.officer, self._presence_info(p),
                                                self.settings.presence_ttl_s)
            except BusUnavailable:
                continue
            except Exception:
                log.exception("presence heartbeat failed; trying again")


WHEREABOUTS = web.AppKey("whereabouts", Whereabouts)
