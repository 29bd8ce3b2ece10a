"""Case routes for commanders and officers: cases, tasks, published steps, invitations,
messages to parties and read receipts for clues.

An officer sees and acts on the cases it is assigned to; any other case number is a 404,
whether it exists or not. Commanders (and admins) see every case. Every change is an entry
in the case chain; what concerns the portal is ferried to it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from typing import Any

import segno
from aiohttp import web

from fieldrelay.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from recordings.casebook import CASE_STATES, activity
from recordings.cases import valid_case
from recordings.material_rules import material_id_ok
from signaling.auth import authenticate, read_json
from signaling.casedesk import DESK
from signaling.keys import CATALOG, CONFIG, USERS
from signaling.ratelimit import RateLimiter

CASE_ROLES = ("officer", "commander", "admin")
MANAGERS = ("commander", "admin")
TASK_KINDS = ("find_person", "serve_document", "check_address")
MAX_TEXT = 2000
# A task's photo travels inside its ferry message (a published copy for the grid workers, as
# a published step is): small enough that an exchange stays within the portal's body limit.
TASK_PHOTO_MAX = 512 * 1024
INVITATIONS = web.AppKey("invitations_by_officer", RateLimiter)


def _text(body: dict[str, Any], key: str, required: bool = False, limit: int = MAX_TEXT) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        need = "1 to" if required else "at most"
        raise BadRequest(f"{key} is text of {need} {limit} characters")
    return value.strip()


def _names(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(
            value) > 500:
        raise BadRequest(f"{key} is a list of user names")
    return [str(v) for v in value]


async def list_cases(request: web.Request) -> web.Response:
    """GET /api/cases: every case (commanders) or the caller's own (officers)."""
    claims = authenticate(request, *CASE_ROLES)
    cases = list((await asyncio.to_thread(request.app[DESK].book.cases)).values())
    if claims.role not in MANAGERS:
        cases = [c for c in cases if claims.name in c["officers"]]
    return web.json_response({"cases": sorted(cases, key=lambda c: str(c["number"]))})


async def add_case(request: web.Request) -> web.Response:
    """POST /api/cases {"number","title","officers"?}: an officer is assigned its own case."""
    claims = authenticate(request, *CASE_ROLES)
    body = await read_json(request)
    number = valid_case(body.get("number"))
    if number is None:
        raise BadRequest("number is a case number of 1 to 64 printable characters")
    title = _text(body, "title", limit=200)
    officers = _names(body, "officers") or []
    if claims.role == "officer":
        officers = sorted({*officers, claims.name})
    _check_officers(request, officers)
    desk = request.app[DESK]
    if await desk.case(number) is not None:
        raise Conflict(f"case {number!r} exists already")
    await desk.record("case.created", number, title=title, by=claims.name,
                      officers=sorted(set(officers)))
    await desk.case_info(number)
    return web.json_response(await desk.case(number), status=201)


def _check_officers(request: web.Request, officers: list[str]) -> None:
    users = request.app[USERS]
    for name in officers:
        user = users.get(name)
        if user is None or user.role != "officer":
            raise BadRequest(f"{name!r} is not an officer")


