"""The pages never put the bearer token in a URL: the wall's and the review page's WebSockets
and the review player's media carry one-use tickets (a media ticket turns into a cookie for
that path by a 303), so no token lands in a proxy's or the node's logs. Playback, seeking and
reconnecting still work in real Chromium."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Browser, Response, WebSocket, expect

from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context
from tests.e2e.test_live_wall import DESKTOP, login_via_ui, watch_errors
from tests.recordings.test_verify import new_data_dir, record_session

TIMEOUT_MS = 20_000


@pytest.mark.browser
@pytest.mark.media
async def test_pages_carry_tickets_and_never_the_token(browser: Browser,
                                                       node_process: NodeProcess) -> None:
    sid = record_session(new_data_dir(node_process.data_dir), "officer1", segments=3, seed=4)
    node_process.add_user("rev1", "reviewer")
    node_process.add_user("cmd1", "commander")
    node_process.start("--map-tiles", "")
    errors: list[str] = []
    urls: list[str] = []
    media: list[tuple[int, str]] = []
    sockets: list[str] = []

    def on_response(resp: Response) -> None:
        if "/media" in resp.url:
            media.append((resp.status, resp.url))

    def on_socket(ws: WebSocket) -> None:
        sockets.append(ws.url)

    ctx = await new_media_context(browser, **DESKTOP)
    try:
        page = await ctx.new_page()
        watch_errors(page, "review", errors)
        page.on("request", lambda req: urls.append(req.url))
        page.on("response", on_response)
        page.on("websocket", on_socket)
        await page.goto(f"{node_process.url}/review?session={sid}")
        await login_via_ui(page, "rev1")
        await page.wait_for_function(
            "() => document.getElementById('player').readyState >= 2", timeout=TIMEOUT_MS)
        # Seek back and forth: later range requests ride on the path's cookie.
        await page.evaluate("document.getElementById('player').currentTime = 2.5")
        await page.wait_for_function("() => document.getElementById('player').readyState >= 2")
        await page.evaluate("document.getElementById('player').currentTime = 0.2")
        await page.wait_for_function("() => document.getElementById('player').readyState >= 2")

        command = await ctx.new_page()
        watch_errors(command, "command", errors)
        command.on("request", lambda req: urls.append(req.url))
        command.on("websocket", on_socket)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, "cmd1")
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")
    finally:
        await ctx.close()
    assert errors == []
    everything = urls + sockets + [url for _, url in media]
    assert not [u for u in everything if "token" in parse_qs(urlsplit(u).query)], everything
    assert sockets and all("ticket" in parse_qs(urlsplit(u).query) for u in sockets), sockets
    # The first media request spends its ticket for a cookie; the rest are plain ranges.
    assert media[0][0] == 303 and "ticket=" in media[0][1], media
    assert [s for s, u in media[1:] if "ticket=" not in u] and \
        all(s in (200, 206) for s, u in media[1:] if "ticket=" not in u), media
