"""Witnessed checkpoints at run time: the node's checkpoint loop, and its witness of the other
nodes over the bus (FORMAT.md "Checkpoints" and "Witnesses").

Every `checkpoint_interval_s`, and soon after every seal, the node signs a checkpoint of all
its chains (`recordings.checkpoints`); in a cluster it appends it to the bus's durable witness
stream, and with `--tsa-url` has it time-stamped. Every node reads that stream from where it
stopped: it countersigns each checkpoint of another node once, keeps it in its witness ledger
(`<data>/witness/`, a chain like the others) and hands the countersignature back over the same
stream, where the checkpoint's node keeps it beside its checkpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from fieldrelay.config import Config
from fieldrelay.errors import BadRequest
from fieldrelay.tasks import Spacing, TaskGroupOwner
from recordings.checkpoints import Checkpointer
from recordings.ledger import canonical
from recordings.session import Evidence
from recordings.store import read_entries
from recordings.verify.checkpoints import countersign_message, signature_ok
from recordings.witness import WitnessLedger
from signaling.auth import authenticate
from signaling.bus import Bus, BusUnavailable, cursor_after
from signaling.tsa import TimeStamper

log = logging.getLogger(__name__)

# How long one read of the witness stream waits for news.
WAIT_S = 2.0
BATCH = 100
RETRY_S = 1.0
NODE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The shortest time between two checkpoints that seals asked for (_checkpoint_loop).
CHECKPOINT_GAP_S = 0.25


def _unless_cancelled() -> None:
    """Raise CancelledError when this task is being cancelled: redis-py can turn a
    cancellation in the middle of a read into a connection error, which would else be taken
    for an unreachable Redis and retried for ever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Witnessing:
    """Owns the checkpoint and witness tasks of one node; `aclose()` ends both."""

    def __init__(self, config: Config, evidence: Evidence, bus: Bus, clustered: bool) -> None:
        self.config = config
        self.node_id = config.node_id
        self.evidence = evidence
        self.bus = bus
        self.clustered = clustered
        self.checkpointer = Checkpointer(config.data_dir, config.node_id, evidence.key,
                                         evidence.node_ledger, config.checkpoint_interval_s,
                                         config.witness_dir, evidence.archive)
        self.stamper = TimeStamper(config.tsa_url) if config.tsa_url else None
        self.ledger: WitnessLedger | None = None
        self._poke = asyncio.Event()
        self._tasks = TaskGroupOwner("witnessing")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._countersigned: set[tuple[str, int]] = set()  # (witness, seq) kept of ours
        self._cursor = "0-0"
        # Set before the loops are cancelled: a cancellation that the Redis client turns into
        # a timeout or a connection error still ends the witness loop.
        self._closing = False
        self.published = 0
        self.witnessed = 0

    async def start(self) -> None:
        """Read back what was witnessed, then start both loops."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._read_back)
        self.evidence.observers.append(self._observe)
        self._tasks.spawn(self._checkpoint_loop(), "checkpoints")
        if self.clustered:
            self._tasks.spawn(self._witness_loop(), "witness")

    async def aclose(self) -> None:
        """Stop both loops, then sign one last checkpoint (after the seals of shutdown)."""
        if self._observe in self.evidence.observers:
            self.evidence.observers.remove(self._observe)
        self._closing = True
        await self._tasks.aclose()
        try:
            cp = await asyncio.to_thread(self.checkpointer.checkpoint)
        except OSError as exc:
            log.error("the last checkpoint could not be written: %s", exc)
            return
        if cp is not None and self.clustered:
            with contextlib.suppress(BusUnavailable):
                await self._publish(cp)

    def _observe(self, session: str, entry: dict[str, Any]) -> None:
        """On a writer thread: a seal asks for a checkpoint at once."""
        if entry.get("kind") == "session.seal" and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                self._loop.call_soon_threadsafe(self._poke.set)

    def poke(self) -> None:
        """Ask for a checkpoint now (on the event loop)."""
        self._poke.set()

    def material_sealed(self, entry: dict[str, Any], chain: str,
                        events: list[dict[str, Any]]) -> None:
        """A sealed material is a seal too: its chain is checkpointed at once."""
        self.poke()

    # -- this node's checkpoints ---------------------------------------------------------

    async def _checkpoint_loop(self) -> None:
        spacing = Spacing(CHECKPOINT_GAP_S)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), self.config.checkpoint_interval_s)
            # Seals in a burst (a phone's queue of photos sealing one after another) share a
            # checkpoint: the first at once, then at most one per CHECKPOINT_GAP_S, each
            # covering every seal before it. One per seal would stat every chain of the node
            # and fsync for each photo.
            await spacing.wait()
            self._poke.clear()
            try:
                cp = await asyncio.to_thread(self.checkpointer.checkpoint)
            except OSError as exc:
                log.error("checkpoint failed: %s", exc)
                continue
            if cp is None:
                continue
            if self.clustered:
                try:
                    await self._publish(cp)
                except BusUnavailable as exc:
                    _unless_cancelled()
                    # The checkpoint is kept on disk; witnesses see the next one, which covers
                    # at least as much.
                    log.warning("checkpoint %d not handed to witnesses: %s", cp["seq"], exc)
            if self.stamper is not None:
                await self._stamp(cp)

    async def _publish(self, cp: dict[str, Any]) -> None:
        await self.bus.witness_put({"type": "checkpoint", "node": self.node_id,
                                    "checkpoint": cp,
                                    "key": self.evidence.key.public_pem().decode()})
        self.published += 1

    async def _stamp(self, cp: dict[str, Any]) -> None:
        assert self.stamper is not None
        try:
            body = canonical({k: v for k, v in cp.items() if k not in ("hash", "sig")})
            token = await self.stamper.stamp(body)
            await asyncio.to_thread(self.checkpointer.keep_tsa_token, int(cp["seq"]),
                                    str(cp["hash"]), self.stamper.url, token)
        except (OSError, ValueError) as exc:
            log.warning("checkpoint %d was not time-stamped: %s", cp["seq"], exc)

    # -- witnessing the others -------------------------------------------------------------

    def _read_back(self) -> None:
        """What this node witnessed and kept before it last stopped (so nothing is done twice)."""
        self.ledger = WitnessLedger(self.config.data_dir, self.node_id, self.evidence.key)
        for cursor in self.ledger.cursors:
            self._advance(cursor)
        for rec in read_entries(self.checkpointer.countersigs_path):
            self._countersigned.add((str(rec.get("witness")), int(rec.get("seq", -1))))
            self._advance(rec.get("cursor"))

    def _advance(self, cursor: object) -> None:
        if isinstance(cursor, str) and cursor_after(cursor, self._cursor):
            self._cursor = cursor

    async def _witness_loop(self) -> None:
        while not self._closing:
            try:
                batch = await self.bus.witness_after(self._cursor, BATCH, WAIT_S)
            except BusUnavailable as exc:
                _unless_cancelled()
                if self._closing:
                    return
                log.warning("witness stream unreachable: %s", exc)
                await asyncio.sleep(RETRY_S)
                continue
            for cursor, message in batch:
                try:
                    await self._take(cursor, message)
                except OSError as exc:
                    log.error("witness message %s not kept: %s", cursor, exc)
                    await asyncio.sleep(RETRY_S)
                    break  # read it again
                except (ValueError, TypeError, KeyError) as exc:
                    # Malformed: skipped, so one bad message never stops the witness.
                    log.warning("witness message %s refused: %r", cursor, exc)
                self._cursor = cursor

    async def _take(self, cursor: str, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "checkpoint" and message.get("node") != self.node_id:
            await self._countersign(cursor, message)
        elif kind == "countersig" and message.get("node") == self.node_id:
            key = (str(message.get("witness")), int(message.get("seq", -1)))
            if key not in self._countersigned and self._countersig_holds(message):
                record = {k: message.get(k) for k in ("node", "seq", "hash", "witness",
                                                       "witness_key", "sig", "at")}
                record["cursor"] = cursor
                await asyncio.to_thread(self.checkpointer.keep_countersig, record)
                self._countersigned.add(key)

    def _countersig_holds(self, message: dict[str, Any]) -> bool:
        """A countersignature is kept only when it verifies and is about one of this node's
        recent checkpoints: a bogus one would make the node's own evidence read as broken."""
        seq, digest = message.get("seq"), message.get("hash")
        try:
            key = serialization.load_pem_public_key(str(message.get("witness_key")).encode())
        except (ValueError, TypeError):
            key = None
        if not (isinstance(key, Ed25519PublicKey) and isinstance(seq, int)
                and self.checkpointer.recent.get(seq) == digest
                and signature_ok(key, countersign_message(self.node_id, seq, str(digest)),
                                 message.get("sig"))):
            log.warning("refused a countersignature of checkpoint %r from %r", seq,
                        message.get("witness"))
            return False
        return True

    async def _countersign(self, cursor: str, message: dict[str, Any]) -> None:
        assert self.ledger is not None
        countersig = await asyncio.to_thread(self.ledger.countersign, message.get("checkpoint"),
                                             str(message.get("key", "")), cursor)
        if countersig is None:
            return
        self.witnessed += 1
        try:
            await self.bus.witness_put(countersig)
        except BusUnavailable as exc:
            _unless_cancelled()
            log.warning("countersignature of %s/%d not handed back: %s", countersig["node"],
                        countersig["seq"], exc)

    def export(self, node: str | None = None) -> dict[str, Any]:
        """This node's checkpoint export (blocks on the disk)."""
        ledger = self.ledger or WitnessLedger(self.config.data_dir, self.node_id,
                                              self.evidence.key)
        return ledger.export(node)


WITNESSING = web.AppKey("witnessing", Witnessing)


async def checkpoints_export(request: web.Request) -> web.Response:
    """GET /api/witness/checkpoints[?node=ID] (reviewer, admin): the checkpoints of other
    nodes this node countersigned, as `fieldrelay verify --witness URL` reads them."""
    authenticate(request, "reviewer", "admin")
    node = request.query.get("node")
    if node is not None and not NODE_ID.fullmatch(node):
        raise BadRequest("node must be a node id")
    witnessing = request.app[WITNESSING]
    doc = await asyncio.to_thread(witnessing.export, node)
    return web.json_response(doc)


def routes() -> list[web.RouteDef]:
    """The witness's HTTP endpoint."""
    return [web.get("/api/witness/checkpoints", checkpoints_export)]
