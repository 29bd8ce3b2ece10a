"""The search index: kept current by the recorder, and rebuilt from the evidence by
`fieldrelay reindex` to the very same answers (holds and verify results included)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from recordings.index import SessionIndex
from signaling.keys import CONFIG
from tests.live import LiveNode
from tests.media import publish
from tests.recordings.test_verify import REPO
from tests.signaling.test_review_api import bearer, get_json, record

pytestmark = pytest.mark.media

QUERIES = ("", "officer=o1", "officer=o2", "case=C-7", "case=C-8", "alerts=1",
           "from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", "officer=o1&alerts=1")


async def cli(*args: str | Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "fieldrelay", *map(str, args), cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


def drop_index(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    assert not path.exists()


async def answers(node: LiveNode, token: str) -> dict[str, Any]:
    out = {}
    for q in QUERIES:
        rows = (await get_json(node, f"/api/sessions?{q}", token))["sessions"]
        for r in rows:
            r.pop("duration_s")  # only rounding could differ; the times themselves are kept
        out[q] = rows
    return out


async def test_index_follows_the_recorder_and_reindex_rebuilds_it(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory()
    data = node.server.app[CONFIG].data_dir
    index = SessionIndex(data)
    reviewer = await node.login("r1")

    # While live: the row appears and follows case changes without any re-scan of the files.
    officer = await node.login("o1")
    pub = await publish(node.http, node.base, officer)
    try:
        for _ in range(200):
            rows = index.search(officer="o1")
            if rows:
                break
            await asyncio.sleep(0.05)
        (row,) = rows
        assert row["state"] == "live" and row["case"] is None
        async with node.http.put(f"{node.base}/api/officers/o1/case", json={"case": "C-7"},
                                 headers=bearer(officer)) as resp:
            assert resp.status == 200
        for _ in range(100):
            if index.search(case="C-7"):
                break
            await asyncio.sleep(0.05)
        assert [r["id"] for r in index.search(case="C-7")] == [row["id"]]
        # A live session is not exported yet; the refusal is on the audit chain.
        async with node.http.post(f"{node.base}/api/sessions/{row['id']}/export",
                                  headers=bearer(reviewer)) as resp:
            assert resp.status == 409 and (await resp.json())["error"] == "conflict"
        trail = (await get_json(node, f"/api/sessions/{row['id']}/audit", reviewer))["entries"]
        assert [(e["action"], e["outcome"]) for e in trail] == [("export", "refused")]
        async with node.http.put(f"{node.base}/api/officers/o1/case", json={"case": "C-8"},
                                 headers=bearer(officer)) as resp:
            assert resp.status == 200
        await asyncio.sleep(1.0)
        async with node.http.delete(f"{node.base}{pub.location}", headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await pub.pc.close()
    (row,) = index.search(officer="o1")
    assert row["state"] == "sealed" and row["case"] == "C-8" and row["cases"] == ["C-7", "C-8"]
    assert [r["id"] for r in index.search(case="C-7")] == [row["id"]]

    second = await record(node, "o2", 1.5, alert=True)
    async with node.http.put(f"{node.base}/api/sessions/{second}/hold",
                             json={"hold": True, "reason": "appeal"},
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200
    async with node.http.post(f"{node.base}/api/sessions/{row['id']}/verify",
                              headers=bearer(reviewer)) as resp:
        assert resp.status == 202
    for _ in range(200):
        status = await get_json(node, f"/api/sessions/{row['id']}/verify", reviewer)
        if status["state"] != "running":
            break
        await asyncio.sleep(0.05)
    assert status["state"] == "verified"

    before = await answers(node, reviewer)
    assert [r["id"] for r in before[""]] == [second, row["id"]]
    assert [r["id"] for r in before["case=C-8"]] == [row["id"]]
    assert [r["id"] for r in before["alerts=1"]] == [second]
    assert before["officer=o2"][0]["legal_hold"] is True
    assert before["officer=o1"][0]["integrity"] == "verified"

    drop_index(index.path)
    code, out = await cli("reindex", "--data-dir", data)
    assert code == 0, out
    assert out.strip() == f"indexed 2 sessions into {index.path}"
    assert index.path.is_file()
    # Straight from the rebuilt file, no re-scan on the way.
    assert [r["id"] for r in index.search()] == [second, row["id"]]
    after = await answers(node, reviewer)
    for q in QUERIES:
        for old, new in zip(before[q], after[q], strict=True):
            assert {k: (v, new[k]) for k, v in old.items() if new[k] != v} == {}, q


def test_reindex_of_an_empty_data_dir(tmp_path: Path) -> None:
    from recordings.index import reindex

    count, path = reindex(tmp_path)
    assert count == 0 and path.is_file()
    assert SessionIndex(tmp_path).search() == []


async def test_a_damaged_index_is_rebuilt_on_the_next_listing(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory()
    sid = await record(node, "o1", 1.0)
    reviewer = await node.login("r1")
    index = SessionIndex(node.server.app[CONFIG].data_dir)
    drop_index(index.path)
    index.path.write_bytes(b"this is not a database" * 100)
    rows = (await get_json(node, "/api/sessions", reviewer))["sessions"]
    assert [r["id"] for r in rows] == [sid]
