"""Ending a user's tokens: the CLI removes a user or changes a password or role, and every
token of that user stops working at once, on a node that is running (open WebSockets close
with 4401 within seconds). A login has a total lifetime that refreshing cannot extend."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from fieldrelay.users import UserStore
from signaling.keys import CONFIG
from tests.conftest import TEST_PASSWORD_COST
from tests.live import PASSWORD, LiveNode

pytestmark = pytest.mark.media


def cli(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`fieldrelay ARGS --data-dir DATA`, as an operator runs it beside the node."""
    return subprocess.run([sys.executable, "-m", "fieldrelay", *args, "--data-dir", str(data)],
                          input=stdin, capture_output=True, text=True, timeout=60, check=False)


async def status_of(node: LiveNode, token: str, path: str = "/api/config") -> int:
    async with node.http.get(f"{node.base}{path}",
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status


async def closed_within(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> int:
    """The close code the node sends within `seconds` (other messages are skipped)."""
    deadline = time.monotonic() + seconds
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.CLOSING):
            return int(ws.close_code or 0)


async def test_cli_remove_passwd_and_role_end_every_token_and_close_open_sockets(
        live_node: LiveNode) -> None:
    node, data = live_node, live_node.server.app[CONFIG].data_dir
    # Two tokens each, and an open socket each: all of them must end.
    tokens = {name: [await node.login(name), await node.login(name)]
              for name in ("o1", "o2", "c1")}
    sockets = {name: await node.http.ws_connect(f"{node.base}/ws?token={tokens[name][0]}")
               for name in tokens}
    for ws in sockets.values():
        assert (await ws.receive_json(timeout=5))["type"] == "hello"

    changes = {"o1": ["user", "remove", "o1"],
               "o2": ["user", "passwd", "o2", "--password-stdin"],
               "c1": ["user", "role", "c1", "reviewer"]}
    for name, args in changes.items():
        done = await asyncio.to_thread(cli, data, *args, stdin="a-new-password-2\n")
        assert done.returncode == 0, done.stderr
        started = time.monotonic()
        assert await closed_within(sockets[name], 6.0) == 4401, name
        assert time.monotonic() - started < 6.0
        for token in tokens[name]:
            assert await status_of(node, token) == 401, name
    # The socket is gone: an officer's position cannot be sent on it any more.
    assert sockets["o1"].closed
    # Someone else's tokens and sockets were not touched.
    other = await node.login("o3")
    assert await status_of(node, other) == 200

    # The new password and the new role work; the old password does not.
    async with node.http.post(f"{node.base}/api/login",
                              json={"username": "o2", "password": PASSWORD}) as resp:
        assert resp.status == 401
    async with node.http.post(f"{node.base}/api/login",
                              json={"username": "o2", "password": "a-new-password-2"}) as resp:
        assert resp.status == 200
    reviewer = await node.login("c1")
    assert await status_of(node, reviewer, "/api/sessions") == 200
    # A user made again under a removed name never accepts the old user's tokens.
    again = await asyncio.to_thread(cli, data, "user", "add", "o1", "--role", "officer",
                                    "--password-stdin", stdin=PASSWORD + "\n")
    assert again.returncode == 0, again.stderr
    for token in tokens["o1"]:
        assert await status_of(node, token) == 401
    assert await status_of(node, await node.login("o1")) == 200
    for ws in sockets.values():
        await ws.close()


def test_user_commands_exit_codes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    UserStore(data, TEST_PASSWORD_COST).add("o1", "officer", PASSWORD)
    for args, code in ((["user", "remove", "nobody"], 1),
                       (["user", "passwd", "nobody", "--password-stdin"], 1),
                       (["user", "role", "nobody", "commander"], 1),
                       (["user", "role", "o1", "chief"], 2),
                       (["user", "passwd", "o1", "--password-stdin"], 2),  # too short
                       (["user", "remove"], 2),
                       (["user", "role", "o1"], 2),
                       (["user", "role", "o1", "commander"], 0),
                       (["user", "passwd", "o1", "--password-stdin"], 0),
                       (["user", "remove", "o1"], 0),
                       (["user", "remove", "o1"], 1)):
        stdin = "short\n" if code == 2 and "passwd" in args else "another-password\n"
        done = cli(data, *args, stdin=stdin)
        assert done.returncode == code, (args, done.stdout, done.stderr)
        if code == 1:
            assert "no user" in done.stderr
    assert UserStore(data).get("o1") is None


async def test_a_login_lasts_its_session_limit_whatever_the_refreshes(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory(session_max_s=3, token_ttl_s=60)
    token = await node.login("c1")
    ws = await node.http.ws_connect(f"{node.base}/ws?token={token}")
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    started = time.time()
    async with node.http.post(f"{node.base}/api/token/refresh",
                              headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        body = await resp.json()
    refreshed = body["token"]
    # The refreshed token expires with the login, not 60 s from now.
    assert body["expires_at"] <= started + 3.5 and body["session_ends_at"] == body["expires_at"]
    assert await closed_within(ws, 6.0) == 4401
    await asyncio.sleep(max(0.0, body["expires_at"] + 0.2 - time.time()))
    for old in (token, refreshed):
        async with node.http.post(f"{node.base}/api/token/refresh",
                                  headers={"Authorization": f"Bearer {old}"}) as resp:
            assert resp.status == 401
    await ws.close()
