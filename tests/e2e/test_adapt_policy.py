"""The phone's step policy (web/js/adapt-policy.js), run in Chromium as the officer page runs
it, on sample sequences shaped like its sender statistics every half second."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from tests.conftest import NodeProcess

# Runs `scenario` (a list of [seconds, sample fields]) through decide(), sampling every 500 ms;
# returns the step after every sample, and the times (s) the step changed.
RUN_JS = """
async ([scenario, seed]) => {
  const m = await import("/static/js/adapt-policy.js");
  let state = m.initialState(0);
  let rand = seed;
  const random = () => {
    rand = (rand * 1103515245 + 12345) % 2147483648;
    return rand / 2147483648;
  };
  const steps = [];
  const changes = [];
  let t = 0;
  for (const [seconds, fields] of scenario) {
    for (const end = t + seconds * 1000; t < end; t += 500) {
      const sample = {
        at: t, availableBps: null, loss: 0.05, rttS: 0.02, limited: false, ...fields };
      if (fields.noisyLoss) sample.loss = random() * 0.15;  // 5 % random loss, read over 50 packets
      const { state: next, changed } = m.decide(state, sample);
      state = next;
      if (changed) changes.push([t / 1000, state.step]);
      steps.push(state.step);
    }
  }
  return { steps, changes, audioOnly: m.AUDIO_ONLY, labels: m.STEPS.map((s) => s.label) };
}
"""

# A link that carries step `top` but nothing more: every step up from it queues at once.
# Returns the times (s) of the steps up over a minute.
FAILING_PROBES_JS = """
async (top) => {
  const m = await import("/static/js/adapt-policy.js");
  let state = { ...m.initialState(0), step: top };
  const ups = [];
  for (let t = 0; t < 90000; t += 500) {
    const rtt = state.step < top ? 0.6 : 0.02;
    const sample = { at: t, availableBps: null, loss: 0.05, rttS: rtt, limited: false };
    const { state: next, changed } = m.decide(state, sample);
    if (changed && next.step < state.step) ups.push(t / 1000);
    state = next;
  }
  return ups;
}
"""

QUEUED = {"rttS": 0.6}
# adapt-policy.js TUNING.failWithinMs: how long after a step up a queue counts as its failure.
TUNING_FAIL_WITHIN_S = 8
GOOD = {"rttS": 0.02, "noisyLoss": True}


@pytest.fixture
async def logic_page(loopback_only: None, node_process: NodeProcess,
                     browser: Browser) -> AsyncIterator[Page]:
    node_process.start()
    ctx = await browser.new_context()
    page = await ctx.new_page()
    await page.goto(f"{node_process.url}/static/favicon.svg")
    try:
        yield page
    finally:
        await ctx.close()


async def run(page: Page, scenario: list[tuple[float, dict[str, Any]]],
              seed: int = 7) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(RUN_JS, [scenario, seed])
    return result


@pytest.mark.browser
async def test_random_loss_alone_never_steps_down(logic_page: Page) -> None:
    for seed in (1, 2, 3):
        out = await run(logic_page, [(120, GOOD)], seed)
        assert set(out["steps"]) == {0}, (seed, out["changes"])


@pytest.mark.browser
async def test_a_queue_steps_down_fast_to_audio_only_and_back_up_slowly(
        logic_page: Page) -> None:
    out = await run(logic_page, [(10, GOOD), (8, QUEUED), (30, GOOD)])
    changes = out["changes"]
    downs = [(t, s) for t, s in changes if t < 18]
    assert downs[0][0] <= 11.0, downs  # within a second of the queue
    assert downs[-1][1] == out["audioOnly"] and downs[-1][0] <= 15.0, downs
    ups = [(t, s) for t, s in changes if t >= 18]
    assert ups[0][1] == out["audioOnly"] - 1 and ups[0][0] - 18 <= 4.0, ups  # video back
    assert [s for _, s in ups] == [3, 2, 1, 0]
    assert all(b[0] - a[0] >= 3.0 for a, b in itertools.pairwise(ups)), ups
    assert out["labels"][out["audioOnly"]] == "Weak signal: audio only"


@pytest.mark.browser
async def test_failed_probes_back_off_and_video_still_returns_within_ten_seconds(
        logic_page: Page) -> None:
    # A link that carries voice but not video.
    probes = await logic_page.evaluate(FAILING_PROBES_JS, 4)
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert len(probes) <= 90 / 6.5, probes  # no flapping over 90 s…
    assert min(gaps) >= 6.0, probes
    assert max(gaps) <= 10.0, probes  # …but video can always come back within 10 s
    # Between video steps, each failed step up waits twice as long, up to 20 s.
    probes = await logic_page.evaluate(FAILING_PROBES_JS, 3)
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert gaps == sorted(gaps) and gaps[0] <= 8 < 20 <= gaps[-1] <= 24, probes


@pytest.mark.browser
async def test_a_falling_estimate_steps_down_at_once_but_not_while_warming_up(
        logic_page: Page) -> None:
    warm = await run(logic_page, [(2, {"availableBps": 900_000}), (2, {"availableBps": 300_000})])
    assert set(warm["steps"]) == {0}, warm["changes"]
    fall = await run(logic_page, [(10, {"availableBps": 900_000}),
                                  (2, {"availableBps": 300_000})])
    assert fall["changes"] and fall["changes"][0][0] == 10.0, fall["changes"]


@pytest.mark.browser
async def test_the_nodes_queue_report_takes_a_probe_back_at_once(logic_page: Page) -> None:
    # Audio only, then video back (a probe); 3.5 s later the node reports 200 ms of queue on the
    # uplink, while the round trip the phone reads still says nothing: back down at that sample.
    out = await run(logic_page, [(6, QUEUED), (10, GOOD), (0.5, {"queueS": 0.2}), (10, GOOD)])
    changes = out["changes"]
    last_up = max((t, s) for t, s in changes if t < 16)
    assert last_up[1] < out["audioOnly"] and 16 - last_up[0] <= TUNING_FAIL_WITHIN_S, changes
    assert [16.0, last_up[1] + 1] in changes, changes
    # A report under the bar (a busy phone's hiccup) is no reason to step down, nor a queue
    # reported while the link is full video.
    blip = await run(logic_page, [(6, QUEUED), (10, GOOD), (0.5, {"queueS": 0.1}), (10, GOOD)])
    downs = [b for a, b in itertools.pairwise(blip["changes"]) if b[1] > a[1]]
    assert not [d for d in downs if 16.0 <= d[0] <= 16.5], blip["changes"]
    steady = await run(logic_page, [(10, GOOD), (0.5, {"queueS": 0.2}), (2, GOOD)])
    assert steady["changes"] and steady["changes"][0] == [10.0, 1], steady["changes"]


@pytest.mark.browser
async def test_one_report_losing_a_quarter_steps_down_at_once(logic_page: Page) -> None:
    out = await run(logic_page, [(10, GOOD), (0.5, {"loss": 0.3}), (2, GOOD)])
    assert out["changes"] and out["changes"][0] == [10.0, 1], out["changes"]


@pytest.mark.browser
async def test_a_queue_still_growing_steps_down_again_without_waiting(logic_page: Page) -> None:
    # The link shrinks under full video: the node's reports every half second show the queue
    # growing, and each one steps down again at once; one that holds or drains waits to settle.
    growing = [(0.5, {"queueS": q}) for q in (0.15, 0.3, 0.45, 0.6)]
    out = await run(logic_page, [(10, GOOD), *growing, (3, {"queueS": 0.6})])
    downs = [c for c in out["changes"] if c[0] >= 10]
    assert [t for t, _ in downs[:3]] == [10.0, 10.5, 11.0], downs
    held = await run(logic_page, [(10, GOOD), (2, {"queueS": 0.15}), (3, GOOD)])
    assert [t for t, _ in held["changes"]][:2] == [10.0, 11.0], held["changes"]


@pytest.mark.browser
async def test_once_the_node_measures_the_uplink_a_stale_round_trip_holds_no_video_back(
        logic_page: Page) -> None:
    # The link shrinks (the node reports the queue), then comes back at 18 s: the node falls
    # silent at once, while the round trip, answering a sender report from the queue, reads
    # half a second for 5 s more (as the voice's reports, a few seconds apart, do).
    node = {"nodeSees": True}
    queue = {"rttS": 0.6, "queueS": 0.3, **node}
    stale = {"rttS": 0.5, **node}
    out = await run(logic_page, [(10, GOOD), (8, queue), (5, stale), (10, {**GOOD, **node})])
    assert [c for c in out["changes"] if c[0] < 18][-1][1] == out["audioOnly"], out["changes"]
    ups = [c for c in out["changes"] if c[0] >= 18]
    assert ups and ups[0][1] == out["audioOnly"] - 1 and ups[0][0] <= 22.0, out["changes"]
    # Before the node's first report the round trip is all the page has: it holds the step.
    blind = await run(logic_page, [(10, GOOD), (8, QUEUED), (5, {"rttS": 0.5}), (10, GOOD)])
    ups = [c for c in blind["changes"] if c[0] >= 18]
    assert ups and ups[0][0] >= 26.0, blind["changes"]
