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
    # Each message as the UTF-8 bytes of its JSON: an event is encoded once, whoever gets it.
    queue: asyncio.Queue[bytes]
    on_overflow: Callable[[], None]
    dropped: int = 0
    sent: int = 0
    # Keys of alert states already queued to this client: replay and live delivery overlap,
    # and each alert state must reach a console exactly once. A plain dict keeps insertion
    # order and, holding only strings, stays out of the garbage collector's way.
    seen: dict[str, None] = field(default_factory=dict)
    # The client takes several alert updates in one `alerts.updated` message (it said so with
    # {"type": "accept", "types": ["alerts.updated"]}); others get each `alert.updated` alone.
    batches: bool = False

    def first_time(self, key: str) -> bool:
        """True the first time this alert state is queued to this client (and remember it)."""
        if key in self.seen:
            return False
        self.seen[key] = None
        if len(self.seen) > SEEN_KEYS:
            del self.seen[next(iter(self.seen))]
        return True

    def offer(self, text: str | bytes, key: str | None = None) -> bool:
        """Queue a message; a client that cannot keep up is told to reconnect and resume."""
        if key is not None and not self.first_time(key):
            return True
        return self.put(text.encode() if isinstance(text, str) else text)

    def put(self, data: bytes) -> bool:
        """Queue one encoded message (no de-duplication)."""
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1
            self.on_overflow()
            return False
        return True


def batch_message(encoded: list[bytes]) -> bytes:
    """`{"type": "alerts.updated", "events": [...]}` around events already encoded."""
    return b'{"type": "alerts.updated", "events": [' + b", ".join(encoded) + b"]}"


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
        return self._send([c for c in self._clients if c.role in roles], event)

    def send_to_user(self, event: Event, user: str) -> int:
        """Send an event to every connection of one user."""
        return self._send([c for c in self._clients if c.user == user], event)

    @staticmethod
    def _send(targets: list[Client], event: Event) -> int:
        if not targets:
            return 0
        data, key = json.dumps(event).encode(), dedup_key(event)
        return sum(c.offer(data, key) for c in targets)

    def send_batch_to_roles(self, events: list[Event], roles: tuple[str, ...]) -> int:
        """Several alert events at once (a bus `alerts.updated`) to every client in these
        roles: ONE `alerts.updated` message to a client that takes batches, each event alone
        to one that does not. Each event is encoded once; each client still gets each alert
        state once. Returns how many clients got something queued."""
        targets = [c for c in self._clients if c.role in roles]
        if not targets or not events:
            return 0
        encoded = [json.dumps(e).encode() for e in events]
        keys = [dedup_key(e) for e in events]
        whole: bytes | None = None
        queued = 0
        for client in targets:
            fresh = [i for i, k in enumerate(keys) if k is None or client.first_time(k)]
            if not fresh:
                continue
            if not client.batches:
                queued += all([client.put(encoded[i]) for i in fresh])
            elif len(fresh) == 1:
                queued += client.put(encoded[fresh[0]])  # one update reads as it always did
            elif len(fresh) == len(encoded):
                whole = whole if whole is not None else batch_message(encoded)
                queued += client.put(whole)
            else:  # a resume already queued some of them to this client
                queued += client.put(batch_message([encoded[i] for i in fresh]))
        return queued

    def clients(self) -> list[Client]:
        """The connected clients."""
        return list(self._clients)
