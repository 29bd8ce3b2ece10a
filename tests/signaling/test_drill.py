"""The drill: node A records a live session of 60 s, with a photo uploaded over tus into it,
and is killed with SIGKILL and its disk deleted; node B, on the same Redis, PostgreSQL catalog
and archive, finds the session and the photo, plays it, verifies it and exports it (A being
gone, from the archive), and the bundle's own verify.py passes. Then the archived ledger is
cut back, and verify on B fails, naming the recording node's archived checkpoint that covers
it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from bench import tus_client as tus
from bench.s3server import BUCKET, MotoServer
from fieldrelay.config import Config
from recordings.store import read_entries
from signaling.keys import CONFIG
from tests.archive_tools import URL, all_keys, client, make_bucket
from tests.archive_tools import moto as moto
from tests.catalog_tools import database as database
from tests.conftest import NodeProcess, RedisProcess, free_port
from tests.live import LiveNode
from tests.media import publish
from tests.recordings.test_restore import run_restore

NodeFactory = Callable[..., Awaitable[LiveNode]]
pytestmark = pytest.mark.media
RECORD_S = 60.0
SECRET = "the-drill-cluster-secret-" + "d" * 24


def drill_figure(what: str, seconds: float) -> None:
    """A timing of the drill for BENCHMARKS.md (`-s | grep DRILL`); asserted on nowhere."""
    print(f"DRILL {what}: {seconds:.2f} s", flush=True)


async def _json(node: LiveNode, method: str, path: str, token: str) -> tuple[int, object]:
    async with node.http.request(method, f"{node.base}{path}",
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def _get(http: aiohttp.ClientSession, url: str, token: str) -> object:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.mark.timeout(360)
async def test_a_session_of_a_lost_node_is_played_verified_and_exported_on_another(
        node_factory: NodeFactory, moto: MotoServer, database: str,
        redis_server: RedisProcess, tmp_path: Path) -> None:
    await make_bucket(moto.endpoint, lock=True)
    b_port = free_port()
    b = await node_factory(node_id="node-b", port=b_port, redis_url=redis_server.url,
                           archive_url=URL, archive_endpoint=moto.endpoint,
                           database_url=database, catalog_sync_s=0.3, cluster_secret=SECRET,
                           evidence_fetch_timeout_s=2.0)
    # Node A runs as a process of its own, so that it can be killed with SIGKILL.
    a = NodeProcess(data_dir=tmp_path / "a" / "data", port=free_port())
    for user, role in (("o1", "officer"), ("c1", "commander")):
        await asyncio.to_thread(a.add_user, user, role)
    await asyncio.to_thread(
        a.start, "--node-id", "node-a", "--redis-url", redis_server.url, "--archive-url", URL,
        "--archive-endpoint", moto.endpoint, "--database-url", database,
        "--cluster-secret", SECRET, "--cluster-peer", f"http://127.0.0.1:{b_port}",
        "--checkpoint-interval", "2")
    try:
        sid, photo = await _record_and_lose(a, b, moto)
    finally:
        if a.proc is not None and a.proc.poll() is None:
            a.stop()
    await _review_on_b(b, moto, tmp_path, sid, photo)


async def _record_and_lose(a: NodeProcess, b: LiveNode, moto: MotoServer
                           ) -> tuple[str, bytes]:
    """Officer o1 records RECORD_S seconds on A with a photo; then A dies with its disk.
    Returns the session's id and the photo."""
    reviewer = await b.login("r1")
    officer = await asyncio.to_thread(a.login, "o1")
    commander = await asyncio.to_thread(a.login, "c1")
    pub = await publish(b.http, a.url, officer)
    try:
        started = time.monotonic()
        # B's reviewer sees the live session of A in the shared catalog: its id.
        sid = ""
        async with asyncio.timeout(20):
            while not sid:
                listing = await _get(b.http, f"{b.base}/api/catalog/sessions?officer=o1", reviewer)
                assert isinstance(listing, dict)
                sid = next((r["id"] for r in listing["sessions"] if r["state"] == "live"), "")
                await asyncio.sleep(0.3)
        photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
        _, sent = await tus.upload(b.http, a.url, officer, photo,
                                   tus.material_meta(photo, session=sid, note="the door"))
        assert sent.status == 204, sent.body
        await asyncio.sleep(max(0.0, RECORD_S - (time.monotonic() - started)))
        async with b.http.delete(f"{a.url}{pub.location}",
                                 headers={"Authorization": f"Bearer {officer}"}) as resp:
            assert resp.status == 200
        ended = time.monotonic()
    finally:
        await pub.pc.close()

    async with asyncio.timeout(60):
        while True:
            state = await _get(b.http, f"{a.url}/api/archive", commander)
            assert isinstance(state, dict)
            if state["backlog"] == 0 and state["copied"] > 0 and \
                    await _covered(moto.endpoint, sid):
                break
            await asyncio.sleep(0.5)
    drill_figure("archive complete after the session ended", time.monotonic() - ended)
    # Node A is killed, and its disk is lost with it.
    assert a.proc is not None
    a.proc.send_signal(signal.SIGKILL)
    assert await asyncio.to_thread(a.proc.wait, 10) == -signal.SIGKILL
    shutil.rmtree(a.data_dir)
    return sid, photo


