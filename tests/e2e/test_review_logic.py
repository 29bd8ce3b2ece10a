"""The review page's pure logic (web/js/review-events.js), run in Chromium as the page runs it.

Golden inputs shaped like GET /api/sessions/<id>: event labels and groups, events placed on the
media timeline, recording gaps, the GPS track and the position between fixes, and how verify
answers become the integrity badge.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import NodeProcess

DETAIL: dict[str, Any] = {
    "id": "20261127T100000Z-officer1-0123abcd",
    "officer": "officer1",
    "started_at": "2026-11-27T10:00:00.000Z",
    "ended_at": "2026-11-27T10:00:30.000Z",
    "state": "sealed",
    "seal_reason": "stopped",
    "duration_s": 30.0,
    "segments": [
        {"index": 1, "start": "2026-11-27T10:00:00.500Z", "media_start_ms": 0,
         "media_end_ms": 10000},
        {"index": 2, "start": "2026-11-27T10:00:14.500Z", "media_start_ms": 14000,
         "media_end_ms": 29000},
        {"index": 1, "track": "talkback", "media_start_ms": 20000, "media_end_ms": 24000},
    ],
    "events": [
        {"event": "viewer.joined", "at": "2026-11-27T10:00:01.000Z", "viewer": "cmd1", "t_ms": 500},
        {"event": "publisher.disconnected", "at": "2026-11-27T10:00:10.600Z"},
        {"event": "publisher.reconnected", "at": "2026-11-27T10:00:14.600Z", "gap_ms": 4000},
        {"event": "alert.raised", "at": "2026-11-27T10:00:16.000Z", "t_ms": 15500,
         "alert_kind": "sos", "lat": 43.793, "lon": 87.6177},
        {"event": "alert.acknowledged", "at": "2026-11-27T10:00:18.000Z", "t_ms": 17500,
         "by": "cmd1"},
        {"event": "talkback.started", "at": "2026-11-27T10:00:20.500Z", "t_ms": 20000,
         "by": "cmd1", "video": False},
        {"event": "instruction.sent", "at": "2026-11-27T10:00:21.000Z", "t_ms": 20500,
         "by": "cmd1", "text": "Step back to the car"},
        {"event": "case.set", "at": "2026-11-27T10:00:22.000Z", "t_ms": 21500,
         "case": "2026-EX-0114", "by": "cmd1"},
        {"event": "gps", "at": "2026-11-27T10:00:05.000Z", "t_ms": 4500, "lat": 43.7930,
         "lon": 87.6177},
        {"event": "weather.changed", "at": "2026-11-27T10:00:25.000Z", "t_ms": 24500},
    ],
    "gps": [
        {"at": "2026-11-27T10:00:05.000Z", "t_ms": 4000, "lat": 43.7930, "lon": 87.6177},
        {"at": "2026-11-27T10:00:15.000Z", "t_ms": 14000, "lat": 43.7940, "lon": 87.6177},
        {"at": "2026-11-27T10:00:16.000Z", "t_ms": 15000, "lat": 999, "lon": 87.6177},
        {"at": "2026-11-27T10:02:00.000Z", "t_ms": 120000, "lat": 43.8000, "lon": 87.6177},
    ],
}

EVAL = """async (detail) => {
  const m = await import("/static/js/review-events.js");
  const items = m.timelineItems(detail);
  const track = m.gpsTrack(detail);
  const at = (t) => { const p = m.positionAt(track, t); return p && [p.lat, p.lon, !!p.before]; };
  return {
    items: items.map((it) => [it.t_ms, it.name, it.group, it.tone, it.label]),
    gaps: m.recordingGaps(detail),
    talkback: m.talkbackSpans(detail),
    length: m.mediaLengthMs(detail),
    track: track.map((p) => [p.t_ms, p.lat]),
    positions: [at(0), at(4000), at(9000), at(14000), at(60000)],
    alerts: m.alertPoints(items).map((a) => [a.t_ms, a.lat, a.lon]),
    integrity: [
      m.integrityView({state: "idle", progress: 0, broken: null}),
      m.integrityView({state: "running", progress: 0.42}),
      m.integrityView({state: "verified", progress: 1, checked_at: "2026-11-27T11:00:00Z"}),
      m.integrityView({state: "broken", progress: 1, checked_at: "2026-11-27T11:00:00Z",
                       broken: {file: "seg-000002.webm", segment: 2, seq: 7,
                                reason: "its content was changed"}}),
      m.integrityView({state: "broken", broken: {file: null, seq: 12, reason: "bad link"}}),
      m.rowIntegrity("unverified"), m.rowIntegrity("verified"), m.rowIntegrity("broken"),
    ],
  };
}"""


@pytest.fixture
async def logic_page(loopback_only: None, node_process: NodeProcess,
                     browser: Browser) -> AsyncIterator[Page]:
    node_process.start()
    ctx = await browser.new_context()
    page = await ctx.new_page()
    # Any page of the node's origin: the module is imported from /static/ as /review does.
    await page.goto(f"{node_process.url}/static/favicon.svg")
    try:
        yield page
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_timeline_track_and_integrity_from_a_session_detail(logic_page: Page) -> None:
    out = await logic_page.evaluate(EVAL, DETAIL)

    # Every event but GPS, in media-timeline order, between the recording's start and seal.
    assert out["items"] == [
        [0, "session.started", "session", "muted", "Recording started"],
        [500, "viewer.joined", "viewer", "muted", "cmd1 started watching"],
        # No t_ms from the node: placed from its server time and the segment it falls in.
        [10100, "publisher.disconnected", "link", "warn", "Phone connection lost"],
        [14100, "publisher.reconnected", "link", "warn", "Phone reconnected after a 4.0 s gap"],
        [15500, "alert.raised", "alert", "alert", "SOS raised"],
        [17500, "alert.acknowledged", "alert", "warn", "Alert acknowledged by cmd1"],
        [20000, "talkback.started", "talkback", "info", "Talkback by cmd1 (voice)"],
        [20500, "instruction.sent", "instruction", "info",
         "Instruction from cmd1: “Step back to the car”"],
        [21500, "case.set", "case", "info", "Case number set to 2026-EX-0114 by cmd1"],
        # A name the page does not know still shows, in words.
        [24500, "weather.changed", "session", "muted", "weather changed"],
        [29000, "session.ended", "session", "muted", "Recording sealed (stopped)"],
    ]
    assert out["gaps"] == [{"start_ms": 10000, "end_ms": 14000}]
    assert out["talkback"] == [{"start_ms": 20000, "end_ms": 24000}]
    assert out["length"] == 29000

    # The track drops the impossible fix; between fixes the marker moves in a straight line,
    # before the first fix it waits there, after a long silence it holds the last fix.
    assert out["track"] == [[4000, 43.793], [14000, 43.794], [120000, 43.8]]
    p0, p4, p9, p14, p60 = out["positions"]
    assert p0 == [43.793, 87.6177, True]
    assert p4 == [43.793, 87.6177, False]
    assert p9[0] == pytest.approx(43.7935) and p9[2] is False
    assert p14 == [43.794, 87.6177, False]
    assert p60 == [43.794, 87.6177, False]
    assert out["alerts"] == [[15500, 43.793, 87.6177]]

    idle, running, verified, broken, broken_link, *rows = out["integrity"]
    assert idle == {"state": "unknown"}
    assert running == {"state": "checking", "progress": 0.42}
    assert verified == {"state": "verified", "checkedAt": "2026-11-27T11:00:00Z"}
    assert broken == {"state": "broken", "where": "seg-000002.webm",
                      "detail": "its content was changed", "checkedAt": "2026-11-27T11:00:00Z"}
    assert broken_link["where"] == "ledger entry 12"
    assert rows == ["unknown", "verified", "broken"]
