"""tus uploads against a real node: resume at half (HEAD, then PATCH from there), a checksum
mismatch seals nothing (460), another officer's id is a 404, hostile input changes nothing,
sealed materials are covered by `fieldrelay verify` and by the tamper checks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from bench import tus_client as tus
from fieldrelay.tus import encode_metadata
from recordings import verify
from recordings.material_rules import check_metadata
from recordings.store import read_entries
from recordings.uploads import UploadStore
from signaling.keys import CONFIG
from signaling.upload_desk import UploadDesk
from signaling.uploads import UPLOADS
from tests.conftest import NodeProcess
from tests.live import LiveNode
from tests.recordings.test_verify import new_data_dir, record_session


def data_dir(node: LiveNode) -> Path:
    return Path(node.server.app[CONFIG].data_dir)


def material_files(node: LiveNode) -> list[Path]:
    """Every sealed material file anywhere in the data dir."""
    return sorted(data_dir(node).rglob("mat-*"))


def tree(node: LiveNode) -> dict[str, int]:
    """Every evidence file with its size (uploads and caches aside)."""
    root = data_dir(node)
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] in ("sessions", "materials",
                                                                "ledger")}


async def test_discovery_answers_tus_1_0_0_with_creation_and_termination(
        live_node: LiveNode) -> None:
    async with live_node.http.options(f"{live_node.base}/api/uploads") as resp:
        assert resp.status == 204
        assert resp.headers["Tus-Resumable"] == "1.0.0"
        assert resp.headers["Tus-Version"] == "1.0.0"
        assert {"creation", "termination"} <= set(resp.headers["Tus-Extension"].split(","))
        assert int(resp.headers["Tus-Max-Size"]) >= 4096 << 20


async def test_an_upload_cut_at_half_resumes_from_the_nodes_offset_and_seals(
        live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(3 << 20) + b"end"
    meta = tus.material_meta(data, case="K-13", note="seized laptop", lat="52.52",
                             lon="13.405", captured_at="2026-12-06T10:00:00.000Z")
    created = await tus.create(node.http, node.base, token, len(data), meta)
    assert created.status == 201, created.body
    location = created.headers["Location"]
    assert created.headers["Tus-Resumable"] == "1.0.0"

    # The link drops mid-body: a raw connection sends half the announced body, then dies.
    half = len(data) // 2
    url = urlsplit(node.base)
    with socket.create_connection((url.hostname, url.port)) as s:
        head = (f"PATCH {location} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {len(data)}\r\n\r\n")
        s.sendall(head.encode() + data[:half])
        await asyncio.sleep(0.5)
    upload_id = location.rsplit("/", 1)[1]
    for _ in range(100):  # the node notices the cut and lets go of the upload
        if upload_id not in node.server.app[UPLOADS].busy:
            break
        await asyncio.sleep(0.05)

    probe = await tus.head(node.http, node.base, token, location)
    assert probe.status == 200
    offset = int(probe.headers["Upload-Offset"])
    assert int(probe.headers["Upload-Length"]) == len(data)
    # Everything that arrived was kept (the kernel may hold back the last segments).
    assert half - (1 << 20) <= offset <= half
    # A PATCH at the wrong offset changes nothing.
    wrong = await tus.patch(node.http, node.base, token, location, offset + 1, b"x")
    assert wrong.status == 409 and wrong.json()["error"] == "offset_mismatch"

    done = await tus.patch(node.http, node.base, token, location, offset, data[offset:])
    assert done.status == 204, done.body
    assert done.headers["Upload-Offset"] == str(len(data))

    async with node.http.get(f"{node.base}{location}", headers=tus.auth(token)) as resp:
        status = await resp.json()
    assert status["state"] == "sealed" and status["offset"] == len(data)
    material = status["material"]
    assert material["sha256"] == hashlib.sha256(data).hexdigest()
    assert (material["kind"], material["case"], material["note"]) == ("photo", "K-13",
                                                                     "seized laptop")
    assert (material["lat"], material["lon"]) == (52.52, 13.405)
    assert material["captured_at"] == "2026-12-06T10:00:00.000Z"
    assert material["officer"] == "o1" and material["chain"].startswith("materials/case-")
    [path] = material_files(node)
    assert path.read_bytes() == data
    # The upload's own bytes are gone from the uploads folder: they moved into the chain.
    assert not list((data_dir(node) / "uploads").glob("*.part"))

    entries = list(read_entries(path.parent / "ledger.jsonl"))
    assert [e["kind"] for e in entries] == ["materials.start", "material"]
    assert entries[1]["claims"]["captured_at"] == "2026-12-06T10:00:00.000Z"
    report = verify.verify_data_dir(data_dir(node))
    assert report.ok, report.first_break
    assert report.checked.materials == 1

    async with node.http.get(f"{node.base}/api/uploads", headers=tus.auth(token)) as resp:
        listed = (await resp.json())["uploads"]
    assert [u["id"] for u in listed] == [upload_id] and listed[0]["state"] == "sealed"
    # A sealed material is never deleted by its uploader.
    async with node.http.delete(f"{node.base}{location}",
                                headers={**tus.TUS, **tus.auth(token)}) as resp:
        assert resp.status == 409
        assert set(await resp.json()) == {"error", "detail"}
    assert path.read_bytes() == data


async def test_a_checksum_mismatch_is_460_and_seals_nothing(live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(100_000)
    meta = tus.material_meta(data)
    meta["sha256"] = hashlib.sha256(b"something else").hexdigest()
    before = tree(node)
    location, answer = await tus.upload(node.http, node.base, token, data, meta)
    assert answer.status == 460
    body = answer.json()
    assert body["error"] == "checksum_mismatch" and hashlib.sha256(data).hexdigest() in \
        body["detail"]
    assert material_files(node) == []
    assert tree(node) == before
    async with node.http.get(f"{node.base}{location}", headers=tus.auth(token)) as resp:
        status = await resp.json()
    assert status["state"] == "rejected" and status["error"]["error"] == "checksum_mismatch"
    assert status["material"] is None
    gone = await tus.head(node.http, node.base, token, location)
    assert gone.status == 410


async def test_another_officers_upload_is_404_and_other_roles_403(live_node: LiveNode) -> None:
    node = live_node
    mine, theirs = await node.login("o1"), await node.login("o2")
    data = os.urandom(10_000)
    created = await tus.create(node.http, node.base, mine, len(data), tus.material_meta(data))
    location = created.headers["Location"]
    assert (await tus.head(node.http, node.base, theirs, location)).status == 404
    stolen = await tus.patch(node.http, node.base, theirs, location, 0, data)
    assert stolen.status == 404 and set(stolen.json()) == {"error", "detail"}
    async with node.http.delete(f"{node.base}{location}",
                                headers={**tus.TUS, **tus.auth(theirs)}) as resp:
        assert resp.status == 404
    async with node.http.get(f"{node.base}{location}", headers=tus.auth(theirs)) as resp:
        assert resp.status == 404
    async with node.http.get(f"{node.base}/api/uploads", headers=tus.auth(theirs)) as resp:
        assert (await resp.json())["uploads"] == []
    commander = await node.login("c1")
    refused = await tus.create(node.http, node.base, commander, len(data),
                               tus.material_meta(data))
    assert refused.status == 403
    assert (await tus.head(node.http, node.base, mine, location)).headers[
        "Upload-Offset"] == "0"
    # Terminated by its uploader: gone for good.
    async with node.http.delete(f"{node.base}{location}",
                                headers={**tus.TUS, **tus.auth(mine)}) as resp:
        assert resp.status == 204
    assert (await tus.head(node.http, node.base, mine, location)).status == 404


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


HOSTILE_METADATA = [
    "kind cGhvdG8=,mime !!!notbase64",
    "kind " + b64("photo") + ",filename " + b64("x" * 5000),
    "kind " + b64("photo") + ",filename " + b64("../../etc/passwd"),
    "kind " + b64("photo") + ",filename " + b64("..\\..\\boot.ini"),
    "kind " + b64("weapon") + ",mime " + b64("image/jpeg"),
    "kind " + b64("photo") + ",mime " + b64("text/html"),
    "kind " + b64("photo") + ",kind " + b64("audio"),
    "kind " + b64("photo") + ",sha256 " + b64("zz"),
    "kind " + b64("photo") + ",session " + b64("../../ledger"),
    ",".join(f"k{i} " + b64("v") for i in range(40)),
    "kind " + b64("gapfill") + ",mime " + b64("video/webm"),
    "kind " + b64("photo") + ",lat " + b64("nan") + ",lon " + b64("1"),
    "kind " + b64("photo") + ",captured_at " + b64("yesterday"),
    "kind " + base64.b64encode(b"\xff\xfe").decode(),
]


@pytest.mark.parametrize("raw", HOSTILE_METADATA)
async def test_hostile_metadata_is_400_and_creates_nothing(live_node: LiveNode,
                                                           raw: str) -> None:
    node, token = live_node, await live_node.login("o1")
    uploads = data_dir(node) / "uploads"
    before = sorted(p.name for p in uploads.iterdir())
    answer = await tus.create(node.http, node.base, token, 100, raw_metadata=raw)
    assert 400 <= answer.status < 500, (raw, answer.status)
    assert set(answer.json()) == {"error", "detail"}
    assert sorted(p.name for p in uploads.iterdir()) == before


async def test_bad_lengths_offsets_and_bodies_change_nothing(live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(1000)
    meta = tus.material_meta(data)
    for length in ("-1", "abc", "1" * 30, str(65 << 20)):
        async with node.http.post(f"{node.base}/api/uploads", headers={
                **tus.TUS, **tus.auth(token), "Upload-Length": length,
                "Upload-Metadata": encode_metadata(meta)}) as resp:
            assert resp.status in (400, 413), (length, resp.status)
    async with node.http.post(f"{node.base}/api/uploads", headers={
            **tus.auth(token), "Upload-Length": "10",
            "Upload-Metadata": encode_metadata(meta)}) as resp:
        assert resp.status == 412  # no Tus-Resumable
    created = await tus.create(node.http, node.base, token, len(data), meta)
    location = created.headers["Location"]
    longer = await tus.patch(node.http, node.base, token, location, 0, data + b"extra")
    assert longer.status == 400 and set(longer.json()) == {"error", "detail"}

    async def chunked() -> object:
        yield data[:600]
        yield data[600:] + b"more than announced"

    streamed = await tus.patch(node.http, node.base, token, location, 0, chunked())  # type: ignore[arg-type]
    assert streamed.status == 400
    assert (await tus.head(node.http, node.base, token, location)).headers[
        "Upload-Offset"] == "0"
    async with node.http.patch(f"{node.base}{location}", data=data, headers={
            **tus.TUS, **tus.auth(token), "Upload-Offset": "0",
            "Content-Type": "application/json"}) as resp:
        assert resp.status == 415
    for offset in ("-5", "x", "99999999999999999999999"):
        async with node.http.patch(f"{node.base}{location}", data=data, headers={
                **tus.TUS, **tus.auth(token), "Upload-Offset": offset,
                "Content-Type": "application/offset+octet-stream"}) as resp:
            assert resp.status in (400, 409), (offset, resp.status)
    assert (await tus.head(node.http, node.base, token, location)).headers[
        "Upload-Offset"] == "0"
    for bad_id in ("../../keys/node-ed25519", "0" * 31, "A" * 32, "%2e%2e%2fkeys"):
        assert (await tus.head(node.http, node.base, token, f"/api/uploads/{bad_id}")
                ).status in (404, 400)
    # The good bytes still go through afterwards.
    done = await tus.patch(node.http, node.base, token, location, 0, data)
    assert done.status == 204
    assert material_files(node)[0].read_bytes() == data


async def test_unfinished_uploads_are_capped_and_expire(node_factory: object) -> None:
    node: LiveNode = await node_factory(uploads_per_officer=2)  # type: ignore[operator]
    token = await node.login("o1")
    data = os.urandom(100)
    made = [await tus.create(node.http, node.base, token, len(data), tus.material_meta(data))
            for _ in range(3)]
    assert [m.status for m in made] == [201, 201, 429]
    first = made[0].headers["Location"]
    half = await tus.patch(node.http, node.base, token, first, 0, data[:50])
    assert half.status == 204 and half.headers["Upload-Offset"] == "50"
    desk = node.server.app[UPLOADS]
    expired = await desk.expire_once(now=10**10)
    assert len(expired) == 2
    assert not list((data_dir(node) / "uploads").glob("*.part"))
    async with node.http.get(f"{node.base}{first}", headers=tus.auth(token)) as resp:
        assert (await resp.json())["state"] == "expired"
    third = await tus.create(node.http, node.base, token, len(data), tus.material_meta(data))
    assert third.status == 201
    # Long after, the records of finished uploads go too (the materials stay in their chains).
    assert await desk.expire_once(now=10**10) == [third.headers["Location"].rsplit("/")[-1]]
    async with node.http.get(f"{node.base}{first}", headers=tus.auth(token)) as resp:
        assert resp.status == 404


async def test_closing_the_desk_does_not_swallow_the_closers_cancellation(
        live_node: LiveNode) -> None:
    served = live_node.server.app[UPLOADS]
    desk = UploadDesk(served.store, served.evidence, 1, 60.0)
    await desk.start()
    closer = asyncio.get_running_loop().create_task(desk.aclose())
    await asyncio.sleep(0)  # the closer now waits for the expiry task to end
    closer.cancel()
    await asyncio.wait([closer])
    assert closer.cancelled()
    await desk.aclose()


async def test_a_tampered_material_is_named_by_verify(live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(5000)
    _, done = await tus.upload(node.http, node.base, token, data,
                               tus.material_meta(data, kind="file", mime="application/pdf",
                                                 filename="order.pdf"))
    assert done.status == 204
    [path] = material_files(node)
    material_id = path.name[4:36]
    raw = bytearray(path.read_bytes())
    raw[100] ^= 1
    path.write_bytes(bytes(raw))
    report = verify.verify_data_dir(data_dir(node))
    assert not report.ok
    assert report.first is not None and report.first.kind == "material.changed"
    assert material_id in (report.first_break or "")
    path.unlink()
    report = verify.verify_data_dir(data_dir(node))
    assert report.first is not None and report.first.kind == "material.missing"
    path.write_bytes(data)
    assert verify.verify_data_dir(data_dir(node)).ok
    (path.parent / f"mat-{'f' * 32}.jpg").write_bytes(b"planted")
    report = verify.verify_data_dir(data_dir(node))
    assert report.first is not None and report.first.kind == "material.unlisted"


def test_a_material_the_node_stopped_on_is_sealed_at_the_next_start(
        node_process: NodeProcess) -> None:
    """The node died after moving a material into a live session and before its entry:
    recovery gives the file back to its upload, and the node seals it at start."""
    rec = new_data_dir(node_process.data_dir)
    session = record_session(rec, "o1", seal=False)  # left open by the crash
    body = b"\xff\xd8 a photo \xff\xd9" * 1000
    meta = check_metadata(tus.material_meta(body, session=session))
    upload = UploadStore(node_process.data_dir).create("o1", len(body), meta)
    (node_process.data_dir / "uploads" / f"{upload.id}.part").unlink()
    (node_process.data_dir / "sessions" / session / f"mat-{upload.id}.jpg").write_bytes(body)
    node_process.add_user("o1", "officer")
    node_process.start()
    token = node_process.login("o1")
    req = urllib.request.Request(f"{node_process.url}/api/uploads/{upload.id}",
                                 headers=tus.auth(token))
    with urllib.request.urlopen(req, timeout=10) as resp:
        status = json.load(resp)
    assert status["state"] == "sealed", status
    material = status["material"]
    assert material["session"] == session and material["chain"].startswith("materials/")
    assert material["case"] == "case-7"  # the session's, as record_session gives it
    assert (node_process.data_dir / material["chain"] / f"mat-{upload.id}.jpg").read_bytes() \
        == body
    assert not (node_process.data_dir / "sessions" / session / f"mat-{upload.id}.jpg").exists()
    node_process.stop()
    report = verify.verify_data_dir(node_process.data_dir)
    assert report.ok, report.first_break


async def test_a_material_of_an_unsafe_type_is_served_as_a_download(live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    page = b"<html><script>alert(1)</script></html>"
    _, done = await tus.upload(node.http, node.base, token, page,
                               tus.material_meta(page, kind="file", mime="text/html",
                                                 filename="x.html"))
    assert done.status == 204
    [path] = material_files(node)
    assert path.name.endswith(".bin")
    reviewer = await node.login("r1")
    url = f"{node.base}/api/materials/{path.name[4:36]}/content"
    async with node.http.get(url, headers=tus.auth(reviewer)) as resp:
        assert resp.status == 200 and await resp.read() == page
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert resp.headers["Content-Disposition"].startswith("attachment;")


async def test_review_reads_a_material_with_a_one_use_ticket_and_ranges(
        live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    clip = os.urandom(70_000)
    _, done = await tus.upload(node.http, node.base, token, clip,
                               tus.material_meta(clip, kind="audio", mime="audio/webm",
                                                 filename="note.webm", case="K-9"))
    assert done.status == 204
    [path] = material_files(node)
    material_id = path.name[4:36]
    reviewer = await node.login("r1")
    content = f"/api/materials/{material_id}/content"
    async with node.http.post(f"{node.base}/api/tickets", json={"path": content},
                              headers=tus.auth(reviewer)) as resp:
        assert resp.status == 201
        ticket = (await resp.json())["ticket"]
    # A browser of its own: the cookie jar is what an <audio> element would carry.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser, \
            browser.get(f"{node.base}{content}?ticket={ticket}",
                        headers={"Range": "bytes=-100"}) as resp:
        assert resp.status == 206 and await resp.read() == clip[-100:]
        assert resp.headers["Content-Type"] == "audio/webm"
    async with node.http.get(f"{node.base}{content}?ticket={ticket}",
                             allow_redirects=False) as resp:
        assert resp.status == 401  # one use
    async with node.http.get(f"{node.base}{content}", headers={
            **tus.auth(reviewer), "Range": "bytes=999999-"}) as resp:
        assert resp.status == 416 and (await resp.json())["error"] == "range_not_satisfiable"
    async with node.http.get(f"{node.base}/api/materials?case=K-9&kind=audio",
                             headers=tus.auth(reviewer)) as resp:
        [listed] = (await resp.json())["materials"]
    assert listed["id"] == material_id and listed["kind"] == "audio"
    for bad in ("kind=weapon", "from=yesterday"):
        async with node.http.get(f"{node.base}/api/materials?{bad}",
                                 headers=tus.auth(reviewer)) as resp:
            assert resp.status == 400
    for bad_id in ("0" * 32, "../../keys", "x"):
        async with node.http.get(f"{node.base}/api/materials/{bad_id}",
                                 headers=tus.auth(reviewer)) as resp:
            assert resp.status == 404


async def test_a_patch_with_a_wrong_body_checksum_keeps_nothing_of_it(
        live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(200_000)
    created = await tus.create(node.http, node.base, token, len(data), tus.material_meta(data))
    location = created.headers["Location"]

    async def patch(offset: int, body: bytes, checksum: str) -> aiohttp.ClientResponse:
        headers = {**tus.TUS, **tus.auth(token), "Upload-Offset": str(offset),
                   "Content-Type": "application/offset+octet-stream",
                   "Upload-Checksum": checksum}
        async with node.http.patch(f"{node.base}{location}", data=body,
                                   headers=headers) as resp:
            await resp.read()
            return resp

    def sha1(body: bytes) -> str:
        return "sha1 " + base64.b64encode(hashlib.sha1(body).digest()).decode()

    first = await patch(0, data[:100_000], sha1(data[:100_000]))
    assert first.status == 204 and first.headers["Upload-Offset"] == "100000"
    wrong = await patch(100_000, data[100_000:], sha1(b"other bytes"))
    assert wrong.status == 460 and wrong.headers["Upload-Offset"] == "100000"
    assert (await tus.head(node.http, node.base, token, location)).headers[
        "Upload-Offset"] == "100000"
    assert (await patch(100_000, data[100_000:], "crc32 AAAA")).status == 400
    done = await patch(100_000, data[100_000:], sha1(data[100_000:]))
    assert done.status == 204 and done.headers["Upload-Offset"] == str(len(data))
    assert material_files(node)[0].read_bytes() == data
