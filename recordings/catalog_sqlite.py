"""The catalog in SQLite: the embedded default, one file in the data dir.

One connection, used by one transaction at a time (an asyncio lock) in worker threads, so
the event loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fieldrelay.files import private_dir, touch_private
from recordings.catalog_sql import SqlCatalog, Tx

CATALOG_FILE = Path("index") / "catalog.sqlite"


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            return [dict(r) for r in self._conn.execute(sql, tuple(args)).fetchall()]
        return await asyncio.to_thread(run)

    async def run(self, sql: str, args: Sequence[object] = ()) -> None:
        await asyncio.to_thread(self._conn.execute, sql, tuple(args))

    async def run_many(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        if args:
            await asyncio.to_thread(self._conn.executemany, sql, [tuple(a) for a in args])


class SqliteCatalog(SqlCatalog):
    """`Catalog` in `<data>/index/catalog.sqlite` (or any file given)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> SqliteCatalog:
        return cls(data_dir / CATALOG_FILE)

    async def start(self) -> None:
        def connect() -> sqlite3.Connection:
            touch_private(private_dir(self.path.parent) / self.path.name)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        if self._conn is None:
            self._conn = await asyncio.to_thread(connect)
        await self.migrate()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        if self._conn is None:
            raise RuntimeError("the catalog is not started")
        conn = self._conn
        async with self._lock:
            await asyncio.to_thread(conn.execute, "BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(conn)
            except BaseException:
                await asyncio.shield(asyncio.to_thread(conn.execute, "ROLLBACK"))
                raise
            await asyncio.shield(asyncio.to_thread(conn.execute, "COMMIT"))

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        return self._transaction()
