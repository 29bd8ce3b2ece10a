"""Every page works under the node's Content-Security-Policy, and Chromium reports no violation.

A commander signs in on `/` and lands on `/command`, whose map loads tiles from a tile server
of the test's own (the one `--map-tiles` names: a host other than the node). An officer goes
live with a position, the wall plays it and the map marks it; then a reviewer opens and plays
the recording, with its GPS track on the same tiles. Each page records every
`securitypolicyviolation` event and every CSP console error from its first script on; none may
appear. Then the control: an inline script and an image from a host the policy does not name
are blocked and reported, which shows the policy is on and that the recorder hears it.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, Response, expect

from tests.conftest import NodeProcess, free_port
from tests.e2e.conftest import new_media_context
from tests.e2e.test_live_wall import DESKTOP, PHONE, login_via_ui, watch_errors

OFFICER, COMMANDER, REVIEWER = "officer1", "cmd1", "rev1"
SCENE = {"latitude": 43.7930, "longitude": 87.6177}
TIMEOUT_MS = 20_000
# A 1x1 PNG: Leaflet sizes tiles itself.
TILE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")

# Installed before any script of the page: every CSP violation the document reports.
RECORD_VIOLATIONS_JS = """
(() => {
  window.__csp = [];
  document.addEventListener("securitypolicyviolation", (e) => {
    window.__csp.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"} `
                      + `(${e.sourceFile || "?"}:${e.lineNumber})`);
  });
})();
"""


@pytest.fixture
async def tile_server(loopback_only: None) -> AsyncIterator[tuple[str, list[str]]]:
    """A map tile server on its own port (another origin than the node); the paths asked."""
    asked: list[str] = []

    async def tile(request: web.Request) -> web.Response:
        asked.append(request.path)
        return web.Response(body=TILE, content_type="image/png",
                            headers={"Access-Control-Allow-Origin": "*"})

    app = web.Application()
    app.router.add_get("/{z}/{x}/{y}.png", tile)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}", asked
    finally:
        await server.close()


class Watched:
    """A page whose CSP violations (events and console errors) and script errors are kept."""

    def __init__(self, page: Page, label: str) -> None:
        self.page, self.label = page, label
        self.console: list[str] = []
        self.errors: list[str] = []
        page.on("console", self._console)
        watch_errors(page, label, self.errors)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    async def goto(self, url: str) -> Response:
        response = await self.page.goto(url)
        assert response is not None and response.ok, url
        csp = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (url, csp)
        assert response.headers.get("x-content-type-options") == "nosniff", url
        assert response.headers.get("referrer-policy") == "no-referrer", url
        return response

    async def violations(self) -> list[str]:
        events: list[str] = await self.page.evaluate("window.__csp || []")
        return [f"{self.label}: {v}" for v in [*events, *self.console]]

    async def assert_clean(self) -> None:
        assert await self.violations() == [], self.label
        assert self.errors == [], self.label


async def watched_page(ctx: BrowserContext, label: str) -> Watched:
    await ctx.add_init_script(RECORD_VIOLATIONS_JS)
    return Watched(await ctx.new_page(), label)


async def loaded_tiles(page: Page, tiles: str) -> int:
    """How many tile images from the tile server the page shows, loaded."""
    count: int = await page.evaluate(
        """(base) => [...document.querySelectorAll("img.leaflet-tile")]
             .filter((img) => img.src.startsWith(base) && img.complete && img.naturalWidth > 0)
             .length""", tiles)
    return count


@pytest.mark.browser
@pytest.mark.media
async def test_every_page_works_under_the_policy_with_no_violation(
        node_process: NodeProcess, browser: Browser,
        tile_server: tuple[str, list[str]]) -> None:
    tiles, asked = tile_server
    for name, role in ((OFFICER, "officer"), (COMMANDER, "commander"), (REVIEWER, "reviewer")):
        node_process.add_user(name, role)
    node_process.start("--map-tiles", f"{tiles}/{{z}}/{{x}}/{{y}}.png",
                       "--map-attribution", "Test tiles")
    url = node_process.url
    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, permissions=("geolocation",),
                                          geolocation=SCENE, **PHONE)
    review_ctx = await new_media_context(browser, **DESKTOP)
    try:
        # `/`: the sign-in page, then the commander's page it leads to.
        command = await watched_page(command_ctx, "command")
        await command.goto(f"{url}/")
        await login_via_ui(command.page, COMMANDER)
        await command.page.wait_for_url(f"{url}/command")
        await expect(command.page.locator("#ws-state")).to_have_attribute("data-state", "open")
        await expect(command.page.locator("#map")).to_have_attribute("data-tiles", "on")
        await command.page.wait_for_function(
            "(base) => [...document.querySelectorAll('img.leaflet-tile')].some("
            "(i) => i.src.startsWith(base) && i.complete && i.naturalWidth > 0)",
            arg=tiles, timeout=TIMEOUT_MS)
        assert asked

        # `/officer`: live with a position; the wall plays it and the map marks it.
        officer = await watched_page(officer_ctx, "officer")
        await officer.goto(f"{url}/officer")
        await login_via_ui(officer.page, OFFICER)
        await officer.page.click("#go-live")
        await expect(officer.page.locator("#state")).to_have_attribute(
            "data-state", "live", timeout=TIMEOUT_MS)
        tile = command.page.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile).to_have_attribute("data-state", "live", timeout=TIMEOUT_MS)
        await command.page.wait_for_function(
            "(n) => document.querySelector(`.tile[data-officer='${n}'] video`)?.videoWidth > 0",
            arg=OFFICER, timeout=TIMEOUT_MS)
        marker = command.page.locator(f'.map-marker[data-officer="{OFFICER}"]')
        await expect(marker).to_have_count(1, timeout=TIMEOUT_MS)
        await command.page.wait_for_timeout(3000)  # a few segments of evidence
        await officer.page.click("#stop")
        await expect(officer.page.locator("#state")).to_have_attribute("data-state", "stopped")
        await expect(tile).to_have_attribute("data-state", "offline", timeout=TIMEOUT_MS)
        assert await loaded_tiles(command.page, tiles) > 0

        # `/review`: the recording plays (media from the node), its track on the tiles.
        review = await watched_page(review_ctx, "review")
        await review.goto(f"{url}/review")
        await login_via_ui(review.page, REVIEWER)
        row = review.page.locator("#sessions .rv-row").first
        await expect(row.locator(".rv-row-officer")).to_have_text(OFFICER, timeout=TIMEOUT_MS)
        await row.locator(".rv-row-btn").click()
        await review.page.wait_for_function(
            "() => document.getElementById('player').readyState >= 2", timeout=TIMEOUT_MS)
        await review.page.evaluate("document.getElementById('player').play()")
        await review.page.wait_for_function(
            "() => document.getElementById('player').currentTime > 0.5", timeout=TIMEOUT_MS)

        for page in (command, officer, review):
            await page.assert_clean()

        # The control: what the policy forbids is blocked, and reported where we listen.
        other = f"http://127.0.0.1:{free_port()}/elsewhere.png"
        ran = await review.page.evaluate(
            """async (other) => {
                 const s = document.createElement("script");
                 s.textContent = "window.__inline = 1";
                 document.body.append(s);
                 const img = new Image();
                 img.src = other;
                 document.body.append(img);
                 await new Promise((r) => setTimeout(r, 500));
                 return window.__inline || 0;
               }""", other)
        assert ran == 0
        found = " ".join(await review.violations())
        assert "script-src-elem blocked inline" in found, found
        assert f"img-src blocked {other}" in found, found
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        for ctx in (command_ctx, officer_ctx, review_ctx):
            await ctx.close()
