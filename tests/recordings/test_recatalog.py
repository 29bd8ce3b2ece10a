"""`fieldrelay reindex --from-archive`: the catalog rebuilt from the archive alone (moto's S3
server), every node's sessions with their node and legal holds, on either backend."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.s3server import CREDENTIALS, MotoServer
from recordings.archive.backlog import Backlog
from recordings.catalog_pg import PgCatalog
from recordings.catalog_schema import Query
from recordings.catalog_sql import SqlCatalog
from recordings.catalog_sqlite import SqliteCatalog
from recordings.holds import set_hold
from recordings.session import Evidence
from tests.archive_tools import URL, archiver_for, make_bucket, record_session
from tests.archive_tools import moto as moto
from tests.catalog_tools import BACKENDS, create_database, drop_database, pg_url
from tests.conftest import REPO
from tests.recordings.test_restore import archived_node


@pytest.mark.parametrize("backend", BACKENDS)
async def test_the_catalog_comes_back_from_the_archive_alone(
        tmp_path: Path, moto: MotoServer, backend: str) -> None:
    await make_bucket(moto.endpoint, lock=False)
    first = await archived_node(tmp_path / "n1", moto.endpoint, sessions=2)
    # A second node, with a held session, archiving under its own name.
    backlog = Backlog(tmp_path / "n2")
    evidence = Evidence(tmp_path / "n2", "n2", archive=backlog)
    held = record_session(evidence, "o3", segments=1, at=1795790000.0).name
    set_hold(evidence.node_ledger, held, True, "appeal", "r1")
    archiver = archiver_for(tmp_path / "n2", evidence, backlog, moto.endpoint, node="n2")
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30)
        finally:
            await archiver.aclose()
    database = await create_database() if backend == "postgresql" else None
    try:
        extra = ["--database-url", pg_url(database)] if database else []
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "fieldrelay", "reindex", "--from-archive", "--data-dir",
             str(tmp_path / "fresh"), "--archive-url", URL, "--archive-endpoint",
             moto.endpoint, *extra],
            capture_output=True, text=True, env={**os.environ, **CREDENTIALS}, cwd=REPO,
            timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "catalogued 3 sessions" in done.stdout
        catalog: SqlCatalog = (PgCatalog(pg_url(database)) if database
                               else SqliteCatalog.of_data_dir(tmp_path / "fresh"))
        await catalog.start()
        try:
            rows = await catalog.search(Query())
            by_id = {r["id"]: r for r in rows}
            assert set(by_id) == {*first, held}
            assert {by_id[s]["node"] for s in first} == {"n1"}
            assert by_id[held]["node"] == "n2" and by_id[held]["legal_hold"]
            assert by_id[held]["hold_reason"] == "appeal"
            assert all(r["state"] == "sealed" and r["segments"] >= 1 for r in rows)
        finally:
            await catalog.aclose()
    finally:
        if database is not None:
            await drop_database(database)


def test_reindex_takes_the_database_password_as_serve_does(tmp_path: Path) -> None:
    """--database-password-file is read (a missing file is named), and a password given twice
    is refused, before anything is read from the archive."""
    base = [sys.executable, "-m", "fieldrelay", "reindex", "--from-archive", "--data-dir",
            str(tmp_path / "fresh"), "--archive-url", URL, "--database-url",
            "postgresql:///nowhere?host=/var/run/postgresql"]
    missing = subprocess.run([*base, "--database-password-file", str(tmp_path / "no-such")],
                             capture_output=True, text=True, cwd=REPO, timeout=60,
                             env={**os.environ, **CREDENTIALS})
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert "--database-password-file" in missing.stderr and "cannot read it" in missing.stderr
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    twice = subprocess.run([*base, "--database-password-file", str(secret)],
                           capture_output=True, text=True, cwd=REPO, timeout=60,
                           env={**os.environ, **CREDENTIALS,
                                "FIELDRELAY_DATABASE_PASSWORD": "other"})
    assert twice.returncode == 2, twice.stdout + twice.stderr
    assert "give it once" in twice.stderr
    assert "s3cret" not in twice.stderr + twice.stdout
