"""What the archive tests share: a moto S3 server per test, buckets, and sessions written
through the real ledger files (so every seal point feeds the backlog as in a node)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession

from bench.common import free_port
from bench.s3server import BUCKET, CREDENTIALS, MotoServer
from recordings.archive.backlog import Backlog
from recordings.archive.confirmed import ArchiveChain
from recordings.archive.drain import Archiver
from recordings.archive.s3 import ArchiveStore, StoreSettings
from recordings.layout import OPEN_MARKER, new_session_id
from recordings.recovery import seal_chain
from recordings.segments import file_sha256
from recordings.session import Evidence
from recordings.store import LedgerFile

URL = f"s3://{BUCKET}/fieldrelay"


@pytest.fixture
def moto(monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    """A moto S3 server of this test's own on a free loopback port (stopped at teardown)."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server = MotoServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def client(endpoint: str) -> Any:
    """A plain aiobotocore S3 client for the test's own look at the store."""
    return AioSession().create_client("s3", endpoint_url=endpoint, region_name="us-east-1",
                                      aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                                      aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])


async def make_bucket(endpoint: str, lock: bool) -> None:
    """The archive bucket, with Object Lock (and so versioning) when `lock`."""
    async with client(endpoint) as s3:
        if lock:
            await s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
            await s3.put_object_lock_configuration(
                Bucket=BUCKET, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
        else:
            await s3.create_bucket(Bucket=BUCKET)


async def all_keys(endpoint: str) -> dict[str, bytes]:
    """Every object of the bucket with its bytes."""
    out: dict[str, bytes] = {}
    async with client(endpoint) as s3:
        paginator = s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=BUCKET):
            for obj in page.get("Contents", []):
                answer = await s3.get_object(Bucket=BUCKET, Key=obj["Key"])
                async with answer["Body"] as body:
                    out[obj["Key"]] = await body.read()
    return out


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def archiver_for(data: Path, evidence: Evidence, backlog: Backlog, endpoint: str,
                 node: str = "n1", concurrency: int = 4, max_backoff_s: float = 0.5,
                 lock_days: float = 3.0) -> Archiver:
    """An archiver of the data dir, as the node builds it (its store still to be entered)."""
    store = ArchiveStore(StoreSettings(url=URL, endpoint=endpoint, lock_days=lock_days,
                                       timeout_s=2.0))
    return Archiver(data, node, backlog, store, ArchiveChain(data, evidence.key, backlog),
                    concurrency, max_backoff_s)


def record_session(evidence: Evidence, officer: str = "o1", segments: int = 2,
                   at: float = 1795770000.0, seal: bool = True) -> Path:
    """A session chain with `segments` segment files, written through the evidence store's
    ledger files (and so queued for its archive), sealed unless told otherwise."""
    session = new_session_id(officer, at)
    folder = evidence.sessions_dir / session
    folder.mkdir()
    (folder / OPEN_MARKER).write_text("recording\n")
    ledger = LedgerFile(folder, evidence.key, archive=evidence.archive)
    ledger.append({"kind": "session.start", "session": session, "officer": officer,
                   "node": evidence.node_id, "at": "2026-11-27T10:00:00.000Z", "case": "C-1",
                   "media": {"video": "video/vp8", "audio": None}, "container": "webm"})
    ledger.sign_head()
    evidence.node_ledger.append({"kind": "session.opened", "session": session,
                                 "officer": officer, "at": "2026-11-27T10:00:00.000Z"})
    for index in range(1, segments + 1):
        path = folder / f"seg-{index:06d}.webm"
        path.write_bytes(os.urandom(2000 + index))
        ledger.append({"kind": "segment", "session": session, "officer": officer,
                       "case": "C-1", "index": index, "file": path.name,
                       "size": path.stat().st_size, "sha256": file_sha256(path),
                       "start": "2026-11-27T10:00:00.000Z", "end": "2026-11-27T10:00:06.000Z",
                       "media_start_ms": (index - 1) * 6000, "media_end_ms": index * 6000,
                       "partial": False})
        ledger.sign_head()
    if seal:
        seal_chain(ledger, evidence.node_ledger, evidence.notify, session, "sealed", "stopped",
                   segments)
        (folder / OPEN_MARKER).unlink()
    return folder
