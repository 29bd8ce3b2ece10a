"""Materials of a live session against a real node and real aiortc publishers: the WHIP answer
names the session, a photo and the pre-event seconds go into its chain, a dropout's gap is
filled by the phone's clip (`gap.filled`), the review API shows the case on one timeline and
reads materials with Range (audited), and the case's bundle verifies on a clean Python, then
names the material whose byte was flipped."""

from __future__ import annotations

import asyncio
import datetime
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bench import tus_client as tus
from recordings import verify
from recordings.audit import AuditLog
from recordings.signing import NodeKey
from recordings.store import read_entries
from signaling.keys import CONFIG
from tests.live import LiveNode
from tests.media import publish
from tests.recordings.test_export import clean_python, member_data_offset, run_clean

pytestmark = pytest.mark.media


def iso(t: float) -> str:
    moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def sealed_upload(node: LiveNode, token: str, data: bytes, **meta: str) -> dict[str, Any]:
    """Upload `data` whole and return the material the node sealed."""
    location, done = await tus.upload(node.http, node.base, token, data,
                                      tus.material_meta(data, **meta))
    assert done.status == 204, done.body
    async with node.http.get(f"{node.base}{location}", headers=tus.auth(token)) as resp:
        status = await resp.json()
    assert status["state"] == "sealed"
    material: dict[str, Any] = status["material"]
    return material


async def reconnect_entry(ledger: Path) -> dict[str, Any]:
    """The session's `publisher.reconnected` entry, once its writer has it on disk."""
    for _ in range(200):
        for entry in read_entries(ledger):
            if entry.get("event") == "publisher.reconnected":
                return entry
        await asyncio.sleep(0.05)
    raise AssertionError("no publisher.reconnected entry")


async def wait_state(node: LiveNode, officer: str, state: str) -> None:
    stream = node.registry.streams[officer]
    for _ in range(400):
        if stream.state == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the stream never became {state}")


