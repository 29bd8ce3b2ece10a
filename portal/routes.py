"""The portal's user routes: log in, redeem an invitation, a party's case, a grid worker's tasks.

A party sees its one case only, a grid worker the tasks sent to it only: anything else is a
404, whether it exists or not, so nobody learns other cases' numbers by guessing. No route
here returns evidence: the portal has none.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from typing import Any

from aiohttp import web

from fieldrelay.errors import BadRequest, Conflict, NotFound, Unauthorized
from fieldrelay.tokens import Claims
from fieldrelay.users import User
from portal.web_common import (
    BACKOFF,
    CONFIG,
    DESK,
    HASHING,
    TOKENS,
    USERS,
    Gone,
    authenticate,
    read_json,
)

MAX_TEXT = 2000
OUTCOMES = ("found", "not_found")


def _text(body: dict[str, Any], key: str = "text", required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or len(value) > MAX_TEXT or (required and not value.strip()):
        raise BadRequest(f"{key} is text of 1 to {MAX_TEXT} characters")
    return value.strip()


def _position(body: dict[str, Any]) -> dict[str, float | None]:
    lat, lon = body.get("lat"), body.get("lon")
    if lat is None and lon is None:
        return {"lat": None, "lon": None}
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        raise BadRequest("lat and lon are numbers, given together")
    assert isinstance(lat, int | float) and isinstance(lon, int | float)
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadRequest("lat is -90..90 and lon -180..180")
    return {"lat": float(lat), "lon": float(lon)}


def _issue(request: web.Request, name: str, role: str, version: int) -> web.Response:
    config = request.app[CONFIG]
    now = int(time.time())
    token, expires_at = request.app[TOKENS].issue(name, role, version=version, auth_time=now,
                                                  not_after=now + config.session_max_s)
    return web.json_response({"token": token, "role": role, "name": name,
                              "expires_at": expires_at})


async def login(request: web.Request) -> web.Response:
    """POST /api/login {"username","password"}: a party's or grid worker's token."""
    body = await read_json(request)
    name, password = body.get("username"), body.get("password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise BadRequest('send {"username": "...", "password": "..."}')
    address = request.remote or "unknown"
    request.app[BACKOFF].check("login:" + address)
    async with request.app[HASHING]:
        user = await asyncio.to_thread(request.app[USERS].authenticate, name[:64], password)
    if user is None:
        request.app[BACKOFF].failed("login:" + address)
        raise Unauthorized("wrong user name or password")
    return _issue(request, user.name, user.role, user.token_version)


def code_digest(code: str) -> str:
    """What the portal keeps of an invitation code: its SHA-256 (the code never rests here)."""
    return hashlib.sha256(code.strip().upper().replace("-", "").encode()).hexdigest()


async def redeem_invitation(app: web.Application, code: str, name: str,
                            password: str) -> User:
    """Make a party account from a one-use invitation code (the party then sees that case).

    NotFound for a code the portal never had, Gone for a used or expired one."""
    desk = app[DESK]
    invitation = desk.state.invitations.get(code_digest(code))
    if invitation is None:
        raise NotFound("no such invitation code")
    if invitation["used_by"] is not None:
        raise Gone("this invitation was used already")
    if invitation["expires_at"] < time.time():
        raise Gone("this invitation has expired; ask the officer for a new one")
    async with app[HASHING]:
        # Checked again once the slot is ours (a redemption may have waited for it while
        # another took the code), and taken before the hash is made: one winner per code.
        if invitation["used_by"] is not None:
            raise Gone("this invitation was used already")
        invitation["used_by"] = name
        try:
            user = await asyncio.to_thread(app[USERS].add, name, "party", password)
        except BaseException:
            invitation["used_by"] = None
            raise
    await desk.post("party.joined", invitation["case"],
                    {"party": user.name, "invitation": invitation["invitation"]})
    return user


async def redeem(request: web.Request) -> web.Response:
    """POST /api/redeem {"code","username","password"}: a one-use invitation becomes a party
    account that sees that case only. Wrong codes are counted per address (429 past a few)."""
    body = await read_json(request)
    code, name, password = body.get("code"), body.get("username"), body.get("password")
    if not isinstance(code, str) or not isinstance(name, str) or not isinstance(password, str):
        raise BadRequest('send {"code", "username", "password"}')
    backoff, address = request.app[BACKOFF], "redeem:" + (request.remote or "unknown")
    backoff.check(address)
    try:
        user = await redeem_invitation(request.app, code, name, password)
    except NotFound:
        backoff.failed(address)
        raise
    response = _issue(request, user.name, user.role, user.token_version)
    response.set_status(201)
    return response


def _party_case(request: web.Request, claims: Claims) -> str:
    case = request.app[DESK].state.parties.get(claims.name)
    if case is None or case != request.match_info["case"]:
        raise NotFound("no such case")
    return case


async def me(request: web.Request) -> web.Response:
    """GET /api/me: who the caller is and what it may open."""
    claims = authenticate(request)
    state = request.app[DESK].state
    if claims.role == "party":
        case = state.parties.get(claims.name)
        return web.json_response({"name": claims.name, "role": claims.role,
                                  "cases": [case] if case else []})
    return web.json_response({"name": claims.name, "role": claims.role,
                              "community": state.grid.get(claims.name)})


async def party_case(request: web.Request) -> web.Response:
    """GET /api/cases/<case>: the party's case (published steps, its thread, its clues)."""
    claims = authenticate(request, "party")
    _party_case(request, claims)
    return web.json_response(request.app[DESK].state.party_view(claims.name))


