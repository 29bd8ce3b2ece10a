"""GET /api/ice-servers: STUN URLs and short-lived TURN credentials for a logged-in user."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from fieldrelay import turn
from fieldrelay.config import Config
from signaling.auth import authenticate
from signaling.keys import CONFIG


def ice_servers_for(config: Config, user: str, now: float) -> dict[str, Any]:
    """The RTCConfiguration.iceServers a page should use, and when its TURN part expires."""
    servers: list[dict[str, Any]] = [
        {"urls": u} for u in config.ice_servers if not turn.is_turn_url(u)]
    expires_at = None
    if config.turn_urls and config.turn_secret:
        cred = turn.issue(config.turn_secret, user, config.turn_ttl_s, now)
        servers.append({"urls": list(config.turn_urls), "username": cred.username,
                        "credential": cred.credential})
        expires_at = cred.expires_at
    return {"ice_servers": servers, "expires_at": expires_at}


async def ice_servers(request: web.Request) -> web.Response:
    """GET /api/ice-servers: fresh credentials on every call, never cached by a proxy."""
    claims = authenticate(request)
    body = ice_servers_for(request.app[CONFIG], claims.name, time.time())
    return web.json_response(body, headers={"Cache-Control": "no-store"})


def routes() -> list[web.RouteDef]:
    """The ICE server route."""
    return [web.get("/api/ice-servers", ice_servers)]
