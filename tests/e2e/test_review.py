"""Evidence review in real Chromium: a session recorded in the same test is found, played,
sought to its alert, verified, exported, put on legal hold and its audit trail read.

An officer's phone page (fake camera) sets a case number, goes live, walks a few metres north
and presses SOS; a commander acknowledges; the officer stops. Then a reviewer opens /review.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import time
import urllib.request
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from recordings.catalog_schema import CatalogRow
from recordings.catalog_sqlite import SqliteCatalog
from tests.conftest import NodeProcess
from tests.e2e.conftest import ARTIFACTS, new_media_context, screenshot
from tests.e2e.test_live_wall import DESKTOP, PHONE, login_via_ui, watch_errors

OFFICER = "officer1"
COMMANDER = "cmd1"
REVIEWER = "rev1"
CASE = "2026-EX-0114"
NEW_CASE = "2026-EX-0115"
# Urumqi, People's Square, then a walk north (about 11 m per step).
START = {"latitude": 43.7930, "longitude": 87.6177}
STEP_DEG = 0.0001
WALK_STEPS = 12
SOS_AT_STEP = 5
TIMEOUT_MS = 20_000


def http(node: NodeProcess, token: str, method: str, path: str,
         body: dict[str, Any] | None = None) -> Any:
    """One JSON request to the node with a bearer token."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{node.url}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


async def media_time_ms(page: Page) -> float:
    return float(await page.evaluate("document.getElementById('player').currentTime * 1000"))


async def record_session(browser: Browser, node: NodeProcess, errors: list[str],
                         while_live: Callable[[], Awaitable[None]]) -> dict[str, float]:
    """The officer's phone records a session with a case number, a walk and an SOS; a commander
    watches it on the wall, changes the case number from the tile and acknowledges the SOS.

    `while_live` runs near the end of the walk, while the session is still being recorded.
    Returns test-clock offsets (seconds after the phone went live) of the SOS press and the stop.
    """
    ctx = await new_media_context(browser, permissions=("geolocation",), geolocation=START, **PHONE)
    command_ctx = await new_media_context(browser, **DESKTOP)
    try:
        officer = await ctx.new_page()
        watch_errors(officer, OFFICER, errors)
        await officer.goto(f"{node.url}/officer")
        await login_via_ui(officer, OFFICER)

        # The case number is set before going live: it waits for the next session.
        field = officer.locator("#case-field")
        await expect(field).to_be_visible()
        await expect(officer.locator("#case-save")).to_be_disabled()
        await officer.fill("#case-input", CASE)
        await expect(officer.locator("#case-status")).to_contain_text("press Set")
        await officer.click("#case-save")
        await expect(officer.locator("#case-status")).to_have_text(
            "Will be recorded when you go live.")
        await expect(field).to_have_attribute("data-case", CASE)
        await screenshot(officer, "officer-case-set")

        # The wall shows the case waiting on the officer's tile.
        command = await command_ctx.new_page()
        watch_errors(command, COMMANDER, errors)
        await command.goto(f"{node.url}/command")
        await login_via_ui(command, COMMANDER)
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile.locator(".tile-case")).to_have_text(f"Case {CASE}")

        await officer.click("#go-live")
        await expect(officer.locator("#state")).to_have_attribute("data-state", "live",
                                                                  timeout=TIMEOUT_MS)
        live_at = time.monotonic()
        offsets: dict[str, float] = {}
        await expect(tile).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
        for step in range(WALK_STEPS):
            await ctx.set_geolocation({"latitude": START["latitude"] + step * STEP_DEG,
                                       "longitude": START["longitude"]})
            await officer.wait_for_timeout(300)
            # Report this fix now rather than at the page's 5 s heartbeat, so the track has points.
            await officer.evaluate("window.__fieldrelay.officer.tracker.flush()")
            if step == SOS_AT_STEP:
                offsets["sos"] = time.monotonic() - live_at
                await officer.click("#sos")
                await expect(officer.locator("#sos-state")).to_have_attribute(
                    "data-state", "sent", timeout=TIMEOUT_MS)
            if step == 2:
                # The commander corrects the case number from the wall, mid-stream.
                await tile.locator(".tile-case").click()
                await tile.locator(".tile-case-input").fill(NEW_CASE)
                await tile.locator(".tile-case-save").click()
                await expect(tile.locator(".tile-case")).to_have_text(f"Case {NEW_CASE}")
                await expect(tile.locator(".tile-case-form")).to_be_hidden()
            if step == SOS_AT_STEP + 2:
                await command.locator(".alert-item .ack").click()
                await expect(officer.locator("#sos-state")).to_have_attribute(
                    "data-state", "acknowledged", timeout=TIMEOUT_MS)
                await screenshot(command, "command-tile-case")
            if step == WALK_STEPS - 2:
                await while_live()
            await officer.wait_for_timeout(700)
        # The phone shows the commander's case number, recorded in this live session.
        await officer.evaluate("window.__fieldrelay.officer.caseField.refresh()")
        await expect(officer.locator("#case-input")).to_have_value(NEW_CASE)
        await expect(officer.locator("#case-status")).to_have_text("Recorded in this live session.")
        offsets["stop"] = time.monotonic() - live_at
        await officer.click("#stop")
        await expect(officer.locator("#state")).to_have_attribute("data-state", "stopped")
        return offsets
    finally:
        await ctx.close()
        await command_ctx.close()


