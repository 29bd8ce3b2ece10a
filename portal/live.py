"""GET /ws: tells a party or grid worker's page at once that something of theirs changed.

The token goes in the first message (`{"type":"auth","token"}`), never in the URL, so it lands
in no log. The page then reads what changed over HTTP; the socket carries only notices.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from fieldrelay.errors import FieldRelayError
from fieldrelay.ferry import PORTAL
from portal.state import PortalState
from portal.web_common import DESK, claims_of_token

log = logging.getLogger(__name__)

WS_UNAUTHORIZED = 4401
AUTH_TIMEOUT_S = 10.0
QUEUE = 64


@dataclass(eq=False)
class Listener:
    """One open page: its user, role and a bounded queue of notices."""

    name: str
    role: str
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE))


class Pages:
    """The open pages, and which of them a message concerns."""

    def __init__(self) -> None:
        self.open: dict[str, set[Listener]] = {}
        self.dropped = 0

    def __len__(self) -> int:
        return sum(len(s) for s in self.open.values())

    def concerned(self, state: PortalState, message: dict[str, Any]) -> set[str]:
        """The users a message changes something for (pure over the state)."""
        kind, case, body = message["kind"], message["case"], message["body"]
        if kind in ("task", "task.answer", "task.reply", "task.closed"):
            task = state.tasks.get(str(body.get("task")))
            return set(task.to) if task is not None else set()
        if kind == "message" and message["from"] != PORTAL:
            return {str(body.get("party"))}
        if kind in ("step", "case.info", "clue.read", "message", "clue"):
            return {p for p, c in state.parties.items() if c == case}
        return set()

    def tell(self, state: PortalState, message: dict[str, Any]) -> None:
        """Queue a notice for each concerned page; a full queue drops (counted)."""
        notice = json.dumps({"type": "changed", "kind": message["kind"],
                             "case": message["case"]})
        for name in self.concerned(state, message):
            for listener in self.open.get(name, ()):
                try:
                    listener.queue.put_nowait(notice)
                except asyncio.QueueFull:
                    self.dropped += 1


PAGES = web.AppKey("portal_pages", Pages)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Authenticate with the first message, then forward notices until either side closes."""
    ws = web.WebSocketResponse(heartbeat=30, max_msg_size=4096)
    await ws.prepare(request)
    try:
        async with asyncio.timeout(AUTH_TIMEOUT_S):
            first = await ws.receive()
        auth = json.loads(first.data) if first.type == WSMsgType.TEXT else None
        if not isinstance(auth, dict) or auth.get("type") != "auth":
            raise ValueError("the first message is auth")
        claims = claims_of_token(request.app, str(auth.get("token", "")))
    except (TimeoutError, ValueError, FieldRelayError):
        await ws.close(code=WS_UNAUTHORIZED, message=b"log in first")
        return ws
    pages = request.app[PAGES]
    listener = Listener(claims.name, claims.role)
    pages.open.setdefault(claims.name, set()).add(listener)
    try:
        await ws.send_str(json.dumps({"type": "hello", "user": claims.name}))
        reader = asyncio.get_running_loop().create_task(_drain(ws), name="portal-ws-reader")
        try:
            while not reader.done():
                getter = asyncio.ensure_future(listener.queue.get())
                done, _ = await asyncio.wait({getter, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    await ws.send_str(getter.result())
                else:
                    getter.cancel()
                    await asyncio.wait([getter])
        finally:
            reader.cancel()
            await asyncio.wait([reader])
    finally:
        listeners = pages.open.get(claims.name, set())
        listeners.discard(listener)
        if not listeners:
            pages.open.pop(claims.name, None)
        await ws.close()
    return ws


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read until the page goes (a page sends nothing after auth; pings are answered)."""
    async for _ in ws:
        pass


def attach(app: web.Application) -> None:
    """Make the portal's pages hear its desk."""
    pages, desk = Pages(), app[DESK]
    app[PAGES] = pages
    desk.listeners.append(lambda message: pages.tell(desk.state, message))
