"""The catalog as a node runs it: this node's sessions and materials published to the catalog
every node shares (PostgreSQL with --database-url, else SQLite in the data dir), and the search
over every node's sessions (`GET /api/catalog/sessions`).

A task owned by `CatalogDesk` publishes what changed: woken by the evidence store when a
session starts, seals or takes a case number, by the upload desk when a material seals, and
at least every `catalog_sync_s`, it reads again the chains whose size changed, the holds and
verify results that changed and the materials not sent yet, so an update missed while the
database was down is sent on the next round.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.errors import BadRequest, FieldRelayError
from fieldrelay.tasks import Spacing, cancel_and_wait
from recordings.audit import last_verifies
from recordings.cases import PendingStore
from recordings.catalog import parse_time
from recordings.catalog_pg import PgCatalog
from recordings.catalog_schema import CatalogRow, Query, row_from_chain
from recordings.catalog_sql import SqlCatalog
from recordings.catalog_sqlite import SqliteCatalog
from recordings.holds import current_holds
from recordings.layout import OPEN_MARKER, SESSION_ID_RE, utc_iso
from recordings.material_catalog import MaterialCatalog
from recordings.session import Evidence
from recordings.store import LedgerCorrupt, read_entries
from signaling.auth import authenticate

log = logging.getLogger(__name__)

REVIEW_ROLES = ("reviewer", "admin")
WAKING_EVENTS = ("case.set",)
# The shortest time between two rounds that only new materials asked for.
MATERIALS_GAP_S = 0.5


def new_catalog(config: Config) -> SqlCatalog:
    """PostgreSQL for --database-url, else the data dir's SQLite catalog."""
    if config.database_url:
        return PgCatalog(config.database_url, password=config.database_password)
    return SqliteCatalog.of_data_dir(config.data_dir)


def changed_rows(data_dir: Path, published: dict[str, tuple[int, bool]]
                 ) -> tuple[list[CatalogRow], dict[str, tuple[int, bool]]]:
    """Rows of the sessions whose chain or OPEN marker changed since `published` (blocks on
    the disk); with the new state of each."""
    base = data_dir / "sessions"
    try:
        names = [e.name for e in os.scandir(base) if SESSION_ID_RE.match(e.name)]
    except FileNotFoundError:
        names = []
    rows, state = [], {}
    for name in sorted(names):
        try:
            size = os.stat(base / name / "ledger.jsonl").st_size
        except FileNotFoundError:
            continue
        now = (size, (base / name / OPEN_MARKER).exists())
        state[name] = now
        if published.get(name) == now:
            continue
        try:
            entries = list(read_entries(base / name / "ledger.jsonl"))
        except LedgerCorrupt:
            continue  # the local index marks it damaged; the catalog keeps its last row
        if entries:
            rows.append(row_from_chain(name, entries, now[1]))
    return rows, state


# How long a writer or request thread waits for the catalog's answer about a waiting case
# number before it settles for the node's own file (a session's writer waits at its start:
# kept short, its media queue is bounded).
PENDING_WAIT_S = 2.0

R = TypeVar("R")


class CatalogPendingCases:
    """Case numbers waiting for officers' next sessions, in the shared catalog, so a number
    set on one node is taken by the officer's next session on any node.

    Called off the event loop (the session's writer thread, request worker threads): each
    call runs on the node's loop and is waited for. While the catalog cannot answer, the
    node's own file (`local`) keeps what is set and is read too, so a case number is never
    lost to an outage: set on the catalog, the officer's file entry here is dropped.
    """

    def __init__(self, catalog: SqlCatalog, local: PendingStore,
                 loop: Callable[[], asyncio.AbstractEventLoop | None],
                 ready: asyncio.Event) -> None:
        self.catalog = catalog
        self.local = local
        self._loop = loop
        # Set once the catalog is connected and migrated (by the publishing task).
        self._ready = ready

    def _call(self, coro: Callable[[], Awaitable[R]]) -> tuple[bool, R | None]:
        """(True, result) from the catalog, or (False, None) when it cannot answer now."""
        loop = self._loop()
        if loop is None or loop.is_closed():
            return False, None

        async def run() -> R:
            await self._ready.wait()
            return await coro()
        future = asyncio.run_coroutine_threadsafe(run(), loop)
        try:
            return True, future.result(PENDING_WAIT_S)
        except Exception as exc:  # the database, its pool, a timeout: all "not now"
            future.cancel()
            log.warning("waiting case numbers fall back to this node's file: %s", exc)
            return False, None

    def get(self, officer: str) -> str | None:
        ok, case = self._call(lambda: self.catalog.pending_case(officer))
        return (case if ok and case is not None else None) or self.local.get(officer)

    def put(self, officer: str, case: str | None) -> None:
        if case is None:
            ok, _ = self._call(lambda: self.catalog.take_pending_case(officer))
        else:
            ok, _ = self._call(lambda: self.catalog.set_pending_case(
                officer, case, utc_iso(time.time())))
        # Newer than anything the file held; the file keeps it while the catalog cannot.
        self.local.put(officer, None if ok else case)

    def take(self, officer: str) -> str | None:
        ok, case = self._call(lambda: self.catalog.take_pending_case(officer))
        mine = self.local.take(officer)
        return case if ok and case is not None else mine


