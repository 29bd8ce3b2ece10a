"""Stepping in from the command center, in real Chromium: go-live request, map, instruction,
talkback into the scene, and the talkback in the officer's evidence."""

from __future__ import annotations

import json
import time
from pathlib import Path

import av
import pytest
from playwright.async_api import Browser, expect

from recordings.verify import check
from tests.conftest import NodeProcess
from tests.e2e.conftest import assert_loopback_candidates, new_media_context, screenshot
from tests.e2e.test_live_wall import (
    DESKTOP,
    FRAMES_DECODED_JS,
    PHONE,
    login_via_ui,
    watch_errors,
)

OFFICER = "officer1"
COMMANDER = "cmd1"
REVIEWER = "rev1"
# Vienna, Stephansplatz.
SCENE = {"latitude": 48.2085, "longitude": 16.3731}

# The phone's talkback connection: audio packets in, audio level, video frames decoded.
TALKBACK_STATS_JS = """
async () => {
  const pc = window.__fieldrelay?.talkbackPc;
  const out = { packets: -1, level: -1, frames: -1 };
  if (!pc) return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packets = s.packetsReceived ?? -1;
      out.level = s.audioLevel ?? -1;
    }
    if (s.type === "inbound-rtp" && s.kind === "video") out.frames = s.framesDecoded ?? -1;
  });
  return out;
}
"""


def sealed_session(data_dir: Path, officer: str, timeout: float = 15) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in (data_dir / "sessions").glob(f"*-{officer}-*"):
            if not (folder / "OPEN").exists() and (folder / "ledger.jsonl").exists():
                return folder
        time.sleep(0.2)
    raise AssertionError(f"no sealed session of {officer} within {timeout} s")


