"""Grace periods: a stream whose phone dropped ends only if the phone does not come back."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fieldrelay.tasks import TaskGroupOwner


class GracePeriods:
    """One timer per officer whose publisher dropped; owns and awaits their tasks."""

    def __init__(self) -> None:
        self._timers: dict[str, asyncio.Task[Any]] = {}
        self._tasks = TaskGroupOwner("grace periods")

    def start(self, officer: str, expiry: Coroutine[Any, Any, None]) -> None:
        """Run `expiry` for the officer (it waits out the period), replacing any timer."""
        self.cancel(officer)
        self._timers[officer] = self._tasks.spawn(expiry, name=f"grace-{officer}")

    def cancel(self, officer: str) -> None:
        """The officer's phone is back, or its stream ends: its timer stops."""
        task = self._timers.pop(officer, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def cancel_all(self) -> None:
        """Stop every timer now (shutdown seals the streams itself)."""
        for task in list(self._timers.values()):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel every timer and wait for them; idempotent."""
        self._timers.clear()
        await self._tasks.aclose()
