"""Two nodes in a cluster: the wall on node-b plays an officer who went live on node-a."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import NodeProcess, RedisProcess, free_port
from tests.e2e.conftest import new_media_context, screenshot
from tests.e2e.test_field_orders import TALKBACK_STATS_JS
from tests.e2e.test_live_wall import (
    DESKTOP,
    FRAMES_DECODED_JS,
    PHONE,
    TILE_VIDEO_WIDTH_JS,
    login_via_ui,
    watch_errors,
)

OFFICER = "officer1"
COMMANDER = "cmd1"
SECRET = "e2e-cluster-secret-0123456789abcdef"


@pytest.mark.browser
@pytest.mark.media
async def test_wall_plays_an_officer_live_on_another_node_through_its_own_node(
    loopback_only: None, node_process: NodeProcess, redis_server: RedisProcess,
    tmp_path: Path, browser: Browser
) -> None:
    node_a = node_process
    node_b = NodeProcess(data_dir=tmp_path / "data-b", port=free_port())
    for node in (node_a, node_b):
        node.add_user(OFFICER, "officer")
        node.add_user(COMMANDER, "commander")
    for node, name in ((node_a, "node-a"), (node_b, "node-b")):
        node.start("--node-id", name, "--redis-url", redis_server.url,
                   "--cluster-secret", SECRET, "--cluster-url", node.url)
    errors: list[str] = []
    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, **PHONE)
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_b.url}/command")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")

        officer = await officer_ctx.new_page()
        watch_errors(officer, "officer", errors)
        await officer.goto(f"{node_a.url}/officer")
        await login_via_ui(officer, OFFICER)
        await officer.click("#go-live")

        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await command.wait_for_function(f"(n) => ({TILE_VIDEO_WIDTH_JS})(n) > 0", arg=OFFICER,
                                        timeout=15000)
        first = await command.evaluate(FRAMES_DECODED_JS, OFFICER)
        await command.wait_for_timeout(1000)
        assert await command.evaluate(FRAMES_DECODED_JS, OFFICER) > first >= 0
        await expect(tile).to_have_attribute("data-state", "live")
        await expect(tile).to_contain_text("node-a")
        await expect(tile.locator(".tile-remote")).to_be_hidden()
        await screenshot(command, "command-cascade")

        # Talkback from node-b's wall reaches the phone on node-a, through node-b.
        await command.locator("#talk-camera").check()
        talk = tile.locator(".tile-talk")
        await expect(talk).to_be_enabled()
        await talk.click()
        await expect(talk).to_have_attribute("aria-pressed", "true")
        await expect(tile.locator(".tile-floor")).to_have_text(
            "You are talking — the scene hears you", timeout=10000)
        await expect(officer.locator("#talkback")).to_be_visible(timeout=5000)
        await expect(officer.locator("#talkback-who")).to_have_text(COMMANDER)
        await officer.wait_for_function(
            f"async () => ({TALKBACK_STATS_JS})().then((s) => s.packets > 0 && s.frames > 0)",
            timeout=15000)
        first = await officer.evaluate(TALKBACK_STATS_JS)
        await officer.wait_for_timeout(1500)
        later = await officer.evaluate(TALKBACK_STATS_JS)
        print(f"\nCASCADE_TALKBACK packets {first['packets']} -> {later['packets']}, "
              f"level {later['level']}, video frames {later['frames']}")
        assert later["packets"] > first["packets"] > 0 and later["level"] > 0
        await screenshot(officer, "officer-cascade-talkback")
        await talk.click()  # stop talking: node-a frees the floor
        await expect(officer.locator("#talkback")).to_be_hidden(timeout=5000)
        await expect(tile.locator(".tile-floor")).to_be_hidden()
        assert errors == []
    except BaseException:
        print("---- node-a log ----\n" + node_a.log()[-4000:])
        print("---- node-b log ----\n" + node_b.log()[-4000:])
        raise
    finally:
        await officer_ctx.close()
        await command_ctx.close()
        if node_b.proc is not None:
            node_b.stop()
