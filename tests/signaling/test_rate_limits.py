"""Brute-force logins and alert floods get 429 with Retry-After; others are unaffected.

Logins count only wrong passwords, per (user, address), with a doubling back-off: nobody can
lock an officer out from elsewhere."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from signaling.errors import TooManyRequests
from signaling.ratelimit import LoginGate, RateLimiter
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


def test_login_gate_backs_off_per_user_and_address_doubling_each_time() -> None:
    now = [0.0]
    gate = LoginGate(free_failures=3, backoff_s=1.0, backoff_max_s=8.0,
                     failures_per_address=100, concurrency=1, clock=lambda: now[0])
    waits = []
    for _ in range(9):
        try:
            gate.begin("o1", "10.0.0.1")
        except TooManyRequests as refused:
            waits.append(refused.retry_after)
            now[0] += refused.retry_after  # wait exactly as told, then try again
            gate.begin("o1", "10.0.0.1")
        gate.failed("10.0.0.1")
    # Three free failures, then 1, 2, 4, 8 s and no more than the cap.
    assert waits == [1, 2, 4, 8, 8]
    gate.begin("o1", "10.0.0.2")  # another address is not held back
    gate.begin("o2", "10.0.0.1")  # nor another user from the same address
    with pytest.raises(TooManyRequests):
        gate.begin("o1", "10.0.0.1")
    now[0] += 8.0 + 8.0 + 0.1  # quiet for longer than the cap: the count is forgotten
    for _ in range(3):
        gate.begin("o1", "10.0.0.1")
        gate.failed("10.0.0.1")
    gate.begin("o1", "10.0.0.1")
    gate.succeeded("o1", "10.0.0.1")  # the right password clears the count
    for _ in range(3):
        gate.begin("o1", "10.0.0.1")


def test_login_gate_counts_wrong_passwords_per_address_over_all_names() -> None:
    now = [0.0]
    gate = LoginGate(free_failures=5, backoff_s=1.0, backoff_max_s=60.0,
                     failures_per_address=10, concurrency=1, clock=lambda: now[0])
    for i in range(10):
        gate.begin(f"user{i}", "10.0.0.9")
        gate.failed("10.0.0.9")
    with pytest.raises(TooManyRequests):
        gate.begin("user99", "10.0.0.9")
    gate.begin("user99", "10.0.0.10")


async def _login(http: aiohttp.ClientSession, base: str, name: str, password: str,
                 ) -> tuple[int, dict[str, object]]:
    async with http.post(f"{base}/api/login",
                         json={"username": name, "password": password}) as r:
        return r.status, {**(await r.json()), "retry_after": r.headers.get("Retry-After")}


async def test_wrong_passwords_hold_back_only_that_address_and_the_right_one_works_elsewhere(
        live_node: LiveNode) -> None:
    base, statuses = live_node.base, []
    for _ in range(12):
        status, body = await _login(live_node.http, base, "o1", "guess-guess")
        statuses.append(status)
        if status == 429:
            assert int(str(body["retry_after"])) >= 1 and body["error"] == "rate_limited"
    # Five free failures, a sixth that starts the back-off, then refusals without a check.
    assert statuses == [401] * 6 + [429] * 6
    status, _ = await _login(live_node.http, base, "o1", PASSWORD)
    assert status == 429  # this address must wait, even with the right password
    # From another address the officer logs in at once.
    other = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)))
    try:
        status, body = await _login(other, base, "o1", PASSWORD)
        assert status == 200 and body["name"] == "o1"
    finally:
        await other.close()
    # Waiting out the back-off works too, and the right password clears the count.
    await asyncio.sleep(1.1)
    status, _ = await _login(live_node.http, base, "o1", PASSWORD)
    assert status == 200
    for _ in range(5):
        assert (await _login(live_node.http, base, "o1", "guess-guess"))[0] == 401


async def test_only_failures_count_many_right_logins_are_never_held_back(
        live_node: LiveNode) -> None:
    for _ in range(25):
        status, _ = await _login(live_node.http, live_node.base, "o2", PASSWORD)
        assert status == 200


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


async def test_login_gate_hashes_a_few_at_a_time_and_turns_away_a_flood() -> None:
    gate = LoginGate(free_failures=5, backoff_s=1.0, backoff_max_s=60.0,
                     failures_per_address=1000, concurrency=1)
    running, most = 0, 0

    async def one() -> None:
        nonlocal running, most
        async with gate.slot():
            running += 1
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= 1

    tasks = [asyncio.create_task(one()) for _ in range(gate.max_waiting)]
    await asyncio.sleep(0)  # every one is waiting for the slot now
    with pytest.raises(TooManyRequests):
        gate.begin("o1", "10.0.0.1")
    await asyncio.gather(*tasks)
    assert most == 1 and gate.waiting == 0
    gate.begin("o1", "10.0.0.1")
