"""The catalog every node shares: its rows, its queries and its versioned schema (pure).

One interface (`Catalog`), two backends behind it: SQLite in the data dir (the embedded
default, `recordings.catalog_sqlite`) and PostgreSQL shared by every node
(`--database-url`, `recordings.catalog_pg`). Both run the very same SQL text, written with
`?` placeholders (PostgreSQL's driver gets `%s`) and types both accept. The catalog is never
evidence: `fieldrelay reindex` rebuilds it from the session chains or from the archive.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from recordings.catalog import parse_time, summarize
from recordings.index import cases_of


@dataclass(frozen=True)
class CatalogRow:
    """One session as the catalog lists it, with the node that recorded it."""

    id: str
    node: str | None
    officer: str | None
    case: str | None
    cases: tuple[str, ...]
    started_at: str | None
    ended_at: str | None
    state: str
    media: Mapping[str, Any] | None
    alerts: int
    segments: int
    bytes: int
    seal_reason: str | None
    head_seq: int
    head_hash: str | None


@dataclass(frozen=True)
class Query:
    """Filters of a session search: every one given must hold (times: any overlap)."""

    officer: str | None = None
    since: float | None = None
    until: float | None = None
    case: str | None = None
    with_alerts: bool = False
    node: str | None = None
    limit: int = 500


@dataclass(frozen=True)
class MaterialQuery:
    """Filters of a materials search: every one given must hold (times: the node's arrival)."""

    case: str | None = None
    officer: str | None = None
    kind: str | None = None
    since: float | None = None
    until: float | None = None
    node: str | None = None
    limit: int = 500


@dataclass(frozen=True)
class Migration:
    """One step of the schema; applied once, in version order, recorded in
    `catalog_migrations`."""

    version: int
    name: str
    statements: tuple[str, ...] = field(default_factory=tuple)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sessions, their case numbers, holds and verify results", (
        """CREATE TABLE catalog_sessions (
            id TEXT PRIMARY KEY, node TEXT, officer TEXT, case_number TEXT,
            started_at TEXT, started_ts DOUBLE PRECISION, ended_at TEXT,
            ended_ts DOUBLE PRECISION, state TEXT NOT NULL, media TEXT,
            alerts INTEGER NOT NULL DEFAULT 0, segments INTEGER NOT NULL DEFAULT 0,
            bytes BIGINT NOT NULL DEFAULT 0, seal_reason TEXT,
            head_seq BIGINT NOT NULL DEFAULT -1, head_hash TEXT,
            integrity TEXT NOT NULL DEFAULT 'unverified', integrity_at TEXT,
            integrity_head TEXT, integrity_detail TEXT,
            legal_hold INTEGER NOT NULL DEFAULT 0, hold_reason TEXT, hold_by TEXT,
            hold_at TEXT)""",
        """CREATE TABLE catalog_cases (
            session TEXT NOT NULL, position INTEGER NOT NULL, case_number TEXT NOT NULL,
            PRIMARY KEY (session, case_number))""",
        "CREATE INDEX catalog_sessions_started ON catalog_sessions (started_ts)",
        "CREATE INDEX catalog_sessions_officer ON catalog_sessions (officer, started_ts)",
        "CREATE INDEX catalog_sessions_node ON catalog_sessions (node, started_ts)",
        "CREATE INDEX catalog_sessions_alerts ON catalog_sessions (started_ts) "
        "WHERE alerts > 0",
        "CREATE INDEX catalog_cases_case ON catalog_cases (case_number)",
    )),
    Migration(2, "case numbers waiting for an officer's next session, on any node", (
        """CREATE TABLE catalog_pending_cases (
            officer TEXT PRIMARY KEY, case_number TEXT NOT NULL, set_at TEXT NOT NULL)""",
    )),
    # The slot for materials (photos, documents, pre-event clips): the table is here so the
    # materials catalog adds its methods without a schema change of its own.
    Migration(3, "materials", (
        """CREATE TABLE catalog_materials (
            id TEXT PRIMARY KEY, node TEXT, session TEXT, case_number TEXT, kind TEXT,
            sha256 TEXT, size BIGINT, received_at TEXT, received_ts DOUBLE PRECISION,
            doc TEXT)""",
        "CREATE INDEX catalog_materials_case ON catalog_materials (case_number)",
        "CREATE INDEX catalog_materials_session ON catalog_materials (session)",
    )),
    Migration(4, "materials by officer and by arrival", (
        "ALTER TABLE catalog_materials ADD COLUMN officer TEXT",
        "CREATE INDEX catalog_materials_officer ON catalog_materials (officer, received_ts)",
        "CREATE INDEX catalog_materials_received ON catalog_materials (received_ts)",
    )),
    # A session outlives its node's presence: the node that holds it is found here (by its id
    # in the session's row) even when it is no longer live on the bus.
    Migration(5, "each node's cluster URL", (
        """CREATE TABLE catalog_nodes (
            node TEXT PRIMARY KEY, url TEXT NOT NULL, seen_at TEXT NOT NULL)""",
    )),
)