@pytest.mark.browser
@pytest.mark.media
async def test_review_plays_a_recorded_session_seeks_to_its_alert_verifies_and_exports(
    loopback_only: None, node_process: NodeProcess, browser: Browser, tmp_path: Path
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.add_user(REVIEWER, "reviewer")
    # No tile server (as on an air-gapped court network): the track must still show.
    node_process.start("--escalate-after", "60", "--map-tiles", "")
    errors: list[str] = []
    try:
        ctx = await browser.new_context(accept_downloads=True, **DESKTOP)
        try:
            page = await ctx.new_page()
            watch_errors(page, REVIEWER, errors)
            await page.goto(f"{node_process.url}/review")
            await login_via_ui(page, REVIEWER)
            await expect(page.locator("#list-state")).to_contain_text("No recordings yet")
            offsets = await record_session(browser, node_process, errors,
                                           lambda: review_while_live(page, node_process))
            await review_session(page, node_process, offsets, tmp_path)
        finally:
            await ctx.close()
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise


async def review_while_live(page: Page, node_process: NodeProcess) -> None:
    """A session still being recorded lists as such and opens as a snapshot; no export yet."""
    await page.goto(f"{node_process.url}/review")
    row = page.locator("#sessions .rv-row").first
    await expect(row).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
    await expect(row.locator(".rv-pill-state")).to_have_text("Recording")
    await row.locator(".rv-row-btn").click()
    await expect(page.locator("#live-note")).to_be_visible()
    await expect(page.locator("#d-when")).to_contain_text("still recording")
    await expect(page.locator("#export")).to_be_disabled()
    await expect(page.locator("#export-note")).to_contain_text("once the session is sealed")


async def review_session(page: Page, node_process: NodeProcess, offsets: dict[str, float],
                         tmp_path: Path) -> None:
    """The reviewer's whole pass over the recorded session."""
    # The session opened while live is sealed now: loading what is new says so.
    await page.click("#reload-detail")
    await expect(page.locator("#live-note")).to_be_hidden()
    await expect(page.locator("#d-when")).to_contain_text("sealed")
    await expect(page.locator("#export")).to_be_enabled()
    await page.goto(f"{node_process.url}/review")

    # The list: one session, with its officer, case, duration, one alert.
    rows = page.locator("#sessions .rv-row")
    await expect(rows).to_have_count(1, timeout=TIMEOUT_MS)
    row = rows.first
    await expect(row.locator(".rv-row-officer")).to_have_text(OFFICER)
    await expect(row.locator(".rv-row-case")).to_have_text(NEW_CASE)
    await expect(row.locator(".rv-pill-alerts")).to_have_text("1 alert")
    await expect(row.locator(".rv-row-dur")).to_have_text(re.compile(r"^00:[0-5][0-9]$"))
    session_id = await row.get_attribute("data-session")
    assert session_id and OFFICER in session_id

    # Filters: a wrong case number finds nothing; the case it started with finds it again.
    await page.fill("#f-case", "NO-SUCH-CASE")
    await expect(page.locator("#list-state")).to_have_text("No session matches these filters.")
    await expect(rows).to_have_count(0)
    await page.fill("#f-case", CASE)
    await page.check("#f-alerts")
    await expect(rows).to_have_count(1)
    assert f"case={CASE}" in page.url and "alerts=1" in page.url

    # Open it: the player loads the whole session.
    opened = time.monotonic()
    await row.locator(".rv-row-btn").click()
    await page.wait_for_function(
        "() => document.getElementById('player').readyState >= 2", timeout=TIMEOUT_MS)
    print(f"\nREVIEW_OPEN_TO_FIRST_FRAME_MS={round((time.monotonic() - opened) * 1000)}")
    await expect(page.locator("#d-officer")).to_have_text(OFFICER)
    await expect(page.locator("#d-case")).to_have_text(f"Case {NEW_CASE}")
    duration = await page.evaluate("document.getElementById('player').duration")
    assert offsets["stop"] - 4 < duration < offsets["stop"] + 2, (duration, offsets)

    # It plays: currentTime advances.
    await page.evaluate("document.getElementById('player').play()")
    before = await media_time_ms(page)
    await page.wait_for_timeout(1500)
    after = await media_time_ms(page)
    assert after - before > 700, (before, after)

    # The timeline holds the alert and its acknowledgement, the case and the viewer events.
    alert_row = page.locator('#events .rv-event[data-name="alert.raised"]')
    await expect(alert_row).to_have_count(1)
    await expect(alert_row).to_contain_text("SOS raised")
    await expect(page.locator('#events .rv-event[data-name="alert.acknowledged"]')).to_contain_text(
        f"acknowledged by {COMMANDER}")
    case_row = page.locator('#events .rv-event[data-name="case.set"]')
    await expect(case_row).to_have_text(re.compile(f"Case number set to {NEW_CASE} by {COMMANDER}"))
    joined = page.locator('#events .rv-event[data-name="viewer.joined"]').first
    await expect(joined).to_contain_text(f"{COMMANDER} started watching")
    alert_t = float(await alert_row.get_attribute("data-t") or "nan")
    # The node placed the alert on the media timeline about when the phone pressed SOS.
    assert abs(alert_t / 1000 - offsets["sos"]) < 3.0, (alert_t, offsets)
    detail = await page.evaluate("window.__fieldrelay.detail")
    raised = [e for e in detail["events"] if e["event"] == "alert.raised"]
    assert len(raised) == 1 and raised[0]["t_ms"] == alert_t

    # Let it play past the alert, then click the alert: the player goes back to it.
    await page.evaluate(f"document.getElementById('player').currentTime = {duration - 1.5}")
    await page.wait_for_function(
        f"() => document.getElementById('player').currentTime * 1000 > {alert_t + 2000}")
    clicked = time.monotonic()
    await alert_row.locator("button").click()
    await page.wait_for_function(
        f"() => Math.abs(document.getElementById('player').currentTime * 1000 - {alert_t}) < 700",
        timeout=5000)
    await page.wait_for_function("() => document.getElementById('player').readyState >= 3")
    print(f"REVIEW_EVENT_SEEK_TO_PLAYABLE_MS={round((time.monotonic() - clicked) * 1000)}")
    await expect(alert_row).to_have_attribute("aria-current", "true")
    # ... and keeps playing from there.
    at = await media_time_ms(page)
    await page.wait_for_timeout(800)
    assert await media_time_ms(page) > at + 300

    # The map follows playback: the marker sits where the officer was at the alert.
    await expect(page.locator("#map .rv-map-me")).to_have_count(1)
    await expect(page.locator("#map")).to_have_attribute("data-tiles", "no")
    assert await page.locator("#map .leaflet-tile").count() == 0
    assert await page.locator("#map path.leaflet-interactive").count() >= 2  # track + walked
    marker_t = float(await page.locator("#map").get_attribute("data-marker-t") or "nan")
    assert abs(marker_t - alert_t) < 3000, (marker_t, alert_t)
    pos = await page.locator("#map-pos").text_content()
    assert pos and pos.startswith("43.79"), pos
    gps = detail["gps"]
    assert len(gps) >= 5 and gps[-1]["lat"] > gps[0]["lat"], gps

    # Integrity: the background verify reaches "verified".
    integrity = page.locator("#integrity")
    await expect(integrity).to_have_attribute("data-state", "verified", timeout=TIMEOUT_MS)
    await expect(page.locator("#integrity-label")).to_have_text("Verified")
    await expect(row.locator(".rv-pill-int")).to_have_text("Verified")

    await page.evaluate("window.scrollTo(0, 0)")
    await page.wait_for_timeout(400)
    await screenshot(page, "review-playing")
    await page.screenshot(path=str(ARTIFACTS / "review-playing-full.png"), full_page=True)
    # Tall enough that nothing scrolls under the sticky top bar for the close-ups.
    await page.set_viewport_size({"width": 1440, "height": 1300})
    await page.evaluate("window.scrollTo(0, 0)")
    await page.locator(".rv-timeline").screenshot(path=str(ARTIFACTS / "review-timeline.png"))
    await page.locator(".rv-mapbox").screenshot(path=str(ARTIFACTS / "review-map.png"))
    await page.set_viewport_size(DESKTOP["viewport"])

    # Export: a zip with the media, the ledger, the key and the standalone verifier.
    async with page.expect_download() as dl_info:
        await page.click("#export")
    download = await dl_info.value
    assert download.suggested_filename == f"{session_id}.zip"
    bundle = tmp_path / download.suggested_filename
    await download.save_as(bundle)
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
    assert any(n.endswith("verify.py") for n in names), names
    assert any(n.endswith(".webm") for n in names), names
    assert any("ledger" in n for n in names), names
    await expect(page.locator("#export-note")).to_contain_text(f"Saved {session_id}.zip")

    # Legal hold, with a reason; the list shows it.
    await page.click("#hold-toggle")
    await page.click("#hold-submit")
    await expect(page.locator("#hold-error")).to_be_visible()
    await page.fill("#hold-reason", "Court order 2026-114: appeal pending")
    await page.click("#hold-submit")
    await expect(page.locator("#hold")).to_have_attribute("data-hold", "on")
    await expect(page.locator("#hold-detail")).to_contain_text("appeal pending")
    await expect(row.locator(".rv-pill-hold")).to_be_visible()
    listed = http(node_process, node_process.login(REVIEWER), "GET",
                  f"/api/sessions?case={NEW_CASE}")["sessions"]
    assert listed[0]["legal_hold"] is True

    # The access log: this reviewer's view, playback, verify, export and hold are all in it.
    await page.click("#audit summary")
    audit_rows = page.locator("#audit-table tbody tr")
    await expect(audit_rows.first).to_be_visible()
    actions = set(await audit_rows.evaluate_all("rs => rs.map(r => r.dataset.action)"))
    assert {"view", "play", "verify", "export", "hold"} <= actions, actions
    async with page.expect_download() as csv_info:
        await page.click("#audit-csv")
    csv_dl = await csv_info.value
    text = await asyncio.to_thread(Path(await csv_dl.path()).read_text)
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["action"] for r in table} >= {"view", "play", "export"}, text[:400]
    assert all(r["who"] == REVIEWER for r in table if r["action"] == "export")
    await screenshot(page, "review-hold-audit")

    # A small laptop or a tablet: player and map side by side, the timeline under them.
    await page.set_viewport_size({"width": 1024, "height": 768})
    await page.evaluate("window.scrollTo(0, 0)")
    await page.wait_for_timeout(300)
    await screenshot(page, "review-tablet")

    # A phone: one column, the session replaces the list, "← List" goes back.
    await page.set_viewport_size(PHONE["viewport"])
    await expect(page.locator("#back")).to_be_visible()
    await expect(page.locator(".rv-browse")).to_be_hidden()
    await page.evaluate("window.scrollTo(0, 0)")
    await screenshot(page, "review-phone-session")
    await page.click("#back")
    await expect(page.locator(".rv-browse")).to_be_visible()
    await screenshot(page, "review-phone-list")

    # Someone alters a recorded file on disk: checking again turns the badge to broken, naming it.
    await page.set_viewport_size(DESKTOP["viewport"])
    segment = sorted((node_process.data_dir / "sessions" / session_id).glob("seg-*.webm"))[-1]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    await row.locator(".rv-row-btn").click()
    await expect(page.locator("#integrity")).to_have_attribute("data-state", "broken",
                                                             timeout=TIMEOUT_MS)
    await expect(page.locator("#integrity-label")).to_have_text(f"Broken at {segment.name}")
    await expect(row.locator(".rv-pill-int")).to_have_text("Broken")
    await screenshot(page, "review-broken")



