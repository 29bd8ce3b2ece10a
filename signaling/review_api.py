"""The reviewers' API: find, view, play, verify, export and hold evidence, every access audited.

Sessions are listed from the search index; a session's detail, media and export are read
from its files. Reviewers (and admins) only: a denied attempt on evidence is audited too.
The verifies themselves run in `signaling.verify_jobs`; the desk that holds it all is
`signaling.review_desk`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from fieldrelay.errors import BadRequest, Conflict, Forbidden, NotFound
from fieldrelay.tokens import Claims
from recordings.audit import public_entry, to_csv
from recordings.catalog import parse_time
from recordings.export import export_with_playable
from recordings.holds import current_holds
from recordings.index import reindex
from recordings.layout import session_folder
from recordings.material_catalog import MaterialCatalog
from recordings.media import CACHE_BYTES, track_of
from recordings.media import session_media as build_media
from recordings.store import LedgerCorrupt, read_entries
from recordings.timeline import Timeline
from recordings.verify import SESSION_ID
from signaling.auth import authenticate, read_json
from signaling.keys import CATALOG, CONFIG
from signaling.review_desk import REVIEW, ReviewDesk
from signaling.review_holds import change_hold, hold_view, parse_hold

log = logging.getLogger(__name__)

REVIEW_ROLES = ("reviewer", "admin")
CHUNK = 1 << 16
RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


# --- who may, and which session ---------------------------------------------------------------

async def _reviewer(request: web.Request, action: str, allow_query: bool = False) -> Claims:
    """A reviewer's or admin's claims; anyone else is refused (403) and the refusal audited."""
    claims = authenticate(request, allow_query=allow_query)
    if claims.role not in REVIEW_ROLES:
        raw = request.match_info.get("id")
        sid = raw if raw and session_id_ok(raw) else None
        # Refusals merge per user, action and minute: retrying (or inventing ids) cannot grow
        # the signed audit log without bound.
        await request.app[REVIEW].record_merged(claims, action, sid, "denied",
                                                detail=None if sid or not raw else raw[:100],
                                                merge_session=False)
        raise Forbidden(f"evidence is for reviewers; you are {claims.role}")
    return claims


def session_id_ok(raw: str) -> bool:
    """True when `raw` has the form of a session id (so it can never name another path)."""
    return SESSION_ID.fullmatch(raw) is not None


def _session_id(request: web.Request) -> str:
    """The path's session id, if it names an existing session; NotFound otherwise."""
    sid = request.match_info["id"]
    session_folder(request.app[CONFIG].data_dir, sid)  # raises NotFound
    return sid


# --- listing and detail ---------------------------------------------------------------------------

def _time_arg(request: web.Request, name: str) -> float | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time or unix seconds") from None


async def list_sessions(request: web.Request) -> web.Response:
    """GET /api/sessions: sessions newest first, by officer, time range, case and alerts."""
    await _reviewer(request, "list")
    index = request.app[REVIEW].index
    since, until = _time_arg(request, "from"), _time_arg(request, "to")
    case = request.query.get("case") or None

    def search() -> list[dict[str, Any]]:
        try:
            index.sync()
        except sqlite3.DatabaseError:
            # The index is only a cache of the evidence: a damaged one is rebuilt, not fatal.
            log.exception("the search index %s is damaged; rebuilding it", index.path)
            reindex(index.data_dir)
        return index.search(request.query.get("officer") or None, since, until, case,
                            request.query.get("alerts") in ("1", "true", "yes"))

    return web.json_response({"sessions": await asyncio.to_thread(search)})


