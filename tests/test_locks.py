"""Locks by key: one holder per key at a time, and no entry left once nobody uses a key."""

from __future__ import annotations

import asyncio

import pytest

from fieldrelay.locks import KeyedLocks


async def test_one_holder_per_key_and_nothing_kept_afterwards() -> None:
    locks = KeyedLocks()
    order: list[str] = []
    release = asyncio.Event()

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await release.wait()
            order.append(f"{name} out")

    first = asyncio.create_task(hold("s1", "a"))
    second = asyncio.create_task(hold("s1", "b"))
    other = asyncio.create_task(hold("s2", "c"))
    await asyncio.sleep(0.01)
    # b waits for a on the same key; c holds another key meanwhile.
    assert order == ["a in", "c in"]
    assert len(locks) == 2
    release.set()
    await asyncio.gather(first, second, other)
    assert order.index("a out") < order.index("b in")
    assert len(locks) == 0


async def test_a_cancelled_waiter_or_a_failing_holder_leaves_no_entry() -> None:
    locks = KeyedLocks()
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("s1"):
            entered.set()
            await release.wait()

    held = asyncio.create_task(holder())
    await entered.wait()

    async def waiter() -> None:
        async with locks.hold("s1"):
            pytest.fail("the waiter was cancelled before it got the lock")

    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert len(locks) == 1
    release.set()
    await held
    with pytest.raises(RuntimeError):
        async with locks.hold("s3"):
            raise RuntimeError("the fetch failed")
    assert len(locks) == 0
