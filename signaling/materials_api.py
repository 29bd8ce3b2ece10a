"""The reviewers' view of materials and cases: find, view, read (with Range), export a case.

Reviewers and admins only; every read is audited (a refusal too), as for sessions. The
materials are found in `recordings.material_catalog`; a case bundle is
`recordings.case_export`.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any
from urllib.parse import quote

from aiohttp import web

from fieldrelay.errors import BadRequest, Forbidden, NotFound
from fieldrelay.tokens import Claims
from recordings.case_export import export_case
from recordings.casebook import timeline
from recordings.cases import valid_case
from recordings.catalog_schema import MaterialQuery
from recordings.material_catalog import Found, MaterialCatalog
from recordings.material_rules import KINDS, material_id_ok, parse_utc
from signaling.auth import authenticate
from signaling.casedesk import DESK as CASES
from signaling.catalog import CATALOG as CATALOG_DESK
from signaling.catalog import guarded, search_limit, search_text
from signaling.keys import CATALOG
from signaling.review_api import CHUNK, REVIEW_ROLES, _BadRange, _export_file, _range_start
from signaling.review_desk import REVIEW
from signaling.uploads import UPLOADS

INLINE_PREFIXES = ("audio/", "video/")
INLINE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/heic",
                "application/pdf", "text/plain")


async def _reviewer(request: web.Request, action: str, allow_query: bool = False) -> Claims:
    """A reviewer's or admin's claims; anyone else is refused (403), the refusal audited."""
    claims = authenticate(request, allow_query=allow_query)
    if claims.role not in REVIEW_ROLES:
        await request.app[REVIEW].record_merged(
            claims, action, None, "denied", detail=request.path[:100], merge_session=False)
        raise Forbidden(f"materials are for reviewers; you are {claims.role}")
    return claims


def _time_arg(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_utc(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an ISO 8601 time or unix seconds") from None


async def _material(request: web.Request) -> Found:
    raw = request.match_info["id"]
    found = (await asyncio.to_thread(request.app[CATALOG].get, raw)
             if material_id_ok(raw) else None)
    if found is None:
        raise NotFound("there is no such material")
    return found


async def list_materials(request: web.Request) -> web.Response:
    """GET /api/materials?case=&officer=&kind=&from=&to=: materials, newest first."""
    claims = await _reviewer(request, "list")
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    since, until = _time_arg(request, "from"), _time_arg(request, "to")
    found = await asyncio.to_thread(request.app[CATALOG].search,
                                    request.query.get("case") or None,
                                    request.query.get("officer") or None, kind, since, until)
    await request.app[REVIEW].record_merged(claims, "list", None, "ok", detail="materials")
    return web.json_response({"materials": [f.public for f in found]})


async def catalog_materials(request: web.Request) -> web.Response:
    """GET /api/catalog/materials?case=&officer=&kind=&from=&to=&node=: every node's
    materials from the shared catalog, newest arrival first, each with the node that holds
    it (audited as /api/materials)."""
    claims = await _reviewer(request, "list")
    kind = request.query.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    query = MaterialQuery(case=search_text(request.query, "case"),
                          officer=search_text(request.query, "officer"), kind=kind,
                          since=_time_arg(request, "from"), until=_time_arg(request, "to"),
                          node=search_text(request.query, "node"),
                          limit=search_limit(request.query))
    desk = request.app[CATALOG_DESK]
    found = await guarded(desk.catalog.search_materials(query))
    await request.app[REVIEW].record_merged(claims, "list", None, "ok",
                                            detail="catalog materials")
    return web.json_response({"materials": found, "node": desk.config.node_id})


async def material_detail(request: web.Request) -> web.Response:
    """GET /api/materials/<id>: one material's metadata (audited)."""
    claims = await _reviewer(request, "view")
    found = await _material(request)
    await request.app[REVIEW].record(claims, "view", found.entry.get("session"), "ok",
                                     material=found.entry["material"])
    return web.json_response(found.public)


async def material_content(request: web.Request) -> web.StreamResponse:
    """GET /api/materials/<id>/content: the material's bytes, with HTTP Range (audited)."""
    claims = await _reviewer(request, "play", allow_query=True)
    found = await _material(request)
    catalog = request.app[CATALOG]
    path = catalog.path(found)
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
    except FileNotFoundError:
        raise NotFound("the material's file is gone (removed by retention)") from None
    asked = request.headers.get("Range")
    try:
        _range_start(asked, size)
    except _BadRange:
        return web.json_response(
            {"error": "range_not_satisfiable",
             "detail": f"the Range {asked!r} does not fit the file of {size} bytes"},
            status=416, headers={"Content-Range": f"bytes */{size}"})
    if request.method == "GET":
        await request.app[REVIEW].record_merged(
            claims, "play", found.entry.get("session"), "ok",
            detail=f"material {found.entry['material']}",
            range=asked.strip()[:100] if asked else None, material=found.entry["material"])
    name = quote(str(found.entry.get("filename") or path.name))
    mime = str(found.entry.get("mime") or "")
    # The MIME type is the phone's word: only types a browser shows without running anything
    # are served as themselves; anything else (HTML, SVG, ...) is a download of plain bytes.
    inline = mime.startswith(INLINE_PREFIXES) or mime in INLINE_TYPES
    return web.FileResponse(path, headers={
        "Content-Type": mime if inline else "application/octet-stream",
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; "
                               f"filename*=UTF-8''{name}",
        "Cache-Control": "private, no-store", "Accept-Ranges": "bytes"})


