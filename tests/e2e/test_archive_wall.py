"""The wall says "Archive behind" while the node's copies wait for a store that is down."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect

from bench.s3server import CREDENTIALS
from tests.conftest import NodeProcess, free_port
from tests.e2e.conftest import new_media_context
from tests.e2e.test_live_wall import DESKTOP, login_via_ui

COMMANDER = "commander1"


@pytest.mark.browser
async def test_the_wall_shows_an_archive_that_is_behind(
        loopback_only: None, node_process: NodeProcess, browser: Browser,
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    node_process.add_user(COMMANDER, "commander")
    # Nothing listens on this port: the store is down from the start, and the node's public
    # key (queued at every start) waits.
    node_process.start("--archive-url", "s3://evidence-archive/wall",
                       "--archive-endpoint", f"http://127.0.0.1:{free_port()}",
                       "--archive-behind", "1")
    await asyncio.sleep(1.5)
    context = await new_media_context(browser, **DESKTOP)
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(f"{node_process.url}/command")
        await login_via_ui(page, COMMANDER)
        badge = page.locator("#archive-behind")
        await expect(badge).to_be_visible(timeout=20_000)
        await expect(badge).to_contain_text("Archive behind")
        await expect(badge).to_contain_text("store unreachable")
        assert errors == []
    finally:
        await context.close()
