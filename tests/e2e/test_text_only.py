"""User text on the maps stays text, in Chromium with the node's own Leaflet.

Officer names, notes and case numbers are typed by people. Leaflet reads a string handed to
bindTooltip or divIcon({html}) as HTML, so a label like `<img src=x onerror=...>` would become an
element and run its handler. The review map's alert tooltip and the command map's marker label
must show such a value literally and create no element from it. A scan of every page module
keeps the rule: no HTML built from values, Leaflet content only as elements.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
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


# -- the same rule over every page module, without a browser ------------------------------------

WEB_JS = Path(__file__).resolve().parents[2] / "web" / "js"
# Sinks that read a string as HTML: their argument must be an element built by textElement().
LEAFLET_CONTENT = re.compile(r"\.(bindTooltip|bindPopup|setTooltipContent|setPopupContent)\(\s*")
NEVER = re.compile(r"insertAdjacentHTML|outerHTML|document\.write|createContextualFragment")
INNER_HTML = re.compile(r"\.innerHTML\s*=\s*")


def templates(source: str) -> list[str]:
    """Every template literal in `source` (nested ones too), with its `${...}` parts."""
    found: list[str] = []

    def literal(i: int) -> int:
        # source[i] is the opening backtick; returns the index after the closing one.
        start, i = i, i + 1
        while source[i] != "`":
            if source[i] == "\\":
                i += 2
            elif source.startswith("${", i):
                i = substitution(i + 2)
            else:
                i += 1
        found.append(source[start:i + 1])
        return i + 1

    def substitution(i: int) -> int:
        depth = 1
        while depth:
            ch = source[i]
            if ch == "`":
                i = literal(i)
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
            i += 1
        return i

    i = 0
    try:
        while (i := source.find("`", i)) != -1:
            i = literal(i)
    except IndexError:
        raise AssertionError("unbalanced backticks (a lone one in a comment?)") from None
    return found


def test_no_page_module_builds_html_from_values() -> None:
    # The portal's pages too: what parties and grid workers read was typed by others.
    modules = sorted(WEB_JS.glob("*.js")) + sorted((WEB_JS.parent / "portal" / "js").glob("*.js"))
    assert modules, WEB_JS
    for path in modules:
        source = path.read_text()
        name = path.name
        assert not NEVER.search(source), f"{name}: an HTML sink; build elements instead"
        for text in templates(source):
            assert not (re.search(r"<[a-zA-Z/]", text) and "${" in text), (
                f"{name}: HTML built from values: {text[:80]!r}")
        for m in LEAFLET_CONTENT.finditer(source):
            assert source.startswith("textElement(", m.end()), (
                f"{name}: {m.group(1)} takes a string as HTML: pass textElement(...)")
        for m in INNER_HTML.finditer(source):
            rest = source[m.end():]
            const = re.match(r"([A-Z_]+);", rest)
            if const:  # a module constant: check what it holds
                defined = re.search(rf"const {const.group(1)} = ", source)
                assert defined, f"{name}: innerHTML = {const.group(1)}, defined elsewhere"
                rest = source[defined.end():]
            value = re.match(r'""|`[^`]*`', rest)
            assert value and "${" not in value.group(0), (
                f"{name}: innerHTML gets more than fixed markup: {rest[:60]!r}")
