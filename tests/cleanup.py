"""Stopping a test's own background task without hiding how it ended."""

from __future__ import annotations

import asyncio
from typing import Any


async def finish(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it; an exception it ended with before is raised here."""
    task.cancel()
    await asyncio.wait({task})
    failure = None if task.cancelled() else task.exception()
    if failure is not None:
        raise failure