@pytest.mark.browser
@pytest.mark.media
async def test_commander_steps_in_request_map_instruction_and_talkback(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.add_user(REVIEWER, "reviewer")
    node_process.start("--escalate-after", "300", "--map-tiles", "")
    errors: list[str] = []

    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, permissions=("geolocation",),
                                          geolocation=SCENE, **PHONE)
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")

        officer = await officer_ctx.new_page()
        watch_errors(officer, "officer", errors)
        await officer.goto(f"{node_process.url}/officer")
        await login_via_ui(officer, OFFICER)
        await expect(officer.locator("#ws-state")).to_have_attribute("data-state", "open")
        await expect(officer.locator("#state")).to_have_attribute("data-state", "stopped")

        # 1. Go-live request: the offline tile asks; the phone accepts with one tap.
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile).to_have_attribute("data-state", "offline")
        await tile.locator(".tile-golive").click()
        prompt = officer.locator("#golive")
        await expect(prompt).to_be_visible(timeout=5000)
        await expect(prompt).to_contain_text(f"{COMMANDER} asks you to go live")
        await screenshot(officer, "officer-golive-request")
        await officer.locator("#golive-accept").click()
        await expect(prompt).to_be_hidden()
        await expect(officer.locator("#state")).to_have_attribute("data-state", "live",
                                                                  timeout=10000)
        await expect(tile).to_have_attribute("data-state", "live", timeout=10000)
        await command.wait_for_function(f"async () => ({FRAMES_DECODED_JS})({OFFICER!r}) > 0",
                                        timeout=10000)

        # 2. The map: the phone's position (Playwright's geolocation) puts the marker there.
        marker = command.locator(f'.map-marker[data-officer="{OFFICER}"]')
        await expect(marker).to_be_visible(timeout=10000)
        await expect(marker).to_have_attribute("data-state", "live")
        where = await command.evaluate(
            "(n) => { const e = window.__fieldrelay.map.officers.get(n);"
            " const p = e.marker.getLatLng(); return [p.lat, p.lng]; }", OFFICER)
        assert where == pytest.approx([SCENE["latitude"], SCENE["longitude"]], abs=1e-6)

        # An alert pulses on the map (and rings on the wall).
        await officer.locator("#sos").click()
        await expect(command.locator(".alert-item").first).to_be_visible(timeout=5000)
        await expect(marker).to_have_attribute("data-state", "alert", timeout=5000)
        # Clicking the marker opens (enlarges) the officer's feed.
        await command.locator(".alert-item .ack").first.click()
        await tile.locator(".tile-focus").click()
        await expect(tile).to_have_attribute("data-focused", "false")
        await marker.click()
        await expect(tile).to_have_attribute("data-focused", "true")

        # 3. An instruction: prominent on the phone; "understood" reaches the commander.
        text = "Wait for backup before you enter. Two units are 3 minutes out."
        await tile.locator(".tile-instruct").click()
        await expect(command.locator("#instr-target")).to_have_value(f"to:{OFFICER}")
        await command.fill("#instr-text", text)
        await command.locator("#instr-form button[type=submit]").click()
        card = officer.locator("#instruction")
        await expect(card).to_be_visible(timeout=5000)
        await expect(officer.locator("#instruction-text")).to_have_text(text)
        await expect(officer.locator("#instruction-from")).to_contain_text(COMMANDER)
        chip = command.locator(f'.instr-item .receipt[data-officer="{OFFICER}"]').first
        await expect(chip).to_have_attribute("data-stage", "read", timeout=5000)
        await screenshot(officer, "officer-instruction")
        await officer.locator("#instruction-ok").click()
        await expect(card).to_be_hidden(timeout=5000)
        await expect(chip).to_have_attribute("data-stage", "understood", timeout=5000)

        # 4. Talkback with the commander's camera: heard and seen on the phone.
        await command.locator("#talk-camera").check()
        talk = tile.locator(".tile-talk")
        await talk.click()
        await expect(talk).to_have_attribute("aria-pressed", "true")
        await expect(tile.locator(".tile-floor")).to_have_text(
            "You are talking — the scene hears you", timeout=10000)
        panel = officer.locator("#talkback")
        await expect(panel).to_be_visible(timeout=5000)
        await expect(officer.locator("#talkback-who")).to_have_text(COMMANDER)
        await officer.wait_for_function(
            f"async () => ({TALKBACK_STATS_JS})().then((s) => s.packets > 0)", timeout=10000)
        first = await officer.evaluate(TALKBACK_STATS_JS)
        await officer.wait_for_timeout(1500)
        later = await officer.evaluate(TALKBACK_STATS_JS)
        print(f"\nTALKBACK_AUDIO packets {first['packets']} -> {later['packets']}, "
              f"level {later['level']}, video frames {later['frames']}")
        assert later["packets"] > first["packets"] > 0
        assert later["level"] > 0
        assert later["frames"] > 0
        await expect(panel).to_have_attribute("data-picture", "true", timeout=5000)
        await assert_loopback_candidates(officer, "officer")
        await assert_loopback_candidates(command, "command")
        await officer.wait_for_timeout(500)
        await screenshot(officer, "officer-talkback")
        await screenshot(command, "command-wall-map-alert-talkback")

        await talk.click()  # stop talking
        await expect(panel).to_be_hidden(timeout=5000)
        await expect(tile.locator(".tile-floor")).to_be_hidden()

        # The officer stops: the session is sealed with its talkback track.
        await officer.locator("#stop").click()
        await expect(officer.locator("#state")).to_have_attribute("data-state", "stopped")
        assert errors == []
    finally:
        await command_ctx.close()
        await officer_ctx.close()

    folder = sealed_session(node_process.data_dir, OFFICER)
    entries = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    names = [e.get("event") for e in entries if e["kind"] == "event"]
    assert "golive.requested" in names
    assert [n for n in names if n and n.startswith("instruction.")] == [
        "instruction.sent", "instruction.delivered", "instruction.read", "instruction.understood"]
    started = next(e for e in entries if e.get("event") == "talkback.started")
    assert (started["by"], started["video"]) == (COMMANDER, True)
    talkback = [e for e in entries if e.get("track") == "talkback"]
    assert talkback, "no talkback segment in the ledger"
    with av.open(str(folder / talkback[0]["file"])) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert container.streams.audio[0].codec_context.name == "opus"
        assert sum(1 for _ in container.decode(audio=0)) > 10
    report = check(folder)
    assert report.ok, report.first_break

    # Review: the whole session plays, and during the talkback the commander is heard too
    # (a second element on the same timeline, kept in step with the picture).
    start_ms = talkback[0]["media_start_ms"] - min(
        e["media_start_ms"] for e in entries if e["kind"] == "segment" and "track" not in e)
    review_ctx = await new_media_context(browser, **DESKTOP)
    try:
        page = await review_ctx.new_page()
        watch_errors(page, "review", errors)
        await page.goto(f"{node_process.url}/review?session={folder.name}")
        await login_via_ui(page, REVIEWER)
        await page.wait_for_function("() => document.getElementById('player').readyState >= 2",
                                     timeout=15000)
        await page.wait_for_function(
            "() => window.__fieldrelay.review.player.talk.readyState >= 1", timeout=15000)
        await page.evaluate(f"window.__fieldrelay.review.player.seek({start_ms + 300})")
        await page.wait_for_function(
            "() => { const p = window.__fieldrelay.review.player;"
            " return !p.talk.paused && p.talk.currentTime > 0; }", timeout=10000)
        await page.wait_for_timeout(1000)
        drift = await page.evaluate(
            "() => { const p = window.__fieldrelay.review.player;"
            " return Math.abs(p.talk.currentTime - p.video.currentTime); }")
        print(f"REVIEW_TALKBACK_DRIFT_S={drift:.3f}")
        assert drift < 0.3
        await page.evaluate("document.getElementById('player').pause()")
        await page.wait_for_function("() => window.__fieldrelay.review.player.talk.paused")
        assert errors == []
    finally:
        await review_ctx.close()
