"""User text on the maps stays text, in Chromium with the node's own Leaflet.

Officer names, notes and case numbers are typed by people. Leaflet reads a string handed to
bindTooltip or divIcon({html}) as HTML, so a label like `<img src=x onerror=...>` would become an
element and run its handler. The review map's alert tooltip and the command map's marker label
must show such a value literally and create no element from it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import NodeProcess

HOSTILE = '<img src=x onerror="window.__ran = (window.__ran || 0) + 1">'
# A value that would close an HTML attribute if it were pasted into.
BREAKOUT = 'live">' + HOSTILE + '<span data-x="'

PAGE = """<!doctype html>
<html><head>
<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">
</head><body>
<div id="map" style="width: 480px; height: 320px"></div>
</body></html>"""

# The review page's track map: an alert point whose label is the hostile value, tooltips open.
REVIEW_MAP = """async (label) => {
  const { TrackMap } = await import("/static/js/review-map.js");
  const el = document.getElementById("map");
  const map = new TrackMap(el);
  const track = [
    { t_ms: 0, lat: 48.2082, lon: 16.3738 },
    { t_ms: 10000, lat: 48.2090, lon: 16.3740 },
  ];
  map.show(track, [{ t_ms: 5000, lat: 48.2086, lon: 16.3739, label }]);
  map.layer.eachLayer((layer) => { if (layer.getTooltip?.()) layer.openTooltip(); });
  // An <img> with a broken source fires onerror on the next tasks: give it the chance.
  await new Promise((resolve) => setTimeout(resolve, 300));
  return {
    tooltips: [...el.querySelectorAll(".leaflet-tooltip")].map((t) => t.textContent),
    images: el.querySelectorAll("img:not(.leaflet-tile)").length,
    ran: window.__ran || 0,
  };
}"""

# The command page's officer map: an officer whose name is the hostile value, with an open alert,
# and one whose presence state would break out of an attribute.
OFFICER_MAP = """async ([name, state]) => {
  const { OfficerMap } = await import("/static/js/map.js");
  const el = document.getElementById("map");
  const map = new OfficerMap(el, { onSelect: () => {} });
  map.setPresence(name, { live: true, state: "live" });
  map.setPosition(name, 48.2082, 16.3738, 1000);
  map.setAlert(name, { id: "a1", state: "raised", lat: 48.2083, lon: 16.3739, raised_at: 1001 });
  map.setPresence("officer2", { live: true, state });
  map.setPosition("officer2", 48.2090, 16.3750, 1000);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const [marker, other] = el.querySelectorAll(".map-marker");
  const pin = marker.querySelector(".pin");
  return {
    label: marker.querySelector(".pin-label").textContent,
    officer: marker.dataset.officer,
    pin: [pin.dataset.state, pin.dataset.alert],
    other: [
      other.querySelector(".pin").dataset.state,
      other.querySelector(".pin-label").textContent,
      other.querySelectorAll("*").length,
    ],
    images: el.querySelectorAll("img:not(.leaflet-tile)").length,
    ran: window.__ran || 0,
  };
}"""


@pytest.fixture
async def map_page(loopback_only: None, node_process: NodeProcess,
                   browser: Browser) -> AsyncIterator[Page]:
    node_process.start()
    ctx = await browser.new_context()
    page = await ctx.new_page()
    # A text page of the node's origin (the modules and Leaflet import from /static/; an SVG
    # document could not be rewritten), then a bare HTML document with one map container.
    await page.goto(f"{node_process.url}/static/vendor/leaflet/leaflet.css")
    await page.set_content(PAGE)
    try:
        yield page
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_review_map_alert_tooltip_is_text(map_page: Page) -> None:
    out: dict[str, Any] = await map_page.evaluate(REVIEW_MAP, HOSTILE)
    assert HOSTILE in out["tooltips"]
    assert out["tooltips"] == ["Start", "Last position", HOSTILE]
    assert out["images"] == 0
    assert out["ran"] == 0


@pytest.mark.browser
async def test_officer_map_marker_label_is_text(map_page: Page) -> None:
    out: dict[str, Any] = await map_page.evaluate(OFFICER_MAP, [HOSTILE, BREAKOUT])
    assert out["label"] == HOSTILE
    assert out["officer"] == HOSTILE
    assert out["pin"] == ["alert", "raised"]
    # The state is an attribute value, whole: the pin is still a dot and a label.
    assert out["other"] == [BREAKOUT, "officer2", 3]
    assert out["images"] == 0
    assert out["ran"] == 0
