"""Waiting in tests for something another task or process does, with a deadline that fails
the test by name instead of hanging it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(predicate: Callable[[], bool], what: str, timeout: float = 15) -> None:
    """Poll `predicate` until it holds; AssertionError naming `what` after `timeout` s."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
