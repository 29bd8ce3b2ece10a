"""A backlog item that is valid JSON but no item (a disk or a hand wrote over it) is set aside
with a reason in the log, and the drain goes on with the items after it (moto's S3 server)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from bench.s3server import MotoServer
from recordings.archive.backlog import ARCHIVE_DIR, REFUSED_DIR, Backlog
from recordings.session import Evidence
from tests.archive_tools import all_keys, archiver_for, make_bucket, record_session
from tests.archive_tools import moto as moto

DAMAGED = {
    "00000000000000000001-0000001-000000001.json": {},
    "00000000000000000002-0000001-000000001.json": [1, 2, 3],
    "00000000000000000003-0000001-000000001.json": {"kind": "segment", "path": "x", "key": 7,
                                                    "at": 0},
    "00000000000000000004-0000001-000000001.json": {"kind": "nonsense", "path": "x",
                                                    "key": "k", "at": 0},
    "00000000000000000005-0000001-000000001.json": {"kind": "ledger.line", "path": "x",
                                                    "key": "k", "at": 0, "data": "not base64!"},
}


async def test_items_that_are_not_items_are_set_aside_and_the_rest_drains(
        tmp_path: Path, moto: MotoServer, caplog: pytest.LogCaptureFixture) -> None:
    await make_bucket(moto.endpoint, lock=False)
    backlog = Backlog(tmp_path)
    evidence = Evidence(tmp_path, "n1", archive=backlog)
    backlog.dir.mkdir(parents=True, exist_ok=True)
    for name, body in DAMAGED.items():  # queued before everything else
        (backlog.dir / name).write_text(json.dumps(body))
    session = record_session(evidence, segments=2)
    archiver = archiver_for(tmp_path, evidence, backlog, moto.endpoint)
    caplog.set_level(logging.ERROR, logger="recordings.archive.backlog")
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30), "the drain stopped at a damaged item"
        finally:
            await archiver.aclose()
    refused = tmp_path / ARCHIVE_DIR / REFUSED_DIR
    assert sorted(p.name for p in refused.iterdir()) == sorted(DAMAGED)
    assert sum("is not an item" in r.getMessage() for r in caplog.records) == len(DAMAGED)
    keys = await all_keys(moto.endpoint)
    assert any(k.endswith(f"{session.name}/seg-000002.webm") for k in keys), sorted(keys)[:20]
    assert archiver.status.last_error is None
