"""The phone keeps the trail in real Chromium against a real node: a photo, an audio note, a
file and a clip captured while the node is down survive a reload and are sealed once it is
back, byte for byte; an upload cut half way resumes from the node's offset; a checksum
mismatch is shown with its reason and seals nothing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from typing import Any

import pytest
from playwright.async_api import Browser, Error, Page, Request, Response, expect

from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context, screenshot
from tests.e2e.test_live_wall import PHONE, login_via_ui, watch_errors
from tests.e2e.trail import (
    content_sha256,
    http,
    materials,
    payload,
    queue,
    queued_originals,
    until_queue,
)

CASE = "2026-EX-0207"
WHERE = {"latitude": 48.2082, "longitude": 16.3738}
# A small PDF-looking document picked from the phone (any bytes are a "file").
DOCUMENT = b"%PDF-1.4\n% served order, page 1\n" + os.urandom(40_000) + b"\n%%EOF\n"
CHUNK = 4 * 1024 * 1024  # web/js/tus-upload.js CHUNK_BYTES


async def open_officer(browser: Browser, node: NodeProcess, errors: list[str]) -> Page:
    ctx = await new_media_context(browser, permissions=("geolocation",), geolocation=WHERE, **PHONE)
    page = await ctx.new_page()
    watch_errors(page, "officer", errors)
    await page.goto(f"{node.url}/officer")
    await login_via_ui(page, "o1")
    await expect(page.locator("#capture")).to_be_visible()
    return page


@pytest.mark.browser
async def test_items_captured_offline_survive_a_reload_and_are_sealed_byte_for_byte(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("r1", "reviewer")
    node_process.start()
    errors: list[str] = []
    page = await open_officer(browser, node_process, errors)
    await page.fill("#case-input", CASE)

    node_process.stop()  # the node is gone: nothing the phone captures may be lost
    await page.fill("#cap-note", "seized bicycle, frame number visible")
    await page.click("#cap-photo")
    await until_queue(page, lambda q: len(q["items"]) == 1, 20, "the photo in the queue")
    await page.click("#cap-audio")
    await expect(page.locator("#cap-audio")).to_have_attribute("data-recording", "true")
    await asyncio.sleep(2)
    await page.click("#cap-audio")
    await until_queue(page, lambda q: len(q["items"]) == 2, 20, "the audio note in the queue")
    await page.set_input_files("#cap-file", files=payload("order.pdf", "application/pdf", DOCUMENT))
    await until_queue(page, lambda q: len(q["items"]) == 3, 20, "the file in the queue")
    await page.click("#cap-video")
    await expect(page.locator("#cap-video")).to_have_attribute("data-recording", "true")
    await asyncio.sleep(2)
    await page.click("#cap-video")
    await until_queue(page, lambda q: len(q["items"]) == 4, 20, "the clip in the queue")

    originals = await queued_originals(page)
    kinds = sorted(k for k, _ in originals.values())
    assert kinds == ["audio", "file", "photo", "video"], kinds
    assert any(data == DOCUMENT for _, data in originals.values())
    photo = next(data for k, data in originals.values() if k == "photo")
    assert photo[:3] == b"\xff\xd8\xff", "the photo is a JPEG"
    await expect(page.locator("#uploads .upload-row[data-state='queued']")).to_have_count(4)
    await page.locator("#uploads").scroll_into_view_if_needed()
    await screenshot(page, "officer-capture-queued")
    q = await queue(page)
    assert all(i["state"] == "queued" for i in q["items"]), q

    # Reload while the node is down (the page itself cannot load), then bring the node back.
    with contextlib.suppress(Error):
        await page.reload()
    node_process.start()
    await page.goto(f"{node_process.url}/officer")
    if await page.locator("#login-form").count():
        await login_via_ui(page, "o1")
    q = await until_queue(page, lambda q: not q["items"] and len(q["done"]) == 4, 60,
                          "all four sealed and gone from the phone")
    await expect(page.locator("#uploads .upload-row[data-state='sealed']")).to_have_count(4)
    await expect(page.locator("#uploads-summary")).to_have_text("Nothing waiting on this phone.")
    await page.locator("#uploads").scroll_into_view_if_needed()
    await screenshot(page, "officer-capture-sealed")

    want = {hashlib.sha256(data).hexdigest(): kind for kind, data in originals.values()}
    assert {d["sha256"]: d["kind"] for d in q["done"]} == want
    token = node_process.login("r1")
    found = materials(node_process, token, "?officer=o1")
    assert {m["sha256"]: m["kind"] for m in found} == want, found
    for m in found:
        assert content_sha256(node_process, token, m["id"]) == m["sha256"]
        assert m["case"] == CASE
        assert m["lat"] == pytest.approx(WHERE["latitude"], abs=1e-5)
        assert m["lon"] == pytest.approx(WHERE["longitude"], abs=1e-5)
        assert m["captured_at"] and m["received_at"]
    notes = {m["kind"]: m["note"] for m in found}
    assert notes["photo"] == "seized bicycle, frame number visible"
    assert not errors, errors
    await page.context.close()


@pytest.mark.browser
async def test_an_upload_cut_half_way_resumes_at_the_nodes_offset(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("r1", "reviewer")
    node_process.start()
    errors: list[str] = []
    page = await open_officer(browser, node_process, errors)
    size = 6 * CHUNK
    blob = os.urandom(size)

    # Every tus request the phone makes, in order: method, the offset it sent or was told.
    seen: list[tuple[str, int]] = []

    def on_request(req: Request) -> None:
        if "/api/uploads/" in req.url and req.method == "PATCH":
            seen.append(("PATCH", int(req.headers["upload-offset"])))
        if req.url.endswith("/api/uploads") and req.method == "POST":
            seen.append(("POST", 0))

    def on_response(resp: Response) -> None:
        if "/api/uploads/" in resp.url and resp.request.method == "HEAD" and resp.ok:
            seen.append(("HEAD", int(resp.headers["upload-offset"])))

    page.on("request", on_request)
    page.on("response", on_response)
    # A slow uplink (3 MiB/s), so the cut lands in the middle of the transfer.
    cdp = await page.context.new_cdp_session(page)
    link: dict[str, Any] = {"offline": False, "latency": 0, "downloadThroughput": -1,
                            "uploadThroughput": 3 * 1024 * 1024}
    await cdp.send("Network.emulateNetworkConditions", link)
    await page.set_input_files("#cap-file",
                               files=payload("scan.bin", "application/octet-stream", blob))

    officer = node_process.login("o1")
    deadline = time.monotonic() + 60
    while True:
        ups = json.loads(http(node_process, officer, "/api/uploads"))
        offset = ups["uploads"][0]["offset"] if ups["uploads"] else 0
        if offset >= size // 2:
            break
        assert time.monotonic() < deadline, f"the upload never got half way ({offset})"
        await asyncio.sleep(0.1)
    await cdp.send("Network.emulateNetworkConditions", {**link, "offline": True})
    cut_at = time.monotonic()
    await expect(page.locator("#uploads .upload-row[data-state='queued']")).to_have_count(
        1, timeout=30_000)
    await asyncio.sleep(2)
    await cdp.send("Network.emulateNetworkConditions", {**link, "uploadThroughput": -1})
    q = await until_queue(page, lambda q: not q["items"] and len(q["done"]) == 1, 60,
                          "the file sealed after the cut")
    print(f"UPLOAD_RESUME sealed {time.monotonic() - cut_at:.1f} s after the cut")

    # The first HEAD is the phone asking the node where to go on after the cut.
    heads = [i for i, (method, _) in enumerate(seen) if method == "HEAD"]
    assert heads, f"the phone never asked the node for its offset: {seen}"
    before, after = seen[:heads[0]], seen[heads[0]:]
    print(f"UPLOAD_RESUME requests before the cut {before}, after {after}")
    # The first chunk went with the creation (creation-with-upload): the first PATCH follows it.
    assert before[:2] == [("POST", 0), ("PATCH", CHUNK)], before
    resumed_at = after[0][1]
    assert after[1] == ("PATCH", resumed_at), after
    last_patch = max(o for m, o in before if m == "PATCH")
    # Nothing before the chunk in flight at the cut is sent again.
    assert last_patch <= resumed_at <= size, (last_patch, resumed_at)
    assert resumed_at >= size // 2
    sent_again = last_patch + min(CHUNK, size - last_patch) - resumed_at
    assert sent_again <= CHUNK
    print(f"UPLOAD_RESUME resumed at {resumed_at} of {size}; at most {sent_again} bytes sent twice")

    token = node_process.login("r1")
    [m] = materials(node_process, token, "?officer=o1")
    assert m["sha256"] == hashlib.sha256(blob).hexdigest() == q["done"][0]["sha256"]
    assert content_sha256(node_process, token, m["id"]) == m["sha256"]
    assert not errors, errors
    await page.context.close()


@pytest.mark.browser
async def test_a_checksum_mismatch_is_shown_as_failed_with_the_reason_and_nothing_sealed(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("r1", "reviewer")
    node_process.start()
    errors: list[str] = []
    page = await open_officer(browser, node_process, errors)
    node_process.stop()
    await page.set_input_files("#cap-file", files=payload("order.pdf", "application/pdf", DOCUMENT))
    await until_queue(page, lambda q: len(q["items"]) == 1, 20, "the file in the queue")
    # The bytes on the phone no longer match the hash it declares (storage went bad).
    await page.evaluate("""async () => {
      const s = await import("/static/js/upload-store.js");
      const [item] = await s.allItems();
      const bytes = [await item.blob.arrayBuffer(), new Uint8Array([1])];
      item.blob = new Blob(bytes, { type: item.mime });
      item.size = item.blob.size;
      await s.putItem(item);
    }""")
    node_process.start()
    await page.goto(f"{node_process.url}/officer")
    q = await until_queue(page, lambda q: q["items"] and q["items"][0]["state"] == "failed",
                          30, "the item failed")
    assert q["items"][0]["error"]["status"] == 460, q
    row = page.locator("#uploads .upload-row[data-state='failed']")
    await expect(row).to_contain_text("SHA-256")
    await expect(row).to_contain_text("nothing was sealed")
    await expect(row.locator(".upload-retry")).to_be_visible()
    await row.scroll_into_view_if_needed()
    await screenshot(page, "officer-upload-mismatch")
    token = node_process.login("r1")
    assert materials(node_process, token) == []
    assert not q["done"]
    assert not errors, errors
    await page.context.close()