@pytest.mark.browser
async def test_review_page_states_for_no_sessions_an_unknown_session_and_other_roles(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(REVIEWER, "reviewer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start("--map-tiles", "")
    errors: list[str] = []
    ctx = await browser.new_context(**DESKTOP)
    try:
        page = await ctx.new_page()
        watch_errors(page, REVIEWER, errors)
        await page.goto(f"{node_process.url}/review")
        await login_via_ui(page, REVIEWER)
        await expect(page.locator("#list-state")).to_have_attribute("data-state", "empty")
        await expect(page.locator("#list-state")).to_contain_text("No recordings yet")
        await expect(page.locator("#detail-empty")).to_be_visible()

        # A link to a session that does not exist (or was removed) says so and stays on the list.
        await page.goto(f"{node_process.url}/review?session=20260101T000000Z-ghost-deadbeef")
        await expect(page.locator("#toast")).to_contain_text("does not exist")
        await expect(page.locator("#detail")).to_be_hidden()
        await expect(page.locator("#app")).to_have_attribute("data-view", "list")
        assert "session=" not in page.url

        # A time range that ends before it starts holds nothing; Clear filters resets it.
        await page.fill("#f-from", "2026-11-27T10:00")
        await page.fill("#f-to", "2026-11-27T09:00")
        await expect(page.locator("#list-state")).to_have_attribute("data-state", "empty")
        await page.click("#f-clear")
        await expect(page.locator("#f-from")).to_have_value("")

        # A commander who signs in here is sent to the wall: recordings are for reviewers.
        await page.click("#logout")
        await page.goto(f"{node_process.url}/review")
        await login_via_ui(page, COMMANDER)
        await page.wait_for_url(f"{node_process.url}/command")
        assert errors == []
    finally:
        await ctx.close()


async def test_review_lists_a_session_of_another_node_and_opens_it_through_the_catalog(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(REVIEWER, "reviewer")
    node_process.start("--map-tiles", "")
    # Another node's session, as that node publishes it to a catalog shared with this one.
    sid = "20261127T100000Z-o7-0a1b2c3d"
    shared = SqliteCatalog.of_data_dir(node_process.data_dir)
    await shared.start()
    try:
        await shared.put_session(CatalogRow(
            id=sid, node="node-z", officer="<b>o7</b>", case="2026-EX-0999", cases=(),
            started_at="2026-11-27T10:00:00.000Z", ended_at="2026-11-27T10:01:00.000Z",
            state="sealed", media=None, alerts=0, segments=2, bytes=1000, seal_reason="stop",
            head_seq=5, head_hash="0" * 64))
    finally:
        await shared.aclose()
    errors: list[str] = []
    ctx = await browser.new_context(**DESKTOP)
    try:
        page = await ctx.new_page()
        watch_errors(page, REVIEWER, errors)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        await page.goto(f"{node_process.url}/review")
        await login_via_ui(page, REVIEWER)
        row = page.locator(f'[data-session="{sid}"]')
        await expect(row.locator(".rv-pill-node")).to_have_text("Node node-z")
        # User text is text: the officer's name shows as typed, never as markup.
        await expect(row.locator(".rv-row-officer")).to_have_text("<b>o7</b>")
        await expect(row.locator(".rv-row-dur")).not_to_have_text("—")
        await row.locator(".rv-row-btn").click()
        await expect(page.locator("#d-officer")).to_have_text("<b>o7</b>")
        # Verified through the catalog: this node has no archive, so it says it cannot check.
        await expect(page.locator("#integrity")).to_have_attribute("data-state", "error")
        await expect(page.locator("#integrity")).to_have_attribute(
            "title", re.compile("archive", re.I))
        await expect(page.locator("#hold-toggle")).to_be_hidden()
        assert any(f"/api/catalog/sessions/{sid}/verify" in u for u in requests)
        assert not any(f"/api/sessions/{sid}" in u for u in requests)
        assert [e for e in errors if "503" not in e] == []
    finally:
        await ctx.close()
