"""One-use tickets in place of `?token=`: bound to one path, spent on first use, short-lived.
A media ticket turns into a cookie for that path only, so a `<video>` can range and seek
without any token in a URL; `?token=` on the WebSocket still works, as the contract says."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from signaling.keys import USERS
from tests.live import LiveNode
from tests.recordings.test_verify import new_data_dir, record_session

pytestmark = pytest.mark.media


async def ticket(node: LiveNode, token: str, path: str, status: int = 201) -> str:
    async with node.http.post(f"{node.base}/api/tickets", json={"path": path},
                              headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.json()
        assert resp.status == status, body
        return str(body.get("ticket", body.get("error")))


async def ws_outcome(node: LiveNode, query: str) -> str | int:
    """The first message's type, or the close code when the node refuses."""
    async with node.http.ws_connect(f"{node.base}/ws?{query}") as ws:
        msg = await ws.receive(timeout=5)
        if msg.type == aiohttp.WSMsgType.TEXT:
            return str(msg.json()["type"])
        return int(ws.close_code or 0)


async def test_websocket_tickets_are_one_use_bound_to_the_path_and_short_lived(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory(ticket_ttl_s=1.0)
    token = await node.login("c1")
    first = await ticket(node, token, "/ws")
    assert await ws_outcome(node, f"ticket={first}") == "hello"
    assert await ws_outcome(node, f"ticket={first}") == 4401  # spent
    media = await ticket(node, token, "/api/sessions/20261127T101500Z-o1-00000001/media")
    assert await ws_outcome(node, f"ticket={media}") == 4401  # another path's
    late = await ticket(node, token, "/ws")
    await asyncio.sleep(1.2)
    assert await ws_outcome(node, f"ticket={late}") == 4401  # expired
    assert await ws_outcome(node, "ticket=made-up") == 4401
    # The contract's form keeps working for scripts.
    assert await ws_outcome(node, f"token={token}") == "hello"
    # Only the paths that take tickets, and only for a logged-in caller.
    for bad in ("/api/sessions", "/ws/../api/audit", "https://evil.example/ws", 7):
        async with node.http.post(f"{node.base}/api/tickets", json={"path": bad},
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 400 and (await resp.json())["error"] == "bad_request"
    async with node.http.post(f"{node.base}/api/tickets", json={"path": "/ws"}) as resp:
        assert resp.status == 401
    # A ticket stands for its user as it is now: a removed user's ticket opens nothing.
    officer = await node.login("o1")
    pending = await ticket(node, officer, "/ws")
    node.server.app[USERS].remove("o1")
    assert await ws_outcome(node, f"ticket={pending}") == 4401


async def test_media_ticket_becomes_a_cookie_for_that_path_only(
        node_factory: Callable[..., Awaitable[LiveNode]], tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data0")
    sid = record_session(rec, "o1", seed=1)
    other = record_session(rec, "o2", seed=2)
    node = await node_factory()
    reviewer = await node.login("r1")
    path = f"/api/sessions/{sid}/media"
    spent = await ticket(node, reviewer, path)
    # A browser of its own: the cookie jar is what a <video> element would carry.
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        async with browser.get(f"{node.base}{path}?track=all&ticket={spent}",
                               headers={"Range": "bytes=0-"}, allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == f"{path}?track=all"
            cookie = resp.cookies["fieldrelay_grant"]
            assert cookie["path"] == path and cookie["httponly"] and \
                cookie["samesite"] == "Strict"
        async with browser.get(f"{node.base}{path}?track=all",
                               headers={"Range": "bytes=0-"}) as resp:
            assert resp.status == 206 and resp.headers["Content-Type"] == "video/webm"
            whole = await resp.read()
        async with browser.get(f"{node.base}{path}", headers={"Range": "bytes=10-19"}) as resp:
            assert resp.status == 206 and await resp.read() == whole[10:20]
        # The grant does not open another session's media, nor anything else.
        async with browser.get(f"{node.base}/api/sessions/{other}/media") as resp:
            assert resp.status == 401
        async with browser.get(f"{node.base}/api/sessions/{sid}") as resp:
            assert resp.status == 401
    finally:
        await browser.close()
    # The ticket was spent: without the cookie it opens nothing.
    async with node.http.get(f"{node.base}{path}?ticket={spent}",
                             allow_redirects=False) as resp:
        assert resp.status == 401
    # A commander's ticket for evidence is refused like the commander's token.
    commander = await node.login("c1")
    refused = await ticket(node, commander, path)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser, \
            browser.get(f"{node.base}{path}?ticket={refused}") as resp:
        assert resp.status == 403
