"""Releasing a legal hold on /review in real Chromium, with the two-person release on: a
reviewer places the hold but cannot release it, a first admin asks (the reason shows as text,
never as markup), the same admin cannot confirm, and a second admin's confirmation lifts it."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import NodeProcess
from tests.e2e.test_live_wall import DESKTOP, login_via_ui, watch_errors
from tests.recordings.test_verify import new_data_dir, record_session

TIMEOUT_MS = 20_000
# A reason that would run script if a page put it into innerHTML.
HOSTILE = '<img src=x onerror="window.__pwned=1">appeal dismissed'


async def open_session(browser: Browser, node: NodeProcess, user: str,
                       errors: list[str]) -> Page:
    ctx = await browser.new_context(**DESKTOP)
    page = await ctx.new_page()
    watch_errors(page, user, errors)
    await page.goto(f"{node.url}/review")
    await login_via_ui(page, user)
    row = page.locator("#sessions .rv-row").first
    await expect(row).to_be_visible(timeout=TIMEOUT_MS)
    await row.locator(".rv-row-btn").click()
    await expect(page.locator("#hold-toggle")).to_be_visible(timeout=TIMEOUT_MS)
    return page


async def submit_hold(page: Page, reason: str) -> None:
    await page.click("#hold-toggle")
    await page.fill("#hold-reason", reason)
    await page.click("#hold-submit")


@pytest.mark.browser
@pytest.mark.media
async def test_a_hold_is_released_by_two_admins_on_the_review_page(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    record_session(new_data_dir(node_process.data_dir), "o1")
    for name, role in (("rev1", "reviewer"), ("adm1", "admin"), ("adm2", "admin")):
        node_process.add_user(name, role)
    node_process.start("--hold-two-person-release")
    errors: list[str] = []
    try:
        reviewer = await open_session(browser, node_process, "rev1", errors)
        await submit_hold(reviewer, "Court order 2026-114")
        await expect(reviewer.locator("#hold")).to_have_attribute("data-hold", "on")
        toggle = reviewer.locator("#hold-toggle")
        await expect(toggle).to_be_disabled()
        await expect(toggle).to_have_attribute("title", "Only an admin can release a legal hold.")

        first = await open_session(browser, node_process, "adm1", errors)
        await expect(first.locator("#hold-toggle")).to_have_text("Release hold…")
        await submit_hold(first, HOSTILE)
        await expect(first.locator("#hold")).to_have_attribute("data-pending", "yes")
        await expect(first.locator("#hold")).to_have_attribute("data-hold", "on")
        pending = first.locator("#hold-pending")
        await expect(pending).to_contain_text("Release requested by adm1")
        await expect(pending).to_contain_text(HOSTILE)  # shown as the text it is
        assert await first.locator("#hold img").count() == 0
        assert await first.evaluate("window.__pwned") is None
        await expect(first.locator("#hold-toggle")).to_be_disabled()
        await expect(first.locator("#hold-toggle")).to_have_text("Awaiting a second admin")

        second = await open_session(browser, node_process, "adm2", errors)
        await expect(second.locator("#hold-pending")).to_contain_text("adm1")
        await expect(second.locator("#hold-toggle")).to_have_text("Confirm release…")
        await submit_hold(second, "Confirmed with the court clerk")
        await expect(second.locator("#hold")).to_have_attribute("data-hold", "off")
        await expect(second.locator("#hold-pending")).to_be_hidden()
        await expect(second.locator("#hold-detail")).to_contain_text("Retention may delete")

        # The access log tells the story in words.
        await second.click("#audit summary")
        log = second.locator("#audit-table")
        await expect(log).to_contain_text("asked to release the legal hold")
        await expect(log).to_contain_text("confirmed adm1's release of the legal hold")
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
