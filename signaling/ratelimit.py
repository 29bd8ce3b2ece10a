"""Token buckets per key (user, address, officer), with a bounded number of keys."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
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

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise TooManyRequests with the wait in the detail."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / self.rate
            error = TooManyRequests(f"too many {self.what}; try again in {wait:.0f} s")
            error.retry_after = max(1, round(wait))
            raise error
        bucket.tokens -= 1.0
