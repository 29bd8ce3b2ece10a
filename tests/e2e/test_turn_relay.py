"""The officer page takes its TURN credentials from the node and publishes through coturn."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from relay import aiortc_hooks
from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context
from tests.e2e.test_live_wall import PHONE, login_via_ui
from tests.live import LiveNode
from tests.media import view
from tests.signaling.test_turn import fetch_ice_servers, relay_pc
from tests.turn_server import TurnServer, running_turn_server


@pytest.fixture
def turn_server(tmp_path: Path, loopback_only: None) -> Iterator[TurnServer]:
    """A coturn of this test's own on loopback."""
    with running_turn_server(tmp_path) as server:
        yield server


# Every RTCPeerConnection on the page is forced to relay-only, and its configuration recorded.
FORCE_RELAY_JS = """
(() => {
  window.__pcConfigs = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(config = {}, ...rest) {
      const relay = { ...config, iceTransportPolicy: "relay" };
      window.__pcConfigs.push(JSON.parse(JSON.stringify(relay)));
      super(relay, ...rest);
    }
  };
})();
"""


@pytest.mark.browser
@pytest.mark.media
async def test_officer_page_publishes_through_coturn_with_fetched_credentials(
        node_process: NodeProcess, turn_server: TurnServer, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("c1", "commander")
    node_process.start("--turn-url", turn_server.url, "--turn-secret", turn_server.secret,
                       "--turn-ttl", "300")
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    ctx = await new_media_context(browser, **PHONE)
    await ctx.add_init_script(FORCE_RELAY_JS)
    viewer = None
    try:
        page = await ctx.new_page()
        await page.goto(f"{node_process.url}/officer")
        await login_via_ui(page, "o1")
        await page.click("#go-live")
        await expect(page.locator("#state")).to_have_attribute("data-state", "live",
                                                               timeout=15000)
        configs = await page.evaluate("window.__pcConfigs")
        turn_entries = [s for c in configs for s in c.get("iceServers", [])
                        if "username" in s]
        assert turn_entries, f"the page used no TURN credentials: {configs}"
        assert turn_entries[-1]["username"].endswith(":o1")
        candidates: list[str] = await page.evaluate("window.__candidates || []")
        assert candidates and all(" typ relay " in c for c in candidates), candidates

        async with aiohttp.ClientSession() as http:
            node = LiveNode(node_process.url, http, None)  # type: ignore[arg-type]
            commander = await node.login("c1")
            viewer_pc = relay_pc((await fetch_ice_servers(node, commander))[1])
            viewer = await view(http, node.base, commander, "o1", pc=viewer_pc)
            try:
                await viewer.wait_frames(20, timeout=15)
                assert viewer.sizes and min(w for w, _ in viewer.sizes) > 0
            finally:
                await viewer.close()
    finally:
        await ctx.close()