MIGRATIONS_TABLE = ("CREATE TABLE IF NOT EXISTS catalog_migrations ("
                    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")


def pending_migrations(applied: Iterable[int]) -> list[Migration]:
    """The migrations not applied yet, in order (pure)."""
    done = set(applied)
    return [m for m in MIGRATIONS if m.version not in done]


def row_from_chain(session_id: str, entries: Sequence[dict[str, Any]],
                   is_open: bool = False) -> CatalogRow:
    """A session's catalog row from its chain's entries (pure)."""
    summary = summarize(session_id, entries, is_open)
    head = entries[-1] if entries else {}
    return CatalogRow(
        id=session_id, node=summary["node"], officer=summary["officer"], case=summary["case"],
        cases=tuple(cases_of(list(entries))), started_at=summary["started_at"],
        ended_at=summary["ended_at"], state=summary["state"], media=summary["media"],
        alerts=summary["alerts"], segments=summary["segments"], bytes=summary["bytes"],
        seal_reason=summary["seal_reason"], head_seq=int(head.get("seq", -1)),
        head_hash=head.get("hash"))


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


UPSERT = """INSERT INTO catalog_sessions (id, node, officer, case_number, started_at,
    started_ts, ended_at, ended_ts, state, media, alerts, segments, bytes, seal_reason,
    head_seq, head_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (id) DO UPDATE SET node=excluded.node, officer=excluded.officer,
    case_number=excluded.case_number, started_at=excluded.started_at,
    started_ts=excluded.started_ts, ended_at=excluded.ended_at, ended_ts=excluded.ended_ts,
    state=excluded.state, media=excluded.media, alerts=excluded.alerts,
    segments=excluded.segments, bytes=excluded.bytes, seal_reason=excluded.seal_reason,
    head_seq=excluded.head_seq, head_hash=excluded.head_hash,
    integrity=CASE WHEN catalog_sessions.head_hash = excluded.head_hash
                   THEN catalog_sessions.integrity ELSE 'unverified' END"""


def upsert_args(row: CatalogRow) -> tuple[object, ...]:
    """UPSERT's parameters for a row (pure)."""
    return (row.id, row.node, row.officer, row.case, row.started_at, _ts(row.started_at),
            row.ended_at, _ts(row.ended_at), row.state,
            json.dumps(row.media, sort_keys=True) if row.media is not None else None,
            row.alerts, row.segments, row.bytes, row.seal_reason, row.head_seq, row.head_hash)


def search_sql(q: Query) -> tuple[str, list[object]]:
    """The SELECT of a search and its parameters (pure)."""
    where: list[str] = []
    args: list[object] = []
    if q.officer:
        where.append("officer = ?")
        args.append(q.officer)
    if q.node:
        where.append("node = ?")
        args.append(q.node)
    if q.since is not None:
        where.append("(ended_ts IS NULL OR ended_ts >= ?)")
        args.append(q.since)
    if q.until is not None:
        # A plain range on the indexed start (every catalog row has one: its chain starts
        # with session.start), so the newest-first scan starts at `until`.
        where.append("started_ts <= ?")
        args.append(q.until)
    if q.case:
        where.append("id IN (SELECT session FROM catalog_cases WHERE case_number = ?)")
        args.append(q.case)
    if q.with_alerts:
        where.append("alerts > 0")
    sql = "SELECT * FROM catalog_sessions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY started_ts DESC, id DESC LIMIT ?"
    args.append(max(1, min(q.limit, 10000)))
    return sql, args


MATERIAL_UPSERT = """INSERT INTO catalog_materials (id, node, session, case_number, kind,
    sha256, size, received_at, received_ts, doc, officer) VALUES (?,?,?,?,?,?,?,?,?,?,?)
    ON CONFLICT (id) DO UPDATE SET node=excluded.node, session=excluded.session,
    case_number=excluded.case_number, kind=excluded.kind, sha256=excluded.sha256,
    size=excluded.size, received_at=excluded.received_at, received_ts=excluded.received_ts,
    doc=excluded.doc, officer=excluded.officer"""


def material_args(material: Mapping[str, Any], node: str | None) -> tuple[object, ...]:
    """MATERIAL_UPSERT's parameters for a material as the API shows it (`public_material`),
    held by `node` (pure)."""
    return (material["id"], node, material.get("session"), material.get("case"),
            material.get("kind"), material.get("sha256"), material.get("size"),
            material.get("received_at"), _ts(material.get("received_at")),
            json.dumps(material, sort_keys=True), material.get("officer"))


def material_sql(q: MaterialQuery) -> tuple[str, list[object]]:
    """The SELECT of a materials search and its parameters (pure)."""
    where: list[str] = []
    args: list[object] = []
    for column, value in (("case_number", q.case), ("officer", q.officer), ("kind", q.kind),
                          ("node", q.node)):
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if q.since is not None:
        where.append("received_ts >= ?")
        args.append(q.since)
    if q.until is not None:
        where.append("received_ts <= ?")
        args.append(q.until)
    sql = "SELECT node, doc FROM catalog_materials"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY received_ts DESC, id DESC LIMIT ?"
    args.append(max(1, min(q.limit, 10000)))
    return sql, args


def public_material_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog_materials row as the review API shows it: the material, with its node."""
    return {**json.loads(r["doc"]), "node": r["node"]}


def public(r: Mapping[str, Any], cases: list[str]) -> dict[str, Any]:
    """A catalog row as the review API shows it (pure)."""
    detail = r.get("integrity_detail")
    return {
        "id": r["id"], "node": r["node"], "officer": r["officer"], "case": r["case_number"],
        "cases": cases, "started_at": r["started_at"], "ended_at": r["ended_at"],
        "state": r["state"], "media": json.loads(r["media"]) if r["media"] else None,
        "alerts": r["alerts"], "segments": r["segments"], "bytes": r["bytes"],
        "seal_reason": r["seal_reason"], "head_seq": r["head_seq"], "head_hash": r["head_hash"],
        "integrity": r["integrity"], "integrity_checked_at": r["integrity_at"],
        "integrity_broken": json.loads(detail) if detail else None,
        "legal_hold": bool(r["legal_hold"]), "hold_reason": r["hold_reason"],
    }


class Catalog(Protocol):
    """Sessions, case numbers, holds and verify results of every node (async, pooled)."""

    async def start(self) -> None:
        """Connect and bring the schema up to date (every pending migration, once)."""

    async def aclose(self) -> None:
        """Close every connection; idempotent."""

    async def schema_version(self) -> int:
        """The newest applied migration."""

    async def put_session(self, row: CatalogRow) -> None:
        """Insert or update a session (holds kept; a verify kept while its head is)."""

    async def put_sessions(self, rows: Sequence[CatalogRow]) -> None:
        """Many sessions in one transaction (reindex)."""

    async def search(self, query: Query) -> list[dict[str, Any]]:
        """Sessions matching the query, newest first."""

    async def get(self, session_id: str) -> dict[str, Any] | None:
        """One session, or None."""

    async def set_hold(self, session_id: str, hold: bool, reason: str | None, by: str | None,
                       at: str | None) -> None:
        """A session's legal hold state."""

    async def set_integrity(self, session_id: str, state: str, at: str, head: str | None,
                            detail: Mapping[str, Any] | None) -> None:
        """The outcome of a verify of the session whose head was `head`."""

    async def forget(self, session_id: str) -> None:
        """Drop a removed session."""

    async def set_pending_case(self, officer: str, case: str, at: str) -> None:
        """A case number for the officer's next session, whichever node records it."""

    async def take_pending_case(self, officer: str) -> str | None:
        """The officer's waiting case number, removed as it is taken (once, on one node)."""

    async def pending_case(self, officer: str) -> str | None:
        """The officer's waiting case number, left in place."""

    async def put_materials(self, node: str | None, materials: Sequence[Mapping[str, Any]]
                            ) -> None:
        """Materials sealed on `node` (as the API shows them), inserted or updated."""

    async def search_materials(self, query: MaterialQuery) -> list[dict[str, Any]]:
        """Materials of every node matching the query, newest arrival first."""

    async def put_node(self, node: str, url: str, at: str) -> None:
        """The URL other nodes reach `node` at (its cluster URL), as it said at `at`."""

    async def node_url(self, node: str) -> str | None:
        """The cluster URL `node` last gave, or None."""


def as_dict(row: CatalogRow) -> dict[str, Any]:
    """A row as plain data (tests, bench)."""
    return asdict(row)
