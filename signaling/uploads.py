"""tus 1.0.0 uploads at /api/uploads: an officer's phone hands in its materials, resumably.

Bytes are written and fsynced as they arrive (`recordings.uploads`), so the phone resumes at
the node's offset after any cut. With the last byte the SHA-256 the phone declared is
checked: a mismatch answers 460 and seals nothing; a match seals the material through
LiveEvidence (its session's chain, or its case's materials chain) before the node answers.
The protocol's headers are parsed in `fieldrelay.tus`; the uploads' state is the desk's
(`signaling.upload_desk`); the material rules are in `recordings.material_rules`.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from fieldrelay import tus
from fieldrelay.errors import BadRequest, Conflict, PayloadTooLarge
from fieldrelay.tokens import Claims
from recordings.material_rules import check_metadata
from recordings.uploads import (
    EXPIRED,
    RECEIVING,
    REJECTED,
    SEALED,
    SYNC_EVERY,
    PartWriter,
    Upload,
    UploadStore,
    item_fingerprint,
    new_upload,
)
from signaling import socket_body
from signaling.auth import authenticate
from signaling.keys import CONFIG, LIVE_EVIDENCE
from signaling.upload_desk import CHECKSUM_MISMATCH, Gone, TooManyUploads, UploadDesk

log = logging.getLogger(__name__)

# Body bytes gathered before they go to the disk thread (one hop per piece, not per packet).
PIECE = 4 << 20


UPLOADS = web.AppKey("uploads", UploadDesk)
# Threads that take upload bodies off the socket (Config.upload_receive_threads at most).
RECEIVERS = web.AppKey("upload_receivers", socket_body.Receivers)


def new_desk(app: web.Application) -> UploadDesk:
    """The upload desk of a node, from its config."""
    config = app[CONFIG]
    return UploadDesk(UploadStore(config.data_dir), app[LIVE_EVIDENCE],
                      config.uploads_per_officer, config.upload_expire_s)


async def uploads_ctx(app: web.Application) -> AsyncIterator[None]:
    """The upload desk runs while the node does (after the relay: sealing needs it)."""
    desk = app[UPLOADS]
    await desk.start()
    try:
        yield
    finally:
        await desk.aclose()


def _officer(request: web.Request) -> Claims:
    claims = authenticate(request, "officer")
    tus.check_version(request.headers.get("Tus-Resumable"))
    return claims


def _max_size(request: web.Request) -> int:
    config = request.app[CONFIG]
    return max(config.upload_limit(k) for k in
               ("photo", "audio", "video", "file", "preevent", "gapfill"))


async def discover(request: web.Request) -> web.Response:
    """OPTIONS /api/uploads: the tus versions, extensions and largest size served."""
    return web.Response(status=204, headers=tus.discovery_headers(_max_size(request)))


async def create(request: web.Request) -> web.Response:
    """POST /api/uploads: tus creation, with the item's first bytes or all of them in the body
    when the phone sends them (creation-with-upload: one request, not two, for a photo). The
    metadata is checked whole before anything is written; a session it names must be the
    officer's own."""
    claims = _officer(request)
    config, desk = request.app[CONFIG], request.app[UPLOADS]
    with_body = bool(request.content_length) or "Transfer-Encoding" in request.headers
    if with_body and request.content_type != tus.OFFSET_TYPE:
        raise tus.WrongContentType(f"send the bytes as Content-Type: {tus.OFFSET_TYPE}")
    if request.headers.get("Upload-Defer-Length"):
        raise BadRequest("Upload-Length must be given (creation-defer-length is not offered)")
    length = tus.parse_count("Upload-Length", request.headers.get("Upload-Length"))
    meta = check_metadata(tus.parse_metadata(request.headers.get("Upload-Metadata")))
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    limit = config.upload_limit(meta["kind"])
    if length > limit:
        raise PayloadTooLarge(f"a {meta['kind']} may have at most {limit} bytes")
    if length == 0:
        raise BadRequest("an empty file is no material")
    if with_body and request.content_length is not None and request.content_length > length:
        raise BadRequest(f"the body is {request.content_length} bytes, past Upload-Length "
                         f"{length}; nothing was written")
    if meta["session"] is not None:
        await desk.evidence.check_session(claims.name, meta["session"])
    if with_body:
        twin = desk.sealed_twin(claims.name, item_fingerprint(length, meta))
        if twin is not None:
            # This item was sealed already and the answer never reached the phone (it has no
            # URL to ask): the same upload again, complete, and nothing sealed twice.
            return web.Response(status=201, headers={
                "Location": f"/api/uploads/{twin}", **tus.offset_headers(length)})
    unfinished = desk.unfinished(claims.name)
    if unfinished >= desk.max_unfinished:
        raise TooManyUploads(f"you have {unfinished} unfinished uploads; finish or delete "
                             "some first")
    if with_body:
        # Its bytes create the `.part` file, and its record is written beside their fsync:
        # no phone knows the upload before the answer (recordings.uploads.new_upload).
        upload = new_upload(claims.name, length, meta)
    else:
        upload = await asyncio.to_thread(desk.store.create, claims.name, length, meta)
    desk.note(upload)
    headers = {"Location": f"/api/uploads/{upload.id}", "Tus-Resumable": tus.VERSION,
               "Upload-Expires": tus.expires_header(upload.updated_at + desk.expire_s)}
    if not with_body:
        return web.Response(status=201, headers=headers)
    with desk.writing(upload.id):
        return await _create_with_body(request, desk, upload, checksum, headers)


