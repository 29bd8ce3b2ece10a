"""Token buckets per key (user, address, officer), with a bounded number of keys, and the
login gate (back-off on wrong passwords per user and address)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from signaling.errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Allows `burst` events at once and `per_minute` sustained, per key.

    The least recently used keys are forgotten beyond `max_keys`, so an attacker who
    sprays keys cannot grow memory; a forgotten key simply starts with a full bucket.
    """

    def __init__(self, what: str, burst: int, per_minute: float, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.burst = burst
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return bucket

    def _refuse(self, wait: float) -> None:
        error = TooManyRequests(f"too many {self.what}; try again in {wait:.0f} s")
        error.retry_after = max(1, round(wait))
        raise error

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise TooManyRequests with the wait in the detail."""
        bucket = self._refilled(key)
        if bucket.tokens < 1.0:
            self._refuse((1.0 - bucket.tokens) / self.rate)
        bucket.tokens -= 1.0

    def has_room(self, key: str) -> None:
        """Raise TooManyRequests if `key` has no token left, without taking one."""
        bucket = self._refilled(key)
        if bucket.tokens < 1.0:
            self._refuse((1.0 - bucket.tokens) / self.rate)

    def spend(self, key: str) -> None:
        """Take one token for `key` (an event that already happened), never below empty."""
        bucket = self._refilled(key)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)


@dataclass
class _Failures:
    count: int
    last_at: float
    locked_until: float


class LoginGate:
    """Who may try a password now, and how many password hashes run at once.

    Only wrong passwords count, per (user, address): after `free_failures` of them, each
    further one doubles the wait before that address may try that user again (from
    `backoff_s` up to `backoff_max_s`). So a stranger cannot lock an officer out: the right
    password from another address is never held back. A quiet `backoff_max_s` forgets the
    count, and the right password clears it. Wrong passwords from one address over all names
    (spraying) have a bucket of their own. An attempt counts as wrong from the moment it
    starts until it succeeds, so parallel guesses cannot slip past the count.
    """

    def __init__(self, free_failures: int, backoff_s: float, backoff_max_s: float,
                 failures_per_address: int, concurrency: int, max_keys: int = 50_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures = free_failures
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_keys = max_keys
        self._clock = clock
        self._failures: OrderedDict[tuple[str, str], _Failures] = OrderedDict()
        self.by_address = RateLimiter("wrong passwords from this address",
                                      burst=failures_per_address,
                                      per_minute=max(1.0, failures_per_address / 5))
        # Each hash holds its memory (128 MiB at the default cost) until it ends.
        self.hashing = asyncio.Semaphore(max(1, concurrency))
        self.max_waiting = 32 * max(1, concurrency)
        self.waiting = 0

    def begin(self, user: str, address: str) -> None:
        """Admit one attempt, counted as a failure until `succeeded`; TooManyRequests if the
        pair is backing off, the address sprays, or too many logins already wait."""
        now = self._clock()
        key = (user, address)
        entry = self._failures.pop(key, None)
        if entry is not None and now - max(entry.last_at, entry.locked_until) > self.backoff_max_s:
            entry = None  # quiet long enough: start again
        if entry is not None and entry.locked_until > now:
            self._failures[key] = entry
            _refuse(entry.locked_until - now, "wrong passwords for this user from your "
                                              "address")
        if self.waiting >= self.max_waiting:
            _refuse(2.0, "logins at once; the node is busy checking passwords")
        self.by_address.has_room(address)
        entry = entry or _Failures(0, now, 0.0)
        entry.count += 1
        entry.last_at = now
        over = entry.count - self.free_failures
        if over > 0:
            entry.locked_until = now + min(self.backoff_max_s, self.backoff_s * 2 ** (over - 1))
        self._failures[key] = entry
        if len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the password-hashing slots (waiting for one is counted)."""
        self.waiting += 1
        try:
            async with self.hashing:
                yield
        finally:
            self.waiting -= 1

    def failed(self, address: str) -> None:
        """The attempt admitted by `begin` was wrong: it also counts against the address."""
        self.by_address.spend(address)

    def succeeded(self, user: str, address: str) -> None:
        """The right password: forget this pair's failures."""
        self._failures.pop((user, address), None)


def _refuse(wait: float, what: str) -> None:
    error = TooManyRequests(f"too many {what}; try again in {max(1, round(wait))} s")
    error.retry_after = max(1, round(wait))
    raise error
