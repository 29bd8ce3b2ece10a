"""Case numbers: what a valid one is, and those waiting for an officer's next session.

A case number set while the officer is not live is kept in `<data>/cases/pending.json` (the
embedded default; a node with a shared catalog keeps it there instead, so any node's next
session of the officer takes it) and written into the `session.start` entry of that
officer's next session, then forgotten.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Protocol

from fieldrelay.files import private_dir

MAX_CASE_CHARS = 64


def valid_case(value: object) -> str | None:
    """The case number when it is 1-64 printable characters, else None (pure)."""
    if not isinstance(value, str):
        return None
    case = value.strip()
    if not 1 <= len(case) <= MAX_CASE_CHARS or not case.isprintable():
        return None
    return case


class PendingStore(Protocol):
    """Where case numbers wait for officers' next sessions (called off the event loop)."""

    def get(self, officer: str) -> str | None:
        """The case number waiting for this officer's next session."""

    def put(self, officer: str, case: str | None) -> None:
        """Remember (or with None, forget) the case for the officer's next session."""

    def take(self, officer: str) -> str | None:
        """The waiting case number, forgotten as it is handed out."""


class PendingCases:
    """Case numbers for officers' next sessions, persisted durably in the data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "cases" / "pending.json"
        self._lock = threading.Lock()

    def _read(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_bytes())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        if not isinstance(raw, dict):
            return {}
        return {str(k): str(v) for k, v in raw.items() if isinstance(v, str)}

    def _write(self, cases: dict[str, str]) -> None:
        private_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".pending.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(json.dumps(cases, sort_keys=True).encode())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, officer: str) -> str | None:
        """The case number waiting for this officer's next session."""
        with self._lock:
            return self._read().get(officer)

    def put(self, officer: str, case: str | None) -> None:
        """Remember (or with None, forget) the case for the officer's next session."""
        with self._lock:
            cases = self._read()
            if case is None:
                if cases.pop(officer, None) is None:
                    return
            else:
                cases[officer] = case
            self._write(cases)

    def take(self, officer: str) -> str | None:
        """The waiting case number, forgotten as it is handed out."""
        with self._lock:
            cases = self._read()
            case = cases.pop(officer, None)
            if case is not None:
                self._write(cases)
            return case
