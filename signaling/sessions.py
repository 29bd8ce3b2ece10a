"""GET /api/sessions and /api/sessions/<id>: evidence sessions, for reviewers only."""

from __future__ import annotations

import asyncio

from aiohttp import web

from fieldrelay.errors import BadRequest, NotFound
from recordings.catalog import SessionCatalog, parse_time
from signaling.auth import authenticate
from signaling.keys import CONFIG

REVIEW_ROLES = ("reviewer",)


def _catalog(request: web.Request) -> SessionCatalog:
    return SessionCatalog(request.app[CONFIG].data_dir / "sessions")


def _time_arg(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time or unix seconds") from None


async def list_sessions(request: web.Request) -> web.Response:
    """Sessions newest first, filtered by officer, time range and alerts."""
    authenticate(request, *REVIEW_ROLES)
    rows = await asyncio.to_thread(
        _catalog(request).list, request.query.get("officer") or None,
        _time_arg(request, "from"), _time_arg(request, "to"),
        request.query.get("alerts") in ("1", "true", "yes"))
    return web.json_response({"sessions": rows})


async def session_detail(request: web.Request) -> web.Response:
    """One session: metadata, segments and events."""
    authenticate(request, *REVIEW_ROLES)
    catalog = _catalog(request)
    detail = await asyncio.to_thread(catalog.detail, request.match_info["id"])
    if detail is None:
        raise NotFound("no such session")
    public_pem = request.app[CONFIG].data_dir / "keys" / "node-ed25519.pub.pem"
    detail["integrity"] = await asyncio.to_thread(
        catalog.integrity, request.match_info["id"], public_pem.read_bytes())
    return web.json_response(detail)


def routes() -> list[web.RouteDef]:
    """The sessions API routes."""
    return [web.get("/api/sessions", list_sessions),
            web.get("/api/sessions/{id}", session_detail)]