class CatalogDesk:
    """Publishes this node's sessions to the catalog and answers catalog searches."""

    def __init__(self, config: Config, evidence: Evidence,
                 cluster_url: str | None = None) -> None:
        self.config = config
        self.catalog = new_catalog(config)
        # The URL other nodes reach this one at, recorded in the catalog (None: not recorded).
        self.cluster_url = cluster_url
        self._published: dict[str, tuple[int, bool]] = {}
        self._holds: dict[str, Any] = {}
        self._verifies: dict[str, Any] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self.ready = asyncio.Event()
        if config.database_url:
            evidence.pending_cases = CatalogPendingCases(self.catalog, evidence.pending_cases,
                                                         lambda: self._loop, self.ready)
        # The node's materials (set by `follow_materials`), the ids already sent, and how far
        # its log has been read (MaterialCatalog.since).
        self.materials: MaterialCatalog | None = None
        self._materials_sent: set[str] = set()
        self._materials_mark = (0, 0)
        # Whether the next round must look at the sessions too (not only new materials): a
        # session's start, seal or case, the periodic round, and a round that failed.
        self._sessions_due = True
        evidence.observers.append(self._observe)

    def follow_materials(self, materials: MaterialCatalog,
                         on_sealed: list[Callable[[dict[str, Any], str, list[dict[str, Any]]],
                                                  None]]) -> None:
        """Publish the node's materials too, woken by each seal (after `materials` took it:
        listeners run in order)."""
        self.materials = materials
        on_sealed.append(self._material_sealed)

    def _material_sealed(self, entry: dict[str, Any], chain: str,
                         events: list[dict[str, Any]]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def _observe(self, session_id: str, entry: dict[str, Any]) -> None:
        """On the writer thread: a start, a seal or a case number wakes the publisher."""
        kind = entry.get("kind")
        if kind in ("session.start", "session.seal") or entry.get("event") in WAKING_EVENTS:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(self._wake_sessions)

    def _wake_sessions(self) -> None:
        self._sessions_due = True
        self._wake.set()

    async def ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Publish until the node stops. The catalog is connected (and migrated) by the
        publishing task, again and again until it answers: a node records evidence whether
        or not its catalog's database is up."""
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="catalog-publish")
        try:
            yield
        finally:
            task, self._task = self._task, None
            await cancel_and_wait(task)
            self._loop = None
            await self.catalog.aclose()

    async def publish(self) -> int:
        """Send what changed since the last round; returns the sessions sent."""
        rows, state = await asyncio.to_thread(changed_rows, self.config.data_dir,
                                              self._published)
        await self.catalog.put_sessions(rows)
        self._published = state
        holds = await asyncio.to_thread(current_holds, self.config.data_dir)
        for sid, hold in holds.items():
            if self._holds.get(sid) != hold and sid in state:
                await self.catalog.set_hold(sid, bool(hold.get("hold")), hold.get("reason"),
                                            hold.get("by"), hold.get("at"))
                self._holds[sid] = hold
        verifies = await asyncio.to_thread(last_verifies, self.config.data_dir)
        for sid, outcome in verifies.items():
            if self._verifies.get(sid) != outcome and sid in state:
                await self.catalog.set_integrity(sid, str(outcome.get("state")),
                                                 str(outcome.get("at")), outcome.get("head"),
                                                 outcome.get("broken"))
                self._verifies[sid] = outcome
        await self.publish_materials()
        return len(rows)

    async def publish_materials(self) -> int:
        """Send the materials not sent yet (all of them after a start: an upsert); returns
        how many were sent."""
        if self.materials is None:
            return 0
        found, mark = await asyncio.to_thread(self.materials.since, self._materials_mark)
        new = [f.public for f in found if f.entry["material"] not in self._materials_sent]
        await self.catalog.put_materials(self.config.node_id, new)
        self._materials_sent.update(str(m["id"]) for m in new)
        self._materials_mark = mark
        return len(new)

    async def _run(self) -> None:
        started = registered = False
        spacing = Spacing(MATERIALS_GAP_S)
        while True:
            # Materials sealing one after another (a phone's queue) go in one round per
            # MATERIALS_GAP_S, not one database commit each beside the uploads; sessions
            # at once.
            await spacing.wait(now=self._sessions_due)
            self._wake.clear()
            try:
                if not started:
                    await self.catalog.start()
                    started = True
                    self.ready.set()
                if not registered and self.cluster_url is not None:
                    # Where other nodes fetch this node's sessions once it is no longer
                    # live on the bus (its presence is gone, its rows are not).
                    await self.catalog.put_node(self.config.node_id, self.cluster_url,
                                                utc_iso(time.time()))
                    registered = True
                if self._sessions_due:
                    self._sessions_due = False
                    await self.publish()
                else:
                    # Only materials sealed since the last round (an upload's seal): what is
                    # new of them, not every session and material again.
                    await self.publish_materials()
            except Exception as exc:
                # The database is down or refused: the next round sends it all again.
                self.failures += 1
                self._sessions_due = True
                log.warning("the catalog could not be updated (will retry): %s", exc)
            try:
                await asyncio.wait_for(self._wake.wait(), self.config.catalog_sync_s)
            except TimeoutError:
                self._sessions_due = True


