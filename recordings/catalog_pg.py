"""The catalog in PostgreSQL (`--database-url`): one catalog for every node.

psycopg 3's async driver behind a connection pool (psycopg_pool); every call is one
transaction on a pooled connection. Migrations run under an advisory lock, so nodes that
start together apply each one once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from recordings.catalog_sql import SqlCatalog, Tx

# pg_advisory_xact_lock's key for schema migrations ("fieldrel" in ASCII).
MIGRATION_LOCK = 0x6669656C6472656C


def _pg(sql: str) -> str:
    """The shared SQL's `?` placeholders as psycopg's `%s` (no literal % is ever written)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _PgTx:
    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def rows(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        async with self._conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(_pg(sql), tuple(args))
            return list(await cur.fetchall())

    async def run(self, sql: str, args: Sequence[object] = ()) -> None:
        await self._conn.execute(_pg(sql), tuple(args))

    async def run_many(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        if args:
            async with self._conn.cursor() as cur:
                await cur.executemany(_pg(sql), [tuple(a) for a in args])


class PgCatalog(SqlCatalog):
    """`Catalog` in the PostgreSQL database of `url` (postgresql://...)."""

    def __init__(self, url: str, min_size: int = 1, max_size: int = 8,
                 password: str | None = None) -> None:
        self.url = url
        # A password from a file (--database-password-file) never goes into the URL.
        kwargs: dict[str, Any] = {"password": password} if password else {}
        self._pool = AsyncConnectionPool(url, min_size=min_size, max_size=max_size, open=False,
                                         timeout=5.0, kwargs=kwargs)
        self._open = False

    async def start(self) -> None:
        """Open the pool (it keeps connecting in the background), wait for a connection
        (PoolTimeout after 10 s: call again later), then migrate."""
        if not self._open:
            await self._pool.open(wait=False)
            self._open = True
        await self._pool.wait(timeout=10.0)
        await self.migrate()

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            await self._pool.close()

    async def lock_for_migrations(self, tx: Tx) -> None:
        await tx.rows("SELECT pg_advisory_xact_lock(?) AS locked", (MIGRATION_LOCK,))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        async with self._pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        return self._transaction()
