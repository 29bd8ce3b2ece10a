"""tus creation-with-upload against a real node: a photo in one request (POST carries the
bytes, sealed before the 201), the first bytes of a larger item (PATCH goes on from the
answer's offset), the same item again after a lost answer (the sealed upload back, nothing
sealed twice), and bodies cut short, mis-checksummed or too long (nothing kept); after a
crash, bytes with no record go and a sealed upload's record is set right from the ledger."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from bench import tus_client as tus
from fieldrelay.tus import encode_metadata
from recordings import verify
from recordings.material_rules import check_metadata
from recordings.uploads import UploadStore
from signaling.keys import CONFIG
from signaling.upload_desk import UploadDesk
from signaling.uploads import UPLOADS
from tests.live import LiveNode


def data_dir(node: LiveNode) -> Path:
    return Path(node.server.app[CONFIG].data_dir)


def uploads_on_disk(node: LiveNode) -> list[str]:
    return sorted(p.name for p in (data_dir(node) / "uploads").iterdir())


async def own_uploads(node: LiveNode, token: str) -> list[dict[str, object]]:
    async with node.http.get(f"{node.base}/api/uploads", headers=tus.auth(token)) as resp:
        assert resp.status == 200
        uploads: list[dict[str, object]] = (await resp.json())["uploads"]
        return uploads


def sealed_files(node: LiveNode) -> list[Path]:
    return sorted(data_dir(node).rglob("mat-*"))


async def test_a_photo_in_one_request_is_sealed_before_the_201(live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    async with node.http.options(f"{node.base}/api/uploads") as resp:
        assert "creation-with-upload" in resp.headers["Tus-Extension"].split(",")
    photo = os.urandom(1 << 20)
    meta = tus.material_meta(photo, case="K-7", captured_at="2026-12-07T09:00:00.000Z")
    created = await tus.create_with_data(node.http, node.base, token, len(photo), meta, photo)
    assert created.status == 201, created.body
    assert created.headers["Upload-Offset"] == str(len(photo))
    location = created.headers["Location"]
    async with node.http.get(f"{node.base}{location}", headers=tus.auth(token)) as resp:
        status = await resp.json()
    assert status["state"] == "sealed"
    assert status["material"]["sha256"] == hashlib.sha256(photo).hexdigest()
    [path] = sealed_files(node)
    assert path.read_bytes() == photo
    # The record is on disk for the phone to read; no bytes stay behind in the uploads folder.
    assert uploads_on_disk(node) == [location.rsplit("/", 1)[1] + ".json"]
    report = verify.verify_data_dir(data_dir(node))
    assert report.ok, report.first_break

    # The answer was lost: the phone, with no URL to ask, sends the same item again. It gets
    # the sealed upload back, complete, and nothing is sealed twice.
    again = await tus.create_with_data(node.http, node.base, token, len(photo), meta, photo)
    assert again.status == 201, again.body
    assert again.headers["Location"] == location
    assert again.headers["Upload-Offset"] == str(len(photo))
    assert len(sealed_files(node)) == 1
    # Another officer's same bytes, or the same bytes said of another moment, are new items.
    other = await live_node.login("o2")
    theirs = await tus.create_with_data(node.http, node.base, other, len(photo), meta, photo)
    later = await tus.create_with_data(
        node.http, node.base, token, len(photo),
        {**meta, "captured_at": "2026-12-07T09:05:00.000Z"}, photo)
    assert theirs.status == later.status == 201
    assert len({location, theirs.headers["Location"], later.headers["Location"]}) == 3
    assert len(sealed_files(node)) == 3


async def test_the_first_bytes_with_the_creation_and_the_rest_by_patch(
        live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(3 << 20)
    first = 1 << 20
    created = await tus.create_with_data(node.http, node.base, token, len(data),
                                         tus.material_meta(data), data[:first])
    assert created.status == 201, created.body
    assert created.headers["Upload-Offset"] == str(first)
    location = created.headers["Location"]
    [listed] = await own_uploads(node, token)
    assert (listed["state"], listed["offset"]) == ("receiving", first)
    assert node.server.app[UPLOADS].unfinished("o1") == 1
    # The record of an upload the phone goes on with is durable: a new desk (a restart)
    # finds it.
    assert UploadStore(data_dir(node)).get(location.rsplit("/", 1)[1]) is not None
    done = await tus.patch(node.http, node.base, token, location, first, data[first:])
    assert done.status == 204, done.body
    assert sealed_files(node)[0].read_bytes() == data
    assert node.server.app[UPLOADS].unfinished("o1") == 0


async def test_a_creation_whose_body_fails_keeps_nothing(live_node: LiveNode) -> None:
    node, token = live_node, await live_node.login("o1")
    data = os.urandom(300_000)
    meta = tus.material_meta(data)

    # A body that does not match its Upload-Checksum.
    wrong = await tus.create_with_data(
        node.http, node.base, token, len(data), meta, data,
        {"Upload-Checksum": "sha1 " + base64.b64encode(hashlib.sha1(b"x").digest()).decode()})
    assert wrong.status == 460 and wrong.json()["error"] == "body_checksum_mismatch"
    assert "Location" not in wrong.headers
    # A body longer than the upload, and one that is not offset+octet-stream.
    long = await tus.create_with_data(node.http, node.base, token, 10, meta, data)
    assert long.status == 400 and set(long.json()) == {"error", "detail"}
    async with node.http.post(f"{node.base}/api/uploads", data=data, headers={
            **tus.TUS, **tus.auth(token), "Upload-Length": str(len(data)),
            "Upload-Metadata": encode_metadata(meta),
            "Content-Type": "text/plain"}) as resp:
        assert resp.status == 415 and set(await resp.json()) == {"error", "detail"}
    # The whole file's SHA-256 is not the declared one: 460, rejected, nothing sealed.
    liar = await tus.create_with_data(node.http, node.base, token, len(data),
                                      tus.material_meta(b"other"), data)
    assert liar.status == 460 and liar.json()["error"] == "checksum_mismatch"

    # The link drops mid-body: no phone was told this upload's URL, so it goes.
    url = urlsplit(node.base)
    with socket.create_connection((url.hostname, url.port)) as s:
        s.sendall((f"POST /api/uploads HTTP/1.1\r\nHost: {url.netloc}\r\n"
                   f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
                   f"Upload-Length: {len(data)}\r\nUpload-Metadata: {encode_metadata(meta)}\r\n"
                   "Content-Type: application/offset+octet-stream\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data[:100_000])
        await asyncio.sleep(0.3)
    desk = node.server.app[UPLOADS]
    for _ in range(100):
        if not desk.busy:
            break
        await asyncio.sleep(0.05)
    assert not desk.busy
    assert desk.unfinished("o1") == 0  # nothing the creations left counts against the officer
    listed = await own_uploads(node, token)
    assert [u["state"] for u in listed] == ["rejected"], listed  # the liar's record alone
    assert [n for n in uploads_on_disk(node) if not n.endswith(".json")] == []
    assert not sealed_files(node)


async def test_bytes_with_no_record_are_dropped_at_start(live_node: LiveNode) -> None:
    # A creation with bytes cut by a crash before its record reached the disk.
    store = UploadStore(data_dir(live_node))
    orphan = store.part("0" * 32)
    orphan.write_bytes(b"half a photo")
    (store.dir / ("1" * 32 + ".json")).write_bytes(b"")  # a record the crash left empty
    store.part("1" * 32).write_bytes(b"more")
    live = live_node.server.app[UPLOADS]
    kept = store.create("o1", 10, {"kind": "photo"})
    # A restart's desk over the same folder.
    desk = UploadDesk(store, live.evidence, live.max_unfinished, live.expire_s)
    await desk.start()
    try:
        assert sorted(p.name for p in store.dir.iterdir()) == [f"{kept.id}.json",
                                                               f"{kept.id}.part"]
    finally:
        await desk.aclose()


async def test_a_sealed_record_lost_in_a_crash_is_sealed_again_from_the_ledger(
        live_node: LiveNode) -> None:
    # The record of a sealed upload is written without an fsync (its ledger entry is the
    # durable word): a node that stops before it reaches the disk still holds the record it
    # had before, "receiving", with its bytes gone into the chain.
    node, token = live_node, await live_node.login("o1")
    photo = os.urandom(100_000)
    created = await tus.create(node.http, node.base, token, len(photo), tus.material_meta(photo))
    location = created.headers["Location"]
    upload_id = location.rsplit("/", 1)[1]
    store = UploadStore(data_dir(node))
    before = store.get(upload_id)
    assert before is not None and before.state == "receiving"
    assert (await tus.patch(node.http, node.base, token, location, 0, photo)).status == 204
    sealed = store.get(upload_id)
    assert sealed is not None and sealed.state == "sealed"
    store.save(before)  # the crash: the old record again
    # And one the node stopped between deleting the bytes and saying why: nothing sealed.
    lost = store.create("o1", 10, check_metadata({"kind": "photo", "mime": "image/jpeg",
                                                  "filename": "a.jpg", "sha256": "0" * 64}))
    store.part(lost.id).unlink()

    live = node.server.app[UPLOADS]
    desk = UploadDesk(store, live.evidence, live.max_unfinished, live.expire_s)
    await desk.start()
    try:
        again = store.get(upload_id)
        assert again is not None and again.state == "sealed"
        assert again.material == sealed.material
        assert desk.unfinished("o1") == 1  # the other one, which resumes from its first byte
        assert store.has_part(lost.id) and store.offset(lost.id) == 0
    finally:
        await desk.aclose()