async def _review_on_b(b: LiveNode, moto: MotoServer, tmp_path: Path, sid: str,
                       photo: bytes) -> None:
    """The reviewer on B finds, verifies, plays and exports the session; a cut of the
    archived ledger then shows on verify."""
    reviewer = await b.login("r1")
    status, listing = await _json(b, "GET", "/api/catalog/sessions?officer=o1", reviewer)
    assert status == 200 and isinstance(listing, dict)
    [row] = listing["sessions"]
    assert (row["id"], row["node"], row["state"]) == (sid, "node-a", "sealed")
    assert row["ended_at"] and row["segments"] >= 8, row
    # The photo is found in the catalog too, with the node that holds it.
    status, materials = await _json(b, "GET", "/api/catalog/materials?officer=o1", reviewer)
    assert status == 200 and isinstance(materials, dict), materials
    [found] = materials["materials"]
    assert (found["session"], found["node"], found["kind"]) == (sid, "node-a", "photo")
    assert found["sha256"] == hashlib.sha256(photo).hexdigest()
    asked = time.monotonic()
    status, verdict = await _json(b, "POST", f"/api/catalog/sessions/{sid}/verify", reviewer)
    drill_figure("first verify on B (fetched from the archive and checked)",
                 time.monotonic() - asked)
    assert status == 200, verdict
    assert isinstance(verdict, dict) and verdict["state"] == "verified" and verdict["fetched"]
    # A is gone (B's node token finds nobody there): the session came from the archive.
    assert verdict["source"] == "archive", verdict
    # Played: the whole session as one WebM, with Range.
    async with b.http.get(f"{b.base}/api/catalog/sessions/{sid}/media",
                          headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/webm"
        whole = await resp.read()
    assert whole[:4] == b"\x1a\x45\xdf\xa3" and len(whole) > 100_000
    async with b.http.get(f"{b.base}/api/catalog/sessions/{sid}/media",
                          headers={"Authorization": f"Bearer {reviewer}",
                                   "Range": "bytes=100-199"}) as resp:
        assert resp.status == 206 and await resp.read() == whole[100:200]
    # Exported: the bundle's standalone verify.py passes on it.
    asked = time.monotonic()
    async with b.http.post(f"{b.base}/api/catalog/sessions/{sid}/export",
                           headers={"Authorization": f"Bearer {reviewer}"}) as resp:
        assert resp.status == 200
        bundle = tmp_path / "bundle.zip"
        bundle.write_bytes(await resp.read())
    drill_figure(f"export on B ({bundle.stat().st_size / 2**20:.1f} MiB bundle)",
                 time.monotonic() - asked)
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        (tmp_path / "verify.py").write_bytes(zf.read("verify.py"))
    assert f"sessions/{sid}/ledger.jsonl" in names
    assert "checkpoints/checkpoints.jsonl" in names
    # The photo came with the session: its bytes, under the name its ledger entry gives.
    [mat] = [n for n in names if n.startswith(f"sessions/{sid}/mat-")]
    with zipfile.ZipFile(bundle) as zf:
        assert zf.read(mat) == photo
        entries = [json.loads(line) for line in zf.read(f"sessions/{sid}/ledger.jsonl")
                   .splitlines()]
    [listed] = [e for e in entries if e.get("kind") == "material"]
    assert listed["sha256"] == hashlib.sha256(photo).hexdigest()
    assert mat.endswith(listed["file"]) and listed["material_kind"] == "photo"
    asked = time.monotonic()
    checked = await asyncio.to_thread(
        subprocess.run, [sys.executable, str(tmp_path / "verify.py"), str(bundle)],
        capture_output=True, text=True, timeout=120)
    drill_figure("the bundle's verify.py", time.monotonic() - asked)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Every access is on B's audit chain.
    b_config: Config = b.server.app[CONFIG]
    actions = {(e["action"], e["outcome"]) for e in read_entries(
        b_config.data_dir / "audit" / "audit.jsonl") if e.get("session") == sid}
    assert {("verify", "verified"), ("play", "ok"), ("export", "ok")} <= actions
    officer_b = await b.login("o1")
    status, _ = await _json(b, "POST", f"/api/catalog/sessions/{sid}/verify", officer_b)
    assert status == 403
    status, missing = await _json(b, "POST",
                                  "/api/catalog/sessions/20261127T100000Z-o9-00000000/verify",
                                  reviewer)
    assert status == 404 and isinstance(missing, dict) and missing["error"] == "not_found"

    # The archived ledger is cut back: its last lines are gone from the store. Verifying on B
    # checks the archive's copy as it is now, against node A's archived checkpoint.
    await _cut_archived_ledger(moto.endpoint, sid, lines=2)
    status, verdict = await _json(b, "POST", f"/api/catalog/sessions/{sid}/verify", reviewer)
    assert status == 200 and isinstance(verdict, dict), verdict
    assert verdict["state"] == "broken", verdict
    assert "checkpoint" in verdict["broken"] and "node-a" in verdict["broken"], verdict
    assert "cut off its end" in verdict["broken"], verdict
    actions = {(e["action"], e["outcome"]) for e in read_entries(
        b_config.data_dir / "audit" / "audit.jsonl") if e.get("session") == sid}
    assert ("verify", "broken") in actions
    # `fieldrelay restore` onto a fresh data dir refuses the cut copy for the same reason.
    refused = await asyncio.to_thread(run_restore, moto.endpoint, tmp_path / "c", sid)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "checkpoint" in refused.stdout and "cut off its end" in refused.stdout, refused.stdout
    assert not (tmp_path / "c" / "restored" / "node-a" / "sessions" / sid).exists()


def _session_ledger_keys(keys: dict[str, bytes], sid: str) -> list[str]:
    return sorted(k for k in keys if f"/node-a/sessions/{sid}/ledger.lines/" in k)


async def _covered(endpoint: str, sid: str) -> bool:
    """Whether the archive holds a checkpoint of node A that covers the session's whole
    archived ledger (so a cut of its end shows against it)."""
    keys = await all_keys(endpoint)
    length = sum(keys[k].count(b"\n") for k in _session_ledger_keys(keys, sid))
    for key, data in keys.items():
        if "/node-a/checkpoints/ledger.lines/" in key:
            for line in data.splitlines():
                chains = json.loads(line).get("chains") or {}
                if (chains.get(f"sessions/{sid}") or [0])[0] == length > 0:
                    return True
    return False


async def _cut_archived_ledger(endpoint: str, sid: str, lines: int) -> None:
    """Remove the last line objects of the session's archived ledger (a delete marker on a
    versioned bucket: what someone with delete rights on the store can do)."""
    keys = await all_keys(endpoint)
    doomed = _session_ledger_keys(keys, sid)[-lines:]
    assert len(doomed) == lines and all(keys[k].count(b"\n") == 1 for k in doomed), doomed
    async with client(endpoint) as s3:
        for key in doomed:
            await s3.delete_object(Bucket=BUCKET, Key=key)
