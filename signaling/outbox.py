"""Alerts accepted while the shared bus was down, kept on disk until the bus takes them."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from fieldrelay.alerts import Alert
from fieldrelay.files import append_durably, read_json_lines


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