def _case(request: web.Request) -> str:
    case = valid_case(request.match_info["case"])
    if case is None:
        raise BadRequest("a case number is 1-64 printable characters")
    return case


def _timeline(sessions: list[dict[str, Any]], materials: list[Found],
              events: list[dict[str, Any]],
              trail: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Sessions, materials, the events that link them and the case chain's entries of the
    case (tasks, replies, clues, messages, published steps: `type: "case"`), sorted by when
    they happened (a material by the start of the span it claims, else its claimed capture,
    else its arrival)."""
    out: list[dict[str, Any]] = list(trail or [])
    for s in sessions:
        out.append({"at": s.get("started_at"), "type": "session", "session": s.get("id"),
                    "officer": s.get("officer"), "ended_at": s.get("ended_at")})
    for f in materials:
        m = f.public
        out.append({"at": m["from"] or m["captured_at"] or m["received_at"], "type": "material",
                    "material": m["id"], "kind": m["kind"], "session": m["session"],
                    "received_at": m["received_at"]})
    for e in events:
        out.append({"at": e.get("at"), "type": "event", "event": e.get("event"),
                    "session": e.get("session"), "material": e.get("material"),
                    **{k: e[k] for k in ("gap_from", "gap_to", "from", "to", "covered_ms")
                       if k in e}})
    out.sort(key=lambda x: str(x.get("at") or ""))
    return out


async def case_view(request: web.Request) -> web.Response:
    """GET /api/cases/<case>: every session and material of a case on one timeline."""
    claims = await _reviewer(request, "view")
    case = _case(request)
    desk, catalog = request.app[REVIEW], request.app[CATALOG]

    book = request.app[CASES].book

    def gather() -> tuple[list[dict[str, Any]], list[Found], list[dict[str, Any]],
                          list[dict[str, Any]], dict[str, Any] | None]:
        # A damaged index answers as it stands; verify tells what is wrong with the evidence.
        with contextlib.suppress(sqlite3.DatabaseError):
            desk.index.sync()
        sessions = desk.index.search(case=case)
        materials = catalog.search(case=case)
        events = catalog.events_of({str(f.entry["material"]) for f in materials})
        return sessions, materials, events, timeline(book.entries(), case), book.get(case)

    sessions, materials, events, trail, record = await asyncio.to_thread(gather)
    await desk.record(claims, "view", None, "ok", detail={"case": case})
    return web.json_response({"case": case, "sessions": sessions,
                              "materials": [f.public for f in materials],
                              "record": record,
                              "timeline": _timeline(sessions, materials, events, trail)})


async def case_export(request: web.Request) -> web.StreamResponse:
    """POST /api/cases/<case>/export: one zip for the whole case (audited)."""
    claims = await _reviewer(request, "export")
    case = _case(request)
    desk, catalog = request.app[REVIEW], request.app[CATALOG]
    out = await asyncio.to_thread(_export_file, desk.data_dir)
    try:
        result = await asyncio.to_thread(export_case, desk.data_dir, case, out, None, catalog)
        size = (await asyncio.to_thread(out.stat)).st_size
        await desk.record(claims, "export", None, "ok",
                          detail={"case": case, "sessions": len(result.sessions),
                                  "materials": len(result.materials), "bytes": size})
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": "attachment; filename=\"case.zip\"; "
                                   f"filename*=UTF-8''{quote('case-' + case + '.zip')}",
            "Cache-Control": "private, no-store"})
        response.content_length = size
        await response.prepare(request)
        f = await asyncio.to_thread(out.open, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK * 16):
                await response.write(chunk)
        finally:
            f.close()
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(out.unlink, True)


def attach(app: web.Application) -> None:
    """The catalog, kept current with every material the upload desk seals."""
    catalog = MaterialCatalog(app[REVIEW].data_dir)
    app[CATALOG] = catalog
    app[UPLOADS].on_sealed.append(catalog.add)


def routes() -> list[web.RouteDef]:
    """The materials and case routes."""
    return [
        web.get("/api/materials", list_materials),
        web.get("/api/catalog/materials", catalog_materials),
        web.get("/api/materials/{id}", material_detail),
        web.get("/api/materials/{id}/content", material_content),
        # A case number may hold a slash (sent as %2F): the pattern takes it whole.
        web.post("/api/cases/{case:.+}/export", case_export),
        web.get("/api/cases/{case:.+}", case_view),
    ]
