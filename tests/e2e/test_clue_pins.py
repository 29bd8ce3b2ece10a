"""The command map's pins for the portal's clues (web/js/clue-pins.js), in Chromium: a pin per
clue or reply with a position, its label as text, and a wall left open keeps the newest
MAX_PINS only (the oldest leave the map)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import NodeProcess

RUN = """async (count) => {
  const L = await import("/static/vendor/leaflet/leaflet-src.esm.js");
  const { CluePins, MAX_PINS } = await import("/static/js/clue-pins.js");
  const div = document.createElement("div");
  div.style.width = "400px";
  div.style.height = "300px";
  document.body.append(div);
  const map = L.map(div).setView([50.08, 14.42], 12);
  const pins = new CluePins(() => ({ map }));
  const handled = [];
  for (let i = 0; i < count; i++) {
    handled.push(pins.onMessage({ type: "case.event", case: `C-${i}`, event: {
      kind: i % 2 ? "clue.received" : "task.replied", lat: 50 + i / 1000, lon: 14.4,
      text: `<b>clue ${i}</b>`, at: "2026-12-07T10:00:00Z" } }));
  }
  const other = pins.onMessage({ type: "presence", officer: "o1" });
  const labels = [...div.querySelectorAll(".clue-marker .pin-label")].map((e) => e.textContent);
  return { max: MAX_PINS, kept: pins.pins.length, handled: handled.every(Boolean), other,
           onMap: div.querySelectorAll(".clue-marker").length, first: labels[0],
           last: labels[labels.length - 1], bold: div.querySelectorAll("b").length };
}"""


@pytest.fixture
async def page(loopback_only: None, node_process: NodeProcess,
               browser: Browser) -> AsyncIterator[Page]:
    node_process.start()
    ctx = await browser.new_context()
    page = await ctx.new_page()
    # A page of the node's origin (the login page, under the node's own CSP), so the modules
    # load from /static/ as the wall loads them.
    await page.goto(f"{node_process.url}/")
    try:
        yield page
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_a_wall_left_open_keeps_the_newest_pins_only(page: Page) -> None:
    out = await page.evaluate(RUN, 230)
    assert out["max"] == 200
    assert out["handled"] is True and out["other"] is False
    assert out["kept"] == 200 and out["onMap"] == 200
    # The oldest 30 left the map; the newest stayed; the clue text never became markup.
    assert out["first"] == "C-30" and out["last"] == "C-229"
    assert out["bold"] == 0