async def _create_with_body(request: web.Request, desk: UploadDesk, upload: Upload,
                            checksum: tuple[str, bytes] | None,
                            headers: dict[str, str]) -> web.Response:
    """The bytes a creation carries, as a PATCH at offset 0 takes them. No phone knows this
    upload's URL before the answer: a body cut short or refused takes the upload with it
    (the phone creates a new one), where a PATCH's would leave it to resume."""
    body_digest = hashlib.new(checksum[0]) if checksum is not None else None
    try:
        offset = await _receive(request, desk, upload, 0, body_digest, new=True)
    except BaseException:
        await asyncio.shield(_drop_unanswered(desk, upload))
        raise
    if request.content_length is not None and offset < request.content_length:
        await _drop_unanswered(desk, upload)
        raise BadRequest(f"the body ended after {offset} of its {request.content_length} "
                         "bytes; nothing was kept (create the upload again)")
    if checksum is not None and body_digest is not None and body_digest.digest() != checksum[1]:
        await _drop_unanswered(desk, upload)
        return web.json_response(
            {"error": "body_checksum_mismatch",
             "detail": "the body does not match its Upload-Checksum; nothing was kept "
                       "(create the upload again)"},
            status=CHECKSUM_MISMATCH, headers={"Tus-Resumable": tus.VERSION})
    if offset < upload.length:
        desk.note(upload)  # the phone goes on with PATCH from here (its record is on disk)
    else:
        mismatch = await desk.finish(upload, offset)
        if mismatch is not None:
            return mismatch
    return web.Response(status=201, headers={**headers, **tus.offset_headers(offset)})


async def _drop_unanswered(desk: UploadDesk, upload: Upload) -> None:
    await asyncio.to_thread(desk.store.remove, upload.id)
    desk.forget(upload.id)


async def head(request: web.Request) -> web.Response:
    """HEAD /api/uploads/<id>: the node's offset, where the phone resumes."""
    claims = _officer(request)
    desk = request.app[UPLOADS]
    upload = desk.own(claims, request.match_info["id"])
    if upload.state in (REJECTED, EXPIRED):
        # A HEAD answer has no body, so the reason is in GET /api/uploads/<id>.
        return web.Response(status=410, headers={"Tus-Resumable": tus.VERSION,
                                                 "Cache-Control": "no-store"})
    offset = (upload.length if upload.state == SEALED
              else await asyncio.to_thread(desk.store.offset, upload.id))
    return web.Response(status=200, headers=tus.offset_headers(offset, upload.length))


