"""Finding materials: every `material` entry of every chain of a data dir, kept in memory.

Not evidence: it is read from the session chains and the materials chains (at the first
question, then kept current as materials seal) and can be read again at any time. The events
that materials caused (`gap.filled`, `preevent.attached`) are kept too, for a case's timeline.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordings.material_rules import MATERIALS_DIR, parse_utc, public_material
from recordings.store import LedgerCorrupt, read_entries
from recordings.verify.chain import MATERIALS_CHAIN, SESSION_ID

LINK_EVENTS = ("gap.filled", "preevent.attached")


@dataclass(frozen=True)
class Found:
    """A material's entry and the chain folder (relative to the data dir) that holds it."""

    entry: dict[str, Any]
    chain: str

    @property
    def public(self) -> dict[str, Any]:
        """The API's material object."""
        return public_material(self.entry, self.chain)


def _chains(data_dir: Path) -> list[str]:
    out = []
    sessions = data_dir / "sessions"
    for child in sorted(sessions.iterdir()) if sessions.is_dir() else []:
        if SESSION_ID.fullmatch(child.name):
            out.append(f"sessions/{child.name}")
    materials = data_dir / MATERIALS_DIR
    for child in sorted(materials.iterdir()) if materials.is_dir() else []:
        if MATERIALS_CHAIN.fullmatch(child.name):
            out.append(f"{MATERIALS_DIR}/{child.name}")
    return out


def _time(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_utc(value)
    except ValueError:
        return None


class MaterialCatalog:
    """Every material of a data dir by id, and the events materials caused."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._lock = threading.Lock()
        self._by_id: dict[str, Found] = {}
        self._events: list[dict[str, Any]] = []
        self._loaded = False
        # Every material in the order it was taken, for `since`; a load starts it again.
        self._log: list[Found] = []
        self._generation = 0

    def load(self) -> None:
        """Read every chain again (blocks on the disk)."""
        by_id: dict[str, Found] = {}
        events: list[dict[str, Any]] = []
        for chain in _chains(self.data_dir):
            try:
                entries = list(read_entries(self.data_dir / chain / "ledger.jsonl"))
            except LedgerCorrupt:
                continue  # verify names it; the other chains still answer
            for entry in entries:
                self._take(entry, chain, by_id, events)
        with self._lock:
            self._by_id, self._events, self._loaded = by_id, events, True
            self._log = list(by_id.values())
            self._generation += 1

    @staticmethod
    def _take(entry: Mapping[str, Any], chain: str, by_id: dict[str, Found],
              events: list[dict[str, Any]]) -> bool:
        """Keep a material (True) or a link event (False)."""
        if entry.get("kind") == "material" and isinstance(entry.get("material"), str):
            by_id[str(entry["material"])] = Found(dict(entry), chain)
            return True
        if entry.get("kind") == "event" and entry.get("event") in LINK_EVENTS:
            events.append({**entry, "chain": chain})
        return False

    def since(self, mark: tuple[int, int]) -> tuple[list[Found], tuple[int, int]]:
        """The materials taken after `mark` (what an earlier call returned; (0, 0) the first
        time), and the mark for the next call: after a load, every material again. For a
        follower that must not read them all at every seal."""
        self._ensure()
        with self._lock:
            generation, seen = mark
            start = seen if generation == self._generation else 0
            return self._log[start:], (self._generation, len(self._log))

    def add(self, entry: Mapping[str, Any], chain: str,
            events: list[dict[str, Any]] | None = None) -> None:
        """A material just sealed (and the events it caused)."""
        with self._lock:
            if self._take(entry, chain, self._by_id, self._events):
                self._log.append(self._by_id[str(entry["material"])])
            for event in events or []:
                # An event handed over with the seal may not carry its time yet; it was
                # written with the material, so it has the material's.
                self._take({"at": entry.get("at"), **event}, chain, self._by_id, self._events)

    def _ensure(self) -> None:
        if not self._loaded:
            self.load()

    def get(self, material_id: str) -> Found | None:
        """One material, or None."""
        self._ensure()
        with self._lock:
            return self._by_id.get(material_id)

    def path(self, found: Found) -> Path:
        """The material's file."""
        return self.data_dir / found.chain / str(found.entry["file"])

    def search(self, case: str | None = None, officer: str | None = None,
               kind: str | None = None, since: float | None = None,
               until: float | None = None, session: str | None = None) -> list[Found]:
        """Materials matching every given filter, by the node's arrival time, newest first."""
        self._ensure()
        with self._lock:
            found = list(self._by_id.values())
        out = []
        for f in found:
            e = f.entry
            received = _time(e.get("received_at"))
            if (case is not None and e.get("case") != case) or \
                    (officer is not None and e.get("officer") != officer) or \
                    (kind is not None and e.get("material_kind") != kind) or \
                    (session is not None and e.get("session") != session) or \
                    (since is not None and (received is None or received < since)) or \
                    (until is not None and (received is None or received > until)):
                continue
            out.append(f)
        out.sort(key=lambda f: str(f.entry.get("received_at")), reverse=True)
        return out

    def events_of(self, materials: set[str]) -> list[dict[str, Any]]:
        """The events these materials caused (gap.filled, preevent.attached)."""
        self._ensure()
        with self._lock:
            return [dict(e) for e in self._events if e.get("material") in materials]
