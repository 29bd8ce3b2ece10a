"""One side's durable mailbox for the ferry: what it sent and awaits an ack for, what it got.

Kept as JSON lines in one file, each line fsynced before the caller goes on, so a message is
stored before it is acknowledged (received) or handed over (sent), and a restart reads back
exactly what was promised: the messages still waiting for the other side's ack, and the ids
already received (which are then acknowledged again and never applied twice). Every method
blocks on the disk; async callers run them in a worker thread, one at a time.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fieldrelay.files import append_durably, private_dir, read_json_lines


class Mailbox:
    """Sent-but-unacknowledged messages and received ids, in `<folder>/mailbox.jsonl`."""

    def __init__(self, folder: Path) -> None:
        private_dir(folder)
        self.path = folder / "mailbox.jsonl"
        self._lock = threading.Lock()
        self._pending: dict[str, dict[str, Any]] = {}
        self._received: dict[str, dict[str, Any]] = {}
        # Received ids the other side has not yet been told we hold.
        self._unacked: dict[str, None] = {}
        # Every message sent or received, in the order it was stored.
        self._history: list[dict[str, Any]] = []
        for row in read_json_lines(self.path):
            if not isinstance(row, dict):
                continue
            if isinstance(row.get("out"), dict):
                self._pending[str(row["out"]["id"])] = row["out"]
                self._history.append(row["out"])
            elif isinstance(row.get("acked"), list):
                for msg_id in row["acked"]:
                    self._pending.pop(str(msg_id), None)
            elif isinstance(row.get("in"), dict):
                msg_id = str(row["in"]["id"])
                self._received[msg_id] = row["in"]
                self._unacked[msg_id] = None
                self._history.append(row["in"])

    def _write(self, row: dict[str, Any]) -> None:
        append_durably(self.path, json.dumps(row, sort_keys=True).encode() + b"\n")

    def post(self, message: dict[str, Any]) -> None:
        """Store a message to send; it stays pending until the other side acknowledges it."""
        with self._lock:
            self._write({"out": message})
            self._pending[str(message["id"])] = message
            self._history.append(message)

    def acknowledged(self, ids: list[str], to: str | None = None) -> None:
        """The other side stored these of our messages: stop sending them (with `to`, only
        those addressed to that receiver)."""
        with self._lock:
            known = [i for i in ids if i in self._pending
                     and (to is None or self._pending[i].get("to") == to)]
            if not known:
                return
            self._write({"acked": known})
            for msg_id in known:
                del self._pending[msg_id]

    def receive(self, message: dict[str, Any]) -> bool:
        """Store a received message before it is acknowledged; False when it came before."""
        with self._lock:
            msg_id = str(message["id"])
            self._unacked[msg_id] = None
            if msg_id in self._received:
                return False
            self._write({"in": message})
            self._received[msg_id] = message
            self._history.append(message)
            return True

    def pending(self, limit: int, to: str | None = None) -> list[dict[str, Any]]:
        """Up to `limit` messages still waiting for the other side's ack, oldest first (with
        `to`, only those addressed to that receiver)."""
        with self._lock:
            waiting = [m for m in self._pending.values() if to is None or m.get("to") == to]
            return waiting[:limit]

    def acks_due(self) -> list[str]:
        """Received ids to acknowledge (again) in the next exchange."""
        with self._lock:
            return list(self._unacked)

    def acks_sent(self, ids: list[str]) -> None:
        """The other side has had our acknowledgment of these (it answered the exchange)."""
        with self._lock:
            for msg_id in ids:
                self._unacked.pop(msg_id, None)

    def received(self) -> list[dict[str, Any]]:
        """Every message received, in the order it came."""
        with self._lock:
            return list(self._received.values())

    def history(self) -> list[dict[str, Any]]:
        """Every message sent or received, in the order each was stored."""
        with self._lock:
            return list(self._history)

    def has_received(self, msg_id: str) -> bool:
        """True when a message of this id was stored already."""
        with self._lock:
            return msg_id in self._received
