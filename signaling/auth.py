"""Who is calling, and may they: bearer tokens checked against live users and roles."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from fieldrelay import jsonsafe
from fieldrelay.errors import BadRequest, Forbidden, Unauthorized
from fieldrelay.tokens import Claims
from signaling.body import read_limited
from signaling.keys import CONFIG, LOGIN_BY_ADDRESS, LOGIN_BY_USER, TOKENS, USERS


def bearer_token(request: web.Request, allow_query: bool = False) -> str:
    """The bearer token of a request (the query string only where the WebSocket allows it)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if allow_query and request.query.get("token"):
        return request.query["token"]
    raise Unauthorized("this endpoint needs an Authorization: Bearer token; log in first")


def authenticate(request: web.Request, *roles: str, allow_query: bool = False) -> Claims:
    """The caller's verified claims; 401 without a valid token, 403 in the wrong role."""
    claims = request.app[TOKENS].verify(bearer_token(request, allow_query))
    user = request.app[USERS].get(claims.name)
    if user is None or user.role != claims.role:
        raise Unauthorized("the token's user no longer exists or changed role; log in again")
    if roles and claims.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {claims.role}")
    return claims


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, bounded in size, or a 4xx saying what is wrong."""
    raw = await read_limited(request, request.app[CONFIG].max_json_bytes, "JSON body")
    return jsonsafe.parse_object(raw)


async def login(request: web.Request) -> web.Response:
    """POST /api/login: exchange a name and password for a short-lived token."""
    body = await read_json(request)
    name, password = body.get("username"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise BadRequest('send {"username": "...", "password": "..."}')
    request.app[LOGIN_BY_ADDRESS].check(request.remote or "unknown")
    request.app[LOGIN_BY_USER].check(name[:64])
    # scrypt takes tens of milliseconds: keep it off the event loop.
    user = await asyncio.to_thread(request.app[USERS].authenticate, name, password)
    if user is None:
        raise Unauthorized("wrong user name or password")
    token, expires_at = request.app[TOKENS].issue(user.name, user.role)
    return web.json_response({"token": token, "role": user.role, "name": user.name,
                              "expires_at": expires_at})


async def refresh(request: web.Request) -> web.Response:
    """POST /api/token/refresh: a fresh token for a caller whose token is still valid."""
    claims = authenticate(request)
    token, expires_at = request.app[TOKENS].issue(claims.name, claims.role)
    return web.json_response({"token": token, "role": claims.role, "name": claims.name,
                              "expires_at": expires_at})
