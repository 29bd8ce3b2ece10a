"""Builds the portal's aiohttp application: users, the desk, the ferry route and the pages.

The portal is the internet side. It holds no evidence, no node key, no Redis and no node
users: its own users (parties and grid workers) in its own data dir, and the ferry messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.files import claim_dir
from fieldrelay.tokens import TokenIssuer, load_or_create_secret
from fieldrelay.users import UserStore
from portal import exchange, live, routes, uploads
from portal.desk import PortalDesk
from portal.web_common import (
    BACKOFF,
    CONFIG,
    DESK,
    HASHING,
    PORTAL_ROLES,
    TOKENS,
    USERS,
    Backoff,
    add_headers,
    errors_as_json,
)

PAGES = {"/public": "public.html", "/grid": "grid.html", "/": "public.html"}


def portal_web_dir(config: Config) -> Path:
    """The portal's own pages and scripts (a folder of the node's web dir, served alone)."""
    return config.web_dir / "portal"


def user_store(config: Config) -> UserStore:
    """The portal's users: parties and grid workers only."""
    return UserStore(config.portal_data_dir, config.password_cost, roles=PORTAL_ROLES)


def _page(folder: Path, name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(folder / name, headers={"Cache-Control": "no-cache"})

    return handler


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz."""
    return web.json_response({"status": "ok", "portal": True})


def build_portal_app(config: Config, secret: str) -> web.Application:
    """The portal's application for a data dir and the secret shared with the nodes."""
    claim_dir(config.portal_data_dir)
    app = web.Application(middlewares=[errors_as_json], client_max_size=2 * 1024 * 1024)
    app.on_response_prepare.append(add_headers)
    app[CONFIG] = config
    app[USERS] = user_store(config)
    app[TOKENS] = TokenIssuer(load_or_create_secret(config.portal_data_dir),
                              "fieldrelay-portal", "fieldrelay-portal", config.token_ttl_s)
    app[DESK] = PortalDesk(config.portal_data_dir, secret)
    app[BACKOFF] = Backoff(config.redeem_free_failures)
    app[HASHING] = asyncio.Semaphore(config.login_concurrency)
    live.attach(app)
    uploads.attach(app)
    folder = portal_web_dir(config)
    pages = [web.get(path, _page(folder, name)) for path, name in PAGES.items()]
    app.add_routes([web.get("/healthz", healthz), web.get("/ws", live.websocket),
                    *routes.routes(), *exchange.routes(), *uploads.routes(), *pages,
                    web.static("/static", folder, show_index=False, follow_symlinks=False)])
    return app
