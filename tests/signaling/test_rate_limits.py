"""Brute-force logins and alert floods get 429 with Retry-After; others are unaffected."""

from __future__ import annotations

import pytest

from signaling.errors import TooManyRequests
from signaling.ratelimit import RateLimiter
from tests.live import PASSWORD, LiveNode

pytestmark = pytest.mark.media


def test_bucket_refills_and_forgets_old_keys() -> None:
    now = [0.0]
    limiter = RateLimiter("tries", burst=2, per_minute=60, max_keys=3, clock=lambda: now[0])
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(TooManyRequests) as caught:
        limiter.check("a")
    assert caught.value.retry_after == 1
    now[0] += 1.0
    limiter.check("a")  # one token back after a second
    for key in ("b", "c", "d"):
        limiter.check(key)
    assert "a" not in limiter._buckets  # the oldest key went first


async def test_login_brute_force_gets_429_and_the_right_password_still_works_elsewhere(
        live_node: LiveNode) -> None:
    statuses = []
    for _ in range(12):
        async with live_node.http.post(f"{live_node.base}/api/login",
                                       json={"username": "o1", "password": "guess"}) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) >= 1
                assert (await r.json())["error"] == "rate_limited"
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    async with live_node.http.post(f"{live_node.base}/api/login",
                                   json={"username": "o2", "password": PASSWORD}) as r:
        assert r.status == 200


async def test_alert_flood_from_one_officer_is_limited(live_node: LiveNode) -> None:
    token = await live_node.login("o1")
    statuses = []
    for i in range(32):
        async with live_node.http.post(
                f"{live_node.base}/api/alerts", json={"kind": "sos"},
                headers={"Authorization": f"Bearer {token}",
                         "Idempotency-Key": f"flood-{i:05d}"}) as r:
            statuses.append(r.status)
    assert statuses.count(201) == 30 and statuses[-1] == 429
