"""Case numbers: set by an officer for itself or by a commander for anyone, or sent with WHIP.

A case number goes on the officer's live evidence session at once, or waits for its next one.
"""

from __future__ import annotations

from aiohttp import web

from fieldrelay.errors import BadRequest, Forbidden, NotFound
from recordings.cases import valid_case
from signaling.auth import authenticate, read_json
from signaling.keys import LIVE_EVIDENCE, USERS

CASE_SETTERS = ("officer", "commander", "admin")


async def apply_case(app: web.Application, officer: str, case: str,
                     by: str) -> tuple[str, str | None]:
    """Set an officer's case: on the live session now, else on its next one.

    Returns ("live", session id) or ("next_session", None).
    """
    evidence = app[LIVE_EVIDENCE]
    session = evidence.set_case(officer, case, by)
    if session is not None:
        return "live", session
    await evidence.set_pending_case(officer, case)
    return "next_session", None


async def put_case(request: web.Request) -> web.Response:
    """PUT /api/officers/<name>/case {"case"}: the officer itself, or a commander."""
    claims = authenticate(request, *CASE_SETTERS)
    officer = request.match_info["name"]
    if claims.role == "officer" and claims.name != officer:
        raise Forbidden("an officer sets only its own case number")
    user = request.app[USERS].get(officer)
    if user is None or user.role != "officer":
        raise NotFound(f"there is no officer {officer!r}")
    body = await read_json(request)
    case = valid_case(body.get("case"))
    if case is None:
        raise BadRequest("case must be 1 to 64 printable characters (no control characters)")
    applied, session = await apply_case(request.app, officer, case, claims.name)
    return web.json_response({"officer": officer, "case": case, "applied": applied,
                              "session": session})


async def get_case(request: web.Request) -> web.Response:
    """GET /api/officers/<name>/case: the officer's live case or the one set for next time."""
    claims = authenticate(request, *CASE_SETTERS)
    officer = request.match_info["name"]
    if claims.role == "officer" and claims.name != officer:
        raise Forbidden("an officer sees only its own case number")
    evidence = request.app[LIVE_EVIDENCE]
    live = evidence.live_session(officer)
    if live is not None:
        return web.json_response({"officer": officer, "case": live.case,
                                  "live": True, "session": live.id})
    pending = await evidence.pending_case(officer)
    return web.json_response({"officer": officer, "case": pending, "live": False,
                              "session": None})


async def case_from_whip(request: web.Request, officer: str) -> None:
    """Apply an `X-Case-Number` header or `?case=` sent with a WHIP publish, if any."""
    raw = request.headers.get("X-Case-Number") or request.query.get("case")
    if raw is None:
        return
    case = valid_case(raw)
    if case is None:
        raise BadRequest("X-Case-Number must be 1 to 64 printable characters")
    await apply_case(request.app, officer, case, officer)


def routes() -> list[web.RouteDef]:
    """The case number routes."""
    return [web.put("/api/officers/{name}/case", put_case),
            web.get("/api/officers/{name}/case", get_case)]
