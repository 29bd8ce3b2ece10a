"""The escalation timer: each alert escalates when it is due, read by due time, never by a scan
of every open alert."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fieldrelay.alerts import Alert, apply, raise_alert
from fieldrelay.config import Config
from recordings.session import Evidence
from relay.directory import StreamDirectory
from relay.evidence import LiveEvidence
from signaling.bus import MemoryBus
from signaling.escalation import Escalation, EscalationSettings
from signaling.hub import EventHub
from signaling.presence import PresenceSettings, Whereabouts


class CountingBus(MemoryBus):
    """The in-process bus, counting how the timer reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.scans = 0
        self.due_reads: list[int] = []

    async def open_alerts(self) -> list[Alert]:
        self.scans += 1
        return await super().open_alerts()

    async def due_alerts(self, raised_before: float, limit: int) -> list[Alert]:
        due = await super().due_alerts(raised_before, limit)
        self.due_reads.append(len(due))
        return due


async def test_alerts_escalate_on_their_own_deadline_and_open_alerts_are_never_scanned(
        tmp_path: Path) -> None:
    bus = CountingBus()
    config, hub, streams = Config(data_dir=tmp_path), EventHub(), StreamDirectory()
    evidence = LiveEvidence(Evidence(tmp_path, config.node_id), streams)
    whereabouts = Whereabouts(config, PresenceSettings(), bus, hub, streams, evidence)
    escalation = Escalation(EscalationSettings(escalate_after_s=0.6), bus, whereabouts)
    await bus.start()
    # 500 alerts acknowledged in time stay open: the timer must not read them at all.
    for i in range(500):
        acked, _ = await bus.store_alert(raise_alert(f"a{i}", "n1", "sos", None, None, None),
                                         f"acked-{i}")
        await bus.update_alert(acked["id"], lambda a: apply(a, "ack", "c1"))
    escalation.start()
    try:
        t0 = time.time()
        first, _ = await bus.store_alert(raise_alert("o1", "n1", "sos", None, None, None),
                                         "first")
        await asyncio.sleep(0.3)
        second, _ = await bus.store_alert(raise_alert("o2", "n1", "sos", None, None, None),
                                          "second")
        acked, _ = await bus.store_alert(raise_alert("o3", "n1", "sos", None, None, None),
                                         "acked")
        await bus.update_alert(acked["id"], lambda a: apply(a, "ack", "c1"))
        escalated_at: dict[str, float] = {}
        async with asyncio.timeout(5):
            while len(escalated_at) < 2:
                for alert in (first, second):
                    stored = await bus.get_alert(alert["id"])
                    if stored is not None and stored["state"] == "escalated":
                        escalated_at.setdefault(alert["id"], time.time())
                await asyncio.sleep(0.01)
        # Each on its own deadline (0.6 s after it was raised), not on a shared tick.
        late_first = escalated_at[first["id"]] - (first["raised_at"] + 0.6)
        late_second = escalated_at[second["id"]] - (second["raised_at"] + 0.6)
        assert -0.02 < late_first < 0.25 and -0.02 < late_second < 0.25, (late_first, late_second)
        assert (await bus.get_alert(acked["id"]))["state"] == "acknowledged"  # type: ignore[index]
        assert bus.scans == 0
        # A few reads in well over a second, each finding at most what was due.
        assert len(bus.due_reads) <= 8 and sum(bus.due_reads) == 2, bus.due_reads
        assert await bus.next_due() is None
        assert time.time() - t0 < 3
    finally:
        await escalation.aclose()
        await bus.aclose()
