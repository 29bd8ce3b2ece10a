"""Merging repeated access records per key and minute, so the audit chain grows with what
people do, not with how many requests their browser (or a hostile script) sends.

A video element reads a recording in many Range requests, and a refused client can retry in a
loop. Each key (user, session, action, ...) gets its first record of a wall-clock minute written
at once, before anything is served or refused; the repeats within that minute are only
counted, and one summary record with the count is written once the minute is over. Pure logic:
the caller writes what `note` and `take_due` tell it to.
"""

from __future__ import annotations

import datetime
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

WINDOW_S = 60
K = TypeVar("K", bound=Hashable)


@dataclass
class _Slot:
    minute: int
    repeats: int = 0


@dataclass(frozen=True)
class Merged(Generic[K]):
    """The repeats of one key in one minute, to be written as one summary record."""

    key: K
    minute: str  # the minute as UTC ISO 8601, e.g. 2026-11-27T10:15Z
    repeats: int


def minute_iso(minute: int) -> str:
    """Minute number since the epoch as UTC ISO 8601 to the minute."""
    moment = datetime.datetime.fromtimestamp(minute * WINDOW_S, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%MZ")


class MinuteMerger(Generic[K]):
    """Which records to write now and which repeats to summarize later (no I/O, no clock)."""

    def __init__(self) -> None:
        self._slots: dict[K, _Slot] = {}
        self._pending: list[Merged[K]] = []

    def note(self, key: K, now: float) -> bool:
        """Count one record of `key` at `now`; True when it is the first of its minute (write
        it), False when it is a repeat (only counted)."""
        minute = int(now // WINDOW_S)
        slot = self._slots.get(key)
        if slot is not None and slot.minute == minute:
            slot.repeats += 1
            return False
        if slot is not None and slot.repeats:
            # The key's earlier minute is over but was not yet taken: keep its count.
            self._pending.append(Merged(key, minute_iso(slot.minute), slot.repeats))
        self._slots[key] = _Slot(minute)
        return True

    def take_due(self, now: float, everything: bool = False) -> list[Merged[K]]:
        """The summaries of minutes that are over (all of them with `everything`, at
        shutdown); closed minutes are forgotten, so memory stays with the current minute."""
        minute = int(now // WINDOW_S)
        due, self._pending = self._pending, []
        for key, slot in list(self._slots.items()):
            if everything or slot.minute < minute:
                del self._slots[key]
                if slot.repeats:
                    due.append(Merged(key, minute_iso(slot.minute), slot.repeats))
        return due

    def requeue(self, merged: list[Merged[K]]) -> None:
        """Give back summaries that could not be written; the next `take_due` returns them."""
        self._pending[:0] = merged

    def __len__(self) -> int:
        return len(self._slots)
