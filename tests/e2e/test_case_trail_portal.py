"""The review page's case trail shows what the people around the case did, as text: a party's
clue sent on the portal (with its photo, sealed as a material of the case) and the step the
officer published, on one timeline with the case's materials. Real node, real portal, real
Chromium."""

from __future__ import annotations

import hashlib
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Browser, expect

from bench import tus_client
from bench.portalkit import login
from tests.e2e.conftest import screenshot
from tests.e2e.test_live_wall import DESKTOP, login_via_ui, watch_errors
from tests.portal.test_ferry_durability import _with_party
from tests.portal.test_ferry_flow import Pair, start_pair, until
from tests.portal.test_portal_uploads import _photo, _sealed

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


async def test_the_review_case_page_shows_clues_photos_and_steps_as_text(
        tmp_path: Path, browser: Browser) -> None:
    node, portal = start_pair(tmp_path)
    errors: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            tokens = {n: await login(http, node.url, n) for n in ("o1", "c1")}
            pair = Pair(node, portal, http, tokens)
            await _with_party(pair)
            status, clue = await pair.portal_call(
                "POST", "/api/cases/C-1/clues", "creditor",
                {"text": "<b>the blue van</b> behind the mill"})
            assert status == 201, clue
            photo = _photo(7, 20_000)
            _, done = await tus_client.upload(
                http, portal.url, pair.tokens["creditor"], photo,
                tus_client.material_meta(photo, clue=clue["id"]))
            assert done.status == 204, done.body
            await until(lambda: _sealed(pair, hashlib.sha256(photo).hexdigest()), timeout=15)
            status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o1",
                                             {"step": "property seized", "note": "the van"})
            assert status == 201

            ctx = await browser.new_context(**DESKTOP)
            try:
                page = await ctx.new_page()
                watch_errors(page, "review", errors)
                await page.goto(f"{node.url}/review?trail=C-1")
                await login_via_ui(page, "r1")
                clue_row = page.locator(".rv-cv-row[data-case-event='clue.received']")
                # User text is text: the markup the party typed shows as typed.
                await expect(clue_row).to_contain_text("<b>the blue van</b> behind the mill")
                await expect(clue_row).to_contain_text("creditor")
                assert await page.locator(".rv-cv-row b").count() == 0
                await expect(page.locator(
                    ".rv-cv-row[data-case-event='step.published']")).to_contain_text(
                    "property seized")
                await expect(page.locator(".rv-cv-row[data-kind='photo']")).to_contain_text(
                    "party:creditor")
                await screenshot(page, "review-case-trail-portal")
            finally:
                await ctx.close()
        assert not errors, errors
    finally:
        node.stop()
        portal.stop()
