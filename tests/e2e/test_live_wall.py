"""An officer goes live from a phone-sized Chromium; the wall plays it, then shows it offline."""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import PASSWORD, NodeProcess
from tests.e2e.conftest import assert_loopback_candidates, new_media_context, screenshot

OFFICER = "officer1"
COMMANDER = "cmd1"
DEADLINE_S = 5.0

# Browser.new_context keyword arguments.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1440, "height": 900}}

# framesDecoded of the tile's WHEP connection (-1 while there is none).
FRAMES_DECODED_JS = """
async (name) => {
  const pc = window.__fieldrelay?.viewers?.[name];
  if (!pc) return -1;
  let frames = -1;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded ?? -1;
  });
  return frames;
}
"""

# Addresses of the selected ICE candidate pair of a connection: [local, remote].
SELECTED_PAIR_JS = """
async (pc) => {
  const stats = await pc.getStats();
  let pairId = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
  });
  const pair = pairId && stats.get(pairId);
  if (!pair) return null;
  const addr = (id) => { const c = stats.get(id); return c && (c.address || c.ip); };
  return [addr(pair.localCandidateId), addr(pair.remoteCandidateId)];
}
"""

# Stamps the Go Live click (capture phase, before the app's own handler) in epoch milliseconds,
# on the same clock as the wall's window.__fieldrelay.firstFrameAt.
STAMP_GO_LIVE_JS = """
() => document.addEventListener("click", (ev) => {
  if (ev.target.closest("#go-live")) window.__goLiveAt = performance.timeOrigin + performance.now();
}, { capture: true })
"""

# Records every data-state an element under `root` takes (consecutive repeats folded).
RECORD_STATES_JS = """
([root, selector]) => {
  window.__states = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (!r.target.matches(selector)) continue;
      const s = r.target.dataset.state;
      if (window.__states[window.__states.length - 1] !== s) window.__states.push(s);
    }
  }).observe(document.querySelector(root), {
    attributes: true, attributeFilter: ["data-state"], subtree: true,
  });
}
"""

TILE_VIDEO_WIDTH_JS = """
(name) => {
  const v = document.querySelector(`.tile[data-officer="${name}"] video`);
  return v ? v.videoWidth : 0;
}
"""


async def login_via_ui(page: Page, username: str) -> None:
    await expect(page.locator("#login-form")).to_be_visible()
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#login-form")).to_have_count(0)


def watch_errors(page: Page, label: str, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(f"{label}: {exc}"))


@pytest.mark.browser
@pytest.mark.media
async def test_go_live_plays_on_the_wall_then_goes_offline(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start()
    errors: list[str] = []

    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, **PHONE)
    try:
        # The command center signs in through the page and its event link comes up.
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_process.url}/command")
        await screenshot(command, "command-login")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")
        await expect(command.locator("#user-name")).to_have_text(COMMANDER)

        # The officer signs in on a phone-sized screen.
        officer = await officer_ctx.new_page()
        watch_errors(officer, "officer", errors)
        await officer.goto(f"{node_process.url}/officer")
        await screenshot(officer, "officer-login")
        await login_via_ui(officer, OFFICER)
        state = officer.locator("#state")
        await expect(state).to_have_attribute("data-state", "stopped")
        await expect(officer.locator("#go-live")).to_be_in_viewport()
        await screenshot(officer, "officer-stopped")

        # Go Live: stamp the click in the page (capture phase, before the app's handler).
        await officer.evaluate(STAMP_GO_LIVE_JS)
        await officer.evaluate(RECORD_STATES_JS, ["#state", "#state"])
        await command.evaluate(RECORD_STATES_JS, ["#wall", f'.tile[data-officer="{OFFICER}"]'])
        clicked = time.monotonic()
        await officer.click("#go-live")

        # Within 5 s the wall shows decoded video for that officer.
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await command.wait_for_function(
            f"(n) => ({TILE_VIDEO_WIDTH_JS})(n) > 0",
            arg=OFFICER,
            timeout=max(100, (DEADLINE_S - (time.monotonic() - clicked)) * 1000),
        )
        first = await command.evaluate(FRAMES_DECODED_JS, OFFICER)
        rising = first
        while rising <= first and time.monotonic() - clicked < DEADLINE_S:
            await command.wait_for_timeout(100)
            rising = await command.evaluate(FRAMES_DECODED_JS, OFFICER)
        elapsed = time.monotonic() - clicked
        assert rising > first >= 0, f"framesDecoded not rising: {first} → {rising}"
        assert elapsed < DEADLINE_S, f"video took {elapsed:.2f} s"
        assert await command.evaluate(TILE_VIDEO_WIDTH_JS, OFFICER) > 0
        await expect(tile).to_have_attribute("data-state", "live")
        await expect(state).to_have_attribute("data-state", "live")

        go_live_at = await officer.evaluate("window.__goLiveAt")
        await command.wait_for_function(
            "(n) => window.__fieldrelay.firstFrameAt[n] > 0", arg=OFFICER, timeout=2000
        )
        first_frame_at = await command.evaluate(
            "(n) => window.__fieldrelay.firstFrameAt[n]", OFFICER
        )
        go_live_ms = round(first_frame_at - go_live_at)
        print(f"\nGO_LIVE_TO_FIRST_FRAME_MS={go_live_ms}")
        assert 0 < go_live_ms < DEADLINE_S * 1000

        # Media moved over loopback only, on both pages.
        await assert_loopback_candidates(officer, "officer")
        await assert_loopback_candidates(command, "command")
        for page, expr in ((officer, "window.__fieldrelay.publisher"),
                           (command, f"window.__fieldrelay.viewers[{OFFICER!r}]")):
            pair = await page.evaluate(f"() => ({SELECTED_PAIR_JS})({expr})")
            assert pair is not None, f"{expr}: no selected candidate pair"
            assert set(pair) <= {"127.0.0.1", "::1"}, f"{expr}: selected pair {pair}"

        await command.wait_for_timeout(500)  # let the picture settle for the screenshots
        await screenshot(officer, "officer-live")
        await screenshot(command, "command-live")

        # Stop: the tile stays on the wall and shows offline.
        await officer.click("#stop")
        await expect(state).to_have_attribute("data-state", "stopped")
        await expect(tile).to_have_attribute("data-state", "offline", timeout=DEADLINE_S * 1000)
        await expect(tile).to_have_count(1)
        await expect(tile.locator("video")).to_have_count(1)
        await screenshot(officer, "officer-after-stop")
        await screenshot(command, "command-offline")

        # Each side went through its states in order, with no detour.
        assert await officer.evaluate("window.__states") == ["connecting", "live", "stopped"]
        assert await command.evaluate("window.__states") == ["connecting", "live", "offline"]

        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        await officer_ctx.close()
        await command_ctx.close()
