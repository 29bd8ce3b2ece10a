"""The review API over a session recorded in the test: search, detail with its timeline,
media with Range that PyAV decodes, verify (intact, then a tampered segment), export, hold,
audit, case numbers, and refusals for the wrong role, traversal and guessed ids."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCSessionDescription

from recordings.store import read_entries
from recordings.verify import RULE_CHAIN, RULE_FILES, Break
from signaling.keys import CONFIG, USERS
from signaling.review import REVIEW
from signaling.verify_jobs import VerifyCancelled, VerifyJob, broken_detail, run_verify
from tests.live import PASSWORD, LiveNode
from tests.media import PatternVideoTrack, local_pc, publish
from tests.recordings.test_verify import new_data_dir, record_session

pytestmark = pytest.mark.media


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def get_json(node: LiveNode, path: str, token: str, status: int = 200) -> Any:
    async with node.http.get(f"{node.base}{path}", headers=bearer(token)) as resp:
        assert resp.status == status, (path, resp.status, await resp.text())
        return await resp.json()


async def record(node: LiveNode, officer: str, seconds: float, *, case: str | None = None,
                 alert: bool = False, gps: bool = False,
                 before_offer: Callable[[Any], None] | None = None) -> str:
    """Publish for a while (optionally with a case, an alert and GPS fixes); returns its id."""
    token = await node.login(officer)
    pub = await publish(node.http, node.base, token, before_offer=before_offer)
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while officer not in node.registry.streams or node.registry.streams[
                officer].session is None:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        session = node.registry.streams[officer].session
        assert session is not None
        await asyncio.sleep(seconds / 2)
        if case is not None:
            async with node.http.put(f"{node.base}/api/officers/{officer}/case",
                                     json={"case": case}, headers=bearer(token)) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
                assert (body["applied"], body["session"]) == ("live", session.id)
        if gps:
            async with node.http.ws_connect(f"{node.base}/ws?token={token}",
                                            headers={"Origin": node.base}) as ws:
                for i in range(3):
                    await ws.send_json({"type": "position", "lat": 52.5 + i / 1000,
                                        "lon": 13.4, "accuracy": 5})
                    await asyncio.sleep(0.2)
        if alert:
            async with node.http.post(f"{node.base}/api/alerts", json={"kind": "sos"},
                                      headers={**bearer(token),
                                               "Idempotency-Key": uuid.uuid4().hex}) as resp:
                assert resp.status == 201, await resp.text()
        await asyncio.sleep(seconds / 2)
        async with node.http.delete(f"{node.base}{pub.location}", headers=bearer(token)) as r:
            assert r.status == 200
        return session.id
    finally:
        await pub.pc.close()


def decode(data: bytes) -> tuple[int, int, float]:
    """(video frames, audio frames, last video time in s) PyAV decodes from a file."""
    video = audio = 0
    last = 0.0
    with av.open(io.BytesIO(data), "r") as c:
        for frame in c.decode(*c.streams):
            if isinstance(frame, av.VideoFrame):
                video += 1
                last = max(last, float(frame.time or 0))
            else:
                audio += 1
    return video, audio, last


async def test_review_api_end_to_end(node_factory: Callable[..., Awaitable[LiveNode]],
                                     tmp_path: Path) -> None:
    node = await node_factory(segment_s=1.0, keyframe_interval_s=0.5)
    first = await record(node, "o1", 3.0, case="CASE-1", alert=True, gps=True)
    second = await record(node, "o2", 2.0)
    reviewer = await node.login("r1")

    # Search: the index finds both, newest first, and filters.
    rows = (await get_json(node, "/api/sessions", reviewer))["sessions"]
    assert [r["id"] for r in rows] == [second, first]
    assert all(r["state"] == "sealed" and r["integrity"] == "unverified"
               and r["legal_hold"] is False for r in rows)
    by_id = {r["id"]: r for r in rows}
    assert by_id[first]["case"] == "CASE-1" and by_id[first]["alerts"] == 1
    assert by_id[second]["case"] is None and by_id[second]["alerts"] == 0
    for query, expected in (("officer=o1", [first]), ("case=CASE-1", [first]),
                            ("alerts=1", [first]), ("officer=o3", []),
                            ("from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", []),
                            (f"from={by_id[second]['started_at']}", [second]),
                            (f"to={by_id[first]['ended_at']}", [first])):
        got = (await get_json(node, f"/api/sessions?{query}", reviewer))["sessions"]
        assert [r["id"] for r in got] == expected, query

    # Detail: segments, events and GPS on the media timeline.
    detail = await get_json(node, f"/api/sessions/{first}", reviewer)
    assert detail["media_type"] == "video/webm" and detail["duration_ms"] > 2000
    assert detail["integrity"] == {"state": "idle", "progress": 0.0, "broken": None,
                                   "checked_at": None}
    names = [e["event"] for e in detail["events"]]
    assert "case.set" in names and "alert.raised" in names and names.count("gps") == 3
    case_set = next(e for e in detail["events"] if e["event"] == "case.set")
    assert (case_set["case"], case_set["by"]) == ("CASE-1", "o1")
    assert 500 < case_set["t_ms"] < detail["duration_ms"]
    assert [g["lat"] for g in detail["gps"]] == [52.5, 52.501, 52.502]
    assert all(g["t_ms"] >= case_set["t_ms"] for g in detail["gps"])
    assert detail["segments"][0]["t_ms"] == 0 and detail["segments"][0]["track"] == "main"

    # Media: one WebM file PyAV decodes, served with Range. The reads below fall in one audit
    # minute, so they merge into one play record.
    pinned = time.time()
    node.server.app[REVIEW].clock = lambda: pinned
    url = f"{node.base}/api/sessions/{first}/media"
    async with node.http.get(url, headers=bearer(reviewer)) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/webm"
        assert resp.headers["Accept-Ranges"] == "bytes"
        whole = await resp.read()
    video, audio, last = decode(whole)
    assert video > 45 and audio > 50 and last > 2.0
    async with node.http.get(url, headers={**bearer(reviewer), "Range": "bytes=100-1099"}) as r:
        assert r.status == 206
        assert r.headers["Content-Range"] == f"bytes 100-1099/{len(whole)}"
        assert await r.read() == whole[100:1100]
    async with node.http.get(f"{url}?token={reviewer}", headers={"Range": "bytes=0-"}) as r:
        assert r.status == 206 and await r.read() == whole
    for bad in (f"bytes={len(whole)}-", "bytes=abc", "bytes=5-2", "items=0-1"):
        async with node.http.get(url, headers={**bearer(reviewer), "Range": bad}) as r:
            assert r.status == 416, bad
            assert r.headers["Content-Range"] == f"bytes */{len(whole)}"
            assert (await r.json())["error"] == "range_not_satisfiable"

    # Verify: intact, then a tampered segment turns it broken and names the segment.
    async def verify(session: str) -> dict[str, Any]:
        async with node.http.post(f"{node.base}/api/sessions/{session}/verify",
                                  headers=bearer(reviewer)) as resp:
            assert resp.status == 202
        for _ in range(200):
            status = await get_json(node, f"/api/sessions/{session}/verify", reviewer)
            if status["state"] != "running":
                return dict(status)
            await asyncio.sleep(0.05)
        raise AssertionError("verify did not finish")

    status = await verify(first)
    assert status["state"] == "verified" and status["progress"] == 1.0
    assert status["broken"] is None and status["checked_at"]
    row = (await get_json(node, "/api/sessions?officer=o1", reviewer))["sessions"][0]
    assert row["integrity"] == "verified"

    # Export: a zip whose own verify.py says intact.
    async with node.http.post(f"{node.base}/api/sessions/{first}/export",
                              headers=bearer(reviewer)) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "application/zip"
        assert f'filename="{first}.zip"' in resp.headers["Content-Disposition"]
        bundle = tmp_path / "bundle.zip"
        bundle.write_bytes(await resp.read())
    with zipfile.ZipFile(bundle) as zf:
        zf.extract("verify.py", tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(tmp_path / "verify.py"), str(bundle),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and out.startswith(b"INTACT"), out

    # Legal hold: stored, shown in list and detail.
    async with node.http.put(f"{node.base}/api/sessions/{first}/hold",
                             json={"hold": True, "reason": "court order 17"},
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200
        assert (await resp.json())["hold"] is True
    row = (await get_json(node, "/api/sessions?officer=o1", reviewer))["sessions"][0]
    assert (row["legal_hold"], row["hold_reason"]) == (True, "court order 17")
    detail = await get_json(node, f"/api/sessions/{first}", reviewer)
    assert detail["hold"]["hold"] is True and detail["hold"]["by"] == "r1"

    folder = node.server.app[CONFIG].data_dir / "sessions" / first
    segment = folder / detail["segments"][1]["file"]
    raw = bytearray(segment.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    segment.write_bytes(bytes(raw))
    status = await verify(first)
    assert status["state"] == "broken"
    assert status["broken"]["file"] == segment.name
    assert status["broken"]["segment"] == detail["segments"][1]["index"]
    assert segment.name in status["broken"]["reason"]
    row = (await get_json(node, "/api/sessions?officer=o1", reviewer))["sessions"][0]
    assert row["integrity"] == "broken"

    # Refusals: other roles (audited), traversal and guessed ids.
    commander, officer = await node.login("c1"), await node.login("o1")
    await get_json(node, "/api/sessions", commander, status=403)
    for token in (commander, officer):
        await get_json(node, f"/api/sessions/{first}", token, status=403)
        async with node.http.get(url, headers=bearer(token)) as resp:
            assert resp.status == 403
    for bad in ("nope", "..%2F..%2Fkeys", "%2e%2e", "20261127T101500Z-o1-00000000",
                f"{first}%2F..%2F..%2Fkeys", "..", "%2Fetc%2Fpasswd"):
        for suffix in ("", "/media", "/verify"):
            async with node.http.get(f"{node.base}/api/sessions/{bad}{suffix}",
                                     headers=bearer(reviewer)) as resp:
                assert resp.status in (403, 404), (bad, suffix, resp.status)
                assert "error" in await resp.json()

    # The audit trail of the session: views, playback once per start, exports, verifies, denials.
    trail = (await get_json(node, f"/api/sessions/{first}/audit", reviewer))["entries"]
    actions = [(e["who"], e["action"], e["outcome"]) for e in trail]
    assert actions.count(("r1", "view", "ok")) == 2
    # Every read is audited: the three in one minute are one record (their count follows
    # once the minute is over).
    assert actions.count(("r1", "play", "ok")) == 1
    assert ("r1", "export", "ok") in actions and ("r1", "hold", "on") in actions
    assert ("r1", "verify", "verified") in actions and ("r1", "verify", "broken") in actions
    assert ("c1", "view", "denied") in actions and ("o1", "play", "denied") in actions
    assert [e["seq"] for e in trail] == sorted(e["seq"] for e in trail)
    async with node.http.get(f"{node.base}/api/sessions/{first}/audit?format=csv",
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        table = list(csv.DictReader(io.StringIO(await resp.text())))
    # Reading the trail is itself on the trail.
    assert [r["action"] for r in table] == [e["action"] for e in trail] + ["audit"]
    await get_json(node, f"/api/sessions/{first}/audit", commander, status=403)

    # An admin may review too.
    node.server.app[USERS].add("a1", "admin", PASSWORD)
    admin = await node.login("a1")
    assert len((await get_json(node, "/api/sessions", admin))["sessions"]) == 2
    await get_json(node, f"/api/sessions/{first}", admin)
    # The whole trail is for admins: it holds refusals that name no session.
    await get_json(node, "/api/audit", reviewer, status=403)
    everything = (await get_json(node, "/api/audit", admin))["entries"]
    assert [e["seq"] for e in everything] == list(range(len(everything)))
    assert ("c1", "list", "denied") in [(e["who"], e["action"], e["outcome"])
                                        for e in everything]


def test_a_verify_stops_when_cancelled(tmp_path: Path) -> None:
    rec = new_data_dir(tmp_path / "data")
    sid = record_session(rec, "o1", seed=1)
    job = VerifyJob()
    first_break, head = run_verify(rec.data, sid, job)
    assert first_break is None and job.progress == 1.0
    assert head == list(read_entries(rec.folder(0) / "ledger.jsonl"))[-1]["hash"]
    job = VerifyJob()
    job.cancel.set()
    with pytest.raises(VerifyCancelled):
        run_verify(rec.data, sid, job)


def test_broken_detail_names_the_segment() -> None:
    changed = Break(RULE_FILES, "segment.changed", "segment file seg-000002.webm does not match "
                    "its ledger entry (line 4, entry 3): its content was changed after recording",
                    session="x", file="seg-000002.webm", line=4, entry=3, segment=2)
    assert broken_detail(changed) == {
        "file": "seg-000002.webm", "segment": 2, "seq": 3,
        "reason": "Session x: segment file seg-000002.webm does not match its ledger entry "
                  "(line 4, entry 3): its content was changed after recording."}
    altered = Break(RULE_CHAIN, "chain.altered", "in ledger.jsonl at line 3, entry 2 was altered "
                    "after it was written", session="x", file="ledger.jsonl", line=3, entry=2)
    assert broken_detail(altered) == {
        "file": None, "segment": None, "seq": 2,
        "reason": "Session x: in ledger.jsonl at line 3, entry 2 was altered after it was "
                  "written."}
    unlisted = Break(RULE_FILES, "segment.unlisted", "seg-000004.webm is not listed in the ledger",
                     session="x", file="seg-000004.webm")
    assert broken_detail(unlisted)["file"] is None


async def test_case_number_waits_for_the_next_session(live_node: LiveNode) -> None:
    node = live_node
    officer, other, commander = (await node.login("o1"), await node.login("o2"),
                                 await node.login("c1"))
    path = f"{node.base}/api/officers/o1/case"
    for body in ({"case": ""}, {"case": "x" * 65}, {"case": "a\nb"}, {"case": 7}, {}):
        async with node.http.put(path, json=body, headers=bearer(officer)) as resp:
            assert resp.status == 400, body
    async with node.http.put(path, json={"case": "C-1"}, headers=bearer(other)) as resp:
        assert resp.status == 403
    async with node.http.put(f"{node.base}/api/officers/r1/case", json={"case": "C-1"},
                             headers=bearer(commander)) as resp:
        assert resp.status == 404
    async with node.http.put(path, json={"case": "C-9"}, headers=bearer(commander)) as resp:
        assert resp.status == 200
        assert await resp.json() == {"officer": "o1", "case": "C-9",
                                     "applied": "next_session", "session": None}
    assert (await get_json(node, "/api/officers/o1/case", officer))["case"] == "C-9"
    sid = await record(node, "o1", 1.5)
    reviewer = await node.login("r1")
    (row,) = (await get_json(node, "/api/sessions?case=C-9", reviewer))["sessions"]
    assert row["id"] == sid and row["case"] == "C-9"
    # It was used up by that session.
    assert (await get_json(node, "/api/officers/o1/case", officer))["case"] is None


async def test_whip_case_header(live_node: LiveNode) -> None:
    node = live_node
    token = await node.login("o3")
    pc = local_pc()
    pc.addTransceiver(PatternVideoTrack(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    try:
        async with node.http.post(f"{node.base}/whip?case=bad%0acase",
                                  data=pc.localDescription.sdp,
                                  headers={**bearer(token), "Content-Type": "application/sdp"}
                                  ) as resp:
            assert resp.status == 400
        async with node.http.post(f"{node.base}/whip", data=pc.localDescription.sdp,
                                  headers={**bearer(token), "Content-Type": "application/sdp",
                                           "X-Case-Number": "WHIP-42"}) as resp:
            assert resp.status == 201, await resp.text()
            location = resp.headers["Location"]
            await pc.setRemoteDescription(RTCSessionDescription(sdp=await resp.text(),
                                                                type="answer"))
        for _ in range(200):
            stream = node.registry.streams.get("o3")
            if stream is not None and stream.session is not None and stream.session.case:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        async with node.http.delete(f"{node.base}{location}", headers=bearer(token)) as r:
            assert r.status == 200
    finally:
        await pc.close()
    reviewer = await node.login("r1")
    (row,) = (await get_json(node, "/api/sessions?officer=o3", reviewer))["sessions"]
    assert row["case"] == "WHIP-42"


async def test_shutdown_cancels_a_running_verify(
        node_factory: Callable[..., Awaitable[LiveNode]], tmp_path: Path) -> None:
    # The first node of node_factory keeps its data in tmp_path/data0: fill it beforehand
    # with a session big enough that hashing it takes a while.
    rec = new_data_dir(tmp_path / "data0")
    sid = record_session(rec, "o1", seed=1, pad=150 * 1024 * 1024)
    node = await node_factory()
    reviewer = await node.login("r1")
    async with node.http.post(f"{node.base}/api/sessions/{sid}/verify",
                              headers=bearer(reviewer)) as resp:
        assert resp.status == 202
    status = await get_json(node, f"/api/sessions/{sid}/verify", reviewer)
    assert status["state"] == "running" and status["progress"] < 1.0
    desk = node.server.app[REVIEW]
    job = desk.verifies.jobs[sid]
    assert len(desk.verifies.tasks) == 1
    await node.server.close()
    assert len(desk.verifies.tasks) == 0 and job.cancel.is_set() and job.state == "idle"
    # Nothing was recorded as verified, and the audit chain says it only started.
    assert [e["outcome"] for e in desk.audit.entries(sid)] == ["started"]