def _detail(desk: ReviewDesk, sid: str) -> dict[str, Any]:
    """A session's row with its segments, events and GPS placed on the media timeline."""
    folder = desk.data_dir / "sessions" / sid
    desk.index.refresh(sid)
    row = desk.index.get(sid)
    if row is None:
        raise NotFound(f"there is no session {sid}")
    try:
        entries = list(read_entries(folder / "ledger.jsonl"))
    except LedgerCorrupt:
        entries = []
    segments = [e for e in entries if e.get("kind") == "segment"]
    timeline = Timeline(segments)
    row["segments"] = [
        {**{k: e.get(k) for k in ("index", "file", "size", "sha256", "start", "end",
                                  "media_start_ms", "media_end_ms", "partial")},
         "track": track_of(e),
         "t_ms": (e["media_start_ms"] - timeline.base)
         if isinstance(e.get("media_start_ms"), int) else timeline.offset_ms(e.get("start"))}
        for e in segments]
    events = [{**{k: v for k, v in e.items() if k not in ("v", "prev", "hash", "session",
                                                          "kind")},
               "t_ms": timeline.offset_ms(e.get("at"))}
              for e in entries if e.get("kind") == "event"]
    row["events"] = events
    row["gps"] = [{k: e.get(k) for k in ("at", "t_ms", "lat", "lon", "accuracy")}
                  for e in events if e.get("event") == "gps"]
    row["duration_ms"] = timeline.duration_ms
    start = next((e for e in entries if e.get("kind") == "session.start"), {})
    video = (start.get("media") or {}).get("video")
    row["media_url"] = f"/api/sessions/{sid}/media"
    row["media_type"] = "video/mp4" if video == "video/h264" else "video/webm"
    row["integrity"] = desk.verifies.integrity(sid)
    row["hold"] = hold_view(current_holds(desk.data_dir).get(sid))
    return row


async def session_detail(request: web.Request) -> web.Response:
    """GET /api/sessions/<id>: metadata, segments, events and GPS with t_ms, integrity, hold."""
    claims = await _reviewer(request, "view")
    sid = _session_id(request)
    desk = request.app[REVIEW]
    detail = await asyncio.to_thread(_detail, desk, sid)
    detail.update(await asyncio.to_thread(_materials_of, request.app[CATALOG], sid))
    await desk.record(claims, "view", sid, "ok")
    return web.json_response(detail)


def _materials_of(catalog: MaterialCatalog, sid: str) -> dict[str, Any]:
    """The session's materials, and the events of those sealed after it (in their case's
    materials chain: `gap.filled`, `preevent.attached`), which its own chain cannot hold."""
    found = catalog.search(session=sid)
    later = [e for e in catalog.events_of({str(f.entry["material"]) for f in found})
             if str(e.get("chain", "")).startswith("materials/")]
    return {"materials": [f.public for f in found], "material_events": later}


# --- media ---------------------------------------------------------------------------------------

def _range_start(header: str | None, size: int) -> int | None:
    """The first byte a Range header asks for; None without one; BadRange when unusable."""
    if header is None:
        return None
    m = RANGE_RE.fullmatch(header.strip())
    if m is None or (not m.group(1) and not m.group(2)):
        raise _BadRange()
    first, last = m.group(1), m.group(2)
    if first:
        start = int(first)
        if start >= size or (last and int(last) < start):
            raise _BadRange()
        return start
    if int(last) == 0:
        raise _BadRange()
    return max(0, size - int(last))


class _BadRange(Exception):
    pass


async def media(request: web.Request) -> web.StreamResponse:
    """GET /api/sessions/<id>/media: the session as one file, with Range; playback audited."""
    claims = await _reviewer(request, "play", allow_query=True)
    sid = _session_id(request)
    desk = request.app[REVIEW]
    track = request.query.get("track", "all")
    if track not in ("all", "talkback"):
        raise BadRequest("track must be all (the whole session) or talkback")
    only = None if track == "all" else track
    async with desk.remux_lock(sid):
        path, plan = await asyncio.to_thread(build_media, desk.data_dir, sid, desk.stop,
                                             CACHE_BYTES, only)
    size = (await asyncio.to_thread(path.stat)).st_size
    try:
        _range_start(request.headers.get("Range"), size)  # FileResponse serves it
    except _BadRange:
        return web.json_response(
            {"error": "range_not_satisfiable",
             "detail": f"the Range {request.headers.get('Range')!r} does not fit the file of "
                       f"{size} bytes (send bytes=START-END)"},
            status=416, headers={"Content-Range": f"bytes */{size}"})
    if request.method == "GET":
        # Every read that sends bytes is audited, whatever its Range (bytes=1- is the whole
        # file too); a player's many range reads merge into one record per user, session and
        # minute, with a count of the rest.
        asked = request.headers.get("Range")
        await desk.record_merged(claims, "play", sid, "ok",
                                 detail=plan.ext if only is None else f"{only} {plan.ext}",
                                 range=asked.strip()[:100] if asked else None)
    return web.FileResponse(path, headers={"Content-Type": plan.mime,
                                           "Cache-Control": "private, no-store",
                                           "Accept-Ranges": "bytes"})


# --- export ---------------------------------------------------------------------------------------

