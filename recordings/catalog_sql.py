"""The catalog's logic, once for both backends: each runs it through its own transactions.

A backend provides `tx()`, an async context manager yielding a `Tx` (one transaction on one
connection); everything else, the migrations included, is written here against that.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from recordings.catalog_schema import (
    MATERIAL_UPSERT,
    MIGRATIONS_TABLE,
    UPSERT,
    CatalogRow,
    MaterialQuery,
    Query,
    material_args,
    material_sql,
    pending_migrations,
    public,
    public_material_row,
    search_sql,
    upsert_args,
)


class Tx(Protocol):
    """One transaction: statements with `?` placeholders."""

    async def rows(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts."""

    async def run(self, sql: str, args: Sequence[object] = ()) -> None:
        """Run a statement."""

    async def run_many(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        """Run a statement once per parameter tuple."""


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class SqlCatalog:
    """`Catalog` over any backend's transactions (SQLite and PostgreSQL subclass it)."""

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        """A transaction (committed on leaving, rolled back on an error)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Connect and bring the schema up to date."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Close every connection; idempotent."""
        raise NotImplementedError

    async def lock_for_migrations(self, tx: Tx) -> None:
        """Keep two nodes from migrating at once (PostgreSQL takes an advisory lock)."""

    async def migrate(self) -> int:
        """Apply every pending migration in one transaction; returns how many."""
        async with self.tx() as tx:
            await self.lock_for_migrations(tx)
            await tx.run(MIGRATIONS_TABLE)
            applied = [int(r["version"]) for r in
                       await tx.rows("SELECT version FROM catalog_migrations")]
            todo = pending_migrations(applied)
            for migration in todo:
                for statement in migration.statements:
                    await tx.run(statement)
                await tx.run("INSERT INTO catalog_migrations (version, name, applied_at)"
                             " VALUES (?, ?, ?)", (migration.version, migration.name, _now()))
        return len(todo)

    async def schema_version(self) -> int:
        async with self.tx() as tx:
            rows = await tx.rows("SELECT MAX(version) AS v FROM catalog_migrations")
        return int(rows[0]["v"] or 0) if rows else 0

    async def put_session(self, row: CatalogRow) -> None:
        await self.put_sessions([row])

    async def put_sessions(self, rows: Sequence[CatalogRow]) -> None:
        if not rows:
            return
        async with self.tx() as tx:
            await tx.run_many(UPSERT, [upsert_args(r) for r in rows])
            ids = [(r.id,) for r in rows]
            await tx.run_many("DELETE FROM catalog_cases WHERE session = ?", ids)
            await tx.run_many(
                "INSERT INTO catalog_cases (session, position, case_number) VALUES (?, ?, ?)",
                [(r.id, n, c) for r in rows for n, c in enumerate(r.cases)])

    async def analyze(self) -> None:
        """Refresh the planner's statistics after a bulk load (reindex), so searches take the
        indexes at once rather than after the database's own next analysis."""
        async with self.tx() as tx:
            await tx.run("ANALYZE")

    async def search(self, query: Query) -> list[dict[str, Any]]:
        sql, args = search_sql(query)
        async with self.tx() as tx:
            rows = await tx.rows(sql, args)
            cases = await self._cases(tx, [r["id"] for r in rows])
        return [public(r, cases.get(r["id"], [])) for r in rows]

    async def get(self, session_id: str) -> dict[str, Any] | None:
        async with self.tx() as tx:
            rows = await tx.rows("SELECT * FROM catalog_sessions WHERE id = ?", (session_id,))
            cases = await self._cases(tx, [session_id]) if rows else {}
        return public(rows[0], cases.get(session_id, [])) if rows else None

    @staticmethod
    async def _cases(tx: Tx, ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if not ids:
            return out
        marks = ",".join("?" for _ in ids)
        for r in await tx.rows(f"SELECT session, case_number FROM catalog_cases WHERE session"
                               f" IN ({marks}) ORDER BY session, position", ids):
            out.setdefault(r["session"], []).append(r["case_number"])
        return out

    async def set_hold(self, session_id: str, hold: bool, reason: str | None, by: str | None,
                       at: str | None) -> None:
        async with self.tx() as tx:
            await tx.run("UPDATE catalog_sessions SET legal_hold = ?, hold_reason = ?,"
                         " hold_by = ?, hold_at = ? WHERE id = ?",
                         (int(hold), reason, by, at, session_id))

    async def set_integrity(self, session_id: str, state: str, at: str, head: str | None,
                            detail: Mapping[str, Any] | None) -> None:
        async with self.tx() as tx:
            await tx.run("UPDATE catalog_sessions SET integrity = ?, integrity_at = ?,"
                         " integrity_head = ?, integrity_detail = ? WHERE id = ?",
                         (state, at, head, json.dumps(detail) if detail else None,
                          session_id))

    async def forget(self, session_id: str) -> None:
        async with self.tx() as tx:
            await tx.run("DELETE FROM catalog_cases WHERE session = ?", (session_id,))
            await tx.run("DELETE FROM catalog_sessions WHERE id = ?", (session_id,))

    async def set_pending_case(self, officer: str, case: str, at: str) -> None:
        async with self.tx() as tx:
            await tx.run("INSERT INTO catalog_pending_cases (officer, case_number, set_at)"
                         " VALUES (?, ?, ?) ON CONFLICT (officer) DO UPDATE SET"
                         " case_number = excluded.case_number, set_at = excluded.set_at",
                         (officer, case, at))

    async def take_pending_case(self, officer: str) -> str | None:
        async with self.tx() as tx:
            rows = await tx.rows("DELETE FROM catalog_pending_cases WHERE officer = ?"
                                 " RETURNING case_number", (officer,))
        return str(rows[0]["case_number"]) if rows else None

    async def pending_case(self, officer: str) -> str | None:
        async with self.tx() as tx:
            rows = await tx.rows("SELECT case_number FROM catalog_pending_cases"
                                 " WHERE officer = ?", (officer,))
        return str(rows[0]["case_number"]) if rows else None

    async def put_materials(self, node: str | None, materials: Sequence[Mapping[str, Any]]
                            ) -> None:
        if not materials:
            return
        async with self.tx() as tx:
            await tx.run_many(MATERIAL_UPSERT, [material_args(m, node) for m in materials])

    async def search_materials(self, query: MaterialQuery) -> list[dict[str, Any]]:
        sql, args = material_sql(query)
        async with self.tx() as tx:
            rows = await tx.rows(sql, args)
        return [public_material_row(r) for r in rows]

    async def put_node(self, node: str, url: str, at: str) -> None:
        async with self.tx() as tx:
            await tx.run("INSERT INTO catalog_nodes (node, url, seen_at) VALUES (?, ?, ?)"
                         " ON CONFLICT (node) DO UPDATE SET url = excluded.url,"
                         " seen_at = excluded.seen_at", (node, url, at))

    async def node_url(self, node: str) -> str | None:
        async with self.tx() as tx:
            rows = await tx.rows("SELECT url FROM catalog_nodes WHERE node = ?", (node,))
        return str(rows[0]["url"]) if rows else None
