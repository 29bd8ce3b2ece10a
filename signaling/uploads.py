"""tus 1.0.0 uploads at /api/uploads: an officer's phone hands in its materials, resumably.

Bytes are written and fsynced as they arrive (`recordings.uploads`), so the phone resumes at
the node's offset after any cut. With the last byte the SHA-256 the phone declared is
checked: a mismatch answers 460 and seals nothing; a match seals the material through
LiveEvidence (its session's chain, or its case's materials chain) before the node answers.
The protocol's headers are parsed in `fieldrelay.tus`; the material rules are in
`recordings.materials`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from fieldrelay import tus
from fieldrelay.errors import BadRequest, Conflict, FieldRelayError, NotFound, PayloadTooLarge
from fieldrelay.tokens import Claims
from recordings.material_rules import Sealing, check_metadata, public_material
from recordings.uploads import (
    EXPIRED,
    RECEIVING,
    REJECTED,
    SEALED,
    SYNC_EVERY,
    PartWriter,
    Upload,
    UploadStore,
)
from relay.evidence import LiveEvidence
from signaling.auth import authenticate
from signaling.keys import CONFIG, LIVE_EVIDENCE

log = logging.getLogger(__name__)

# Body bytes gathered before they go to the disk thread (one hop per piece, not per packet).
PIECE = 4 << 20
CHECKSUM_MISMATCH = 460
EXPIRY_SCAN_S = 60.0
# How long the record of a finished upload is kept for its phone to read (at least).
RECORDS_KEPT_S = 30 * 24 * 3600.0


class Locked(FieldRelayError):
    """Another request is writing this upload (tus clients retry a 423)."""

    code = "locked"
    status = 423


class TooManyUploads(FieldRelayError):
    code = "too_many_uploads"
    status = 429


class Gone(FieldRelayError):
    code = "gone"
    status = 410


@dataclass
class _Known:
    """What the desk keeps in memory of each upload record, to count and find without reading
    every record on disk."""

    officer: str
    state: str
    updated_at: float


class UploadDesk:
    """The node's uploads: their records and bytes, who is writing which, and expiry."""

    def __init__(self, store: UploadStore, evidence: LiveEvidence, max_unfinished: int,
                 expire_s: float) -> None:
        self.store = store
        self.evidence = evidence
        self.max_unfinished = max_unfinished
        self.expire_s = expire_s
        # Uploads a request is writing or sealing now: one at a time each.
        self.busy: set[str] = set()
        # The SHA-256 so far of each upload, and the offset it covers (rebuilt after a restart).
        self.digests: dict[str, tuple[Any, int]] = {}
        self._task: asyncio.Task[None] | None = None
        # Every upload record on disk, by id (loaded at start, kept current by this desk).
        self.known: dict[str, _Known] = {}
        # Told about each sealed material (the review catalog).
        self.on_sealed: list[Callable[[dict[str, Any], str, list[dict[str, Any]]], None]] = []

    def note(self, upload: Upload) -> None:
        """The record as it is now on disk."""
        self.known[upload.id] = _Known(upload.officer, upload.state, upload.updated_at)

    def unfinished(self, officer: str) -> int:
        """How many uploads the officer has still receiving."""
        return sum(1 for k in self.known.values()
                   if k.officer == officer and k.state == RECEIVING)

    def ids_of(self, officer: str) -> list[str]:
        """The ids of the officer's upload records."""
        return [i for i, k in self.known.items() if k.officer == officer]

    async def start(self) -> None:
        """Seal uploads that had all their bytes when the node stopped; then watch expiry."""
        for upload in await asyncio.to_thread(lambda: list(self.store.all())):
            self.note(upload)
            if upload.state == RECEIVING and \
                    await asyncio.to_thread(self.store.offset, upload.id) == upload.length:
                try:
                    await self.finish(upload)
                except (FieldRelayError, OSError) as exc:
                    # It stays complete on disk; the phone's next PATCH tries again.
                    log.warning("upload %s could not be sealed at start: %s", upload.id, exc)
        self._task = asyncio.create_task(self._expire_forever(), name="upload-expiry")

    async def aclose(self) -> None:
        """Stop the expiry task; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(min(EXPIRY_SCAN_S, max(self.expire_s / 4, 0.5)))
            try:
                await self.expire_once()
            except OSError:
                log.exception("expiring unfinished uploads failed; trying again later")

    async def expire_once(self, now: float | None = None) -> list[str]:
        """Delete the bytes of unfinished uploads idle past the expiry; returns their ids."""
        now = time.time() if now is None else now
        cutoff = now - self.expire_s
        # A finished upload's record (sealed, rejected, expired) tells the phone what became
        # of it; the material itself stays in its chain. Records go after a while.
        forget = now - max(self.expire_s, RECORDS_KEPT_S)
        expired = []
        for upload_id, known in list(self.known.items()):
            if upload_id in self.busy:
                continue
            if known.state == RECEIVING and known.updated_at < cutoff:
                upload = await asyncio.to_thread(self.store.get, upload_id)
                if upload is None:
                    self.known.pop(upload_id, None)
                    continue
                with self.writing(upload_id):
                    await asyncio.to_thread(
                        self.store.drop_bytes, upload, EXPIRED,
                        {"error": "expired", "detail": "no byte arrived for "
                         f"{self.expire_s:g} s, so the upload was deleted"})
                self.note(upload)
                self.digests.pop(upload_id, None)
                expired.append(upload_id)
            elif known.state != RECEIVING and known.updated_at < forget:
                await asyncio.to_thread(self.store.remove, upload_id)
                self.known.pop(upload_id, None)
        if expired:
            log.info("expired %d unfinished upload(s)", len(expired))
        return expired

    def own(self, claims: Claims, upload_id: str) -> Upload:
        """The caller's upload; NotFound for an unknown id or another officer's."""
        upload = self.store.get(upload_id)
        if upload is None or upload.officer != claims.name:
            raise NotFound("there is no such upload of yours")
        return upload

    @contextlib.contextmanager
    def writing(self, upload_id: str) -> Iterator[None]:
        """Hold the upload for one request; Locked when another holds it."""
        if upload_id in self.busy:
            raise Locked("another request is writing this upload; try again shortly")
        self.busy.add(upload_id)
        try:
            yield
        finally:
            self.busy.discard(upload_id)

    async def digest(self, upload_id: str, offset: int) -> Any:
        """The SHA-256 object over the upload's first `offset` bytes."""
        known = self.digests.get(upload_id)
        if known is not None and known[1] == offset:
            return known[0]
        digest, size = await asyncio.to_thread(self.store.sha256_of_part, upload_id)
        if size != offset:
            raise Conflict("the upload changed on disk while it was read; try again")
        return digest

    async def finish(self, upload: Upload) -> web.Response | None:
        """All bytes are in: check the SHA-256, then seal. Returns the 460 answer on a
        mismatch, None once sealed."""
        offset = await asyncio.to_thread(self.store.offset, upload.id)
        digest = await self.digest(upload.id, offset)
        self.digests.pop(upload.id, None)
        actual = digest.hexdigest()
        if actual != upload.meta["sha256"]:
            error = {"error": "checksum_mismatch",
                     "detail": f"the file's SHA-256 is {actual}, not the {upload.meta['sha256']} "
                               "the phone declared; nothing was sealed"}
            await asyncio.to_thread(self.store.drop_bytes, upload, REJECTED, error)
            self.note(upload)
            return web.json_response(error, status=CHECKSUM_MISMATCH,
                                     headers={"Tus-Resumable": tus.VERSION})
        sealing = Sealing(upload.id, upload.officer, upload.meta, offset,
                          upload.received_at or time.time(), upload.created_at)
        try:
            sealed = await self.evidence.seal_material(sealing, self.store.part(upload.id))
        except NotFound as exc:
            error = {"error": "not_found", "detail": exc.detail}
            await asyncio.to_thread(self.store.drop_bytes, upload, REJECTED, error)
            self.note(upload)
            raise
        upload.state = SEALED
        upload.material = public_material(sealed.entry, sealed.chain)
        await asyncio.to_thread(self.store.save, upload)
        self.note(upload)
        for listener in self.on_sealed:
            listener(sealed.entry, sealed.chain, sealed.events)
        return None


