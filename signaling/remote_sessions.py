"""Sessions recorded on another node, reviewed here: found in the shared catalog, their
evidence fetched from the node that holds it (`signaling.evidence_handover`, with a node
token; the browser never sees that node's address) or, when that node is gone, from the
archive, verified against the recording node's key and checkpoints before anything is served,
then played, exported and verified like local ones. Every access is audited on this node (and
each hand-over on the holding node). Verifying a session fetched from elsewhere checks the
copy here and the copy the holding node has now (or, with that node gone, the archive's), both
against the recording node's checkpoints.

`GET /api/catalog/sessions/<id>/media`, `POST .../export`, `POST .../verify`: a session of
this node is served from its own folder; one of another node from
`<data>/restored/<node>/sessions/<id>/`, fetched once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from fieldrelay.errors import Conflict, FieldRelayError, NotFound
from fieldrelay.locks import KeyedLocks
from fieldrelay.tokens import Claims
from recordings.archive.restore import (
    PUBLIC_KEY,
    RESTORED_DIR,
    check_restored,
    fetch_session,
    restored_folder,
)
from recordings.archive.s3 import StoreUnavailable
from recordings.export import export_session
from recordings.layout import SESSION_ID_RE
from recordings.media import session_media
from recordings.verify.command import check
from signaling.archive import ARCHIVE
from signaling.auth import authenticate
from signaling.catalog import CATALOG, REVIEW_ROLES, guarded
from signaling.evidence_handover import NodeUnavailable, pull
from signaling.keys import CONFIG
from signaling.review_desk import REVIEW

log = logging.getLogger(__name__)

CHUNK = 1 << 20


class ArchiveUnavailable(FieldRelayError):
    """The session is on no disk here and the archive cannot be reached (or is not set)."""

    code = "archive_unavailable"
    status = 503


class ArchivedCopyBroken(Conflict):
    """The archive's copy does not verify: it is never served."""

    code = "archived_copy_broken"


class RemoteCopyBroken(Conflict):
    """The copy the holding node handed over does not verify: it is never served."""

    code = "remote_copy_broken"


@dataclass(frozen=True)
class Located:
    """A session's folder here and the data-dir-like root (keys/, sessions/) it sits in, and
    where it came from: "here" (on disk already), "node" (its node) or "archive"."""

    session: str
    node: str
    root: Path
    fetched: bool
    source: str = "here"

    @property
    def folder(self) -> Path:
        return self.root / "sessions" / self.session


async def locate(request: web.Request, claims: Claims, action: str) -> Located:
    """The session of the path, on this node's disk: fetched if need be from the node that
    holds it or, when that node cannot hand it over, from the archive."""
    sid = request.match_info["id"]
    desk = request.app[REVIEW]
    if not SESSION_ID_RE.fullmatch(sid):
        raise NotFound(f"{sid[:80]!r} is not a session id")
    row = await guarded(request.app[CATALOG].catalog.get(sid))
    if row is None:
        await desk.record_merged(claims, action, None, "refused", detail="unknown session",
                                 merge_session=False)
        raise NotFound(f"the catalog holds no session {sid}")
    node = str(row["node"] or "")
    data_dir = request.app[CONFIG].data_dir
    async with request.app[FETCH_LOCKS].hold(sid):
        found = await asyncio.to_thread(restored_folder, data_dir, node, sid)
        if found is not None:
            root = found.parent.parent
            return Located(sid, node, root, root != data_dir)
        try:
            pulled = await pull(request.app, node, sid, claims.name)
        except NodeUnavailable as exc:
            log.info("session %s: its node %r did not hand it over (%s)", sid, node[:64], exc)
        else:
            if sid in pulled.result.refused:
                why = pulled.result.refused[sid]
                await desk.record(claims, action, sid, "broken",
                                  detail=f"the copy on {node}: {why}")
                raise RemoteCopyBroken(f"the copy of {sid} on node {node} is not intact: {why}")
            placed = pulled.result.restored.get(sid)
            root = placed.parent.parent if placed else data_dir / RESTORED_DIR / node
            return Located(sid, node, root, True, "node")
        archive = request.app.get(ARCHIVE)
        if archive is None:
            raise ArchiveUnavailable(f"session {sid} was recorded on {node}, which cannot hand "
                                     "it over, and this node has no archive to fetch it from "
                                     "(--archive-url)")
        try:
            result = await fetch_session(archive.store, data_dir, node, sid)
        except StoreUnavailable as exc:
            raise ArchiveUnavailable(f"the archive cannot be reached: {exc}") from None
    if sid in result.refused:
        await desk.record(claims, action, sid, "broken", detail=result.refused[sid])
        raise ArchivedCopyBroken(f"the archived copy of {sid} is not intact: "
                                 f"{result.refused[sid]}")
    return Located(sid, node, data_dir / RESTORED_DIR / node, True, "archive")


