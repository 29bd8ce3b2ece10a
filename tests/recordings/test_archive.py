"""The archive against a real S3 endpoint (moto's standalone server on loopback): every seal
point reaches the store with its checksum and Object Lock, the backlog outlives an outage and
a kill -9 and drains in order, and retention never removes what the store has not confirmed."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.s3server import BUCKET, CREDENTIALS, MotoServer
from recordings.archive.backlog import Backlog
from recordings.archive.confirmed import archived_sources
from recordings.archive.s3 import ArchiveStore, StoreSettings, StoreUnavailable
from recordings.archive.sink import LEDGER_LINE
from recordings.ledger import check_chain
from recordings.retention import candidates
from recordings.session import Evidence
from recordings.store import read_entries
from tests.archive_tools import (
    URL,
    all_keys,
    archiver_for,
    b64sha,
    client,
    make_bucket,
    record_session,
)
from tests.archive_tools import moto as moto
from tests.conftest import REPO

PREFIX = "fieldrelay/n1/"


def chain_lines(path: Path) -> list[bytes]:
    return [line + b"\n" for line in path.read_bytes().split(b"\n") if line]


def stored_lines(keys: dict[str, bytes], folder: str, kind: str = "ledger.lines") -> list[bytes]:
    """The line objects of one chain folder, in key (seq) order."""
    start = f"{PREFIX}{folder}/{kind}/"
    return [keys[k] for k in sorted(keys) if k.startswith(start)]


async def test_every_seal_point_reaches_the_store_checked_and_locked(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=True)
    backlog = Backlog(tmp_path)
    evidence = Evidence(tmp_path, "n1", archive=backlog)
    folder = record_session(evidence, segments=2)
    archiver = archiver_for(tmp_path, evidence, backlog, moto.endpoint, lock_days=3.0)
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30)
        finally:
            await archiver.aclose()
    keys = await all_keys(moto.endpoint)
    session = f"sessions/{folder.name}"
    # Segments and the sealed chain as whole objects, the public key beside them.
    for name in ("seg-000001.webm", "seg-000002.webm", "ledger.jsonl", "heads.jsonl"):
        assert keys[f"{PREFIX}{session}/{name}"] == (folder / name).read_bytes()
    assert keys[f"{PREFIX}keys/node-ed25519.pub.pem"] == (
        tmp_path / "keys" / "node-ed25519.pub.pem").read_bytes()
    # Every line of every chain, one object each, byte for byte.
    assert stored_lines(keys, session) == chain_lines(folder / "ledger.jsonl")
    assert stored_lines(keys, session, "heads.lines") == chain_lines(folder / "heads.jsonl")
    assert stored_lines(keys, "ledger") == chain_lines(tmp_path / "ledger" / "ledger.jsonl")
    # The store holds each copy under its SHA-256 and COMPLIANCE retention for lock_days.
    async with client(moto.endpoint) as s3:
        head = await s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}{session}/seg-000001.webm",
                                    ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64sha((folder / "seg-000001.webm").read_bytes())
    assert head["ObjectLockMode"] == "COMPLIANCE"
    until = head["ObjectLockRetainUntilDate"]
    expected = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=3)
    assert abs((until - expected).total_seconds()) < 120
    # A locked copy cannot be deleted.
    async with client(moto.endpoint) as s3:
        try:
            await s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}{session}/seg-000001.webm",
                                   VersionId=head["VersionId"])
            deleted = True
        except Exception:
            deleted = False
    assert not deleted
    # The archive chain names every copy with its key and version, and is a sound chain.
    entries = list(read_entries(tmp_path / "archive" / "ledger.jsonl"))
    assert check_chain(entries) is None
    copies = archived_sources(tmp_path)
    seg = copies[("segment", f"{session}/seg-000001.webm")]
    assert seg["key"] == f"{PREFIX}{session}/seg-000001.webm"
    assert seg["version"] == head["VersionId"] and seg["retain_until"]
    assert ("sealed.file", f"{session}/ledger.jsonl") in copies
    # The archive chain's own lines are copied too (a batch of lines per object).
    assert b"".join(stored_lines(keys, "archive")) == (
        tmp_path / "archive" / "ledger.jsonl").read_bytes()
    assert backlog.names() == []


async def test_an_outage_is_waited_out_and_the_backlog_drains_in_order(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=False)
    backlog = Backlog(tmp_path)
    evidence = Evidence(tmp_path, "n1", archive=backlog)
    archiver = archiver_for(tmp_path, evidence, backlog, moto.endpoint, concurrency=3)
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30)
            moto.stop()  # the store goes down
            for n in range(12):
                evidence.node_ledger.append({"kind": "session.opened", "session": f"s{n}",
                                             "officer": "o1", "at": "2026-11-27T10:00:00.000Z"})
            await asyncio.sleep(2.0)
            assert not archiver.status.store_up and archiver.status.failures > 0
            assert archiver.status.backlog == 12
            assert archiver.status.oldest_age_s(time.time()) >= 1.5
            moto.start()  # back, empty (moto keeps nothing): the bucket is made again
            await make_bucket(moto.endpoint, lock=False)
            assert await archiver.drained(30)
            assert archiver.status.store_up
        finally:
            await archiver.aclose()
    keys = await all_keys(moto.endpoint)
    assert stored_lines(keys, "ledger") == chain_lines(tmp_path / "ledger" / "ledger.jsonl")
    # Drained oldest first, three at a time: the archive chain names the node chain's lines
    # in their order, give or take the three copies in flight together.
    seqs = [int(e["key"].rsplit("/", 1)[1].split(".")[0])
            for e in read_entries(tmp_path / "archive" / "ledger.jsonl")
            if e.get("item") == LEDGER_LINE and e.get("source") == "ledger/ledger.jsonl"]
    assert sorted(seqs) == list(range(12))
    assert all(seq > max(seqs[:n], default=-1) - 3 for n, seq in enumerate(seqs))


WRITER = """
import asyncio, sys, time
from pathlib import Path
from recordings.archive.backlog import Backlog
from recordings.session import Evidence
from tests.archive_tools import archiver_for, record_session

