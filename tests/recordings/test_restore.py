"""`fieldrelay restore`: sessions come back from the archive (moto's S3 server) verified
against their node's key, and a session whose archived chain was cut is refused by name."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench.s3server import BUCKET, CREDENTIALS, MotoServer
from recordings.archive.backlog import Backlog
from recordings.archive.restore import catalogue
from recordings.index import SessionIndex
from recordings.recovery import seal_chain
from recordings.session import Evidence
from recordings.store import LedgerFile
from recordings.verify.command import check
from tests.archive_tools import URL, archiver_for, client, make_bucket, record_session
from tests.archive_tools import moto as moto
from tests.conftest import REPO


async def archived_node(data: Path, endpoint: str, sessions: int = 2,
                        case_of_last: str | None = None) -> list[str]:
    """A node's data dir with `sessions` sealed sessions, every copy confirmed."""
    backlog = Backlog(data)
    evidence = Evidence(data, "n1", archive=backlog)
    ids = [record_session(evidence, "o1", segments=2, at=1795770000.0 + n).name
           for n in range(sessions)]
    if case_of_last is not None:
        last = record_session(evidence, "o2", segments=1, at=1795779999.0, seal=False)
        # A case number set while live, then the seal, as the writer records them.
        ledger = LedgerFile(last, evidence.key, archive=backlog)
        ledger.append({"kind": "event", "session": last.name, "event": "case.set",
                       "at": "2026-11-27T10:00:03.000Z", "case": case_of_last, "by": "o2"})
        seal_chain(ledger, evidence.node_ledger, evidence.notify, last.name, "sealed",
                   "stopped", 1)
        (last / "OPEN").unlink()
        ids.append(last.name)
    archiver = archiver_for(data, evidence, backlog, endpoint)
    async with archiver.store:
        archiver.start()
        try:
            assert await archiver.drained(30)
        finally:
            await archiver.aclose()
    return ids


def run_restore(endpoint: str, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CREDENTIALS}
    return subprocess.run(
        [sys.executable, "-m", "fieldrelay", "restore", *args, "--data-dir", str(data),
         "--archive-url", URL, "--archive-endpoint", endpoint],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


async def test_a_session_comes_back_verified_onto_another_node(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=True)
    ids = await archived_node(tmp_path / "a", moto.endpoint)
    shutil.rmtree(tmp_path / "a")  # node A and its disk are gone
    done = await asyncio.to_thread(run_restore, moto.endpoint, tmp_path / "b", ids[0])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored 1, refused 0" in done.stdout
    folder = tmp_path / "b" / "restored" / "n1" / "sessions" / ids[0]
    key = tmp_path / "b" / "restored" / "n1" / "keys" / "node-ed25519.pub.pem"
    report = check(folder, public_key=key)
    assert report.ok, report.first_break
    assert sorted(p.name for p in folder.glob("seg-*")) == ["seg-000001.webm",
                                                          "seg-000002.webm"]
    assert not (tmp_path / "b" / "restored" / "n1" / "sessions" / ids[1]).exists()
    # Asked again: already here, nothing fetched twice.
    again = await asyncio.to_thread(run_restore, moto.endpoint, tmp_path / "b", ids[0])
    assert again.returncode == 0 and "already here 1" in again.stdout


async def test_the_same_node_gets_its_sessions_back_into_its_index(
        tmp_path: Path, moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=False)
    ids = await archived_node(tmp_path / "a", moto.endpoint, sessions=1, case_of_last="K-77")
    # The disk died; the node's key was kept (keys/ backed up): the same node again.
    fresh = tmp_path / "a2"
    shutil.copytree(tmp_path / "a" / "keys", fresh / "keys")
    shutil.rmtree(tmp_path / "a")
    done = await asyncio.to_thread(run_restore, moto.endpoint, fresh, "--case", "K-77")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restored 1," in done.stdout
    assert (fresh / "sessions" / ids[-1] / "ledger.jsonl").is_file()
    assert not (fresh / "sessions" / ids[0]).exists()
    row = SessionIndex(fresh).get(ids[-1])
    assert row is not None and "K-77" in row["cases"] and row["state"] == "sealed"
    everything = await asyncio.to_thread(run_restore, moto.endpoint, fresh, "--all")
    assert everything.returncode == 0 and "restored 1, refused 0, already here 1" in \
        everything.stdout


async def test_a_cut_archived_chain_is_refused_and_named(tmp_path: Path,
                                                         moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=False)
    ids = await archived_node(tmp_path / "a", moto.endpoint, sessions=1)
    shutil.rmtree(tmp_path / "a")
    # Someone with write access to an unlocked bucket cuts the chain's last lines.
    prefix = f"fieldrelay/n1/sessions/{ids[0]}/"
    async with client(moto.endpoint) as s3:
        listing = await s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix + "ledger.lines/")
        lines = sorted(o["Key"] for o in listing["Contents"])
        for key in [*lines[-2:], prefix + "ledger.jsonl"]:
            await s3.delete_object(Bucket=BUCKET, Key=key)
    done = await asyncio.to_thread(run_restore, moto.endpoint, tmp_path / "b", ids[0])
    assert done.returncode == 1
    assert f"{ids[0]}: refused, not intact" in done.stdout
    assert "entries were removed from the end of the ledger" in done.stdout
    assert not (tmp_path / "b" / "restored" / "n1" / "sessions" / ids[0]).exists()


def test_the_catalogue_takes_no_node_named_dot_or_dot_dot() -> None:
    sid = "20261207T000000Z-o1-0123abcd"
    keys = [f"p/{node}/{rel}" for node in (".", "..", "n1")
            for rel in (f"sessions/{sid}/ledger.jsonl", "keys/node-ed25519.pub.pem")]
    sessions, node_keys = catalogue("p", keys)
    assert list(sessions) == [("n1", sid)] and list(node_keys) == ["n1"]