CATALOG = web.AppKey("catalog", CatalogDesk)
T = TypeVar("T")


class CatalogUnavailable(FieldRelayError):
    """The catalog's database cannot be reached or refused the query: try again later."""

    code = "catalog_unavailable"
    status = 503


async def guarded(call: Awaitable[T]) -> T:
    """A catalog call whose database failure is a 503 with a reason, never a 500."""
    try:
        return await call
    except FieldRelayError:
        raise
    except Exception as exc:  # psycopg, its pool, sqlite3, the socket: all "not now"
        log.warning("the catalog failed a query: %s", exc)
        raise CatalogUnavailable(f"the catalog cannot be read just now: "
                                 f"{type(exc).__name__}") from None


# Longer than any officer name, case number or node id the node accepts.
MAX_FILTER_CHARS = 200
MAX_LIMIT = 5000


def search_text(params: Mapping[str, str], name: str) -> str | None:
    """A text filter of a search, or None; a NUL byte (PostgreSQL refuses it in text, which
    would read as "the catalog is down") or an overlong value is bad input."""
    raw = params.get(name) or None
    if raw is not None and ("\x00" in raw or len(raw) > MAX_FILTER_CHARS):
        raise BadRequest(f"{name} must be text of at most {MAX_FILTER_CHARS} characters "
                         "without NUL")
    return raw


def search_limit(params: Mapping[str, str], default: int = 500) -> int:
    """The `limit` of a search: a whole number from 1 to MAX_LIMIT."""
    try:
        limit = int(params.get("limit") or default)
    except ValueError:
        raise BadRequest("limit must be a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be from 1 to {MAX_LIMIT}")
    return limit


def _query(params: Mapping[str, str]) -> Query:
    def when(name: str) -> float | None:
        raw = params.get(name)
        if not raw:
            return None
        try:
            return parse_time(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an ISO 8601 time or unix seconds") from None
    return Query(officer=search_text(params, "officer"), since=when("from"), until=when("to"),
                 case=search_text(params, "case"),
                 with_alerts=params.get("alerts") in ("1", "true", "yes"),
                 node=search_text(params, "node"), limit=search_limit(params))


async def catalog_sessions(request: web.Request) -> web.Response:
    """GET /api/catalog/sessions: every node's sessions from the shared catalog, newest
    first, each with the node that recorded it (reviewers, admins)."""
    authenticate(request, *REVIEW_ROLES)
    query = _query(request.query)
    rows = await guarded(request.app[CATALOG].catalog.search(query))
    return web.json_response({"sessions": rows, "node": request.app[CATALOG].config.node_id})


def routes() -> list[web.RouteDef]:
    """The catalog's route."""
    return [web.get("/api/catalog/sessions", catalog_sessions)]
