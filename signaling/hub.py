"""Fan-out of JSON events to connected WebSocket clients, each with a bounded queue."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]
# Who sees the command center's events: alerts, presence, positions, floors.
COMMAND_ROLES = ("commander", "admin")
SEEN_KEYS = 10_000


def dedup_key(event: Event) -> str | None:
    """What makes an alert event the same event twice: the alert, its state and its time."""
    alert = event.get("alert")
    if event.get("type") in ("alert", "alert.updated") and isinstance(alert, dict):
        return f"{alert.get('id')}|{alert.get('state')}|{alert.get('updated_at')}"
    return None


@dataclass(eq=False)
class Client:
    """One connected WebSocket: who it is and what is waiting to be sent to it."""

    user: str
    role: str
    queue: asyncio.Queue[str]
    on_overflow: Callable[[], None]
    dropped: int = 0
    sent: int = 0
    # Keys of alert states already queued to this client: replay and live delivery overlap,
    # and each alert state must reach a console exactly once. A plain dict keeps insertion
    # order and, holding only strings, stays out of the garbage collector's way.
    seen: dict[str, None] = field(default_factory=dict)

    def offer(self, text: str, key: str | None = None) -> bool:
        """Queue a message; a client that cannot keep up is told to reconnect and resume."""
        if key is not None:
            if key in self.seen:
                return True
            self.seen[key] = None
            if len(self.seen) > SEEN_KEYS:
                del self.seen[next(iter(self.seen))]
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.dropped += 1
            self.on_overflow()
            return False
        return True


class EventHub:
    """Who is connected, and delivery of events to them by role or by name."""

    def __init__(self, queue_size: int = 1024) -> None:
        self.queue_size = queue_size
        self._clients: set[Client] = set()
        # Set once when the node shuts down: every connection closes with GOING_AWAY.
        self.closing = asyncio.Event()

    def connect(self, user: str, role: str, on_overflow: Callable[[], None]) -> Client:
        """Register a client; the caller must `disconnect` it in a finally block."""
        client = Client(user, role, asyncio.Queue(self.queue_size), on_overflow)
        self._clients.add(client)
        return client

    def disconnect(self, client: Client) -> None:
        """Forget a client."""
        self._clients.discard(client)

    def __len__(self) -> int:
        return len(self._clients)

    def send_to_roles(self, event: Event, roles: tuple[str, ...]) -> int:
        """Send an event to every client in these roles; returns how many got it queued."""
        text, key = json.dumps(event), dedup_key(event)
        return sum(c.offer(text, key) for c in list(self._clients) if c.role in roles)

    def send_to_user(self, event: Event, user: str) -> int:
        """Send an event to every connection of one user."""
        text, key = json.dumps(event), dedup_key(event)
        return sum(c.offer(text, key) for c in list(self._clients) if c.user == user)

    def clients(self) -> list[Client]:
        """The connected clients."""
        return list(self._clients)
