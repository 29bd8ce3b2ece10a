"""The officer page in headless Chromium, inside the phone's network namespace, keeping the
whole trail: logs in, sets a case number, presses Go Live, and prints as JSON lines each state
the page shows, the evidence session it publishes into and its upload queue, until stdin
closes; then presses Stop.

    ip netns exec NS python -m tests.net_officer_trail BASE USER CASE"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from playwright.async_api import async_playwright, expect

from tests.e2e.conftest import launch_chromium, new_media_context
from tests.e2e.test_live_wall import PHONE, login_via_ui
from tests.e2e.trail import queue


def say(**fields: object) -> None:
    print(json.dumps({"t": time.monotonic(), "wall": time.time(), **fields}), flush=True)


async def main(base: str, user: str, case: str) -> int:
    """Drive the page until stdin reaches EOF."""
    async with async_playwright() as pw:
        # The node is reached at a LAN address over plain HTTP; the camera needs a secure
        # context, which this origin is then treated as.
        browser = await launch_chromium(
            pw, (f"--unsafely-treat-insecure-origin-as-secure={base}",))
        try:
            ctx = await new_media_context(browser, **PHONE)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: say(error=str(exc)))
            await page.goto(f"{base}/officer")
            await login_via_ui(page, user)
            await page.fill("#case-input", case)
            await page.click("#case-save")
            await expect(page.locator("#case-status")).to_have_attribute("data-kind", "ok")
            await page.click("#go-live")
            eof = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            last: dict[str, object] = {}
            while not eof.done():
                now = {
                    "state": await page.get_attribute("#state", "data-state"),
                    "session": await page.evaluate("() => window.__fieldrelay.session || null"),
                    "queue": await queue(page),
                }
                if now != last:
                    say(**now)
                    last = now
                await asyncio.wait({eof}, timeout=0.3)
            await page.click("#stop")
            await expect(page.locator("#state")).to_have_attribute("data-state", "stopped")
            await ctx.close()
        finally:
            await browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:4])))
