"""The catalog in SQLite: the embedded default, one file in the data dir.

One connection, used by one transaction at a time (an asyncio lock) on one thread of its own, so
the event loop never waits for the disk. The thread is the connection's only user: a task
cancelled while its statement runs cannot stop that statement, and sqlite3 crashes the process
when the rollback or the close that follows runs beside it on another thread.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from fieldrelay.files import private_dir, touch_private
from recordings.catalog_sql import SqlCatalog, Tx

CATALOG_FILE = Path("index") / "catalog.sqlite"

T = TypeVar("T")


class _ConnectionThread:
    """The one thread that touches the connection; calls run in the order they were made."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="catalog-sqlite")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection, thread: _ConnectionThread) -> None:
        self._conn = conn
        self._thread = thread

    async def rows(self, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            return [dict(r) for r in self._conn.execute(sql, tuple(args)).fetchall()]
        return await self._thread.call(run)

    async def run(self, sql: str, args: Sequence[object] = ()) -> None:
        await self._thread.call(self._conn.execute, sql, tuple(args))

    async def run_many(self, sql: str, args: Sequence[Sequence[object]]) -> None:
        if args:
            await self._thread.call(self._conn.executemany, sql, [tuple(a) for a in args])


# Switching to WAL while another process's connection switches too can be refused at once
# (SQLite answers "locked" instead of waiting when waiting could deadlock): tried again, bounded.
WAL_TRIES = 100
WAL_RETRY_S = 0.05


def _into_wal(conn: sqlite3.Connection) -> None:
    for attempt in range(WAL_TRIES):
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_TRIES - 1:
                raise
            time.sleep(WAL_RETRY_S)


def _rollback(conn: sqlite3.Connection) -> None:
    # A BEGIN whose task was cancelled before the thread reached it never ran.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


class SqliteCatalog(SqlCatalog):
    """`Catalog` in `<data>/index/catalog.sqlite` (or any file given)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._thread: _ConnectionThread | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> SqliteCatalog:
        return cls(data_dir / CATALOG_FILE)

    async def start(self) -> None:
        def connect() -> sqlite3.Connection:
            touch_private(private_dir(self.path.parent) / self.path.name)
            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                   isolation_level=None)
            try:
                conn.row_factory = sqlite3.Row
                _into_wal(conn)
                conn.execute("PRAGMA synchronous=NORMAL")
            except BaseException:
                conn.close()
                raise
            return conn
        if self._conn is None:
            thread = _ConnectionThread()
            try:
                self._conn = await thread.call(connect)
            except BaseException:
                await asyncio.to_thread(thread.shutdown)
                raise
            self._thread = thread
        await self.migrate()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        thread, self._thread = self._thread, None
        if conn is None or thread is None:
            return
        try:
            # After the transaction under way has ended (its rollback included), and queued
            # behind every statement already handed to the thread, cancelled or not.
            async with self._lock:
                await asyncio.shield(thread.call(conn.close))
        finally:
            await asyncio.shield(asyncio.to_thread(thread.shutdown))

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Tx]:
        if self._conn is None or self._thread is None:
            raise RuntimeError("the catalog is not started")
        conn, thread = self._conn, self._thread
        async with self._lock:
            try:
                await thread.call(conn.execute, "BEGIN IMMEDIATE")
                yield _SqliteTx(conn, thread)
            except BaseException:
                await asyncio.shield(thread.call(_rollback, conn))
                raise
            await asyncio.shield(thread.call(conn.execute, "COMMIT"))

    def tx(self) -> AbstractAsyncContextManager[Tx]:
        return self._transaction()
