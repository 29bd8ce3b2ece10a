"""Tell each publishing officer's phone when its uplink queues, as the node sees it.

The phone's own statistics show a queue a second or two late (web/js/adapt.js reads RTCP);
the node sees it within a few packets (relay/uplink.py). While an officer's voice waits in a
queue, their event link gets `{"type": "uplink", "queue_ms": N}` every REPORT_EVERY_S, and the
phone steps its media down before the queue overflows into the voice. A link with no queue
gets nothing (most of the time, for most officers: no traffic).
"""

from __future__ import annotations

import asyncio
import logging
import time

from fieldrelay.tasks import cancel_and_wait
from relay.registry import StreamRegistry
from signaling.hub import EventHub

log = logging.getLogger(__name__)

REPORT_EVERY_S = 0.2
# Below this the queue is jitter, and the phone is told nothing.
REPORT_FROM_S = 0.04
# Silent for longer than this, the link is down rather than queueing: the phone's reconnect
# handles that, and a publication waiting out its grace period is not nagged.
SILENT_UNTIL_S = 2.0


class UplinkReports:
    """The node's one task that sends the reports; `aclose` ends it."""

    def __init__(self, registry: StreamRegistry, hub: EventHub) -> None:
        self._registry = registry
        self._hub = hub
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="uplink-reports")

    async def aclose(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def tick(self, now_s: float) -> int:
        """Send this moment's reports; returns how many officers were told."""
        told = 0
        for officer, report in self._registry.uplinks(now_s).items():
            if report.silent_s > SILENT_UNTIL_S:
                continue
            queue_s = max(report.queue_s, report.silent_s)
            if queue_s >= REPORT_FROM_S:
                event = {"type": "uplink", "queue_ms": round(queue_s * 1000)}
                told += self._hub.send_to_user(event, officer) > 0
        return told

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            try:
                self.tick(time.monotonic())
            except Exception:
                # A report is advice: a fault in one pass must not end the next ones.
                log.exception("uplink reports failed")
