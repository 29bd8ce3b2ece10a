"""Logins take JSON only (no cross-site form can drive them), hash at scrypt 2^17 by default,
raise older hashes at the next login, and cost the same for a name that does not exist."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from fieldrelay.config import Config
from fieldrelay.users import UserStore
from signaling.keys import CONFIG
from tests.live import PASSWORD, LiveNode


@pytest.mark.media
async def test_login_takes_only_json(live_node: LiveNode) -> None:
    body = json.dumps({"username": "o1", "password": PASSWORD})
    form = f"username=o1&password={PASSWORD}"
    for content_type, data in (("text/plain", body), ("application/x-www-form-urlencoded", form),
                               ("multipart/form-data; boundary=x", body), (None, body)):
        headers = {} if content_type is None else {"Content-Type": content_type}
        async with live_node.http.post(f"{live_node.base}/api/login", data=data.encode(),
                                       headers=headers) as resp:
            assert resp.status == 415, content_type
            error = await resp.json()
            assert error["error"] == "unsupported_media_type" and "application/json" in \
                error["detail"]
    for content_type in ("application/json", "application/json; charset=utf-8"):
        async with live_node.http.post(f"{live_node.base}/api/login", data=body.encode(),
                                       headers={"Content-Type": content_type}) as resp:
            assert resp.status == 200, content_type


def test_new_hashes_cost_scrypt_2_17_by_default(tmp_path: Path) -> None:
    assert Config().password_cost == 17
    user = UserStore(tmp_path).add("o1", "officer", PASSWORD)
    assert (user.n, user.r, user.p) == (2**17, 8, 1)
    stored = json.loads((tmp_path / "users.json").read_text())["o1"]
    assert stored["n"] == 2**17


@pytest.mark.media
async def test_an_older_hash_is_raised_at_the_next_login_and_its_tokens_stay_good(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    # The users were made at the tests' cost (2^12); this node hashes at 2^14.
    node = await node_factory(password_cost=14)
    path = node.server.app[CONFIG].data_dir / "users.json"
    assert json.loads(path.read_text())["o1"]["n"] == 2**12
    async with node.http.post(f"{node.base}/api/login",
                              json={"username": "o1", "password": "wrong-password"}) as resp:
        assert resp.status == 401
    assert json.loads(path.read_text())["o1"]["n"] == 2**12  # only the right password raises it
    first = await node.login("o1")
    assert json.loads(path.read_text())["o1"]["n"] == 2**14
    second = await node.login("o1")  # the new hash checks
    for token in (first, second):
        async with node.http.get(f"{node.base}/api/config",
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
    assert json.loads(path.read_text())["o2"]["n"] == 2**12  # nobody else's changed


def _cpu_seconds(store: UserStore, name: str, password: str) -> float:
    """The median CPU time of three checks (CPU time: other work on the machine adds none)."""
    spent = []
    for _ in range(3):
        started = time.thread_time()
        store.authenticate(name, password)
        spent.append(time.thread_time() - started)
    return statistics.median(spent)


def test_an_unknown_name_costs_what_a_known_one_costs(tmp_path: Path) -> None:
    UserStore(tmp_path, 12).add("stale", "officer", PASSWORD)
    store = UserStore(tmp_path, 15)
    store.add("o1", "officer", PASSWORD)
    known = _cpu_seconds(store, "o1", "wrong-password")
    unknown = _cpu_seconds(store, "nobody", "wrong-password")
    stale = _cpu_seconds(store, "stale", "wrong-password")  # a cheaper hash, padded
    assert 0.7 < unknown / known < 1.4, (unknown, known)
    assert stale / known > 0.85, (stale, known)
