"""What the relay tells the rest of the node: officers' live state and talkback floors.

The relay publishes; the desks above it listen. The listeners are handed over when the
relay is built (the node builds its desks first), so nothing is attached later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Presence:
    """An officer's live state as the command center sees it."""

    officer: str
    live: bool
    state: str  # live | reconnecting | offline
    since: float
    recording: bool = False
    session: str | None = None


@dataclass(frozen=True)
class Floor:
    """Who is talking to an officer (by is None: nobody)."""

    officer: str
    by: str | None
    video: bool
    since: float


PresenceListener = Callable[[Presence], None]
FloorListener = Callable[[Floor], None]


@dataclass(frozen=True)
class RelayListeners:
    """Everyone told about presence and floor changes, in the order given."""

    presence: tuple[PresenceListener, ...] = ()
    floor: tuple[FloorListener, ...] = ()

    def presence_changed(self, p: Presence) -> None:
        """An officer of this node went live, reconnecting, offline, or changed recording."""
        for listener in self.presence:
            listener(p)

    def floor_changed(self, floor: Floor) -> None:
        """A commander took or gave back an officer's talkback floor."""
        for listener in self.floor:
            listener(floor)
