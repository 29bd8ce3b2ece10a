"""Task ownership: every background task belongs to someone who cancels and awaits it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Spacing:
    """At most one round per `gap_s` seconds of a loop that rounds are asked of in bursts:
    the first at once, each later one when the gap since the one before has passed."""

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._last = -gap_s

    async def wait(self, *, now: bool = False) -> None:
        """Wait out what is left of the gap (not with `now`), and count a round from here."""
        loop = asyncio.get_running_loop()
        left = self._last + self.gap_s - loop.time()
        if left > 0 and not now:
            await asyncio.sleep(left)
        self._last = loop.time()


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a task and wait until it has finished, without hiding our own cancellation."""
    if task is None or task.done():
        return
    task.cancel()
    # asyncio.wait never raises the task's CancelledError, but still raises ours.
    await asyncio.wait([task])


class TaskGroupOwner:
    """A set of tasks started by one owner; `aclose` cancels and awaits them all."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Start a task that this owner will cancel and await on close."""
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self._name} is closed")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel every task and wait for all of them; idempotent."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
