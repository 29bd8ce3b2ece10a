"""The bus between nodes: durable alerts, presence, positions and fan-out of events.

`MemoryBus` is the embedded default for a single node; `RedisBus` (signaling.redisbus)
spans nodes. Both satisfy the same contract tests (tests/signaling/test_bus_contract.py).

Durable events (alerts and their updates) carry a `cursor`: their place in the durable
log, so a console or a node that missed some can replay everything after a cursor.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fieldrelay.alerts import Alert, is_open
from fieldrelay.errors import FieldRelayError
from fieldrelay.files import append_durably, read_json_lines
from fieldrelay.instructions import Instruction

Event = dict[str, Any]
Updater = Callable[[Alert], Alert | None]
InstructionUpdater = Callable[[Instruction], Instruction | None]
EARTH_RADIUS_M = 6371008.8
# One bus event carrying several `alert.updated` events (`{"type": BATCH, "events": [...]}`):
# the escalation timer updates the alerts due in one pass together, so each node hands each
# console one message for the pass instead of one per alert.
BATCH = "alerts.updated"
# Witness messages the in-process bus keeps (it has no other node to hand them to).
WITNESS_KEPT = 1000


class BusUnavailable(FieldRelayError):
    """The shared bus cannot be reached right now."""

    code = "bus_unavailable"
    status = 503


@dataclass(frozen=True)
class Nearby:
    """An officer near a point."""

    officer: str
    distance_m: float
    lat: float
    lon: float


def cursor_after(a: str, b: str) -> bool:
    """True when cursor a comes after cursor b (Redis stream ids: `<ms>-<seq>`)."""
    am, _, aseq = a.partition("-")
    bm, _, bseq = b.partition("-")
    return (int(am), int(aseq or 0)) > (int(bm), int(bseq or 0))


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


class Bus(Protocol):
    """What every node needs from the bus."""

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    @property
    def rejected_messages(self) -> int:
        """Records and messages dropped because they failed their seal (a metric)."""

    async def store_alert(self, alert: Alert, idempotency: str) -> tuple[Alert, bool]:
        """Store a new alert durably and fan it out; (alert, True) when created, or the
        alert stored earlier under the same idempotency key and False."""

    async def update_alert(self, alert_id: str, change: Updater) -> Alert | None:
        """Apply `change` atomically; store and fan out the result (None: nothing changed)."""

    async def update_alerts(self, alert_ids: list[str], change: Updater) -> list[Alert]:
        """`update_alert` for several alerts at once: each update is stored (and replayable)
        on its own, and those that changed are fanned out as ONE `BATCH` event. Returns the
        updated alerts; an alert that `change` leaves alone (None) is not among them."""

    async def get_alert(self, alert_id: str) -> Alert | None: ...

    async def open_alerts(self) -> list[Alert]: ...

    async def due_alerts(self, raised_before: float, limit: int) -> list[Alert]:
        """Alerts still `raised` (nobody acknowledged them) that were raised at or before
        `raised_before` (epoch seconds), oldest first, at most `limit`: the escalation timer
        reads only what is due, never every open alert."""

    async def next_due(self) -> float | None:
        """When the oldest alert still `raised` was raised (epoch seconds), or None."""

    async def events_after(self, cursor: str, limit: int = 1000) -> list[Event]:
        """Durable events (alerts and updates) after a cursor, oldest first."""

    async def set_presence(self, officer: str, info: dict[str, Any], ttl_s: float) -> None: ...

    async def clear_presence(self, officer: str) -> None: ...

    async def presence(self) -> dict[str, dict[str, Any]]: ...

    async def set_position(self, officer: str, lat: float, lon: float, at: float,
                           ttl_s: float) -> None: ...

    async def positions(self) -> dict[str, dict[str, float]]: ...

    async def nearest(self, lat: float, lon: float, count: int, radius_m: float,
                      exclude: set[str]) -> list[Nearby]: ...

    async def publish(self, event: Event) -> None:
        """Fan out a transient event (presence, position, dispatch) to every node."""

    def events(self) -> AsyncIterator[Event]:
        """Every event from every node, this one included, as it happens."""

    async def store_instruction(self, instruction: Instruction) -> None:
        """Store a new instruction and fan out `{"type": "instruction", ...}`."""

    async def update_instruction(self, instruction_id: str,
                                 change: InstructionUpdater) -> Instruction | None:
        """Apply `change` atomically; store and fan out `instruction.updated` (None: no change)."""

    async def get_instruction(self, instruction_id: str) -> Instruction | None: ...

    async def recent_instructions(self, officer: str | None,
                                  limit: int = 50) -> list[Instruction]:
        """The newest instructions (to one officer, or to anyone), newest first."""

    async def witness_put(self, message: Event) -> str:
        """Append a witnessing message (a checkpoint, a countersignature) to the durable
        witness stream that every node reads; returns its cursor."""

    async def witness_after(self, cursor: str, limit: int = 100,
                            wait_s: float = 0.0) -> list[tuple[str, Event]]:
        """Witness messages after `cursor` ("0-0": from the start), oldest first, waiting up
        to `wait_s` for one when there are none yet."""


class MemoryBus:
    """The single-node bus: everything in this process.

    With a `journal` path, alerts and their updates are appended to that file (fsynced)
    before they count as stored, and read back at start, so a restart loses none.
    """

    def __init__(self, journal: Path | None = None, listener_queue: int = 4096) -> None:
        self._journal = journal
        self._alerts: dict[str, Alert] = {}
        self._idem: dict[str, str] = {}
        self._log: list[Event] = []
        self._seq = 0
        self._presence: dict[str, tuple[float, dict[str, Any]]] = {}
        self._positions: dict[str, tuple[float, dict[str, float]]] = {}
        self._listeners: set[asyncio.Queue[Event]] = set()
        self._queue_size = listener_queue
        self._lock = asyncio.Lock()
        self._instructions: dict[str, Instruction] = {}
        # One node has no other node to witness it: the stream only lets the same code run.
        self._witness: list[tuple[str, Event]] = []
        self._witness_added = asyncio.Event()
        # Alerts still raised, by id, and a heap of (raised_at, id) over them; an entry whose
        # alert has left `raised` is dropped when it reaches the top.
        self._raised: dict[str, float] = {}
        self._raised_heap: list[tuple[float, str]] = []

    def _track_raised(self, alert: Alert) -> None:
        if alert["state"] == "raised":
            if alert["id"] not in self._raised:
                self._raised[alert["id"]] = float(alert["raised_at"])
                heapq.heappush(self._raised_heap, (float(alert["raised_at"]), alert["id"]))
        else:
            self._raised.pop(alert["id"], None)

    def _drop_stale_top(self) -> None:
        heap = self._raised_heap
        while heap and self._raised.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)

    def _instruction_journal(self) -> Path | None:
        return self._journal.with_name("instructions.jsonl") if self._journal else None

    async def start(self) -> None:
        """Read the journal back, if there is one."""
        if self._journal is None:
            return
        self._journal.parent.mkdir(parents=True, exist_ok=True)
        journal = self._instruction_journal()
        assert journal is not None
        for instruction in await asyncio.to_thread(read_json_lines, journal):
            self._instructions[instruction["id"]] = instruction  # the last version wins
        for event in await asyncio.to_thread(read_json_lines, self._journal):
            self._alerts[event["alert"]["id"]] = event["alert"]
            self._track_raised(event["alert"])
            if event.get("idem"):
                self._idem[event["idem"]] = event["alert"]["id"]
            self._log.append({k: v for k, v in event.items() if k != "idem"})
            self._seq = max(self._seq, int(event["cursor"].partition("-")[2]))

    async def aclose(self) -> None:
        """Nothing to release."""

    @property
    def rejected_messages(self) -> int:
        """Nothing reaches this bus from outside the process: nothing is ever refused."""
        return 0

    def _cursor(self) -> str:
        # Sequence only: a wall clock stepping back must never reorder the log.
        self._seq += 1
        return f"0-{self._seq}"

    def _fan_out(self, event: Event) -> None:
        for queue in list(self._listeners):
            if queue.full():
                queue.get_nowait()  # a listener that fell behind loses its oldest event
            queue.put_nowait(event)

    async def _durable(self, kind: str, alert: Alert, idempotency: str | None = None,
                       fan_out: bool = True) -> Event:
        cursor = self._cursor()
        stored = {**alert, "cursor": cursor}
        if kind == "alert":
            stored["raised_cursor"] = cursor
        event = {"type": kind, "alert": stored, "cursor": cursor}
        if self._journal is not None:
            line = json.dumps({**event, "idem": idempotency}, sort_keys=True).encode() + b"\n"
            await asyncio.to_thread(append_durably, self._journal, line, 0o600)
        self._alerts[alert["id"]] = stored
        self._track_raised(stored)
        if idempotency is not None:
            self._idem[idempotency] = alert["id"]
        self._log.append(event)
        if fan_out:
            self._fan_out(event)
        return event

    async def store_alert(self, alert: Alert, idempotency: str) -> tuple[Alert, bool]:
        async with self._lock:
            existing = self._idem.get(idempotency)
            if existing is not None:
                return self._alerts[existing], False
            return (await self._durable("alert", alert, idempotency))["alert"], True

    async def update_alert(self, alert_id: str, change: Updater) -> Alert | None:
        async with self._lock:
            current = self._alerts.get(alert_id)
            if current is None:
                return None
            updated = change(current)
            if updated is None:
                return None
            stored: Alert = (await self._durable("alert.updated", updated))["alert"]
            return stored

    async def update_alerts(self, alert_ids: list[str], change: Updater) -> list[Alert]:
        events: list[Event] = []
        async with self._lock:
            for alert_id in dict.fromkeys(alert_ids):
                current = self._alerts.get(alert_id)
                updated = change(current) if current is not None else None
                if updated is not None:
                    events.append(await self._durable("alert.updated", updated, fan_out=False))
        if events:
            self._fan_out({"type": BATCH, "events": events})
        return [e["alert"] for e in events]

    async def get_alert(self, alert_id: str) -> Alert | None:
        return self._alerts.get(alert_id)

    async def open_alerts(self) -> list[Alert]:
        return sorted((a for a in self._alerts.values() if is_open(a)), key=lambda a: a["id"])

    async def due_alerts(self, raised_before: float, limit: int) -> list[Alert]:
        taken: list[tuple[float, str]] = []
        self._drop_stale_top()
        while self._raised_heap and len(taken) < limit and \
                self._raised_heap[0][0] <= raised_before:
            taken.append(heapq.heappop(self._raised_heap))
            self._drop_stale_top()
        for entry in taken:  # reading is not escalating: they stay due until updated
            heapq.heappush(self._raised_heap, entry)
        return [self._alerts[i] for _, i in taken]

    async def next_due(self) -> float | None:
        self._drop_stale_top()
        return self._raised_heap[0][0] if self._raised_heap else None

    async def events_after(self, cursor: str, limit: int = 1000) -> list[Event]:
        return [e for e in self._log if cursor_after(e["cursor"], cursor)][:limit]

    async def set_presence(self, officer: str, info: dict[str, Any], ttl_s: float) -> None:
        self._presence[officer] = (time.monotonic() + ttl_s, info)

    async def clear_presence(self, officer: str) -> None:
        self._presence.pop(officer, None)

    async def presence(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return {o: info for o, (exp, info) in self._presence.items() if exp > now}

    async def set_position(self, officer: str, lat: float, lon: float, at: float,
                           ttl_s: float) -> None:
        self._positions[officer] = (time.monotonic() + ttl_s, {"lat": lat, "lon": lon, "at": at})

    async def positions(self) -> dict[str, dict[str, float]]:
        now = time.monotonic()
        return {o: pos for o, (exp, pos) in self._positions.items() if exp > now}

    async def nearest(self, lat: float, lon: float, count: int, radius_m: float,
                      exclude: set[str]) -> list[Nearby]:
        found = [Nearby(o, haversine_m(lat, lon, p["lat"], p["lon"]), p["lat"], p["lon"])
                 for o, p in (await self.positions()).items() if o not in exclude]
        return sorted((n for n in found if n.distance_m <= radius_m),
                      key=lambda n: n.distance_m)[:count]

    async def publish(self, event: Event) -> None:
        self._fan_out(event)

    async def events(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._listeners.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._listeners.discard(queue)


    async def _keep_instruction(self, instruction: Instruction) -> None:
        journal = self._instruction_journal()
        if journal is not None:
            line = json.dumps(instruction, sort_keys=True).encode() + b"\n"
            await asyncio.to_thread(append_durably, journal, line, 0o600)
        self._instructions[instruction["id"]] = instruction

    async def store_instruction(self, instruction: Instruction) -> None:
        async with self._lock:
            await self._keep_instruction(instruction)
        self._fan_out({"type": "instruction", "instruction": instruction})

    async def update_instruction(self, instruction_id: str,
                                 change: InstructionUpdater) -> Instruction | None:
        async with self._lock:
            current = self._instructions.get(instruction_id)
            updated = change(current) if current is not None else None
            if updated is None:
                return None
            await self._keep_instruction(updated)
        self._fan_out({"type": "instruction.updated", "instruction": updated})
        return updated

    async def get_instruction(self, instruction_id: str) -> Instruction | None:
        return self._instructions.get(instruction_id)

    async def recent_instructions(self, officer: str | None,
                                  limit: int = 50) -> list[Instruction]:
        found = [i for i in self._instructions.values() if officer is None or officer in i["to"]]
        return sorted(found, key=lambda i: i["id"], reverse=True)[:limit]

    async def witness_put(self, message: Event) -> str:
        cursor = f"0-{len(self._witness) + 1}"
        self._witness.append((cursor, message))
        self._witness_added.set()
        self._witness = self._witness[-WITNESS_KEPT:]
        return cursor

    async def witness_after(self, cursor: str, limit: int = 100,
                            wait_s: float = 0.0) -> list[tuple[str, Event]]:
        found = [(c, m) for c, m in self._witness if cursor_after(c, cursor)][:limit]
        if found or wait_s <= 0:
            return found
        self._witness_added.clear()
        try:
            await asyncio.wait_for(self._witness_added.wait(), wait_s)
        except TimeoutError:
            return []
        return [(c, m) for c, m in self._witness if cursor_after(c, cursor)][:limit]