async def assign(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/assign {"officers"?, "grid"?, "state"?}: each list given
    replaces it; a state (open, closed) is recorded as its own entry."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    body = await read_json(request)
    officers, grid, state = _names(body, "officers"), _names(body, "grid"), body.get("state")
    if officers is not None:
        _check_officers(request, officers)
    if state is not None and state not in CASE_STATES:
        raise BadRequest(f"state is one of {', '.join(CASE_STATES)}")
    if state is not None and state != case["state"]:
        await desk.record("case.state", case["number"], by=claims.name, state=state)
    if officers is None and grid is None:
        return web.json_response(await desk.case(case["number"]))
    await desk.record("case.assigned", case["number"], by=claims.name,
                      officers=sorted(set(officers if officers is not None
                                          else case["officers"])),
                      grid=sorted(set(grid if grid is not None else case["grid"])))
    return web.json_response(await desk.case(case["number"]))


async def case_activity(request: web.Request) -> web.Response:
    """GET /api/cases/<case>/activity: the case and everything around it, oldest first."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    entries = activity(await asyncio.to_thread(desk.book.entries), case["number"])
    for entry in entries:
        entry.pop("message", None)
    return web.json_response({"case": case, "activity": entries,
                              "steps": list(request.app[CONFIG].published_steps),
                              "grid": desk.grid_roster()})


async def send_task(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/tasks {"kind","person","address","what","deadline","to"|
    "community"}: a task for one grid worker or every grid worker of a community."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    body = await read_json(request)
    if body.get("kind") not in TASK_KINDS:
        raise BadRequest(f"kind is one of {', '.join(TASK_KINDS)}")
    roster = desk.grid_roster()
    to = _names(body, "to") or []
    community = body.get("community")
    if isinstance(community, str) and community:
        to = sorted({*to, *(n for n, c in roster.items() if c == community)})
    unknown = [n for n in to if n not in roster]
    if not to or unknown:
        raise BadRequest("to names grid workers the portal knows (or give a community): "
                         f"unknown {unknown}" if unknown else "send the task to someone")
    task = {"task": secrets.token_hex(8), "task_kind": body["kind"],
            "person": _text(body, "person", limit=200),
            "address": _text(body, "address", limit=500), "what": _text(body, "what"),
            "deadline": _text(body, "deadline", limit=40), "to": sorted(set(to)),
            "title": case["title"]}
    attached = None
    if body.get("photo") is not None:
        task["photo"], attached = await _task_photo(request, case["number"], body["photo"])
    entry = await desk.publish("task.sent", case["number"], "task", task, claims.name,
                               attached={"photo": attached} if attached else None)
    return web.json_response({k: v for k, v in entry.items() if k != "message"}, status=201)


async def _task_photo(request: web.Request, number: str,
                      material: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the chain records of a task's photo, what the ferry message carries): a photo
    among the case's materials, its bytes checked against its sealed SHA-256."""
    catalog = request.app[CATALOG]
    found = (await asyncio.to_thread(catalog.get, material)
             if isinstance(material, str) and material_id_ok(material) else None)
    if found is None or found.entry.get("case") != number or \
            not str(found.entry.get("mime", "")).startswith("image/"):
        raise NotFound("photo names no photo among this case's materials")
    if int(found.entry.get("size") or 0) > TASK_PHOTO_MAX:
        raise PayloadTooLarge(f"a task's photo may have at most {TASK_PHOTO_MAX} bytes; "
                              "choose a smaller one")
    data = await asyncio.to_thread(catalog.path(found).read_bytes)
    if hashlib.sha256(data).hexdigest() != found.entry.get("sha256"):
        raise Conflict("the photo's file does not match its seal; run fieldrelay verify")
    meta = {"material": material, "sha256": found.entry["sha256"],
            "mime": found.entry["mime"], "size": len(data)}
    return meta, {**meta, "data": base64.b64encode(data).decode()}


async def publish_step(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/steps {"step","note"?}: one of the configured steps."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    body = await read_json(request)
    steps = request.app[CONFIG].published_steps
    if body.get("step") not in steps:
        raise BadRequest(f"step is one of: {', '.join(steps)}")
    entry = await desk.publish("step.published", case["number"], "step",
                               {"step": body["step"], "note": _text(body, "note", limit=500)},
                               claims.name)
    return web.json_response({k: v for k, v in entry.items() if k != "message"}, status=201)


def qr_rows(text: str) -> list[str]:
    """A QR code of `text` as rows of 0/1 (the page draws it; no image, no HTML)."""
    return ["".join("1" if cell else "0" for cell in row)
            for row in segno.make(text, error="m", micro=False).matrix]


async def invite(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/invitations: a one-use, expiring code for a party (rate-limited
    per officer); the portal only ever holds its hash."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    if desk.link is None:
        raise Conflict("this node has no portal (--portal-url)")
    request.app[INVITATIONS].check(claims.name)
    invitation = await desk.invite(case["number"], claims.name,
                                   request.app[CONFIG].invitation_ttl_s)
    return web.json_response({**invitation, "qr": qr_rows(invitation["code"])}, status=201,
                             headers={"Cache-Control": "no-store"})


async def message_party(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/messages {"party","text"}: to one party of the case."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    body = await read_json(request)
    party = body.get("party")
    if party not in case["parties"]:
        raise NotFound("no such party in this case")
    entry = await desk.publish("message.sent", case["number"], "message",
                               {"party": party, "text": _text(body, "text", required=True)},
                               claims.name)
    return web.json_response({k: v for k, v in entry.items() if k != "message"}, status=201)


async def read_clue(request: web.Request) -> web.Response:
    """POST /api/cases/<case>/clues/<clue>/read: the party then sees "read"."""
    claims = authenticate(request, *CASE_ROLES)
    desk = request.app[DESK]
    case = await desk.visible(request.match_info["case"], claims.name, claims.role)
    clue = request.match_info["clue"]
    entries = await desk.entries()
    if not any(e.get("kind") == "clue.received" and e.get("ferry") == clue
               and e.get("case") == case["number"] for e in entries):
        raise NotFound("no such clue in this case")
    if any(e.get("kind") == "clue.read" and e.get("clue") == clue for e in entries):
        return web.json_response({"clue": clue, "state": "read"})
    await desk.publish("clue.read", case["number"], "clue.read", {"clue": clue}, claims.name)
    return web.json_response({"clue": clue, "state": "read"}, status=201)


def routes() -> list[web.RouteDef]:
    """The case routes (GET /api/cases/<case> and its export belong to review)."""
    return [web.get("/api/cases", list_cases), web.post("/api/cases", add_case),
            web.post("/api/cases/{case}/assign", assign),
            web.get("/api/cases/{case}/activity", case_activity),
            web.post("/api/cases/{case}/tasks", send_task),
            web.post("/api/cases/{case}/steps", publish_step),
            web.post("/api/cases/{case}/invitations", invite),
            web.post("/api/cases/{case}/messages", message_party),
            web.post("/api/cases/{case}/clues/{clue}/read", read_clue)]