async def test_live_materials_gap_fill_case_view_and_case_bundle(live_node: LiveNode,
                                                                 tmp_path: Path) -> None:
    node = live_node
    data_dir = Path(node.server.app[CONFIG].data_dir)
    token = await node.login("o1")
    first = await publish(node.http, node.base, token)
    session = first.session
    assert session is not None and session.endswith(session[-8:])
    assert node.registry.streams["o1"].session is not None
    assert node.registry.streams["o1"].session.id == session
    async with node.http.put(f"{node.base}/api/officers/o1/case", json={"case": "K-13/2026"},
                             headers=tus.auth(token)) as resp:
        assert resp.status == 200

    # The seconds before Go Live, and a photo taken while live: both into the session's chain.
    began = datetime.datetime.now(datetime.UTC).timestamp()
    pre = os.urandom(200_000)
    preevent = await sealed_upload(node, token, pre, kind="preevent", mime="video/webm",
                                   filename="pre.webm", session=session,
                                   **{"from": iso(began - 30), "to": iso(began)})
    assert preevent["chain"] == f"sessions/{session}"
    assert preevent["case"] == "K-13/2026"  # the session's case
    photo = os.urandom(50_000)
    shot = await sealed_upload(node, token, photo, session=session, note="the door",
                               captured_at=iso(began))
    assert shot["chain"] == f"sessions/{session}"
    report = verify.verify_data_dir(data_dir)  # while live: the session is open
    assert report.ok, report.first_break

    # The link drops; the phone comes back within grace into the same session.
    await asyncio.sleep(1.0)
    await first.pc.close()
    await wait_state(node, "o1", "reconnecting")
    await asyncio.sleep(1.0)
    second = await publish(node.http, node.base, token)
    assert second.session == session  # the same id again on a reconnect within grace
    try:
        gap = await reconnect_entry(data_dir / "sessions" / session / "ledger.jsonl")
        gap_end = datetime.datetime.fromisoformat(gap["at"]).timestamp()
        gap_start = gap_end - gap["gap_ms"] / 1000
        clip = os.urandom(300_000)
        filled = await sealed_upload(node, token, clip, kind="gapfill", mime="video/webm",
                                     filename="gap.webm", session=session,
                                     **{"from": iso(gap_start - 2), "to": iso(gap_end + 2)})
        assert filled["chain"] == f"sessions/{session}"
        async with node.http.delete(f"{node.base}{second.location}",
                                    headers=tus.auth(token)) as resp:
            assert resp.status == 200
    finally:
        await second.pc.close()

    entries = list(read_entries(data_dir / "sessions" / session / "ledger.jsonl"))
    kinds = [e.get("event") or e["kind"] for e in entries]
    assert kinds.count("material") == 3
    assert kinds.index("preevent.attached") == kinds.index("material") + 1
    [fill] = [e for e in entries if e.get("event") == "gap.filled"]
    assert fill["material"] == filled["id"]
    assert fill["covered_ms"] == fill["gap_ms"] == gap["gap_ms"]  # 100 % of the gap
    assert entries[-1]["kind"] == "session.seal"
    report = verify.verify_data_dir(data_dir)
    assert report.ok, report.first_break
    assert report.checked.materials == 3

    # A material of the case sealed after the session: into the case's materials chain.
    doc = os.urandom(20_000)
    later = await sealed_upload(node, token, doc, kind="file", mime="application/pdf",
                                filename="order.pdf", case="K-13/2026")
    assert later["chain"].startswith("materials/case-")

    # Review: the case on one timeline, a material read with Range, every read audited.
    reviewer = await node.login("r1")
    case_path = "/api/cases/K-13%2F2026"
    async with node.http.get(f"{node.base}{case_path}", headers=tus.auth(reviewer)) as resp:
        assert resp.status == 200, await resp.text()
        case = await resp.json()
    assert [s["id"] for s in case["sessions"]] == [session]
    assert {m["id"] for m in case["materials"]} == {preevent["id"], shot["id"], filled["id"],
                                                    later["id"]}
    types = [(t["type"], t.get("kind") or t.get("event")) for t in case["timeline"]]
    assert types[0] == ("material", "preevent")  # the seconds before the session come first
    assert ("event", "gap.filled") in types
    stamps = [t["at"] for t in case["timeline"]]
    assert stamps == sorted(stamps)
    async with node.http.get(f"{node.base}/api/sessions/{session}",
                             headers=tus.auth(reviewer)) as resp:
        detail = await resp.json()
    assert {m["id"] for m in detail["materials"]} == {preevent["id"], shot["id"], filled["id"]}
    assert [e["event"] for e in detail["events"] if e["event"] == "gap.filled"] == ["gap.filled"]
    async with node.http.get(f"{node.base}/api/materials?case=K-13/2026&kind=gapfill",
                             headers=tus.auth(reviewer)) as resp:
        assert [m["id"] for m in (await resp.json())["materials"]] == [filled["id"]]
    async with node.http.get(f"{node.base}/api/materials/{shot['id']}/content",
                             headers={**tus.auth(reviewer), "Range": "bytes=100-199"}) as resp:
        assert resp.status == 206
        assert await resp.read() == photo[100:200]
    async with node.http.get(f"{node.base}/api/materials/{shot['id']}",
                             headers=tus.auth(token)) as resp:
        assert resp.status == 403  # an officer is no reviewer
    audit = AuditLog(data_dir, NodeKey.load_or_create(data_dir)).entries()
    assert any(e.get("material") == shot["id"] and e["action"] == "play" for e in audit)
    assert any(e["who"] == "o1" and e["outcome"] == "denied" for e in audit)
    assert any(e["action"] == "view" and e.get("detail") == {"case": "K-13/2026"}
               for e in audit)

    # The case's bundle: verify.py on a clean Python passes, then names a flipped material.
    async with node.http.post(f"{node.base}{case_path}/export",
                              headers=tus.auth(reviewer)) as resp:
        assert resp.status == 200, await resp.text()
        bundle = tmp_path / "clerk" / "case.zip"
        bundle.parent.mkdir()
        bundle.write_bytes(await resp.read())
    with zipfile.ZipFile(bundle) as zf:
        names = zf.namelist()
        (bundle.parent / "verify.py").write_bytes(zf.read("verify.py"))
    assert f"sessions/{session}/mat-{shot['id']}.jpg" in names
    assert any(n.startswith("materials/case-") and n.endswith(".pdf") for n in names)
    python, env = clean_python(tmp_path)
    res = run_clean(python, env, bundle.parent, "verify.py", "case.zip")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Checked 1 session" in res.stdout and "4 materials" in res.stdout

    offset, length = member_data_offset(bundle, f"sessions/{session}/mat-{shot['id']}.jpg")
    raw = bytearray(bundle.read_bytes())
    raw[offset + length // 2] ^= 0x01
    bundle.write_bytes(bytes(raw))
    res = run_clean(python, env, bundle.parent, "verify.py", "case.zip")
    assert res.returncode == 1, res.stdout + res.stderr
    assert res.stdout.startswith("BROKEN:") and f"mat-{shot['id']}.jpg" in res.stdout
