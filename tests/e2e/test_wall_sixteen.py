"""The wall with 16 live feeds in real Chromium: every tile plays, four columns, focus one,
unmute one, and a dropped phone shows as reconnecting on its own tile."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from fieldrelay.users import UserStore
from relay import aiortc_hooks
from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context, screenshot
from tests.e2e.test_live_wall import DESKTOP, login_via_ui, watch_errors
from tests.live import PASSWORD
from tests.media import PatternVideoTrack, Publisher, publish

FEEDS = 16
COMMANDER = "cmd1"
NAMES = [f"unit-{i:02d}" for i in range(1, FEEDS + 1)]

VIDEO_WIDTHS_JS = """
() => Object.fromEntries([...document.querySelectorAll(".tile")].map(
  (t) => [t.dataset.officer, t.querySelector("video").videoWidth]))
"""


@pytest.mark.browser
@pytest.mark.media
async def test_sixteen_feeds_play_and_each_tile_is_controlled_on_its_own(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    users = UserStore(node_process.data_dir)
    for name in NAMES:
        users.add(name, "officer", PASSWORD)
    users.add(COMMANDER, "commander", PASSWORD)
    node_process.start("--map-tiles", "", "--reconnect-grace", "60")
    # This test process's own peers (the 16 phones) gather on loopback, like the node's.
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    errors: list[str] = []
    publishers: list[Publisher] = []
    ctx = await new_media_context(browser, **DESKTOP)
    async with aiohttp.ClientSession() as http:
        try:
            for i, name in enumerate(NAMES):
                token = node_process.login(name)
                # Small pictures keep 16 encoders in this test process cheap; two carry sound.
                publishers.append(await publish(
                    http, node_process.url, token, audio=i < 2, video=False,
                    before_offer=lambda pc: pc.addTransceiver(PatternVideoTrack(160, 120),
                                                              direction="sendonly")))
            page = await ctx.new_page()
            watch_errors(page, "command", errors)
            await page.goto(f"{node_process.url}/command")
            await login_via_ui(page, COMMANDER)
            await expect(page.locator(".tile")).to_have_count(FEEDS, timeout=10000)
            await expect(page.locator('.tile[data-state="live"]')).to_have_count(
                FEEDS, timeout=30000)
            await page.wait_for_function(
                f"() => Object.values(({VIDEO_WIDTHS_JS})()).filter((w) => w > 0).length"
                f" === {FEEDS}", timeout=30000)
            assert await page.locator("#count-live").text_content() == str(FEEDS)
            columns = await page.evaluate(
                "() => getComputedStyle(document.getElementById('wall'))"
                ".gridTemplateColumns.split(' ').length")
            assert columns == 4
            await page.wait_for_timeout(500)
            await screenshot(page, "command-wall-16")

            # Unmute one tile: only that tile plays sound; mute it again.
            first = page.locator(f'.tile[data-officer="{NAMES[0]}"]')
            await first.locator(".tile-audio").click()
            await expect(first.locator(".tile-audio")).to_have_attribute("aria-pressed", "true")
            muted = await page.evaluate(
                "() => [...document.querySelectorAll('.tile video')].map((v) => v.muted)")
            assert muted.count(False) == 1 and muted[0] is False
            await first.locator(".tile-audio").click()
            await expect(first.locator(".tile-audio")).to_have_attribute("aria-pressed", "false")

            # Focus one: it spans the wall, first in order.
            fifth = page.locator(f'.tile[data-officer="{NAMES[4]}"]')
            await fifth.locator(".tile-focus").click()
            await expect(fifth).to_have_attribute("data-focused", "true")
            wall_box = await page.locator("#wall").bounding_box()
            tile_box = await fifth.bounding_box()
            assert wall_box and tile_box and tile_box["width"] > wall_box["width"] * 0.6
            assert abs(tile_box["y"] - wall_box["y"]) < 5

            # One phone drops without saying goodbye: only its tile shows reconnecting.
            dropped = NAMES[9]
            await publishers[9].pc.close()
            tile = page.locator(f'.tile[data-officer="{dropped}"]')
            await expect(tile).to_have_attribute("data-state", "reconnecting", timeout=40000)
            await expect(tile.locator(".badge")).to_have_text("Reconnecting")
            await expect(page.locator('.tile[data-state="live"]')).to_have_count(FEEDS - 1)
            await screenshot(page, "command-wall-16-focus-reconnecting")
            assert errors == []
        finally:
            await ctx.close()
            await asyncio.gather(*(p.pc.close() for p in publishers))
