"""The outbox flush never strands an alert that lands in the outbox while a flush runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fieldrelay.alerts import Alert
from fieldrelay.config import Config
from recordings.session import Evidence
from relay.directory import StreamDirectory
from relay.evidence import LiveEvidence
from signaling.alerts import AlertDesk
from signaling.bus import BusUnavailable, MemoryBus
from signaling.escalation import EscalationSettings
from signaling.hub import EventHub
from signaling.outbox import AlertOutbox
from signaling.presence import PresenceSettings, Whereabouts


class ControlledBus(MemoryBus):
    """The in-process bus, with Redis's two failure modes at its edge: refusing a store
    (down) and answering late (the flush is held inside its first store)."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: set[str] = set()
        self.down = False
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def store_alert(self, alert: Alert, idempotency: str) -> tuple[Alert, bool]:
        if self.down or idempotency in self.refused:
            raise BusUnavailable("Redis is unreachable (test)")
        self.entered.set()
        await self.gate.wait()
        return await super().store_alert(alert, idempotency)


async def test_an_alert_added_during_a_flush_is_flushed_too(tmp_path: Path) -> None:
    bus = ControlledBus()
    outbox = AlertOutbox(tmp_path)
    config, hub, streams = Config(data_dir=tmp_path), EventHub(), StreamDirectory()
    evidence = LiveEvidence(Evidence(tmp_path, config.node_id), streams)
    whereabouts = Whereabouts(config, PresenceSettings(), bus, hub, streams, evidence)
    desk = AlertDesk(config, EscalationSettings(escalate_after_s=3600.0), bus, outbox, hub,
                     whereabouts, evidence)
    await bus.start()
    await desk.start()
    try:
        bus.down = True
        first, created = await desk.raise_alert("o1", "first-press-0001", {"kind": "sos"})
        assert created and [a["id"] for a, _ in outbox.pending()] == [first["id"]]
        bus.down = False  # back, but slow: the flush is held inside its store of `first`
        async with asyncio.timeout(5):
            await bus.entered.wait()
        # Meanwhile another press reaches this node and cannot be stored yet either.
        bus.refused.add("o2:second-press-01")
        second, _ = await desk.raise_alert("o2", "second-press-01", {"kind": "sos"})
        bus.refused.clear()
        bus.gate.set()
        async with asyncio.timeout(5):
            while await bus.get_alert(second["id"]) is None:
                await asyncio.sleep(0.05)
        assert await bus.get_alert(first["id"]) is not None
        assert outbox.pending() == []
    finally:
        await desk.aclose()
        await bus.aclose()
