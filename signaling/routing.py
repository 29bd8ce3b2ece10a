"""The node's ear on the bus: every event from any node goes to this node's desks."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fieldrelay.tasks import TaskGroupOwner
from signaling.bus import Bus, Event

log = logging.getLogger(__name__)

Deliver = Callable[[Event], None]


class BusListener:
    """Hands each bus event to every desk in turn; each takes the kinds it knows."""

    def __init__(self, bus: Bus, desks: tuple[Deliver, ...]) -> None:
        self.bus = bus
        self._desks = desks
        self._tasks = TaskGroupOwner("bus listener")

    def start(self) -> None:
        """Start listening."""
        self._tasks.spawn(self._listen(), name="bus-listener")

    async def aclose(self) -> None:
        """Stop listening and wait for it."""
        await self._tasks.aclose()

    async def _listen(self) -> None:
        async for event in self.bus.events():
            for deliver in self._desks:
                # One desk's failure must not keep the event from the desks after it.
                try:
                    deliver(event)
                except Exception:
                    log.exception("could not deliver a bus event")