async def main() -> None:
    data, endpoint = Path(sys.argv[1]), sys.argv[2]
    backlog = Backlog(data)
    evidence = Evidence(data, "n1", archive=backlog)
    archiver = archiver_for(data, evidence, backlog, endpoint, concurrency=2)
    async with archiver.store:
        archiver.start()
        n = 0
        while True:
            await asyncio.to_thread(record_session, evidence, "o1", 3, 1795770000.0 + n)
            n += 1
            print(n, flush=True)
            await asyncio.sleep(0.01)

asyncio.run(main())
"""


def record_then_kill(data: Path, endpoint: str) -> None:
    """Run a recording, archiving process until six sessions are sealed, then kill -9 it."""
    env = {**os.environ, **CREDENTIALS, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data), endpoint],
                            stdout=subprocess.PIPE, env=env, cwd=REPO)
    try:
        assert proc.stdout is not None
        for _ in range(6):  # six sessions recorded, copies mid-flight
            assert proc.stdout.readline(), "the writer process died"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_kill_9_while_recording_and_draining_loses_no_copy(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=True)
    data = tmp_path / "data"
    await asyncio.to_thread(record_then_kill, data, moto.endpoint)
    # A restarted node drains what the killed one left queued.
    backlog = Backlog(data)
    evidence = Evidence(data, "n1", archive=backlog)
    archiver = archiver_for(data, evidence, backlog, moto.endpoint)
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(60)
        finally:
            await archiver.aclose()
    keys = await all_keys(moto.endpoint)
    sessions = sorted((data / "sessions").iterdir())
    assert len(sessions) >= 6
    for folder in sessions:
        rel = f"sessions/{folder.name}"
        assert stored_lines(keys, rel) == chain_lines(folder / "ledger.jsonl"), folder.name
        for seg in folder.glob("seg-*"):
            assert keys[f"{PREFIX}{rel}/{seg.name}"] == seg.read_bytes()
    assert stored_lines(keys, "ledger") == chain_lines(data / "ledger" / "ledger.jsonl")


async def test_a_file_changed_after_its_seal_is_never_copied(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=False)
    backlog = Backlog(tmp_path)
    evidence = Evidence(tmp_path, "n1", archive=backlog)
    folder = record_session(evidence, segments=1)
    seg = folder / "seg-000001.webm"
    seg.write_bytes(b"altered" + seg.read_bytes())
    archiver = archiver_for(tmp_path, evidence, backlog, moto.endpoint)
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30)
        finally:
            await archiver.aclose()
    keys = await all_keys(moto.endpoint)
    assert f"{PREFIX}sessions/{folder.name}/seg-000001.webm" not in keys
    assert archiver.status.refused == 1
    assert len(list((tmp_path / "archive" / "refused").iterdir())) == 1


async def test_retention_keeps_a_session_until_the_archive_confirmed_it(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=False)
    backlog = Backlog(tmp_path)
    evidence = Evidence(tmp_path, "n1", archive=backlog)
    folder = record_session(evidence, segments=2)
    later = time.time() + 400 * 86400
    [kept] = candidates(tmp_path, 90, now=later)
    assert kept.session == folder.name
    assert kept.kept_because == "copies still queued for the archive"
    archiver = archiver_for(tmp_path, evidence, backlog, moto.endpoint)
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30)
        finally:
            await archiver.aclose()
    [free] = candidates(tmp_path, 90, now=later)
    assert free.kept_because is None
    # A copy the archive chain does not name (queued, then lost) keeps the session too.
    (tmp_path / "archive" / "ledger.jsonl").rename(tmp_path / "archive" / "moved.jsonl")
    [held] = candidates(tmp_path, 90, now=later)
    assert held.kept_because is not None and "has not confirmed" in held.kept_because
    assert URL.startswith("s3://")


async def test_a_copy_the_store_refuses_is_never_confirmed(tmp_path: Path, moto: MotoServer
                                                           ) -> None:
    # Copies are signed PUTs of their own (not the generated client's): a refusal by the store
    # must still come back as "not now", never as a confirmed copy.
    await make_bucket(moto.endpoint, lock=False)
    body = b"a sealed line\n"
    good = hashlib.sha256(body).hexdigest()
    async with client(moto.endpoint) as s3:
        await s3.create_bucket(Bucket="going-away")
    gone = StoreSettings(url="s3://going-away/fieldrelay", endpoint=moto.endpoint,
                         timeout_s=5.0)
    async with ArchiveStore(gone) as store:
        await store.put("fieldrelay/n1/first.json", body, good, time.time())
        async with client(moto.endpoint) as s3:
            await s3.delete_object(Bucket="going-away", Key="fieldrelay/n1/first.json")
            await s3.delete_bucket(Bucket="going-away")
        with pytest.raises(StoreUnavailable, match="HTTP 404"):
            await store.put("fieldrelay/n1/second.json", body, good, time.time())
    settings = StoreSettings(url=URL, endpoint=moto.endpoint, timeout_s=5.0)
    async with ArchiveStore(settings) as store:
        copy = await store.put("fieldrelay/n1/ok.json", body, good, time.time())
        assert (copy.key, copy.sha256, copy.size, copy.retain_until) == (
            "fieldrelay/n1/ok.json", good, len(body), None)
        assert await all_keys(moto.endpoint) == {"fieldrelay/n1/ok.json": body}
        async with client(moto.endpoint) as s3:
            head = await s3.head_object(Bucket=BUCKET, Key="fieldrelay/n1/ok.json",
                                        ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == b64sha(body)
        # The store is gone: the next copy fails as "not now" (the drainer backs off).
        moto.stop()
        with pytest.raises(StoreUnavailable):
            await store.put("fieldrelay/n1/later.json", body, good, time.time())
