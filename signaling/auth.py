"""Who is calling, and may they: bearer tokens checked against live users and roles.

A token is good while its signature, expiry, user, role and token version all hold, and
its login (`auth_time`) is younger than the session limit; each request checks all of it,
and an open WebSocket checks it again every few seconds (`token_watch`). Where a URL cannot
carry a header (a `<video src>`, a browser WebSocket) a one-use ticket stands in for the
token (`signaling.tickets`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from fieldrelay import jsonsafe
from fieldrelay.errors import BadRequest, Forbidden, Unauthorized
from fieldrelay.tokens import Claims
from signaling.body import read_limited
from signaling.errors import NotJson
from signaling.keys import CONFIG, LOGIN_GATE, TICKETS, TOKENS, USERS
from signaling.tickets import GRANT_COOKIE, ticket_path


def bearer_token(request: web.Request, allow_query: bool = False) -> str:
    """The bearer token of a request (the query string only where the WebSocket allows it)."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if allow_query and request.query.get("token"):
        return request.query["token"]
    raise Unauthorized("this endpoint needs an Authorization: Bearer token; log in first")


def check_claims(app: web.Application, claims: Claims) -> None:
    """Unauthorized unless the claims' user still exists with that role and token version,
    and their login is within the session limit."""
    user = app[USERS].get(claims.name)
    if user is None or user.role != claims.role:
        raise Unauthorized("the token's user no longer exists or changed role; log in again")
    if claims.version != user.token_version:
        raise Unauthorized("the token was revoked (the password or role changed); log in again")
    if time.time() >= claims.auth_time + app[CONFIG].session_max_s:
        raise Unauthorized("the session is over (it lasts since the login, refresh or not); "
                           "log in again")
    if time.time() >= claims.expires_at:
        raise Unauthorized("the token has expired; log in again")


def _claims(request: web.Request, allow_query: bool) -> Claims:
    """The claims a request carries: its header, else (where allowed) a grant, a ticket or
    `?token=`; a ticket spent on a media request turns into a grant by a redirect."""
    if allow_query and not request.headers.get("Authorization", "").startswith("Bearer "):
        book = request.app[TICKETS]
        granted = book.granted(request.cookies.get(GRANT_COOKIE, ""), request.path)
        if granted is not None:
            return granted
        if "ticket" in request.query:
            claims = book.redeem(request.query["ticket"], request.path)
            if request.headers.get("Upgrade", "").lower() != "websocket":
                check_claims(request.app, claims)
                raise _grant_redirect(request, claims)
            return claims
    return request.app[TOKENS].verify(bearer_token(request, allow_query))


def _grant_redirect(request: web.Request, claims: Claims) -> web.HTTPSeeOther:
    """The same URL without its ticket, and a grant cookie for this path: a media element
    follows it and sends the cookie on every later range request of the playback."""
    config = request.app[CONFIG]
    until = min(time.time() + config.token_ttl_s, claims.auth_time + config.session_max_s)
    value = request.app[TICKETS].grant(claims, request.path, until)
    query = urlencode([(k, v) for k, v in request.query.items() if k != "ticket"])
    redirect = web.HTTPSeeOther(request.path + (f"?{query}" if query else ""),
                                headers={"Cache-Control": "no-store"})
    redirect.set_cookie(GRANT_COOKIE, value, path=request.path, httponly=True,
                        samesite="Strict", secure=request.secure,
                        max_age=max(1, int(until - time.time())))
    return redirect


def authenticate(request: web.Request, *roles: str, allow_query: bool = False) -> Claims:
    """The caller's verified claims; 401 without a valid token, 403 in the wrong role."""
    claims = _claims(request, allow_query)
    check_claims(request.app, claims)
    if roles and claims.role not in roles:
        raise Forbidden(f"this needs the role {' or '.join(roles)}; you are {claims.role}")
    return claims


async def token_watch(app: web.Application, claims: Claims) -> str:
    """Wait until the claims stop being good (expiry, revocation, session limit); the why.

    An open WebSocket runs this: it checks again every `ws_recheck_s`, so removing a user
    or changing a password or role closes that user's sockets within seconds."""
    every = app[CONFIG].ws_recheck_s
    while True:
        left = claims.expires_at - time.time()
        if left <= 0:
            return "token expired: log in again"
        await asyncio.sleep(min(every, left))
        try:
            check_claims(app, claims)
        except Unauthorized as exc:
            return exc.detail


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body, bounded in size, or a 4xx saying what is wrong."""
    raw = await read_limited(request, request.app[CONFIG].max_json_bytes, "JSON body")
    return jsonsafe.parse_object(raw)


async def login(request: web.Request) -> web.Response:
    """POST /api/login: exchange a name and password for a short-lived token.

    Only application/json: an HTML form cannot send it across sites, so no page elsewhere
    can make visitors' browsers spend an officer's login attempts."""
    if request.content_type != "application/json":
        raise NotJson("log in with a JSON body (Content-Type: application/json)")
    body = await read_json(request)
    name, password = body.get("username"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise BadRequest('send {"username": "...", "password": "..."}')
    gate, address, key = request.app[LOGIN_GATE], request.remote or "unknown", name[:64]
    gate.begin(key, address)
    # scrypt takes a large part of a second and 128 MiB: a few at a time, off the loop.
    async with gate.slot():
        user = await asyncio.to_thread(request.app[USERS].authenticate, name, password)
    if user is None:
        gate.failed(address)
        raise Unauthorized("wrong user name or password")
    gate.succeeded(key, address)
    now = int(time.time())
    token, expires_at = request.app[TOKENS].issue(
        user.name, user.role, version=user.token_version, auth_time=now,
        not_after=now + request.app[CONFIG].session_max_s)
    return web.json_response({"token": token, "role": user.role, "name": user.name,
                              "expires_at": expires_at,
                              "session_ends_at": now + request.app[CONFIG].session_max_s})


async def refresh(request: web.Request) -> web.Response:
    """POST /api/token/refresh: a fresh token for a caller whose token is still valid; it
    never outlives the login's session limit (`session_ends_at` says when that is)."""
    claims = authenticate(request)
    ends_at = claims.auth_time + request.app[CONFIG].session_max_s
    token, expires_at = request.app[TOKENS].issue(
        claims.name, claims.role, version=claims.version, auth_time=claims.auth_time,
        not_after=ends_at)
    return web.json_response({"token": token, "role": claims.role, "name": claims.name,
                              "expires_at": expires_at, "session_ends_at": ends_at})


async def ticket(request: web.Request) -> web.Response:
    """POST /api/tickets {"path"}: a one-use ticket for that path (`?ticket=` on /ws or on a
    session's media), valid for a few seconds."""
    claims = authenticate(request)
    body = await read_json(request)
    path = ticket_path(body.get("path"))
    value, until = request.app[TICKETS].issue(claims, path)
    return web.json_response({"ticket": value, "path": path,
                              "expires_at": round(until, 3)}, status=201,
                             headers={"Cache-Control": "no-store"})
