"""The catalog backends for tests: SQLite in the test's folder, PostgreSQL in a database of
the test's own (created on the machine's server through its Unix socket, dropped after)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from recordings.catalog_pg import PgCatalog
from recordings.catalog_sql import SqlCatalog
from recordings.catalog_sqlite import SqliteCatalog

PG_SOCKET = "/var/run/postgresql"
BACKENDS = ("sqlite", "postgresql")


def pg_url(database: str) -> str:
    return f"postgresql:///{database}?host={PG_SOCKET}"


async def create_database() -> str:
    """A fresh, uniquely named database; its name."""
    name = f"fieldrelay_test_{secrets.token_hex(6)}"
    async with await psycopg.AsyncConnection.connect(pg_url("postgres"),
                                                     autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    return name


async def drop_database(name: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url("postgres"),
                                                     autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """The URL of a PostgreSQL database of the test's own, dropped after."""
    name = await create_database()
    try:
        yield pg_url(name)
    finally:
        await drop_database(name)


CatalogFactory = Callable[[], Awaitable[SqlCatalog]]


@pytest.fixture(params=BACKENDS)
async def new_catalog(request: pytest.FixtureRequest,
                      tmp_path: Path) -> AsyncIterator[CatalogFactory]:
    """Start catalogs of one backend, all on the same store (as nodes share one); each is
    closed, and the PostgreSQL database dropped, at teardown."""
    opened: list[SqlCatalog] = []
    database = await create_database() if request.param == "postgresql" else None

    async def start() -> SqlCatalog:
        catalog: SqlCatalog = (PgCatalog(pg_url(database)) if database is not None
                               else SqliteCatalog(tmp_path / "catalog.sqlite"))
        opened.append(catalog)
        await catalog.start()
        return catalog

    try:
        yield start
    finally:
        for catalog in opened:
            await catalog.aclose()
        if database is not None:
            await drop_database(database)


async def catalog_get(http: aiohttp.ClientSession, url: str, headers: dict[str, str],
                      timeout_s: float = 20.0) -> dict[str, Any]:
    """GET a catalog route's JSON. A node connects and migrates its catalog after it starts
    listening (it records whether or not the database is up), so a 503 catalog_unavailable
    just after start is waited out; anything else but 200 fails the test."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with http.get(url, headers=headers) as resp:
            body: dict[str, Any] = await resp.json()
            if resp.status == 200:
                return body
            assert resp.status == 503 and body.get("error") == "catalog_unavailable", body
            assert time.monotonic() < deadline, body
        await asyncio.sleep(0.2)