async def session_export(request: web.Request) -> web.StreamResponse:
    """POST /api/sessions/<id>/export: the court bundle as a zip download (audited)."""
    claims = await _reviewer(request, "export")
    sid = _session_id(request)
    desk = request.app[REVIEW]
    out = await asyncio.to_thread(_export_file, desk.data_dir)
    try:
        try:
            result = await asyncio.to_thread(export_with_playable, desk.data_dir, sid, out,
                                             None, desk.stop)
        except Conflict as exc:
            await desk.record(claims, "export", sid, "refused", detail=exc.detail)
            raise
        size = (await asyncio.to_thread(out.stat)).st_size
        await desk.record(claims, "export", sid, "ok",
                          detail={"segments": result.segments, "bytes": size})
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{sid}.zip"',
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


def _export_file(data_dir: Path) -> Path:
    """A fresh temporary path for one export (outside the sessions folder)."""
    out_dir = data_dir / "cache" / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".zip", dir=out_dir)
    os.close(fd)
    return Path(tmp)


# --- verify ---------------------------------------------------------------------------------------

async def start_verify(request: web.Request) -> web.Response:
    """POST /api/sessions/<id>/verify: start a background verify (202) unless one runs."""
    claims = await _reviewer(request, "verify")
    sid = _session_id(request)
    desk = request.app[REVIEW]
    job = await desk.verifies.start(claims, sid)
    return web.json_response(job.public(), status=202)


async def verify_status(request: web.Request) -> web.Response:
    """GET /api/sessions/<id>/verify: the running or last verify of the session."""
    await _reviewer(request, "verify.status")
    sid = _session_id(request)
    desk = request.app[REVIEW]
    return web.json_response(await asyncio.to_thread(desk.verifies.integrity, sid))


# --- legal hold and audit trail -------------------------------------------------------------------

async def put_hold(request: web.Request) -> web.Response:
    """PUT /api/sessions/<id>/hold {"hold": bool, "reason"}: legal hold on (reviewers) or off
    (admins, with a reason; with the two-person release a first lift answers 202 and waits for
    a second admin). Audited either way."""
    claims = await _reviewer(request, "hold")
    sid = _session_id(request)
    hold, reason = parse_hold(await read_json(request))
    body, status = await change_hold(request.app[REVIEW], claims, sid, hold, reason,
                                     request.app[CONFIG].hold_two_person_release)
    return web.json_response(body, status=status)


async def session_audit(request: web.Request) -> web.Response:
    """GET /api/sessions/<id>/audit[?format=csv]: who did what with this session, and when."""
    claims = await _reviewer(request, "audit")
    sid = request.match_info["id"]
    if not session_id_ok(sid):
        raise NotFound(f"{sid!r} is not a session id")
    desk = request.app[REVIEW]
    entries = [public_entry(e) for e in await asyncio.to_thread(desk.audit.entries, sid)]
    await desk.record(claims, "audit", sid, "ok")
    if request.query.get("format") == "csv":
        return web.Response(text=to_csv(entries), content_type="text/csv",
                            headers={"Content-Disposition":
                                     f'attachment; filename="{sid}-audit.csv"'})
    return web.json_response({"entries": entries})


async def all_audit(request: web.Request) -> web.Response:
    """GET /api/audit[?format=csv]: the whole audit trail, denied attempts included (admins)."""
    claims = authenticate(request, "admin")
    desk = request.app[REVIEW]
    entries = [public_entry(e) for e in await asyncio.to_thread(desk.audit.entries)]
    await desk.record(claims, "audit", None, "ok")
    if request.query.get("format") == "csv":
        return web.Response(text=to_csv(entries), content_type="text/csv",
                            headers={"Content-Disposition": 'attachment; filename="audit.csv"'})
    return web.json_response({"entries": entries})


def routes() -> list[web.RouteDef]:
    """The review API's routes."""
    return [web.get("/api/sessions", list_sessions),
            web.get("/api/sessions/{id}", session_detail),
            web.get("/api/sessions/{id}/media", media),
            web.post("/api/sessions/{id}/export", session_export),
            web.post("/api/sessions/{id}/verify", start_verify),
            web.get("/api/sessions/{id}/verify", verify_status),
            web.put("/api/sessions/{id}/hold", put_hold),
            web.get("/api/sessions/{id}/audit", session_audit),
            web.get("/api/audit", all_audit)]
