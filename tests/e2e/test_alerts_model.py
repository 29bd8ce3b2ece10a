"""The pages' one alerts model (web/js/alerts-model.js), run in Chromium as the pages run it.

Golden alerts shaped like the node's: which states are open and which ring, which of two
versions of an alert is the latest, how kinds and states read on the panel, the tile strip and
the officer's card, and the panel's order. The module must need no DOM: it is also imported in
a worker, where there is no `document`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import NodeProcess

MODEL = "/static/js/alerts-model.js"

RAISED: dict[str, Any] = {
    "id": "a1", "officer": "officer1", "kind": "sos", "state": "raised",
    "history": [{"state": "raised"}], "raised_at": 1000, "updated_at": 1000,
}
ESCALATED: dict[str, Any] = {
    **RAISED, "state": "escalated", "history": [{"state": "raised"}, {"state": "escalated"}],
    "escalated_at": 1030, "updated_at": 1030,
}
ACKED: dict[str, Any] = {
    **RAISED, "id": "a2", "kind": "officer_down", "state": "acknowledged",
    "acknowledged_by": "cmd1", "raised_at": 1010, "updated_at": 1040,
}
RESOLVED: dict[str, Any] = {
    **RAISED, "id": "a3", "kind": "backup", "state": "resolved", "closed_by": "cmd2",
    "raised_at": 1020, "updated_at": 1050,
}
FALSE_ALARM: dict[str, Any] = {**RESOLVED, "id": "a4", "state": "false_alarm", "closed_by": None}
ALERTS = [RAISED, ESCALATED, ACKED, RESOLVED, FALSE_ALARM]

# Every function of the model over the golden alerts; `m` is the module.
RUN = """(m, [raised, escalated, acked, resolved, falseAlarm]) => {
  const all = [raised, escalated, acked, resolved, falseAlarm];
  const later = { ...raised, updated_at: raised.updated_at + 1 };
  return {
    open: all.map((a) => m.isOpen(a)),
    needsAck: all.map((a) => m.needsAck(a)),
    openOfNothing: [m.isOpen(null), m.needsAck(undefined)],
    newer: [
      m.isNewer(raised, null), m.isNewer(escalated, raised), m.isNewer(raised, escalated),
      m.isNewer(later, raised), m.isNewer(raised, later), m.isNewer(raised, raised),
    ],
    keys: [m.eventKey(raised), m.eventKey(escalated)],
    cursors: [
      m.cursorAfter("1700000000001-0", ""), m.cursorAfter("1700000000001-0", "1700000000000-5"),
      m.cursorAfter("1700000000000-10", "1700000000000-9"),
      m.cursorAfter("1700000000000-9", "1700000000000-10"),
      m.cursorAfter("1700000000000-9", "1700000000000-9"),
    ],
    kinds: ["sos", "backup", "medical", "officer_down", "other", "", undefined, "bomb_threat",
            "constructor"].map((k) => m.kindLabel(k)),
    status: all.map((a) => m.statusLabel(a)),
    strip: [raised, escalated, acked, { ...acked, acknowledged_by: "" }]
      .map((a) => m.stripLabel(a)),
    call: all.map((a) => m.callState(a)),
    attention: [m.attentionAt(raised), m.attentionAt(escalated), m.attentionAt({})],
    order: [...all].sort((a, b) => (m.comesBefore(a, b) ? -1 : m.comesBefore(b, a) ? 1 : 0))
      .map((a) => `${a.id}:${a.state}`),
    urgent: [
      m.mostUrgent([acked, raised])?.state, m.mostUrgent([acked, escalated, raised])?.state,
      m.mostUrgent([acked])?.id, m.mostUrgent([resolved, falseAlarm]), m.mostUrgent([]),
    ],
  };
}"""

IN_PAGE = f"""async (alerts) => {{
  const m = await import("{MODEL}");
  return ({RUN})(m, alerts);
}}"""

# The same run in a module worker: no `document`, no `window`.
IN_WORKER = """async ({alerts, run, model}) => {
  const source = `import * as m from "${location.origin}${model}";\n`
    + "onmessage = (ev) => postMessage((" + run + ")(m, ev.data));";
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (ev) => resolve(ev.data);
      worker.onerror = (ev) => reject(new Error(ev.message || "the worker failed"));
      worker.postMessage(alerts);
    });
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
}"""


@pytest.fixture
async def model_page(loopback_only: None, node_process: NodeProcess,
                     browser: Browser) -> AsyncIterator[Page]:
    node_process.start()
    # The worker below is made from a blob: URL that this test writes, which the node's
    # Content-Security-Policy forbids (no page makes one); the model is tested, not the policy.
    ctx = await browser.new_context(bypass_csp=True)
    page = await ctx.new_page()
    # Any page of the node's origin: the module is imported from /static/ as the pages do.
    await page.goto(f"{node_process.url}/static/favicon.svg")
    try:
        yield page
    finally:
        await ctx.close()


@pytest.mark.browser
async def test_the_alerts_model_over_golden_alerts(model_page: Page) -> None:
    out = await model_page.evaluate(IN_PAGE, ALERTS)

    assert out["open"] == [True, True, True, False, False]
    assert out["needsAck"] == [True, True, False, False, False]
    assert out["openOfNothing"] == [False, False]

    # More history wins; with the same history the later update wins; a version is not newer
    # than itself (a repeated event changes nothing).
    assert out["newer"] == [True, True, False, True, False, False]
    assert out["keys"] == ["a1|raised|1000", "a1|escalated|1030"]
    assert out["cursors"] == [True, True, True, False, False]

    assert out["kinds"] == ["SOS", "Backup", "Medical", "Officer down", "Alert", "Alert", "Alert",
                            "bomb threat", "constructor"]
    assert out["status"] == ["Unacknowledged", "Escalated", "Acknowledged by cmd1",
                             "Resolved by cmd2", "False alarm — ?"]
    assert out["strip"] == [
        "SOS · waiting for acknowledgement",
        "SOS · escalated — nobody acknowledged",
        "OFFICER DOWN · acknowledged by cmd1",
        "OFFICER DOWN · acknowledged",
    ]
    assert out["call"] == ["sent", "escalated", "acknowledged", "closed", "closed"]
    assert out["attention"] == [1000, 1030, 0]

    # The panel: waiting for acknowledgement first (the escalation is the latest call for
    # attention), then open, then closed; newest first within each, then by id.
    assert out["order"] == ["a1:escalated", "a1:raised", "a2:acknowledged", "a3:resolved",
                            "a4:false_alarm"]
    assert out["urgent"] == ["raised", "escalated", "a2", None, None]


@pytest.mark.browser
async def test_the_alerts_model_needs_no_dom(model_page: Page) -> None:
    in_page = await model_page.evaluate(IN_PAGE, ALERTS)
    in_worker = await model_page.evaluate(IN_WORKER, {"alerts": ALERTS, "run": RUN, "model": MODEL})
    assert in_worker == in_page