UPLOADS = web.AppKey("uploads", UploadDesk)


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
    """POST /api/uploads: tus creation. The metadata is checked whole before anything is
    written; a session it names must be the officer's own."""
    claims = _officer(request)
    config, desk = request.app[CONFIG], request.app[UPLOADS]
    if request.content_length or request.headers.get("Transfer-Encoding"):
        raise BadRequest("send the bytes with PATCH (creation-with-upload is not offered)")
    if request.headers.get("Upload-Defer-Length"):
        raise BadRequest("Upload-Length must be given (creation-defer-length is not offered)")
    length = tus.parse_count("Upload-Length", request.headers.get("Upload-Length"))
    meta = check_metadata(tus.parse_metadata(request.headers.get("Upload-Metadata")))
    limit = config.upload_limit(meta["kind"])
    if length > limit:
        raise PayloadTooLarge(f"a {meta['kind']} may have at most {limit} bytes")
    if length == 0:
        raise BadRequest("an empty file is no material")
    if meta["session"] is not None:
        await asyncio.to_thread(desk.evidence.session_entries, claims.name, meta["session"])
    unfinished = desk.unfinished(claims.name)
    if unfinished >= desk.max_unfinished:
        raise TooManyUploads(f"you have {unfinished} unfinished uploads; finish or delete "
                             "some first")
    upload = await asyncio.to_thread(desk.store.create, claims.name, length, meta)
    desk.note(upload)
    return web.Response(status=201, headers={
        "Location": f"/api/uploads/{upload.id}", "Tus-Resumable": tus.VERSION,
        "Upload-Expires": tus.expires_header(upload.updated_at + desk.expire_s)})


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
            offset = await _receive(request, desk, upload, offset)
        if offset < upload.length:
            await asyncio.to_thread(desk.store.save, upload)  # keeps it from expiring
            desk.note(upload)
            return web.Response(status=204, headers=tus.offset_headers(offset))
        mismatch = await desk.finish(upload)
        if mismatch is not None:
            return mismatch
        return web.Response(status=204, headers=tus.offset_headers(offset))


