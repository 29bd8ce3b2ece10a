"""The phone's own recording fills what the live link missed, in real Chromium against a real
node: with the pre-event buffer on, SOS sends the 30 s before it as a `preevent` material of
the new session; a 10 s cut of the phone's link while live is filled by the phone's upload
(`gap.filled`, `fieldrelay verify` passes, review plays the fill in the case trail)."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import av
import pytest
from playwright.async_api import Browser, expect

from recordings.store import read_entries
from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context, screenshot
from tests.e2e.test_live_wall import DESKTOP, PHONE, login_via_ui, watch_errors
from tests.e2e.trail import http, materials, until_queue
from tests.netns import linked_namespace
from tests.signaling.test_bad_network import in_namespace

PREEVENT_S = 30  # web/js/preevent.js PREEVENT_S
CUT_S = 10.0
CASE = "2026-EX-0311"
# What each row of the case trail is: a material's kind, an event's name, else its type.
ROW_KINDS = "(rows) => rows.map((r) => r.dataset.kind || r.dataset.event || r.dataset.type)"
# The gap fill plays in its row of the case trail: decoded frames, time running.
FILL_PLAYS_JS = """() => {
  const v = document.querySelector(".rv-cv-row[data-kind=gapfill] video");
  return !!v && !v.paused && v.readyState >= 3 && v.videoWidth > 0 && v.currentTime > 3
    && v.getVideoPlaybackQuality().totalVideoFrames > 30;
}"""
PREEVENT_PLAYS_JS = """() => {
  const v = document.querySelector("#d-materials .rv-cv-row[data-kind=preevent] video");
  return !!v && !v.paused && v.readyState >= 3 && v.currentTime > 1;
}"""
PLAYER_JS = """() => {
  const v = document.querySelector(".rv-cv-row[data-kind=gapfill] video");
  const q = v.getVideoPlaybackQuality();
  return [v.currentTime, v.duration, v.readyState, v.paused, v.ended, q.totalVideoFrames,
          q.droppedVideoFrames, v.error && v.error.message];
}"""
SPEED_UP_JS = """() => {
  document.querySelector(".rv-cv-row[data-kind=gapfill] video").playbackRate = 4;
}"""
PLAYED_PAST_JS = """(s) => {
  const v = document.querySelector(".rv-cv-row[data-kind=gapfill] video");
  return v.currentTime > s && v.getVideoPlaybackQuality().totalVideoFrames > 3 * s;
}"""


def utc(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def video_span_s(data: bytes) -> float:
    """First to last decodable video frame of a WebM clip, in seconds."""
    times = []
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(video=0):
            assert frame.pts is not None and frame.time_base is not None
            times.append(float(frame.pts * frame.time_base))
    assert times, "no decodable video"
    return max(times) - min(times)


def ledger(data_dir: Path, session: str) -> list[dict[str, Any]]:
    return list(read_entries(data_dir / "sessions" / session / "ledger.jsonl"))


@pytest.mark.browser
@pytest.mark.media
async def test_sos_with_the_pre_event_buffer_sends_the_30_s_before_the_session(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("r1", "reviewer")
    node_process.start()
    errors: list[str] = []
    ctx = await new_media_context(browser, permissions=("geolocation",),
                                  geolocation={"latitude": 48.2, "longitude": 16.37}, **PHONE)
    page = await ctx.new_page()
    watch_errors(page, "officer", errors)
    await page.goto(f"{node_process.url}/officer")
    await login_via_ui(page, "o1")
    await expect(page.locator("#preevent-opt")).to_be_visible()
    await page.check("#preevent-on")
    await page.wait_for_function("() => window.__fieldrelay.recorder?.running === true")
    await asyncio.sleep(PREEVENT_S + 4)

    sos_at = time.time()
    await page.click("#sos")
    await page.wait_for_function(
        "() => window.__fieldrelay.state === 'live' && !!window.__fieldrelay.session",
        timeout=30_000)
    session = str(await page.evaluate("() => window.__fieldrelay.session"))
    # Both stores in one look: the queue is empty and the pre-event is among the sealed.
    await until_queue(page, lambda q: not q["items"] and [d["kind"] for d in q["done"]] == [
        "preevent"], 60, "the pre-event sealed and gone from the phone")
    await page.click("#stop")
    await expect(page.locator("#state")).to_have_attribute("data-state", "stopped")

    token = node_process.login("r1")
    [m] = materials(node_process, token, "?kind=preevent")
    detail = json.loads(http(node_process, token, f"/api/sessions/{session}"))
    started = utc(detail["started_at"])
    span = utc(m["to"]) - utc(m["from"])
    print(f"PREEVENT span {span:.1f} s, ends {utc(m['to']) - started:+.2f} s from the session's "
          f"start, SOS pressed {sos_at - started:+.2f} s from it")
    assert m["session"] == session
    assert PREEVENT_S - 1.5 <= span <= PREEVENT_S + 3, span
    # It precedes the session: it ends by the time the node's recording starts.
    assert utc(m["to"]) <= started + 1.0
    assert utc(m["from"]) <= started - (PREEVENT_S - 2)
    clip = http(node_process, token, f"/api/materials/{m['id']}/content")
    assert video_span_s(clip) >= PREEVENT_S - 2

    # Review shows it with the session, placed before the session's start.
    review_ctx = await new_media_context(browser, **DESKTOP)
    try:
        review = await review_ctx.new_page()
        watch_errors(review, "review", errors)
        await review.goto(f"{node_process.url}/review?session={session}")
        await login_via_ui(review, "r1")
        row = review.locator("#d-materials .rv-cv-row[data-kind='preevent']")
        await expect(row).to_contain_text("Before the session")
        shown_at = await row.locator(".rv-cv-when").get_attribute("title")
        assert shown_at and utc(shown_at) <= started - (PREEVENT_S - 2), shown_at
        await row.locator("button").click()
        await review.wait_for_function(PREEVENT_PLAYS_JS, timeout=20_000)
        await screenshot(review, "review-session-preevent")
    finally:
        await review_ctx.close()
    node_process.stop()
    attached = [e for e in ledger(node_process.data_dir, session)
                if e.get("event") == "preevent.attached"]
    assert [e["material"] for e in attached] == [m["id"]], attached
    assert not errors, errors
    await ctx.close()


@pytest.mark.browser
@pytest.mark.media
async def test_a_ten_second_cut_is_filled_by_the_phones_own_recording(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("r1", "reviewer")
    with linked_namespace() as link:
        node_process.start("--host", "0.0.0.0", "--ice-host", link.host_ip)
        base = f"http://{link.host_ip}:{node_process.port}"
        officer = in_namespace(link, "tests.net_officer_trail", base, "o1", CASE)
        try:
            def last(key: str) -> Any:
                for line in reversed(officer.lines):
                    if key in line:
                        return line[key]
                return None

            def states() -> list[str]:
                return [str(x["state"]) for x in officer.lines if "state" in x]

            async def until(test: Any, timeout: float, what: str) -> None:
                deadline = time.monotonic() + timeout
                while not test():
                    errors = [x for x in officer.lines if "error" in x]
                    assert not errors, errors
                    seen = [x.get("state") for x in officer.lines]
                    assert time.monotonic() < deadline, f"timed out waiting for {what}: {seen}"
                    await asyncio.sleep(0.2)

            await until(lambda: "live" in states(), 60, "the officer page to go live")
            await asyncio.sleep(12)  # some live recording before the cut
            link.cut()
            cut_at = time.time()
            await asyncio.sleep(CUT_S)
            link.clear()
            lives = states().count("live")
            await until(lambda: states().count("live") > lives, 60, "the page live again")
            back_at = time.time()
            def filled() -> bool:
                done = (last("queue") or {}).get("done", [])
                return any(d["kind"] == "gapfill" for d in done)

            await until(filled, 60, "the gap fill sealed")
            filled_at = time.time()
            session = str(last("session"))
            print(f"GAPFILL live again {back_at - cut_at:.1f} s after the cut; fill sealed "
                  f"{filled_at - back_at:.1f} s after that")

            # Review plays the fill where the gap is, in the case trail.
            token = node_process.login("r1")
            [m] = materials(node_process, token, "?kind=gapfill")
            assert m["session"] == session and m["case"] == CASE
            clip = http(node_process, token, f"/api/materials/{m['id']}/content")
            review_ctx = await new_media_context(browser, **DESKTOP)
            try:
                review = await review_ctx.new_page()
                errors: list[str] = []
                watch_errors(review, "review", errors)
                await review.goto(f"{node_process.url}/review?trail={CASE}")
                await login_via_ui(review, "r1")
                row = review.locator(f".rv-cv-row[data-id='{m['id']}']")
                await expect(row).to_contain_text("recorded on the phone, received at",
                                                  ignore_case=True)
                await expect(row).to_contain_text("weaker evidence")
                # It sits between the link lost and the live session around it.
                order = await review.eval_on_selector_all(".rv-cv-row", ROW_KINDS)
                assert order.index("session") < order.index("gapfill"), order
                assert order.index("gapfill") < order.index("gap.filled"), order
                await row.locator("button").click()
                await review.wait_for_function(FILL_PLAYS_JS, timeout=20_000)
                # Played on (four times as fast) past the end of the gap it fills.
                trail = json.loads(http(node_process, token, f"/api/cases/{CASE}"))
                [link_event] = [e for e in trail["timeline"] if e.get("event") == "gap.filled"]
                past_gap_s = utc(link_event["gap_to"]) - utc(m["from"])
                await review.evaluate(SPEED_UP_JS)
                try:
                    await review.wait_for_function(PLAYED_PAST_JS, arg=past_gap_s, timeout=30_000)
                finally:
                    print("GAPFILL review played", past_gap_s, await review.evaluate(PLAYER_JS))
                await screenshot(review, "review-case-trail-gapfill")
                # The officer stops; then one bundle for the whole case, the session and the
                # phone's fill in it, with its verifier.
                await asyncio.to_thread(officer.stop)
                deadline = time.monotonic() + 30
                while json.loads(http(node_process, token, f"/api/sessions/{session}"))[
                        "state"] != "sealed":
                    assert time.monotonic() < deadline, "the session was not sealed"
                    await asyncio.sleep(0.3)
                async with review.expect_download(timeout=60_000) as download:
                    await review.click("#cv-export")
                bundle = await (await download.value).path()
                with zipfile.ZipFile(bundle) as z:
                    names = z.namelist()
                assert any(n.endswith("verify.py") for n in names), names
                assert any(f"mat-{m['id']}" in n for n in names), names
                assert not errors, errors
            finally:
                await review_ctx.close()
        finally:
            officer.stop()
        assert node_process.stop() == 0

    entries = ledger(node_process.data_dir, session)
    fills = [e for e in entries if e.get("event") == "gap.filled"]
    reconnected = next(e for e in entries if e.get("event") == "publisher.reconnected")
    covered_ms = sum(int(f["covered_ms"]) for f in fills)
    after_s = utc(fills[0]["at"]) - utc(fills[0]["gap_to"])
    print(f"GAPFILL covered {covered_ms} of {reconnected['gap_ms']} ms; "
          f"gap.filled {after_s:.1f} s after the reconnect")
    assert fills and fills[0]["material"] == m["id"], fills
    covered = sum(int(f["covered_ms"]) for f in fills)
    gap = sum(int(f["gap_ms"]) for f in fills)
    assert gap >= CUT_S * 1000
    assert covered == gap, f"the fill covers {covered} of {gap} ms"
    assert video_span_s(clip) * 1000 >= gap, "the fill's own video spans the gap"
    verify = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "fieldrelay", "verify", str(node_process.data_dir)],
        capture_output=True, text=True, timeout=120, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
