"""The upload desk: the node's tus uploads in memory and on disk, who is writing which, the
check of the SHA-256 on the last byte, sealing through LiveEvidence, and expiry.

The HTTP side (tus requests) is `signaling.uploads`; the disk is `recordings.uploads`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from fieldrelay import tus
from fieldrelay.errors import Conflict, FieldRelayError, NotFound
from fieldrelay.tasks import cancel_and_wait
from fieldrelay.tokens import Claims
from recordings.material_catalog import MaterialCatalog
from recordings.material_rules import Sealing, public_material
from recordings.uploads import EXPIRED, RECEIVING, REJECTED, SEALED, Upload, UploadStore
from relay.evidence import LiveEvidence, SealedMaterial

log = logging.getLogger(__name__)

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
    # A sealed upload's Upload.fingerprint (its key in UploadDesk._sealed).
    fingerprint: str | None = None


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
        # Every upload record on disk, by id (loaded at start, kept current by this desk), and
        # how many of each officer's are receiving.
        self.known: dict[str, _Known] = {}
        self._receiving: dict[str, int] = {}
        # The sealed uploads by (officer, Upload.fingerprint): a creation that carries an
        # item sealed already (its first answer lost) gets that upload back.
        self._sealed: dict[tuple[str, str], str] = {}
        # Told about each sealed material (the review catalog).
        self.on_sealed: list[Callable[[dict[str, Any], str, list[dict[str, Any]]], None]] = []

    def note(self, upload: Upload) -> None:
        """The record as it is now on disk."""
        fingerprint = upload.fingerprint() if upload.state == SEALED else None
        self._count(self.known.get(upload.id), -1)
        self.known[upload.id] = _Known(upload.officer, upload.state, upload.updated_at,
                                       fingerprint)
        self._count(self.known[upload.id], +1)
        if fingerprint is not None:
            self._sealed[(upload.officer, fingerprint)] = upload.id

    def forget(self, upload_id: str) -> None:
        """The record is gone from the disk."""
        known = self.known.pop(upload_id, None)
        self._count(known, -1)
        self.digests.pop(upload_id, None)
        if known is not None and known.fingerprint is not None:
            key = (known.officer, known.fingerprint)
            if self._sealed.get(key) == upload_id:
                del self._sealed[key]

    def sealed_twin(self, officer: str, fingerprint: str) -> str | None:
        """The id of the officer's sealed upload of this same item (Upload.fingerprint)."""
        return self._sealed.get((officer, fingerprint))

    def _count(self, known: _Known | None, change: int) -> None:
        if known is not None and known.state == RECEIVING:
            left = self._receiving.get(known.officer, 0) + change
            if left > 0:
                self._receiving[known.officer] = left
            else:
                self._receiving.pop(known.officer, None)

    def unfinished(self, officer: str) -> int:
        """How many uploads the officer has still receiving (counted as records change, not
        by reading every record the node keeps for a month, at every creation)."""
        return self._receiving.get(officer, 0)

    def ids_of(self, officer: str) -> list[str]:
        """The ids of the officer's upload records."""
        return [i for i, k in self.known.items() if k.officer == officer]

    async def start(self) -> None:
        """Seal uploads that had all their bytes when the node stopped; then watch expiry."""
        dropped = await asyncio.to_thread(self.store.drop_orphans)
        if dropped:
            log.info("deleted %d upload file(s) with no record (cut before their creation "
                     "was answered)", len(dropped))
        catalog: MaterialCatalog | None = None
        for upload in await asyncio.to_thread(lambda: list(self.store.all())):
            if upload.state == RECEIVING and \
                    not await asyncio.to_thread(self.store.has_part, upload.id):
                catalog = catalog or MaterialCatalog(self.store.dir.parent)
                await self._settle_lost_record(upload, catalog)
            self.note(upload)
            if upload.state == RECEIVING and \
                    await asyncio.to_thread(self.store.offset, upload.id) == upload.length:
                try:
                    await self.finish(upload)
                except (FieldRelayError, OSError) as exc:
                    # It stays complete on disk; the phone's next PATCH tries again.
                    log.warning("upload %s could not be sealed at start: %s", upload.id, exc)
        self._task = asyncio.create_task(self._expire_forever(), name="upload-expiry")

    async def _settle_lost_record(self, upload: Upload, catalog: MaterialCatalog) -> None:
        """A receiving upload whose bytes are gone: the node stopped after they were sealed
        and before the record's new state reached the disk (finish writes it without an
        fsync), or between deleting them and saying why. The ledger says which."""
        found = await asyncio.to_thread(catalog.get, upload.id)
        if found is not None and found.entry.get("officer") == upload.officer:
            upload.state, upload.material = SEALED, found.public
            await asyncio.to_thread(self.store.save, upload)
            log.info("upload %s: sealed before the node stopped, its record says so again",
                     upload.id)
        else:
            # Nothing of it was sealed: the phone resumes from the first byte.
            await asyncio.to_thread(self.store.restore_part, upload.id)

    async def aclose(self) -> None:
        """Stop the expiry task; idempotent."""
        task, self._task = self._task, None
        await cancel_and_wait(task)  # a cancellation of our own still reaches the caller

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
                    self.forget(upload_id)
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
                self.forget(upload_id)
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

    async def finish(self, upload: Upload, offset: int | None = None) -> web.Response | None:
        """All bytes are in (`offset` of them, when the caller just wrote them): check the
        SHA-256, then seal. Returns the 460 answer on a mismatch, None once sealed."""
        if offset is None:
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

        def record(sealed: SealedMaterial) -> None:
            # The ledger entry is the durable word that it is sealed: the record follows it
            # to the disk unforced (with the next journal commit), and a node that stops
            # before that finds the material in its chain at start (_settle_lost_record),
            # since the record it had, "receiving", is on disk (a creation's is written
            # beside its bytes).
            upload.state = SEALED
            upload.material = public_material(sealed.entry, sealed.chain)
            self.store.save(upload, False)

        try:
            sealed = await self.evidence.seal_material(sealing, self.store.part(upload.id),
                                                       record)
        except NotFound as exc:
            error = {"error": "not_found", "detail": exc.detail}
            await asyncio.to_thread(self.store.drop_bytes, upload, REJECTED, error)
            self.note(upload)
            raise
        self.note(upload)
        for listener in self.on_sealed:
            listener(sealed.entry, sealed.chain, sealed.events)
        return None