async def _receive(request: web.Request, desk: UploadDesk, upload: Upload, offset: int) -> int:
    """Write the body from `offset` on; the new offset. A body that runs past Upload-Length
    is undone (400). A client that stalls or goes keeps what arrived."""
    writer = PartWriter(desk.store.part(upload.id), await desk.digest(upload.id, offset))
    room = upload.length - offset
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
            if gathered and (size >= PIECE or not chunk):
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
        await asyncio.shield(_finish(writer, [pending, syncing], [] if refused else gathered))
    new_offset = offset + writer.written
    desk.digests[upload.id] = (writer.digest, new_offset)
    if new_offset == upload.length:
        upload.received_at = time.time()
    return new_offset


async def _next_chunk(request: web.Request, upload_id: str) -> bytes:
    """The next piece of the body; b"" at its end, when it stalls or when the client went."""
    try:
        async with asyncio.timeout(request.app[CONFIG].body_timeout_s):
            return await request.content.readany()
    except (TimeoutError, OSError, HttpProcessingError) as exc:
        log.info("upload %s: the body stopped (%s)", upload_id, type(exc).__name__)
        return b""


async def _finish(writer: PartWriter, running: list[asyncio.Future[None] | None],
                  leftover: list[bytes]) -> None:
    """Let the write and fsync under way end, write what is left, fsync and close."""
    try:
        await asyncio.gather(*(r for r in running if r is not None), return_exceptions=True)
        if leftover:
            await asyncio.to_thread(writer.write, leftover)
    finally:
        await asyncio.to_thread(writer.close)


async def terminate(request: web.Request) -> web.Response:
    """DELETE /api/uploads/<id>: an unfinished upload and its bytes go; a sealed one stays."""
    claims = _officer(request)
    desk = request.app[UPLOADS]
    upload = desk.own(claims, request.match_info["id"])
    if upload.state == SEALED:
        raise Conflict("a sealed material is never deleted (only retention removes evidence)")
    with desk.writing(upload.id):
        await asyncio.to_thread(desk.store.remove, upload.id)
        desk.digests.pop(upload.id, None)
        desk.known.pop(upload.id, None)
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