async def patch(request: web.Request) -> web.Response:
    """PATCH /api/uploads/<id>: bytes from the node's offset on; the last byte seals."""
    claims = _officer(request)
    desk = request.app[UPLOADS]
    upload = desk.own(claims, request.match_info["id"])
    if request.content_type != tus.OFFSET_TYPE:
        raise tus.WrongContentType(f"send the bytes as Content-Type: {tus.OFFSET_TYPE}")
    claimed = tus.parse_count("Upload-Offset", request.headers.get("Upload-Offset"))
    checksum = tus.parse_checksum(request.headers.get("Upload-Checksum"))
    if upload.state == SEALED:
        if claimed == upload.length and not request.content_length:
            return web.Response(status=204, headers=tus.offset_headers(upload.length))
        raise Conflict("this upload is sealed already")
    if upload.state != RECEIVING:
        raise Gone(f"this upload was {upload.state}: "
                   f"{(upload.error or {}).get('detail', 'start a new one')}")
    with desk.writing(upload.id):
        offset = await asyncio.to_thread(desk.store.offset, upload.id)
        if claimed != offset:
            raise tus.OffsetMismatch(f"the upload is at offset {offset}, not {claimed}")
        body_length = request.content_length
        if body_length is not None and offset + body_length > upload.length:
            raise BadRequest(f"the body would end at byte {offset + body_length}, past "
                             f"Upload-Length {upload.length}; nothing was written")
        if offset < upload.length:
            before = offset
            body_digest = hashlib.new(checksum[0]) if checksum is not None else None
            offset = await _receive(request, desk, upload, offset, body_digest)
            if checksum is not None and body_digest is not None and \
                    body_digest.digest() != checksum[1]:
                await asyncio.to_thread(desk.store.truncate, upload.id, before)
                desk.digests.pop(upload.id, None)
                return web.json_response(
                    {"error": "body_checksum_mismatch",
                     "detail": "this PATCH's body does not match its Upload-Checksum; "
                               f"nothing of it was kept (the upload stays at {before})"},
                    status=CHECKSUM_MISMATCH, headers=tus.offset_headers(before))
        if offset < upload.length:
            await asyncio.to_thread(desk.store.save, upload)  # keeps it from expiring
            desk.note(upload)
            return web.Response(status=204, headers=tus.offset_headers(offset))
        mismatch = await desk.finish(upload, offset)
        if mismatch is not None:
            return mismatch
        return web.Response(status=204, headers=tus.offset_headers(offset))


async def _receive(request: web.Request, desk: UploadDesk, upload: Upload, offset: int,
                   body_digest: Any = None, new: bool = False) -> int:
    """Write the body from `offset` on; the new offset. A body that runs past Upload-Length
    is undone (400). A client that stalls or goes keeps what arrived. `body_digest` also
    hashes this body alone (for its Upload-Checksum). `new`: the body creates the file, and
    the upload's record is written (durably) beside its last bytes' fsync."""
    digest = hashlib.sha256() if new else await desk.digest(upload.id, offset)
    writer = PartWriter(desk.store.part(upload.id), digest, body_digest, new)
    beside = functools.partial(desk.store.save, upload) if new else None
    receivers = request.app[RECEIVERS]
    if socket_body.eligible(request) and receivers.take():
        try:
            await _receive_off_loop(request, writer, beside)
        finally:
            receivers.release()
    else:
        await _receive_on_loop(request, desk, upload, writer, beside)
    new_offset = offset + writer.written
    desk.digests[upload.id] = (writer.digest, new_offset)
    if new_offset == upload.length:
        upload.received_at = time.time()
    return new_offset


async def _receive_off_loop(request: web.Request, writer: PartWriter,
                            beside: Callable[[], None] | None) -> None:
    """The body of known length, moved from the socket into the file by the kernel and hashed
    behind it, in threads (`signaling.socket_body`): its length was checked against
    Upload-Length before, so it cannot run past it. Whatever arrived is kept, however the body
    ended."""
    try:
        end = await socket_body.receive(request, writer, request.app[CONFIG].body_timeout_s)
    finally:
        # Shielded, so a cancellation cannot leave the file open and unsynced.
        await asyncio.shield(asyncio.to_thread(writer.finish, [], beside))
    if end.error is not None:
        raise end.error


