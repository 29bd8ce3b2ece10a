"""Small JSON endpoints: health, metrics, node config for pages, and the officer list."""

from __future__ import annotations

import time

from aiohttp import web

from signaling.auth import authenticate
from signaling.casedesk import DESK as CASES
from signaling.hub import COMMAND_ROLES
from signaling.keys import CONFIG, METRICS, REGISTRY, USERS
from signaling.presence import WHEREABOUTS


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: liveness and a few headline numbers."""
    config = request.app[CONFIG]
    link = request.app[CASES].link
    # Whether the ferry to the portal answers (null: this node has no portal).
    portal = None if link is None else ("connected" if link.connected else "unreachable")
    return web.json_response({
        "status": "ok", "node": config.node_id, "time": time.time(),
        "live": request.app[REGISTRY].live_count(), "portal": portal,
    })


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: Prometheus text exposition."""
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


async def client_config(request: web.Request) -> web.Response:
    """GET /api/config: what a page needs to open peer connections."""
    authenticate(request)
    config = request.app[CONFIG]
    return web.json_response({"node": config.node_id,
                              "ice_servers": [{"urls": u} for u in config.ice_servers],
                              "map": {"tiles": config.map_tiles,
                                      "attribution": config.map_attribution},
                              # Officers live on other nodes play through this one.
                              "cascade": bool(config.cluster_secret and config.redis_url)})


async def officers(request: web.Request) -> web.Response:
    """GET /api/officers: every officer with live state (commanders)."""
    authenticate(request, *COMMAND_ROLES)
    whereabouts = request.app[WHEREABOUTS]
    live, positions = await whereabouts.presence(), await whereabouts.positions()
    rows = []
    for user in request.app[USERS].all():
        if user.role != "officer":
            continue
        p = live.get(user.name, {})
        rows.append({"name": user.name, "live": bool(p.get("live")),
                     "state": p.get("state", "offline"), "node": p.get("node"),
                     "url": p.get("url"), "since": p.get("since"),
                     "recording": bool(p.get("recording")),
                     "session": p.get("session"), "position": positions.get(user.name)})
    return web.json_response({"officers": rows})
