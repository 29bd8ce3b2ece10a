"""What every portal route shares: app keys, JSON errors, bodies, tokens and headers."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from fieldrelay import jsonsafe
from fieldrelay.config import Config
from fieldrelay.errors import FieldRelayError, PayloadTooLarge, Unauthorized
from fieldrelay.tokens import Claims, TokenIssuer
from fieldrelay.users import UserStore
from portal.desk import PortalDesk

log = logging.getLogger(__name__)

PORTAL_ROLES = ("party", "grid")
# Grid workers' communities, written by `fieldrelay portal-user add` beside users.json.
COMMUNITIES = "communities.json"
CONFIG = web.AppKey("portal_config", Config)
USERS = web.AppKey("portal_users", UserStore)
TOKENS = web.AppKey("portal_tokens", TokenIssuer)
DESK = web.AppKey("portal_desk", PortalDesk)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 16 * 1024
# A body that trickles in holds no handler longer than this.
BODY_TIMEOUT_S = 30.0
# A ferry exchange carries up to MAX_MESSAGES_PER_EXCHANGE messages of a few KiB each.
MAX_FERRY_BODY = 2 * 1024 * 1024
# The portal's pages: its own scripts, styles and connections only; nothing inline, no frames.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
       "connect-src 'self'; media-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")


class TooManyRequests(FieldRelayError):
    code = "too_many_requests"
    status = 429


class BodyTimeout(FieldRelayError):
    code = "request_timeout"
    status = 408


class Gone(FieldRelayError):
    code = "gone"
    status = 410


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as `{"error", "detail"}`; no stack trace reaches a client."""
    try:
        return await handler(request)
    except FieldRelayError as exc:
        return web.json_response({"error": exc.code, "detail": exc.detail}, status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"),
                                  "detail": exc.text or exc.reason}, status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal", "detail": "the portal failed; logged"},
                                 status=500)


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """The portal's security headers on every response."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes:
    """The whole body up to `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    # Read to the end (one read() returns only what has arrived so far); the app's
    # client_max_size bounds a body that did not say its length.
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            data = await request.read()
    except TimeoutError:
        raise BodyTimeout(f"the body did not arrive within {BODY_TIMEOUT_S:g} s") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes")
    return data


async def read_json(request: web.Request) -> dict[str, Any]:
    """A bounded JSON object body."""
    return jsonsafe.parse_object(await read_body(request))


def claims_of_token(app: web.Application, token: str) -> Claims:
    """The claims of a portal token whose user still exists with that role and version."""
    claims = app[TOKENS].verify(token)
    user = app[USERS].get(claims.name)
    if user is None or user.role != claims.role or user.token_version != claims.version:
        raise Unauthorized("this login is no longer valid")
    return claims


def authenticate(request: web.Request, *roles: str) -> Claims:
    """The caller's claims; 401 without a valid token, 403 for a role not among `roles`."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token>")
    claims = claims_of_token(request.app, token.strip())
    if roles and claims.role not in roles:
        raise web.HTTPForbidden(text=f"this needs the role {' or '.join(roles)}")
    return claims


class Backoff:
    """Failures per key (an address): past `free` in a window, everything waits (429)."""

    def __init__(self, free: int, window_s: float = 600.0, max_keys: int = 50_000) -> None:
        self.free, self.window_s, self.max_keys = free, window_s, max_keys
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def check(self, key: str) -> None:
        """TooManyRequests while `key` has failed too often lately."""
        now = time.monotonic()
        recent = [t for t in self._failures.get(key, []) if now - t < self.window_s]
        if len(recent) >= self.free:
            raise TooManyRequests("too many wrong codes from this address; try again later")

    def failed(self, key: str) -> None:
        now = time.monotonic()
        recent = [t for t in self._failures.pop(key, []) if now - t < self.window_s]
        self._failures[key] = [*recent, now]
        if len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)


BACKOFF = web.AppKey("portal_backoff", Backoff)
# Password hashes take a large part of a second: a few at a time, off the loop.
HASHING = web.AppKey("portal_hashing", asyncio.Semaphore)