async def _receive_on_loop(request: web.Request, desk: UploadDesk, upload: Upload,
                           writer: PartWriter, beside: Callable[[], None] | None) -> None:
    """The body as aiohttp's loop reads it (TLS, chunked, small or when every receiving
    thread is busy); gathered pieces go to the disk thread."""
    room = upload.length - writer.start
    pending: asyncio.Future[None] | None = None
    syncing: asyncio.Future[None] | None = None
    gathered: list[bytes] = []
    size = received = unsynced = written_size = 0
    refused = False
    try:
        while True:
            chunk = await _next_chunk(request, upload.id)
            if chunk:
                received += len(chunk)
                if received > room:
                    refused, gathered = True, []
                    for running in (pending, syncing):
                        if running is not None:
                            await running
                    pending = syncing = None
                    await asyncio.to_thread(writer.undo)
                    desk.digests.pop(upload.id, None)
                    raise BadRequest(f"the body runs past Upload-Length {upload.length}; "
                                     "nothing of it was kept")
                gathered.append(chunk)
                size += len(chunk)
            # The body's last pieces stay for _finish, which writes them with their fsync
            # beside the hashing.
            if gathered and size >= PIECE and chunk:
                if pending is not None:
                    await pending
                    unsynced += written_size
                    if unsynced >= SYNC_EVERY and (syncing is None or syncing.done()):
                        # The disk catches up beside the writes; one fsync at a time.
                        if syncing is not None:
                            await syncing
                        syncing = asyncio.ensure_future(asyncio.to_thread(writer.sync))
                        unsynced = 0
                pieces, gathered, written_size, size = gathered, [], size, 0
                pending = asyncio.ensure_future(asyncio.to_thread(writer.write, pieces))
            if not chunk:
                break
    finally:
        # Whatever arrived is kept, however the body ended (a client gone mid-body included),
        # and the file is closed; shielded, so a cancellation cannot leave it half done.
        await asyncio.shield(_finish(writer, [pending, syncing], [] if refused else gathered,
                                     beside))


async def _next_chunk(request: web.Request, upload_id: str) -> bytes:
    """The next piece of the body; b"" at its end, when it stalls or when the client went."""
    try:
        async with asyncio.timeout(request.app[CONFIG].body_timeout_s):
            return await request.content.readany()
    except (TimeoutError, OSError, HttpProcessingError) as exc:
        log.info("upload %s: the body stopped (%s)", upload_id, type(exc).__name__)
        return b""


async def _finish(writer: PartWriter, running: list[asyncio.Future[None] | None],
                  leftover: list[bytes], beside: Callable[[], None] | None) -> None:
    """Let the write and fsync under way end, write what is left, fsync and close (with
    `beside` in the same thread while the kernel writes the body out: PartWriter.finish)."""
    try:
        await asyncio.gather(*(r for r in running if r is not None), return_exceptions=True)
    finally:
        await asyncio.to_thread(writer.finish, leftover, beside)


async def terminate(request: web.Request) -> web.Response:
    """DELETE /api/uploads/<id>: an unfinished upload and its bytes go; a sealed one stays."""
    claims = _officer(request)
    desk = request.app[UPLOADS]
    upload = desk.own(claims, request.match_info["id"])
    if upload.state == SEALED:
        raise Conflict("a sealed material is never deleted (only retention removes evidence)")
    with desk.writing(upload.id):
        await asyncio.to_thread(desk.store.remove, upload.id)
        desk.forget(upload.id)
    return web.Response(status=204, headers={"Tus-Resumable": tus.VERSION})


async def status(request: web.Request) -> web.Response:
    """GET /api/uploads/<id>: what became of the upload (receiving, sealed, rejected...)."""
    claims = authenticate(request, "officer")
    desk = request.app[UPLOADS]
    upload = desk.own(claims, request.match_info["id"])
    offset = await _offset_of(desk, upload)
    return web.json_response(upload.public(offset), headers={"Cache-Control": "no-store"})


async def list_own(request: web.Request) -> web.Response:
    """GET /api/uploads: the officer's own uploads, newest first."""
    claims = authenticate(request, "officer")
    desk = request.app[UPLOADS]
    ids = desk.ids_of(claims.name)
    mine = [u for u in await asyncio.to_thread(lambda: [desk.store.get(i) for i in ids])
            if u is not None]
    mine.sort(key=lambda u: u.created_at, reverse=True)
    out = [u.public(await _offset_of(desk, u)) for u in mine]
    return web.json_response({"uploads": out}, headers={"Cache-Control": "no-store"})


async def _offset_of(desk: UploadDesk, upload: Upload) -> int:
    if upload.state == SEALED:
        return upload.length
    if upload.state != RECEIVING:
        return 0
    return await asyncio.to_thread(desk.store.offset, upload.id)


def routes() -> list[web.RouteDef]:
    """The tus endpoint and the officer's view of its uploads."""
    return [
        web.options("/api/uploads", discover),
        web.post("/api/uploads", create),
        web.get("/api/uploads", list_own),
        web.head("/api/uploads/{id}", head),
        web.patch("/api/uploads/{id}", patch),
        web.delete("/api/uploads/{id}", terminate),
        web.get("/api/uploads/{id}", status, allow_head=False),
    ]


