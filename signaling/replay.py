"""A bounded memory of one-use ids (node tokens' `jti`) until they expire."""

from __future__ import annotations

import time
from collections.abc import Callable

# A node token lives a minute; this many uses a minute is far beyond any cluster's pulls.
MAX_IDS = 50_000


class ReplayCache:
    """Remembers each id until its expiry, so that an id is taken at most once.

    Bounded: expired ids are forgotten first; when the cache is full of live ids a new id
    is refused (fail closed), because forgetting a live id would let it be replayed.
    """

    def __init__(self, max_ids: int = MAX_IDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._max = max_ids
        self._clock = clock
        self._expiry: dict[str, float] = {}  # insertion order is nearly expiry order

    def __len__(self) -> int:
        return len(self._expiry)

    def first_use(self, jti: str, expires_at: float) -> bool:
        """True the first time `jti` is presented before it expires; False after that."""
        now = self._clock()
        self._forget_expired(now)
        if jti in self._expiry:
            return False
        if len(self._expiry) >= self._max:
            self._forget_expired(now, everything=True)
            if len(self._expiry) >= self._max:
                return False
        self._expiry[jti] = expires_at
        return True

    def _forget_expired(self, now: float, everything: bool = False) -> None:
        # Ids arrive roughly in expiry order: drop from the front until a live one, or scan
        # the whole cache when it is full (tokens of different lifetimes interleave).
        if everything:
            self._expiry = {j: e for j, e in self._expiry.items() if e > now}
            return
        while self._expiry:
            jti, expires = next(iter(self._expiry.items()))
            if expires > now:
                return
            del self._expiry[jti]