async def send_clue(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/clues {"text","lat"?,"lon"?}: a clue for the case's officers."""
    claims = authenticate(request, "party")
    case = _party_case(request, claims)
    body = await read_json(request)
    message = await request.app[DESK].post(
        "clue", case, {"party": claims.name, "text": _text(body), **_position(body)})
    clue = request.app[DESK].state.clues[str(message["id"])]
    return web.json_response(clue, status=201)


async def send_message(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/messages {"text"}: a message to the case's officers."""
    claims = authenticate(request, "party")
    case = _party_case(request, claims)
    body = await read_json(request)
    message = await request.app[DESK].post("message", case,
                                           {"party": claims.name, "text": _text(body)})
    return web.json_response({"id": message["id"], "at": message["at"]}, status=201)


def _own_task(request: web.Request, claims: Claims) -> Any:
    task = request.app[DESK].state.tasks.get(request.match_info["task"])
    if task is None or claims.name not in task.to:
        raise NotFound("no such task")
    return task


async def tasks(request: web.Request) -> web.Response:
    """GET /api/tasks: the tasks sent to the calling grid worker."""
    claims = authenticate(request, "grid")
    return web.json_response({"tasks": request.app[DESK].state.tasks_of(claims.name)})


async def task_photo(request: web.Request) -> web.Response:
    """GET /api/tasks/<id>/photo: the photo the officer sent with the task (404 without)."""
    claims = authenticate(request, "grid")
    task = _own_task(request, claims)
    if task.photo is None:
        raise NotFound("this task has no photo")
    try:
        data = base64.b64decode(task.photo, validate=True)
    except (binascii.Error, ValueError):
        raise NotFound("this task's photo is unreadable") from None
    mime = str(task.sent["photo"].get("mime") or "")
    return web.Response(body=data, headers={
        "Content-Type": mime if mime.startswith("image/") else "application/octet-stream",
        "Cache-Control": "private, no-store"})


async def answer_task(request: web.Request) -> web.Response:
    """POST /api/tasks/<id>/answer {"accept": bool}."""
    claims = authenticate(request, "grid")
    task = _own_task(request, claims)
    body = await read_json(request)
    if not isinstance(body.get("accept"), bool):
        raise BadRequest('send {"accept": true|false}')
    if task.closed is not None:
        raise Conflict("this task is closed")
    await request.app[DESK].post("task.answer", task.case,
                                 {"task": task.id, "by": claims.name, "accept": body["accept"]})
    return web.json_response(task.view())


async def reply_task(request: web.Request) -> web.Response:
    """POST /api/tasks/<id>/replies {"text","lat"?,"lon"?}: what the grid worker found."""
    claims = authenticate(request, "grid")
    task = _own_task(request, claims)
    body = await read_json(request)
    if task.closed is not None:
        raise Conflict("this task is closed")
    await request.app[DESK].post("task.reply", task.case,
                                 {"task": task.id, "by": claims.name, "text": _text(body),
                                  **_position(body)})
    return web.json_response(task.view(), status=201)


async def close_task(request: web.Request) -> web.Response:
    """POST /api/tasks/<id>/close {"outcome": "found"|"not_found"}."""
    claims = authenticate(request, "grid")
    task = _own_task(request, claims)
    body = await read_json(request)
    if body.get("outcome") not in OUTCOMES:
        raise BadRequest('outcome is "found" or "not_found"')
    if task.closed is not None:
        raise Conflict("this task is closed already")
    await request.app[DESK].post("task.closed", task.case,
                                 {"task": task.id, "by": claims.name,
                                  "outcome": body["outcome"]})
    return web.json_response(task.view())


def routes() -> list[web.RouteDef]:
    """The portal's user routes."""
    return [web.post("/api/login", login), web.post("/api/redeem", redeem),
            web.get("/api/me", me), web.get("/api/cases/{case}", party_case),
            web.post("/api/cases/{case}/clues", send_clue),
            web.post("/api/cases/{case}/messages", send_message),
            web.get("/api/tasks", tasks),
            web.get("/api/tasks/{task}/photo", task_photo),
            web.post("/api/tasks/{task}/answer", answer_task),
            web.post("/api/tasks/{task}/replies", reply_task),
            web.post("/api/tasks/{task}/close", close_task)]
