"""A still picture on the wall always says why: when the phone steps to audio only, its tile
says so within 2 s and does not re-subscribe; when video stops with no word from the phone,
the tile says how long the picture has been still; video comes back with the step."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context
from tests.e2e.test_live_wall import (
    DESKTOP,
    FRAMES_DECODED_JS,
    PHONE,
    login_via_ui,
    watch_errors,
)

OFFICER, COMMANDER = "officer1", "cmd1"

# The phone goes to a step by hand (its own policy off), as adapt.js would, and says so.
SET_STEP_JS = """
async (step) => {
  const a = window.__fieldrelay.adapt;
  a.enabled = false;
  a.state = { ...a.state, step };
  await a.apply(step);
  a.announce();
  a.render();
  return performance.timeOrigin + performance.now();
}
"""

# Stops the phone's video without telling anyone (a camera stall, a radio that stops).
STOP_VIDEO_SILENTLY_JS = """
async () => {
  const pc = window.__fieldrelay.publisher;
  const sender = pc.getSenders().find((s) => s.track?.kind === "video");
  const params = sender.getParameters();
  params.encodings[0].active = false;
  await sender.setParameters(params);
  return performance.timeOrigin + performance.now();
}
"""

# When the tile's link badge is shown (epoch ms), and its text.
BADGE_SHOWN_JS = """
(name) => new Promise((resolve) => {
  const badge = document.querySelector(`.tile[data-officer="${name}"] .link-badge`);
  const check = () => {
    if (!badge.hidden && badge.textContent) {
      resolve([performance.timeOrigin + performance.now(), badge.textContent]);
    } else {
      setTimeout(check, 50);
    }
  };
  check();
})
"""


# The tile's audio: did its WHEP answer take RED, and how much of what it played was real.
TILE_AUDIO_JS = """
async (name) => {
  const pc = window.__fieldrelay.viewers[name];
  const sdp = pc.remoteDescription.sdp.split("\\r\\n");
  const audio = sdp.find((l) => l.startsWith("m=audio")).split(" ").slice(3);
  const red = sdp.find((l) => /^a=rtpmap:\\d+ red\\/48000\\/2$/.test(l));
  let stats = null;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") stats = s;
  });
  return { first: audio[0], red: red ? red.split(/[: ]/)[1] : null,
           packets: stats?.packetsReceived ?? 0, samples: stats?.totalSamplesReceived ?? 0,
           concealed: stats?.concealedSamples ?? 0 };
}
"""


async def frames_rising(command: Page, timeout_s: float) -> bool:
    first = await command.evaluate(FRAMES_DECODED_JS, OFFICER)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        await command.wait_for_timeout(200)
        if await command.evaluate(FRAMES_DECODED_JS, OFFICER) > first + 3:
            return True
    return False


@pytest.mark.browser
@pytest.mark.media
async def test_the_tile_says_why_its_picture_is_still(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start()
    errors: list[str] = []
    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, **PHONE)
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        officer = await officer_ctx.new_page()
        watch_errors(officer, "officer", errors)
        await officer.goto(f"{node_process.url}/officer?adapt=off")
        await login_via_ui(officer, OFFICER)
        await officer.click("#go-live")
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile).to_have_attribute("data-state", "live", timeout=10_000)
        assert await frames_rising(command, 5)
        badge = tile.locator(".link-badge")
        await expect(badge).to_be_hidden()

        # Chromium publishes RED and the console's Chromium takes it: the node forwards the
        # redundant audio as it came, and the console plays it (little concealment).
        await command.wait_for_timeout(3000)
        audio = await command.evaluate(TILE_AUDIO_JS, OFFICER)
        assert audio["red"] is not None and audio["first"] == audio["red"], audio
        assert audio["packets"] > 100 and audio["samples"] > 0, audio
        assert audio["concealed"] < 0.2 * audio["samples"], audio

        # Audio only: the officer sees it, and the tile says it within 2 s.
        stepped_at = await officer.evaluate(SET_STEP_JS, 4)
        await expect(officer.locator("#link-state")).to_contain_text("audio only")
        shown_at, text = await command.evaluate(BADGE_SHOWN_JS, OFFICER)
        assert shown_at - stepped_at <= 2000, shown_at - stepped_at
        assert "audio only" in text
        await expect(tile).to_have_attribute("data-link", "4")
        await expect(badge).to_contain_text("Picture still for", timeout=3000)
        await expect(badge).to_contain_text("audio only")
        # No video is coming by the phone's choice: the tile keeps its subscription (a
        # re-subscribe would show "reconnecting" after 8 s without frames).
        await command.wait_for_timeout(10_000)
        await expect(tile).to_have_attribute("data-state", "live")

        # Back to full video: the badge goes, the picture moves again.
        await officer.evaluate(SET_STEP_JS, 0)
        await expect(officer.locator("#link-state")).to_be_hidden()
        assert await frames_rising(command, 10), "video did not come back"
        await expect(badge).to_be_hidden(timeout=3000)

        # Video stops with no word from the phone: the tile still says why within 2 s.
        stopped_at = await officer.evaluate(STOP_VIDEO_SILENTLY_JS)
        shown_at, text = await command.evaluate(BADGE_SHOWN_JS, OFFICER)
        assert shown_at - stopped_at <= 2000, shown_at - stopped_at
        assert "Picture still for" in text and "no new video from the phone" in text
        assert errors == []
    finally:
        await officer_ctx.close()
        await command_ctx.close()
