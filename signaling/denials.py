"""Refused attempts on evidence are evidence too: each 401/403 under an evidence path is
written as one structured log line (who, from where, what, why)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from fieldrelay.errors import FieldRelayError
from signaling.keys import TOKENS

log = logging.getLogger("fieldrelay.access")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

EVIDENCE_PREFIXES = ("/api/sessions",)
DENIED = (401, 403)
# Query parameters whose values are credentials (a token, a ticket, a signature): a log line
# keeps only that they were there, since log files travel further than evidence does.
SECRET_PARAMS = ("token", "ticket", "sig", "signature", "key", "secret", "password", "auth")
MAX_QUERY = 256


def is_evidence(path: str) -> bool:
    """True for paths that read or export recordings."""
    return any(path == p or path.startswith(p + "/") for p in EVIDENCE_PREFIXES)


def _caller(request: web.Request) -> str | None:
    """The token's user when the token itself is valid (a 403), else None."""
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header.startswith("Bearer ") else request.query.get("token")
    if not token:
        return None
    try:
        return request.app[TOKENS].verify(token).name
    except FieldRelayError:
        return None


def is_secret_param(name: str) -> bool:
    """True for a query parameter whose value must never be logged (e.g. `token`)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_PARAMS)


def loggable_query(request: web.Request) -> str:
    """The query string with every credential's value replaced by `[redacted]`."""
    pairs = [(name, "[redacted]" if is_secret_param(name) else value)
             for name, value in request.query.items()]
    return urlencode(pairs, safe="[]")[:MAX_QUERY]


def denial_record(request: web.Request, status: int, code: str) -> dict[str, Any]:
    """The facts of one refused request, as logged."""
    return {"event": "access.denied", "at": round(time.time(), 3), "status": status,
            "error": code, "method": request.method, "path": request.path,
            "query": loggable_query(request), "user": _caller(request),
            "remote": request.remote, "user_agent": request.headers.get("User-Agent", "")[:200]}


@web.middleware
async def log_evidence_denials(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log every 401/403 on an evidence path, whichever way the handler refused."""
    if not is_evidence(request.path):
        return await handler(request)
    try:
        response = await handler(request)
    except FieldRelayError as exc:
        if exc.status in DENIED:
            log.warning("%s", json.dumps(denial_record(request, exc.status, exc.code)))
        raise
    except web.HTTPException as exc:
        if exc.status in DENIED:
            log.warning("%s", json.dumps(denial_record(request, exc.status, exc.reason)))
        raise
    if response.status in DENIED:
        log.warning("%s", json.dumps(denial_record(request, response.status, "denied")))
    return response
