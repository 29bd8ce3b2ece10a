"""Alerts accepted while the shared bus was down, kept on disk until the bus takes them."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from fieldrelay.alerts import Alert
from fieldrelay.files import append_durably, read_json_lines
from fieldrelay.tasks import TaskGroupOwner
from signaling.bus import Bus, BusUnavailable

log = logging.getLogger(__name__)


class AlertOutbox:
    """A JSON-lines file of (alert, idempotency key); every method blocks on the disk."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "outbox" / "alerts.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _read(self) -> list[dict[str, Any]]:
        return [row for row in read_json_lines(self.path) if isinstance(row, dict)]

    def add(self, alert: Alert, idempotency: str) -> None:
        """Store an alert durably (fsync) before the node answers 201 for it."""
        line = json.dumps({"alert": alert, "idem": idempotency}, sort_keys=True).encode() + b"\n"
        with self._lock:
            append_durably(self.path, line, 0o600)

    def pending(self) -> list[tuple[Alert, str]]:
        """Every alert not yet handed to the bus, oldest first."""
        with self._lock:
            return [(row["alert"], row["idem"]) for row in self._read()]

    def find(self, idempotency: str) -> Alert | None:
        """The pending alert stored under an idempotency key, if any."""
        for alert, idem in self.pending():
            if idem == idempotency:
                return alert
        return None

    def remove(self, alert_ids: set[str]) -> None:
        """Forget alerts the bus now holds (the file is rewritten atomically)."""
        with self._lock:
            keep = [row for row in self._read() if row["alert"]["id"] not in alert_ids]
            tmp = self.path.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                for row in keep:
                    f.write(json.dumps(row, sort_keys=True).encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)


class OutboxFlusher:
    """Hands the outbox's alerts to the bus once it answers again; owns its task."""

    def __init__(self, outbox: AlertOutbox, bus: Bus) -> None:
        self.outbox = outbox
        self.bus = bus
        self._ready = asyncio.Event()
        self._tasks = TaskGroupOwner("outbox flush")

    async def start(self) -> None:
        """Start flushing, at once if alerts were left in the outbox."""
        self._tasks.spawn(self._loop(), name="outbox-flush")
        if await asyncio.to_thread(self.outbox.pending):
            self._ready.set()

    def wake(self) -> None:
        """An alert landed in the outbox."""
        self._ready.set()

    async def aclose(self) -> None:
        """Stop flushing and wait for it."""
        await self._tasks.aclose()

    async def _loop(self) -> None:
        while True:
            await self._ready.wait()
            # Cleared before the outbox is read, never after: an alert that lands in the
            # outbox while this flush runs sets it again, so it is flushed next, not stranded.
            self._ready.clear()
            try:
                await self._flush_once()
            except BusUnavailable:
                self._ready.set()
                await asyncio.sleep(1.0)
            except Exception:
                log.exception("outbox flush failed; trying again")
                self._ready.set()
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