async def remote_media(request: web.Request) -> web.StreamResponse:
    """GET /api/catalog/sessions/<id>/media: the session as one file (HTTP Range)."""
    claims = authenticate(request, *REVIEW_ROLES, allow_query=True)
    where = await locate(request, claims, "play")
    path, plan = await asyncio.to_thread(session_media, where.root, where.session)
    await request.app[REVIEW].record_merged(claims, "play", where.session, "ok",
                                            detail=f"from {where.node}")
    return web.FileResponse(path, headers={"Content-Type": plan.mime,
                                           "Cache-Control": "private, no-store"})


async def remote_export(request: web.Request) -> web.StreamResponse:
    """POST /api/catalog/sessions/<id>/export: the court bundle (a zip download)."""
    claims = authenticate(request, *REVIEW_ROLES)
    where = await locate(request, claims, "export")
    out_dir = request.app[CONFIG].data_dir / "cache" / "exports"
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".zip", dir=out_dir)
    os.close(fd)
    out = Path(tmp)
    try:
        result = await asyncio.to_thread(export_session, where.root, where.session, out)
        size = (await asyncio.to_thread(out.stat)).st_size
        await request.app[REVIEW].record(claims, "export", where.session, "ok", detail={
            "segments": result.segments, "bytes": size, "from": where.node})
        response = web.StreamResponse(headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{where.session}.zip"',
            "Cache-Control": "private, no-store"})
        response.content_length = size
        await response.prepare(request)
        f = await asyncio.to_thread(out.open, "rb")
        try:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                await response.write(chunk)
        finally:
            f.close()
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(out.unlink, True)


async def remote_verify(request: web.Request) -> web.Response:
    """POST /api/catalog/sessions/<id>/verify: check the session here against its node's key
    (`state` verified or broken, `broken`: the first break as a sentence)."""
    claims = authenticate(request, *REVIEW_ROLES)
    where = await locate(request, claims, "verify")
    if where.root == request.app[CONFIG].data_dir:
        report = await asyncio.to_thread(check, where.folder,
                                         public_key=where.root / PUBLIC_KEY)
        broken = report.first_break
    else:
        broken = await _recheck(request, where, claims)
    state = "broken" if broken else "verified"
    await request.app[REVIEW].record(claims, "verify", where.session, state,
                                     detail={"from": where.node, "broken": broken})
    return web.json_response({"session": where.session, "node": where.node, "state": state,
                              "broken": broken, "fetched": where.fetched,
                              "source": where.source})


async def _recheck(request: web.Request, where: Located, claims: Claims) -> str | None:
    """The first break of a session fetched from elsewhere: of the copy here (against the
    checkpoints fetched with it), then of the copy its node holds now or, with that node gone,
    of the archive's copy as it is now (which may have been cut back since)."""
    report = await asyncio.to_thread(check_restored, where.root, where.session)
    if not report.ok:
        return report.first_break
    try:
        pulled = await pull(request.app, where.node, where.session, claims.name, recheck=True)
    except NodeUnavailable:
        pass
    else:
        if where.session in pulled.result.refused:
            return f"the copy on {where.node}: {pulled.result.refused[where.session]}"
        return None
    archive = request.app.get(ARCHIVE)
    if archive is None:
        return None
    try:
        result = await fetch_session(archive.store, request.app[CONFIG].data_dir, where.node,
                                     where.session, recheck=True)
    except StoreUnavailable as exc:
        raise ArchiveUnavailable(f"the archive cannot be reached: {exc}") from None
    if where.session in result.refused:
        return f"the archived copy: {result.refused[where.session]}"
    return None


# One fetch of a session at a time; later requests wait and find it on disk.
FETCH_LOCKS = web.AppKey("catalog_fetch_locks", KeyedLocks)


def routes() -> list[web.RouteDef]:
    """The routes for sessions of any node."""
    return [web.get("/api/catalog/sessions/{id}/media", remote_media),
            web.post("/api/catalog/sessions/{id}/export", remote_export),
            web.post("/api/catalog/sessions/{id}/verify", remote_verify)]
