"""POST /ferry/exchange: the one route the inside uses, signed as a whole and per message.

A node pushes its messages and acknowledges the portal's; the portal stores what came before
it answers with the ids it stored, then hands the node its own unacknowledged messages
(waiting up to `wait` seconds for one, so a clue reaches the node as soon as it is sent).
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from fieldrelay import ferry, jsonsafe
from fieldrelay.errors import BadRequest
from portal.web_common import COMMUNITIES, CONFIG, DESK, MAX_FERRY_BODY, USERS, read_body

MAX_WAIT_S = 25.0


async def exchange(request: web.Request) -> web.Response:
    """Check the exchange's signature, store the node's messages, answer with the portal's."""
    desk = request.app[DESK]
    raw = await read_body(request, MAX_FERRY_BODY)
    node = ferry.check_exchange(desk.secret, request.headers.get(ferry.EXCHANGE_HEADER), raw)
    sender = ferry.NODE_PREFIX + node
    body = jsonsafe.parse_object(raw)
    messages, acks, wait = body.get("messages", []), body.get("acks", []), body.get("wait", 0)
    if not isinstance(messages, list) or len(messages) > ferry.MAX_MESSAGES_PER_EXCHANGE:
        raise BadRequest(f"messages is a list of at most {ferry.MAX_MESSAGES_PER_EXCHANGE}")
    if not isinstance(acks, list) or not all(isinstance(a, str) for a in acks):
        raise BadRequest("acks is a list of message ids")
    if not isinstance(wait, int | float) or isinstance(wait, bool):
        raise BadRequest("wait is a number of seconds")
    stored = await desk.take_in(sender, messages)
    await sync_roster(request.app, sender)
    await desk.acknowledged(sender, [str(a) for a in acks])
    # A request that carried something is answered at once; an empty one waits for news.
    wait_s = 0.0 if messages else min(max(float(wait), 0.0), MAX_WAIT_S)
    outbound = await desk.outbound(sender, wait_s)
    return web.json_response({"acks": stored, "messages": outbound})


def communities(data_dir: Path) -> dict[str, str]:
    """Grid workers' communities as `fieldrelay portal-user add` wrote them."""
    try:
        raw = json.loads((data_dir / COMMUNITIES).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


async def sync_roster(app: web.Application, sender: str) -> None:
    """Tell a node of grid workers added (or moved to another community) since it was last
    told."""
    desk = app[DESK]
    known = communities(app[CONFIG].portal_data_dir)
    for user in app[USERS].all():
        community = known.get(user.name, "")
        if user.role == "grid" and desk.state.told.get((sender, user.name)) != community:
            await desk.post("grid.worker", "", {"name": user.name, "community": community,
                                                "node": sender}, to=sender)


def routes() -> list[web.RouteDef]:
    """The ferry's route."""
    return [web.post("/ferry/exchange", exchange)]
