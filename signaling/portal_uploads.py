"""Photos sent on the portal (a party's clue, a grid worker's reply), pulled in and sealed.

The portal tells the node of a complete upload with an `upload` message; the node PULLS the
bytes (`GET /ferry/uploads/<id>` on the portal, signed as an exchange: the court network
starts every connection), hashes them on arrival, and seals them as a material of the case
through the one interface officer uploads use (`LiveEvidence.seal_material`): officer
`party:NAME` or `grid:NAME`, the clue or task it belongs to. The material's id is the portal's
upload id, so an upload pulled again after a crash finds its material sealed and is not
sealed twice. Then the case desk records it and confirms to the portal with the SHA-256 it
hashed; the portal deletes its copy only on that. A pull that fails is tried again, with a
growing pause, until it succeeds or the node stops (the `upload` message stays unapplied in
the case chain, so the next start tries again too).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from fieldrelay import ferry
from fieldrelay.errors import FieldRelayError
from fieldrelay.files import private_dir
from recordings.material_rules import Sealing, check_metadata, material_id_ok
from relay.evidence import LiveEvidence
from signaling.ferrylink import FerryLink

log = logging.getLogger(__name__)

Sealed = Callable[[dict[str, Any], dict[str, Any]], Awaitable[None]]
Listener = Callable[[dict[str, Any], str, list[dict[str, Any]]], None]
RETRY_MIN_S, RETRY_MAX_S = 0.5, 15.0
PIECE = 1 << 20
MAX_WAITING = 10_000


class PortalPuller:
    """Pulls the portal's complete uploads in, one at a time, and seals them."""

    def __init__(self, link: FerryLink, evidence: LiveEvidence, data_dir: Path) -> None:
        self.link, self.evidence = link, evidence
        self.spool = data_dir / "uploads" / "portal"
        self._waiting: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sealed: Sealed | None = None
        # Told of each sealed material, as officer uploads tell them (catalog, witnessing).
        self.listeners: list[Listener] = []

    def want(self, message: dict[str, Any]) -> None:
        """Pull this upload in (a message applied twice is pulled once)."""
        if len(self._waiting) >= MAX_WAITING:
            log.warning("too many portal uploads waiting; %s waits for the next start",
                        message["id"])
            return
        self._waiting[str(message["id"])] = message
        self._wake.set()

    def start(self, sealed: Sealed) -> None:
        """Start pulling; `sealed(message, material entry)` records and confirms each."""
        self._sealed = sealed
        self._task = asyncio.get_running_loop().create_task(self._run(), name="portal-pull")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        retry = RETRY_MIN_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=5, sock_read=30)) as http:
            while True:
                await self._wake.wait()
                self._wake.clear()
                for msg_id, message in list(self._waiting.items()):
                    try:
                        entry = await self._take(http, message)
                        assert self._sealed is not None
                        await self._sealed(message, entry)
                        self._waiting.pop(msg_id, None)
                        retry = RETRY_MIN_S
                    except (aiohttp.ClientError, TimeoutError, FieldRelayError, OSError,
                            ValueError) as exc:
                        log.warning("portal upload %s not taken yet (%s); trying again",
                                    message["body"].get("upload"), exc)
                        await asyncio.sleep(retry)
                        retry = min(retry * 2, RETRY_MAX_S)
                        self._wake.set()
                        break

    def _sealing(self, message: dict[str, Any], size: int, now: float) -> Sealing:
        body = message["body"]
        upload = str(body.get("upload", ""))
        if not material_id_ok(upload):
            raise ValueError(f"{upload!r} is no upload id")
        role = "party" if body.get("role") == "party" else "grid"
        meta = check_metadata({"kind": str(body.get("kind")), "mime": str(body.get("mime")),
                               "sha256": str(body.get("sha256")),
                               "filename": str(body.get("filename") or "photo"),
                               "case": str(message["case"])})
        about = {k: str(body[k]) for k in ("clue", "task", "reply") if body.get(k)}
        return Sealing(upload, f"{role}:{body.get('by')}", meta, size, now, now,
                       about={**about, "portal_upload": message["id"]})

    async def _take(self, http: aiohttp.ClientSession,
                    message: dict[str, Any]) -> dict[str, Any]:
        """Pull, hash and seal one upload; its material entry (the one sealed before, when
        a crash came between the seal and its record)."""
        sealing = self._sealing(message, 0, time.time())
        placed = self.evidence.store.materials.folder(sealing.meta["case"]) / sealing.file
        if await asyncio.to_thread(placed.exists):
            placed_sha = await asyncio.to_thread(_sha256_of, placed)
            size = await asyncio.to_thread(lambda: placed.stat().st_size)
            return {**sealing.entry(self.evidence.store.node_id, None), "size": size,
                    "sha256": placed_sha, "sealed_before": True}
        await asyncio.to_thread(private_dir, self.spool)
        spool = self.spool / f"{sealing.id}.part"
        path = f"/ferry/uploads/{sealing.id}"
        header = ferry.exchange_signature(self.link.secret, self.link.node_id,
                                          int(time.time()), path.encode())
        digest, size = hashlib.sha256(), 0
        try:
            async with http.get(self.link.base + path,
                                headers={ferry.EXCHANGE_HEADER: header}) as resp:
                if resp.status != 200:
                    raise ValueError(f"the portal answered {resp.status}")
                f = await asyncio.to_thread(open, spool, "wb")
                try:
                    async for chunk in resp.content.iter_chunked(PIECE):
                        digest.update(chunk)
                        size += len(chunk)
                        await asyncio.to_thread(f.write, chunk)
                    await asyncio.to_thread(_sync, f)
                finally:
                    await asyncio.to_thread(f.close)
            actual = digest.hexdigest()
            if actual != sealing.meta["sha256"] or size != message["body"].get("size"):
                raise ValueError(f"pulled {size} bytes of SHA-256 {actual}, not what the "
                                 "portal declared")
            sealing = self._sealing(message, size, time.time())
            sealed = await self.evidence.seal_material(sealing, spool)
        finally:
            spool.unlink(missing_ok=True)
        for listener in self.listeners:
            listener(sealed.entry, sealed.chain, sealed.events)
        return sealed.entry


def _sync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(PIECE):
            digest.update(chunk)
    return digest.hexdigest()
