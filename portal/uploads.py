"""tus 1.0.0 uploads on the portal: a party's clue photos, a grid worker's reply photos.

The portal keeps the bytes only until the inside has them: written and fsynced as they arrive
(`<portal data>/uploads/<id>.part`, its record beside it), so a client resumes at the portal's
offset after any cut, and a restart (even a `kill -9`) keeps what was promised. With the last
byte the declared SHA-256 is checked (460 on a mismatch, nothing kept) and an `upload`
message goes to the case's node; the node PULLS the bytes (`GET /ferry/uploads/<id>`, signed
as an exchange is: the court network starts every connection), seals them into the case and
answers with `upload.sealed` carrying the SHA-256 it hashed. Only when that matches does the
portal delete its copy: the portal holds no evidence, only bytes in transit.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from fieldrelay import ferry, tus
from fieldrelay.errors import BadRequest, Conflict, FieldRelayError, NotFound, PayloadTooLarge
from fieldrelay.files import private_dir, replace_private
from portal.desk import PortalDesk
from portal.web_common import CONFIG, DESK, authenticate

log = logging.getLogger(__name__)

UPLOADS_DIR = "uploads"
KINDS = {"photo": "image/", "file": ""}
ID_RE = re.compile(r"[0-9a-f]{32}")
MIME_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,99}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
CHECKSUM_MISMATCH = 460
# Unfinished uploads one portal user may hold at once.
MAX_UNFINISHED = 20
PIECE = 1 << 20


class Locked(FieldRelayError):
    code = "locked"
    status = 423


class TooManyUploads(FieldRelayError):
    code = "too_many_uploads"
    status = 429


class UploadShelf:
    """The portal's uploads in transit: a record (`<id>.json`) and bytes (`<id>.part`) each."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / UPLOADS_DIR
        self.busy: set[str] = set()

    def record(self, upload_id: str) -> dict[str, Any] | None:
        if not ID_RE.fullmatch(upload_id):
            return None
        try:
            raw = json.loads((self.root / f"{upload_id}.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return raw if isinstance(raw, dict) else None

    def part(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def save(self, record: dict[str, Any]) -> None:
        private_dir(self.root)
        replace_private(self.root / f"{record['id']}.json", json.dumps(record).encode())

    def create(self, record: dict[str, Any]) -> None:
        self.save(record)
        fd = os.open(self.part(record["id"]), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)

    def offset(self, upload_id: str) -> int:
        try:
            return self.part(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def append(self, upload_id: str, pieces: list[bytes]) -> None:
        with open(self.part(upload_id), "ab") as f:
            for piece in pieces:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())

    def sha256(self, upload_id: str) -> str:
        digest = hashlib.sha256()
        with open(self.part(upload_id), "rb") as f:
            while chunk := f.read(PIECE):
                digest.update(chunk)
        return digest.hexdigest()

    def remove(self, upload_id: str) -> None:
        for path in (self.part(upload_id), self.root / f"{upload_id}.json"):
            path.unlink(missing_ok=True)

    def expire(self, idle_s: float) -> list[dict[str, Any]]:
        """Delete unfinished uploads that got no byte for `idle_s`; the records left."""
        left = []
        for record in self.all():
            try:
                idle = time.time() - self.part(record["id"]).stat().st_mtime
            except FileNotFoundError:
                idle = float("inf")
            if record["state"] == "receiving" and idle > idle_s:
                self.remove(record["id"])
            else:
                left.append(record)
        return left

    def all(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        found = [self.record(p.stem) for p in sorted(self.root.glob("*.json"))]
        return [r for r in found if r is not None]


SHELF = web.AppKey("portal_uploads", UploadShelf)


def _check_meta(request: web.Request, meta: dict[str, str], name: str,
                role: str) -> dict[str, Any]:
    """The metadata a portal upload needs: kind, mime, sha256, filename, and the clue (party)
    or task (grid worker) of the caller's that the file belongs to."""
    kind, mime = meta.get("kind"), (meta.get("mime") or "").strip().lower()
    if kind not in KINDS:
        raise BadRequest("kind must be photo or file")
    if not MIME_RE.fullmatch(mime) or not mime.startswith(KINDS[kind]):
        raise BadRequest(f"mime must be a MIME type{' image/*' if kind == 'photo' else ''}")
    sha = (meta.get("sha256") or "").strip().lower()
    if not SHA256_RE.fullmatch(sha):
        raise BadRequest("sha256 must be the 64 hex digits of the whole file's SHA-256")
    filename = meta.get("filename") or kind
    if "/" in filename or "\\" in filename or filename in (".", "..") or \
            len(filename.encode()) > 255 or not filename.isprintable():
        raise BadRequest("filename must be a plain file name")
    state = request.app[DESK].state
    about: dict[str, str] = {}
    if role == "party":
        clue = state.clues.get(meta.get("clue") or "")
        if clue is None or clue["party"] != name:
            raise NotFound("no such clue of yours")
        about, case = {"clue": str(clue["id"])}, str(clue["case"])
    else:
        task = state.tasks.get(meta.get("task") or "")
        if task is None or name not in task.to:
            raise NotFound("no such task of yours")
        about, case = {"task": task.id}, task.case
        reply = meta.get("reply")
        if reply:
            if not any(r["id"] == reply and r["by"] == name for r in task.replies):
                raise NotFound("no such reply of yours")
            about["reply"] = reply
    return {"kind": kind, "mime": mime, "sha256": sha, "filename": filename, "case": case,
            "about": about}


def _caller(request: web.Request) -> tuple[str, str]:
    claims = authenticate(request, "party", "grid")
    tus.check_version(request.headers.get("Tus-Resumable"))
    return claims.name, claims.role


def _own(request: web.Request, name: str) -> dict[str, Any]:
    record = request.app[SHELF].record(request.match_info["id"])
    if record is None or record["user"] != name:
        raise NotFound("there is no such upload of yours")
    return record


async def discover(request: web.Request) -> web.Response:
    """OPTIONS /api/uploads."""
    config = request.app[CONFIG]
    return web.Response(status=204, headers=tus.discovery_headers(
        max(config.upload_limit(k) for k in KINDS)))


async def create(request: web.Request) -> web.Response:
    """POST /api/uploads: tus creation, for a clue of the party's or a task of the grid
    worker's."""
    name, role = _caller(request)
    shelf, config = request.app[SHELF], request.app[CONFIG]
    if request.content_length or request.headers.get("Transfer-Encoding"):
        raise BadRequest("send the bytes with PATCH (creation-with-upload is not offered)")
    length = tus.parse_count("Upload-Length", request.headers.get("Upload-Length"))
    meta = _check_meta(request, tus.parse_metadata(request.headers.get("Upload-Metadata")),
                       name, role)
    if length == 0:
        raise BadRequest("an empty file is no photo")
    if length > config.upload_limit(meta["kind"]):
        raise PayloadTooLarge(f"a {meta['kind']} may have at most "
                              f"{config.upload_limit(meta['kind'])} bytes")
    records = await asyncio.to_thread(shelf.expire, config.upload_expire_s)
    if sum(1 for r in records if r["user"] == name and r["state"] == "receiving") \
            >= MAX_UNFINISHED:
        raise TooManyUploads("too many unfinished uploads; finish or delete some first")
    record = {"id": secrets.token_hex(16), "user": name, "role": role, "length": length,
              "state": "receiving", "created_at": time.time(), **meta}
    await asyncio.to_thread(shelf.create, record)
    return web.Response(status=201, headers={
        "Location": f"/api/uploads/{record['id']}", "Tus-Resumable": tus.VERSION})


async def head(request: web.Request) -> web.Response:
    """HEAD /api/uploads/<id>: the portal's offset, where the client resumes."""
    name, _ = _caller(request)
    record = _own(request, name)
    offset = await asyncio.to_thread(request.app[SHELF].offset, record["id"])
    return web.Response(status=200, headers=tus.offset_headers(offset, record["length"]))


async def patch(request: web.Request) -> web.Response:
    """PATCH /api/uploads/<id>: bytes from the portal's offset on; the last byte hands the
    upload to the case's node."""
    name, _ = _caller(request)
    shelf = request.app[SHELF]
    record = _own(request, name)
    if request.content_type != tus.OFFSET_TYPE:
        raise tus.WrongContentType(f"send the bytes as Content-Type: {tus.OFFSET_TYPE}")
    claimed = tus.parse_count("Upload-Offset", request.headers.get("Upload-Offset"))
    if record["state"] != "receiving":
        if claimed == record["length"] and not request.content_length:
            return web.Response(status=204, headers=tus.offset_headers(record["length"]))
        raise Conflict("this upload is complete already")
    if record["id"] in shelf.busy:
        raise Locked("another request is writing this upload; try again shortly")
    shelf.busy.add(record["id"])
    try:
        offset = await asyncio.to_thread(shelf.offset, record["id"])
        if claimed != offset:
            raise tus.OffsetMismatch(f"the upload is at offset {offset}, not {claimed}")
        room = record["length"] - offset
        if request.content_length is not None and request.content_length > room:
            raise BadRequest(f"the body runs past Upload-Length {record['length']}")
        offset += await _receive(request, shelf, record["id"], room)
        if offset < record["length"]:
            return web.Response(status=204, headers=tus.offset_headers(offset))
        actual = await asyncio.to_thread(shelf.sha256, record["id"])
        if actual != record["sha256"]:
            await asyncio.to_thread(shelf.remove, record["id"])
            return web.json_response(
                {"error": "checksum_mismatch", "detail": f"the file's SHA-256 is {actual}, "
                 f"not the {record['sha256']} declared; nothing was kept"},
                status=CHECKSUM_MISMATCH, headers={"Tus-Resumable": tus.VERSION})
        await hand_over(request.app[DESK], shelf, record)
        return web.Response(status=204, headers=tus.offset_headers(offset))
    finally:
        shelf.busy.discard(record["id"])


async def _receive(request: web.Request, shelf: UploadShelf, upload_id: str,
                   room: int) -> int:
    """Write the body (fsynced piece by piece); the bytes written. A body that would run
    past the length keeps nothing of its excess: it is refused before it is written."""
    written, gathered, size = 0, [], 0
    try:
        async with asyncio.timeout(request.app[CONFIG].body_timeout_s):
            async for chunk in request.content.iter_any():
                if written + size + len(chunk) > room:
                    raise BadRequest("the body runs past Upload-Length; the rest was refused")
                gathered.append(chunk)
                size += len(chunk)
                if size >= PIECE:
                    await asyncio.to_thread(shelf.append, upload_id, gathered)
                    written, gathered, size = written + size, [], 0
    except (TimeoutError, OSError, HttpProcessingError) as exc:
        log.info("portal upload %s: the body stopped (%s)", upload_id, type(exc).__name__)
    finally:
        if gathered:
            # What arrived is kept, however the body ended; shielded from a cancellation.
            await asyncio.shield(asyncio.to_thread(shelf.append, upload_id, gathered))
            written += size
    return written


async def hand_over(desk: PortalDesk, shelf: UploadShelf, record: dict[str, Any]) -> None:
    """The upload is whole: tell the case's node (it pulls the bytes)."""
    record["state"] = "complete"
    # The node it is handed to: the only one that may take it and confirm its seal.
    record["node"] = desk.state.case_node.get(record["case"])
    await asyncio.to_thread(shelf.save, record)
    await desk.post("upload", record["case"], {
        "upload": record["id"], "by": record["user"], "role": record["role"],
        "kind": record["kind"], "mime": record["mime"], "filename": record["filename"],
        "sha256": record["sha256"], "size": record["length"], **record["about"]})


async def terminate(request: web.Request) -> web.Response:
    """DELETE /api/uploads/<id>: an unfinished upload goes; a handed-over one stays."""
    name, _ = _caller(request)
    record = _own(request, name)
    if record["state"] != "receiving":
        raise Conflict("this upload is on its way into the case and cannot be deleted")
    await asyncio.to_thread(request.app[SHELF].remove, record["id"])
    return web.Response(status=204, headers={"Tus-Resumable": tus.VERSION})


async def pull(request: web.Request) -> web.StreamResponse:
    """GET /ferry/uploads/<id>: a node takes a complete upload's bytes (signed as an exchange,
    over the path). Only the node the upload's case lives on may take it."""
    desk, shelf = request.app[DESK], request.app[SHELF]
    node = ferry.check_exchange(desk.secret, request.headers.get(ferry.EXCHANGE_HEADER),
                                request.path.encode())
    record = shelf.record(request.match_info["id"])
    if record is None or record["state"] != "complete" or \
            record.get("node") != ferry.NODE_PREFIX + node:
        raise NotFound("no such upload to take")
    return web.FileResponse(shelf.part(record["id"]), headers={
        "Content-Type": "application/octet-stream", "Cache-Control": "no-store"})


def sealed_listener(shelf: UploadShelf) -> Any:
    """Deletes the portal's copy once its node confirms the seal with the same SHA-256."""
    def heard(message: dict[str, Any]) -> None:
        if message.get("kind") != "upload.sealed" or message.get("from") == ferry.PORTAL:
            return
        body = message["body"]
        record = shelf.record(str(body.get("upload", "")))
        if record is None:
            return
        if record.get("node") != message["from"]:
            log.warning("upload %s: a seal from %s, not its case's node; kept", record["id"],
                        message["from"])
        elif body.get("sha256") == record["sha256"]:
            shelf.remove(record["id"])
        else:
            log.warning("upload %s: the node sealed SHA-256 %s, not %s; kept", record["id"],
                        body.get("sha256"), record["sha256"])
    return heard


async def resume(desk: PortalDesk, shelf: UploadShelf, expire_s: float) -> None:
    """At start: delete copies whose seal was confirmed and unfinished uploads idle past
    `expire_s`, hand over complete ones whose `upload` message a crash kept from the
    mailbox."""
    history = desk.mailbox.history()
    confirmed = {str(m["body"].get("upload")): m["body"].get("sha256") for m in history
                 if m["kind"] == "upload.sealed"}
    announced = {str(m["body"].get("upload")) for m in history if m["kind"] == "upload"}
    for record in await asyncio.to_thread(shelf.expire, expire_s):
        if confirmed.get(record["id"]) == record["sha256"]:
            await asyncio.to_thread(shelf.remove, record["id"])
        elif record["state"] == "complete" and record["id"] not in announced:
            await hand_over(desk, shelf, record)
        elif record["state"] == "receiving" and \
                await asyncio.to_thread(shelf.offset, record["id"]) == record["length"]:
            # Every byte was in when the portal stopped, before the check: check it now.
            if await asyncio.to_thread(shelf.sha256, record["id"]) == record["sha256"]:
                await hand_over(desk, shelf, record)
            else:
                await asyncio.to_thread(shelf.remove, record["id"])


def attach(app: web.Application) -> None:
    """The shelf, its listener and its start-up pass."""
    shelf = UploadShelf(app[CONFIG].portal_data_dir)
    app[SHELF] = shelf
    app[DESK].listeners.append(sealed_listener(shelf))

    async def on_start(app: web.Application) -> None:
        await resume(app[DESK], shelf, app[CONFIG].upload_expire_s)

    app.on_startup.append(on_start)


def routes() -> list[web.RouteDef]:
    """The portal's tus endpoint and the node's pull."""
    return [web.options("/api/uploads", discover), web.post("/api/uploads", create),
            web.head("/api/uploads/{id}", head), web.patch("/api/uploads/{id}", patch),
            web.delete("/api/uploads/{id}", terminate),
            web.get("/ferry/uploads/{id}", pull, allow_head=False)]
