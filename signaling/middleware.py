"""Turns every failure into a JSON error: no stack trace ever reaches a client."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from fieldrelay.errors import FieldRelayError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(status: int, code: str, detail: str) -> web.Response:
    """A JSON error response as CONTRACT.md defines it."""
    return web.json_response({"error": code, "detail": detail}, status=status)


@web.middleware
async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map domain errors and aiohttp's HTTP errors to `{"error", "detail"}` bodies."""
    try:
        return await handler(request)
    except FieldRelayError as exc:
        response = error_body(exc.status, exc.code, exc.detail)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = exc.reason.lower().replace(" ", "_")
        response = error_body(exc.status, code, exc.text or exc.reason)
        for name in ("Allow", "Retry-After", "WWW-Authenticate"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_body(500, "internal", "the node failed to handle this request; it is logged")
