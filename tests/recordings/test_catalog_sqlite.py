"""The SQLite catalog's one connection under cancellation: a task cancelled while its statement
runs cannot stop that statement, so what follows (the rollback, the next transaction, the close)
must wait for it instead of running beside it on another thread (sqlite3 crashes the process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from recordings.catalog_sqlite import SqliteCatalog

# A statement that keeps the connection busy for a while (a few hundred ms on these machines).
SLOW = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
        "SELECT count(*) AS n FROM c")


async def slow_transaction(catalog: SqliteCatalog, started: asyncio.Event) -> None:
    async with catalog.tx() as tx:
        started.set()
        await tx.rows(SLOW)
        await tx.run("INSERT INTO catalog_pending_cases (officer, case_number, set_at)"
                     " VALUES ('o1', 'C-1', 'now')")


async def cancel_mid_statement(catalog: SqliteCatalog) -> None:
    started = asyncio.Event()
    task = asyncio.create_task(slow_transaction(catalog, started))
    await started.wait()
    await asyncio.sleep(0.05)  # the slow statement is now running on the connection's thread
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_transaction_cancelled_mid_statement_rolls_back_and_the_next_one_runs(
        tmp_path: Path) -> None:
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
    await catalog.start()
    try:
        for _ in range(3):
            await cancel_mid_statement(catalog)
        async with catalog.tx() as tx:
            rows = await tx.rows("SELECT count(*) AS n FROM catalog_pending_cases")
        assert rows == [{"n": 0}], "the cancelled transaction's insert must not stay"
    finally:
        await catalog.aclose()


async def test_closing_while_a_cancelled_statement_still_runs_waits_for_it(
        tmp_path: Path) -> None:
    for _ in range(3):
        catalog = SqliteCatalog(tmp_path / "catalog.sqlite")
        await catalog.start()
        started = asyncio.Event()
        task = asyncio.create_task(slow_transaction(catalog, started))
        await started.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        await catalog.aclose()  # the statement is still running when the close is asked for
        with pytest.raises(asyncio.CancelledError):
            await task
    reopened = SqliteCatalog(tmp_path / "catalog.sqlite")
    await reopened.start()
    try:
        async with reopened.tx() as tx:
            assert await tx.rows("SELECT count(*) AS n FROM catalog_pending_cases") == [{"n": 0}]
    finally:
        await reopened.aclose()


async def test_nodes_starting_together_on_one_file_all_start(tmp_path: Path) -> None:
    # SQLite refuses one of two connections switching a new file to WAL at the same moment
    # at once ("locked") rather than wait: that must not stop a node's start.
    for n in range(60):
        catalogs = [SqliteCatalog(tmp_path / f"c{n}.sqlite") for _ in range(3)]
        try:
            await asyncio.gather(*(c.start() for c in catalogs))
        finally:
            for catalog in catalogs:
                await catalog.aclose()
