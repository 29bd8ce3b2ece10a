"""The officer page in headless Chromium, for runs inside the phone's network namespace:
logs in, presses Go Live, and prints each state the page shows as JSON lines until stdin
closes.

    ip netns exec NS python -m tests.net_officer BASE USER"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from playwright.async_api import async_playwright

from tests.e2e.conftest import launch_chromium, new_media_context
from tests.e2e.test_live_wall import PHONE, login_via_ui


def say(**fields: object) -> None:
    print(json.dumps({"t": time.monotonic(), **fields}), flush=True)


async def main(base: str, user: str) -> int:
    """Drive the page until stdin reaches EOF."""
    async with async_playwright() as pw:
        # The node is reached at a LAN address over plain HTTP in this test; the camera
        # needs a secure context, which this origin is then treated as.
        browser = await launch_chromium(
            pw, (f"--unsafely-treat-insecure-origin-as-secure={base}",))
        try:
            ctx = await new_media_context(browser, **PHONE)
            page = await ctx.new_page()
            page.on("pageerror", lambda exc: say(error=str(exc)))
            await page.goto(f"{base}/officer")
            await login_via_ui(page, user)
            await page.click("#go-live")
            eof = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            last = None
            while not eof.done():
                state = await page.get_attribute("#state", "data-state")
                if state != last:
                    detail = await page.text_content("#state-detail")
                    say(state=state, detail=detail)
                    last = state
                await asyncio.wait({eof}, timeout=0.2)
            await ctx.close()
        finally:
            await browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:3])))
