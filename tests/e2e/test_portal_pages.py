"""The people around a case in real Chromium: a real node and a real portal ferrying over
loopback; a party redeems an invitation and sends a clue, a grid worker answers a task, the
officer's phone and the command map show both at once, and a published step reaches the party."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Geolocation, expect

from bench.portalkit import call, login
from tests.e2e.conftest import new_media_context
from tests.e2e.test_csp import RECORD_VIOLATIONS_JS
from tests.e2e.test_live_wall import DESKTOP, PHONE, login_via_ui, watch_errors
from tests.portal.test_ferry_flow import start_pair

# Urumqi, where the grid worker finds the person and the party saw the car.
MARKET: Geolocation = {"latitude": 43.8256, "longitude": 87.6168}
HOSTILE = '<img src=x onerror="window.__owned=1">red car'


@pytest.mark.browser
async def test_clue_reply_and_published_step_through_the_portal_pages(
        loopback_only: None, browser: Browser, tmp_path: Path) -> None:
    node, portal = start_pair(tmp_path)
    errors: list[str] = []
    contexts: list[Any] = []
    try:
        async with aiohttp.ClientSession() as http:
            c1 = await login(http, node.url, "c1")

        officer_ctx = await new_media_context(browser, **PHONE)
        command_ctx = await browser.new_context(**DESKTOP)
        party_ctx = await browser.new_context(permissions=["geolocation"], geolocation=MARKET,
                                              **PHONE)
        grid_ctx = await browser.new_context(permissions=["geolocation"], geolocation=MARKET,
                                             **PHONE)
        contexts = [officer_ctx, command_ctx, party_ctx, grid_ctx]
        for ctx in contexts:
            await ctx.add_init_script(RECORD_VIOLATIONS_JS)
        officer = await officer_ctx.new_page()
        command = await command_ctx.new_page()
        party = await party_ctx.new_page()
        grid = await grid_ctx.new_page()
        for page, label in ((officer, "officer"), (command, "command"), (party, "party"),
                            (grid, "grid")):
            watch_errors(page, label, errors)

        # The commander registers the case on the console.
        await command.goto(f"{node.url}/command")
        await login_via_ui(command, "c1")
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")
        await command.fill("#case-number", "C-7")
        await command.fill("#case-title", "Debt of 4,000")
        await command.fill("#case-officers", "o1")
        await command.click("#case-form button")
        await expect(command.locator('#case-list li[data-case="C-7"]')).to_contain_text(
            "Officers: o1")
        await officer.goto(f"{node.url}/officer")
        await login_via_ui(officer, "o1")
        await expect(officer.locator("#case-people")).to_be_visible()

        # The officer invites a party: the code as text and as a QR code.
        await officer.click("#invite")
        code = (await officer.locator("#invite-code").text_content() or "").strip()
        assert len(code) == 11
        await expect(officer.locator("canvas.invite-qr")).to_be_visible()

        await party.goto(f"{portal.url}/public")
        await party.fill("#redeem-code", code)
        await party.fill("#redeem-name", "creditor")
        await party.fill("#redeem-password", "party-password-1")
        deadline = time.monotonic() + 10
        while True:  # the invitation crosses the ferry within a moment of being issued
            await party.click("#redeem-form button")
            try:
                await expect(party.locator("#case")).to_be_visible(timeout=1000)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
        await expect(party.locator("#title")).to_have_text("C-7: Debt of 4,000")

        # A clue with a position: on the officer's phone within a second, pinned on the map.
        await party.fill("#clue-text", HOSTILE)
        await party.check("#clue-here")
        await party.click("#clue-form button")
        await expect(party.locator("#clue-status")).to_contain_text("received")
        clue_line = officer.locator('#case-feed li[data-kind="clue.received"]')
        await expect(clue_line).to_contain_text(HOSTILE, timeout=1000)
        await expect(command.locator(".clue-marker")).to_have_count(1, timeout=1000)
        assert await officer.evaluate("() => document.querySelectorAll('#case-feed img').length"
                                      ) == 0
        assert await officer.evaluate("() => window.__owned === undefined")
        await clue_line.locator("button").click()
        await expect(party.locator("#clues .state")).to_have_text("read")

        # One tap publishes a step; the party's page shows it.
        await officer.select_option("#step-pick", "property seized")
        await officer.click("#step-publish")
        await expect(party.locator("#steps li")).to_contain_text("property seized")

        # The party writes; the officer answers that party from the phone.
        await party.fill("#message-text", "When will the car be sold?")
        await party.click("#message-form button")
        asked = officer.locator('#case-feed li[data-kind="message.received"]')
        await expect(asked).to_contain_text("When will the car be sold?")
        await asked.locator("input").fill("At the auction next week.")
        await asked.locator("button").click()
        await expect(party.locator("#messages li").last).to_contain_text(
            "At the auction next week.")
        await expect(command.locator("#case-feed-all li").first).to_contain_text("C-7")

        # A task to the community reaches both grid workers; g1's reply reaches the phone.
        await officer.reload()
        await expect(officer.locator("#task-to")).to_contain_text("Community: north")
        await officer.fill("#task-person", "Wang Wu")
        await officer.fill("#task-address", "12 River St")
        await officer.fill("#task-what", "Find him and tell me at once")
        await officer.select_option("#task-to", "community:north")
        await officer.click(".task-form button")
        await grid.goto(f"{portal.url}/grid")
        await grid.fill("#login-name", "g1")
        await grid.fill("#login-password", "correct-horse-battery")
        await grid.click("#login-form button")
        card = grid.locator("#tasks > li").first
        await expect(card).to_contain_text("Wang Wu")
        await card.locator("button.accept").click()
        await expect(card).to_contain_text("Accepted")
        card = grid.locator("#tasks > li").first
        await card.locator(".reply-text").fill("found: at the market")
        await card.locator(".reply-here").check()
        await card.locator("button.reply").click()
        reply = officer.locator('#case-feed li[data-kind="task.replied"]')
        await expect(reply).to_contain_text("found: at the market", timeout=1000)
        await expect(reply).to_contain_text("43.82560")
        await expect(command.locator(".clue-marker")).to_have_count(2, timeout=1000)
        await grid.locator("#tasks > li").first.locator("button.found").click()
        await expect(officer.locator('#case-feed li[data-kind="task.closed"]')).to_contain_text(
            "found")

        async with aiohttp.ClientSession() as http:
            status, seen = await call(http, "GET", f"{node.url}/api/cases/C-7/activity", c1)
        assert status == 200, seen
        kinds = [e["kind"] for e in seen["activity"]]
        assert kinds == ["case.created", "invitation.issued", "party.joined", "clue.received",
                         "clue.read", "step.published", "message.received", "message.sent",
                         "task.sent", "task.answered", "task.replied", "task.closed"], kinds
        assert not errors, errors
        for page in (officer, command, party, grid):
            assert await page.evaluate("() => window.__csp") == [], page.url
            assert page.url.startswith(node.url) or (
                "default-src 'none'" in (await page.evaluate(
                    "async () => (await fetch(location.href)).headers.get("
                    "'content-security-policy')")))
    finally:
        for ctx in contexts:
            await ctx.close()
        node.stop()
        portal.stop()
