"""The one-click call in real Chromium: one SOS press on a phone reaches the command center.

The officer is not live when pressing. One press must: go live, send the position, raise
exactly one alert; the console must show the alert with its position, ring, and enlarge the
officer's feed with decoded video; the commander's Acknowledge must reach the phone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, WebSocket, expect

from fieldrelay.alerts import raise_alert
from signaling.redisbus import RedisBus
from tests.conftest import NodeProcess, RedisProcess, free_port
from tests.e2e.conftest import assert_loopback_candidates, new_media_context, screenshot
from tests.e2e.test_live_wall import (
    DESKTOP,
    FRAMES_DECODED_JS,
    PHONE,
    SELECTED_PAIR_JS,
    TILE_VIDEO_WIDTH_JS,
    login_via_ui,
    watch_errors,
)

OFFICER = "officer1"
HELPER = "officer2"
COMMANDER = "cmd1"
# Urumqi, People's Square; the helper stands about 400 m north of it.
SCENE = {"latitude": 43.7930, "longitude": 87.6177}
NORTH_400M = {"latitude": 43.7966, "longitude": 87.6177}
DEADLINE_S = 5.0

# Stamps the SOS press (capture phase, before the app's handler) in epoch milliseconds, on the
# same clock as the console's window.__fieldrelay.alertShownAt / firstFrameAt.
STAMP_SOS_JS = """
() => document.addEventListener("click", (ev) => {
  if (ev.target.closest("#sos")) {
    window.__sosPresses = (window.__sosPresses || 0) + 1;
    window.__sosAt = window.__sosAt || performance.timeOrigin + performance.now();
  }
}, { capture: true })
"""

# Counts POST /api/alerts requests the page makes (the press must make one, with one key).
COUNT_ALERT_POSTS_JS = """
() => {
  window.__alertPosts = [];
  const native = window.fetch;
  window.fetch = (input, init = {}) => {
    const url = typeof input === "string" ? input : input.url;
    if (url.endsWith("/api/alerts") && (init.method || "GET") === "POST") {
      window.__alertPosts.push({
        key: init.headers["Idempotency-Key"], body: JSON.parse(init.body),
      });
    }
    return native(input, init);
  };
}
"""


async def open_alerts(page: Page) -> list[dict[str, Any]]:
    """GET /api/alerts?state=open with the page's own session."""
    return list(await page.evaluate("""async () => {
      const s = JSON.parse(sessionStorage.getItem("fieldrelay.session"));
      const r = await fetch("/api/alerts?state=open", {
        headers: { Authorization: `Bearer ${s.token}` },
      });
      return (await r.json()).alerts;
    }"""))


async def wait_for_video(command: Page, name: str, clicked: float) -> None:
    """The wall decodes video for `name`: videoWidth > 0 and framesDecoded rising."""
    await command.wait_for_function(
        f"(n) => ({TILE_VIDEO_WIDTH_JS})(n) > 0", arg=name,
        timeout=max(100, (DEADLINE_S - (time.monotonic() - clicked)) * 1000))
    first = await command.evaluate(FRAMES_DECODED_JS, name)
    rising = first
    while rising <= first and time.monotonic() - clicked < DEADLINE_S + 2:
        await command.wait_for_timeout(100)
        rising = await command.evaluate(FRAMES_DECODED_JS, name)
    assert rising > first >= 0, f"framesDecoded not rising: {first} → {rising}"


@pytest.mark.browser
@pytest.mark.media
async def test_one_press_goes_live_alerts_the_console_and_gets_acknowledged(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start("--escalate-after", "60")
    errors: list[str] = []

    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, permissions=("geolocation",),
                                          geolocation=SCENE, **PHONE)
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")
        await expect(command.locator("#alerts-empty")).to_be_visible()

        officer = await officer_ctx.new_page()
        watch_errors(officer, "officer", errors)
        await officer.goto(f"{node_process.url}/officer")
        await login_via_ui(officer, OFFICER)
        await expect(officer.locator("#ws-state")).to_have_attribute("data-state", "open")
        await expect(officer.locator("#state")).to_have_attribute("data-state", "stopped")
        sos = officer.locator("#sos")
        sos_state = officer.locator("#sos-state")
        await expect(sos).to_be_in_viewport()
        await expect(sos_state).to_have_attribute("data-state", "idle")
        # The SOS sits at the bottom, where the thumb is, and is big.
        box = await sos.bounding_box()
        assert box is not None and box["height"] >= 96 and box["width"] >= 300, box
        assert box["y"] + box["height"] > PHONE["viewport"]["height"] - 60, box
        await screenshot(officer, "officer-sos-idle")

        # ONE press, while not live.
        await officer.evaluate(STAMP_SOS_JS)
        await officer.evaluate(COUNT_ALERT_POSTS_JS)
        clicked = time.monotonic()
        await sos.click()

        # The console shows the alert at once, and the position when the fix follows.
        item = command.locator(".alert-item").first
        await expect(item).to_be_visible(timeout=DEADLINE_S * 1000)
        alert_id = await item.get_attribute("data-alert")
        assert alert_id
        await expect(item).to_have_attribute("data-state", "raised")
        await expect(item).to_contain_text(OFFICER)
        await expect(item.locator(".alert-pos")).to_have_text("43.7930, 87.6177")
        sos_at = await officer.evaluate("window.__sosAt")
        shown_at = await command.evaluate("(id) => window.__fieldrelay.alertShownAt[id]", alert_id)
        console_ms = round(shown_at - sos_at)
        print(f"\nSOS_TO_CONSOLE_MS={console_ms}")
        assert 0 < console_ms < DEADLINE_S * 1000

        # The officer went live and knows the alert is out.
        await expect(officer.locator("#state")).to_have_attribute("data-state", "live",
                                                                  timeout=DEADLINE_S * 1000)
        await expect(sos_state).to_have_attribute("data-state", "sent")
        await expect(sos_state).to_contain_text("Alert sent — waiting for the command center")

        # The console enlarged the officer's tile and plays it.
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile).to_have_attribute("data-focused", "true", timeout=DEADLINE_S * 1000)
        await expect(tile).to_have_attribute("data-alert", "raised")
        await wait_for_video(command, OFFICER, clicked)
        await expect(tile).to_have_attribute("data-state", "live")
        await command.wait_for_function(
            "(n) => window.__fieldrelay.firstFrameAt[n] > 0", arg=OFFICER, timeout=2000)
        first_frame_at = await command.evaluate("(n) => window.__fieldrelay.firstFrameAt[n]",
                                                OFFICER)
        video_ms = round(first_frame_at - sos_at)
        print(f"SOS_TO_VIDEO_MS={video_ms}")
        assert 0 < video_ms < DEADLINE_S * 1000

        # Exactly one press, one POST, one alert. The phone had no position before the press,
        # so the alert went without one (nothing waited for GPS) and the fix updated it.
        assert await officer.evaluate("window.__sosPresses") == 1
        posts = await officer.evaluate("window.__alertPosts")
        assert len(posts) == 1, posts
        assert len(posts[0]["key"]) >= 8
        assert posts[0]["body"] == {"kind": "sos"}
        alerts = await open_alerts(command)
        assert [a["id"] for a in alerts] == [alert_id]
        assert alerts[0]["officer"] == OFFICER and alerts[0]["lat"] == SCENE["latitude"]

        # Media over loopback only, on both pages.
        await assert_loopback_candidates(officer, "officer")
        await assert_loopback_candidates(command, "command")
        pair = await command.evaluate(
            f"() => ({SELECTED_PAIR_JS})(window.__fieldrelay.viewers[{OFFICER!r}])")
        assert pair is not None and set(pair) <= {"127.0.0.1", "::1"}, pair

        await command.wait_for_timeout(600)  # let the picture settle for the screenshots
        await screenshot(command, "command-alert")
        await screenshot(officer, "officer-sos-sent")

        # The commander acknowledges: the phone says who.
        await item.locator(".ack").click()
        await expect(sos_state).to_have_attribute("data-state", "acknowledged",
                                                  timeout=DEADLINE_S * 1000)
        await expect(sos_state).to_contain_text(f"Acknowledged by {COMMANDER}")
        await expect(item).to_have_attribute("data-state", "acknowledged")
        await expect(item.locator(".ack")).to_be_hidden()
        await expect(tile).to_have_attribute("data-alert", "acknowledged")
        await screenshot(officer, "officer-sos-ack")
        await screenshot(command, "command-ack")

        # A second Acknowledge from a stale console would be refused; the page says why.
        # (Simulated by posting it directly: the button is gone once acknowledged.)
        status = await command.evaluate("""async (id) => {
          const s = JSON.parse(sessionStorage.getItem("fieldrelay.session"));
          const r = await fetch(`/api/alerts/${id}/ack`, { method: "POST",
            headers: { Authorization: `Bearer ${s.token}` } });
          return r.status;
        }""", alert_id)
        assert status == 409

        # Resolve: the phone shows it closed, the tile goes back to its place.
        await item.locator(".resolve").click()
        await expect(sos_state).to_have_attribute("data-state", "closed",
                                                  timeout=DEADLINE_S * 1000)
        await expect(sos_state).to_contain_text("Resolved")
        await expect(tile).to_have_attribute("data-focused", "false")
        await expect(command.locator(f'.alert-item[data-alert="{alert_id}"]')).to_have_count(
            0, timeout=10_000)
        await expect(command.locator("#alerts-empty")).to_be_visible()
        await expect(officer.locator("#state")).to_have_attribute("data-state", "live")

        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        await officer_ctx.close()
        await command_ctx.close()


@pytest.mark.browser
@pytest.mark.media
async def test_unanswered_alert_escalates_and_dispatches_the_nearest_officer(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(HELPER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start("--escalate-after", "2")
    errors: list[str] = []

    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, permissions=("geolocation",),
                                          geolocation=SCENE, **PHONE)
    helper_ctx = await new_media_context(browser, permissions=("geolocation",),
                                         geolocation=NORTH_400M, **PHONE)
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")

        # The helper is live 400 m north: its phone reports the position over the WebSocket.
        helper = await helper_ctx.new_page()
        watch_errors(helper, HELPER, errors)
        await helper.goto(f"{node_process.url}/officer")
        await login_via_ui(helper, HELPER)
        await helper.click("#go-live")
        await expect(helper.locator("#state")).to_have_attribute("data-state", "live",
                                                                 timeout=DEADLINE_S * 1000)
        helper_tile = command.locator(f'.tile[data-officer="{HELPER}"]')
        await expect(helper_tile).to_have_attribute("data-state", "live",
                                                    timeout=DEADLINE_S * 1000)

        officer = await officer_ctx.new_page()
        watch_errors(officer, OFFICER, errors)
        await officer.goto(f"{node_process.url}/officer")
        await login_via_ui(officer, OFFICER)
        await expect(officer.locator("#ws-state")).to_have_attribute("data-state", "open")
        await officer.click("#sos")

        # Nobody acknowledges: after 2 s the alert escalates everywhere.
        item = command.locator(".alert-item").first
        await expect(item).to_have_attribute("data-state", "escalated", timeout=10_000)
        sos_state = officer.locator("#sos-state")
        await expect(sos_state).to_have_attribute("data-state", "escalated", timeout=5000)
        await expect(sos_state).to_contain_text("Escalated — nearest officers notified")
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile).to_have_attribute("data-alert", "escalated")
        await expect(tile).to_have_attribute("data-focused", "true", timeout=DEADLINE_S * 1000)
        await expect(helper_tile).not_to_have_attribute("data-focused", "true")

        # The helper's phone is sent: who, how far, which way.
        dispatch = helper.locator("#dispatch")
        await expect(dispatch).to_be_visible(timeout=5000)
        await expect(dispatch).to_contain_text(f"Officer {OFFICER} needs help — 400 m S")
        await expect(dispatch).to_have_attribute("data-state", "new")
        await expect(item.locator(".alert-dispatch")).to_contain_text(HELPER)
        await wait_for_video(command, OFFICER, time.monotonic())
        await command.wait_for_timeout(400)
        await screenshot(helper, "officer-dispatch")
        await screenshot(officer, "officer-sos-escalated")
        await screenshot(command, "command-escalated")
        await helper.click("#dispatch-go")
        await expect(dispatch).to_have_attribute("data-state", "accepted")
        await expect(helper.locator("#dispatch-go")).to_be_hidden()

        # A false alarm closes it on the phone too.
        await item.locator(".false-alarm").click()
        await expect(sos_state).to_have_attribute("data-state", "closed", timeout=5000)
        await expect(sos_state).to_contain_text("Closed as false alarm")
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        await helper_ctx.close()
        await officer_ctx.close()
        await command_ctx.close()


@pytest.mark.browser
@pytest.mark.media
async def test_sos_from_an_officer_on_another_node_links_to_that_node(
    loopback_only: None, node_process: NodeProcess, redis_server: RedisProcess,
    tmp_path: Path, browser: Browser
) -> None:
    """Two nodes on one Redis: the console on node-b gets node-a's officer's SOS, enlarges the
    tile, and says "live on node-a" with a link there instead of trying WHEP on node-b."""
    node_a = node_process
    node_b = NodeProcess(data_dir=tmp_path / "data-b", port=free_port())
    for node in (node_a, node_b):
        node.add_user(OFFICER, "officer")
        node.add_user(COMMANDER, "commander")
    node_a.start("--node-id", "node-a", "--redis-url", redis_server.url)
    node_b.start("--node-id", "node-b", "--redis-url", redis_server.url)
    errors: list[str] = []
    command_ctx = await new_media_context(browser, **DESKTOP)
    officer_ctx = await new_media_context(browser, permissions=("geolocation",),
                                          geolocation=SCENE, **PHONE)
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_b.url}/command")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")

        officer = await officer_ctx.new_page()
        watch_errors(officer, "officer", errors)
        await officer.goto(f"{node_a.url}/officer")
        await login_via_ui(officer, OFFICER)
        await expect(officer.locator("#ws-state")).to_have_attribute("data-state", "open")
        await officer.click("#sos")

        item = command.locator(".alert-item").first
        await expect(item).to_have_attribute("data-state", "raised", timeout=DEADLINE_S * 1000)
        await expect(item.locator(".alert-pos")).to_have_text("43.7930, 87.6177")
        tile = command.locator(f'.tile[data-officer="{OFFICER}"]')
        await expect(tile).to_have_attribute("data-state", "remote", timeout=DEADLINE_S * 1000)
        await expect(tile).to_have_attribute("data-focused", "true")
        await expect(tile).to_contain_text("live on node-a")
        link = tile.locator(".tile-remote")
        await expect(link).to_have_attribute("href", f"{node_a.url}/command")
        assert await command.evaluate(f"() => window.__fieldrelay.viewers[{OFFICER!r}]") is None
        await screenshot(command, "command-alert-remote")

        await item.locator(".ack").click()
        await expect(officer.locator("#sos-state")).to_have_attribute(
            "data-state", "acknowledged", timeout=DEADLINE_S * 1000)
        await expect(officer.locator("#sos-state")).to_contain_text(f"Acknowledged by {COMMANDER}")
        assert errors == []
    except BaseException:
        print("---- node-a log ----\n" + node_a.log()[-4000:])
        print("---- node-b log ----\n" + node_b.log()[-4000:])
        raise
    finally:
        await officer_ctx.close()
        await command_ctx.close()
        if node_b.proc is not None:
            node_b.stop()


@pytest.mark.browser
async def test_an_escalation_pass_of_several_alerts_is_one_message_and_all_show_escalated(
    loopback_only: None, node_process: NodeProcess, redis_server: RedisProcess, browser: Browser
) -> None:
    """Three alerts due in the same escalation pass reach the command page as one
    `alerts.updated` message (the page asks for it), and the panel shows all three escalated."""
    officers = ["officer1", "officer2", "officer3"]
    node_process.add_user(COMMANDER, "commander")
    for name in officers:
        node_process.add_user(name, "officer")
    node_process.start("--redis-url", redis_server.url, "--escalate-after", "1")
    errors: list[str] = []
    frames: list[dict[str, Any]] = []
    sent: list[dict[str, Any]] = []
    command_ctx = await new_media_context(browser, **DESKTOP)
    store = RedisBus(redis_server.url, "test-writer")
    try:
        command = await command_ctx.new_page()
        watch_errors(command, "command", errors)

        def watch(ws: WebSocket) -> None:
            ws.on("framereceived", lambda data: frames.append(json.loads(data)))
            ws.on("framesent", lambda data: sent.append(json.loads(data)))

        command.on("websocket", watch)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")
        deadline = time.monotonic() + 5
        while not any(m.get("type") == "accept" for m in sent) and time.monotonic() < deadline:
            await command.wait_for_timeout(50)
        assert {"type": "accept", "types": ["alerts.updated"]} in sent

        # Raised together, due 0.5 s from now: one pass escalates all three.
        raised_at = time.time() - 1.0 + 0.5
        ids = []
        for n, name in enumerate(officers):
            alert = {**raise_alert(name, "node-1", "sos", None, None, None),
                     "raised_at": raised_at}
            ids.append((await store.store_alert(alert, f"{name}:e2e-batch-{n}"))[0]["id"])
        items = command.locator(".alert-item")
        await expect(items).to_have_count(3, timeout=DEADLINE_S * 1000)
        for alert_id in ids:
            await expect(command.locator(f'.alert-item[data-alert="{alert_id}"]')
                         ).to_have_attribute("data-state", "escalated", timeout=DEADLINE_S * 1000)
        await expect(command.locator("#alerts-count")).to_have_text("3 waiting · 3 open")
        batches = [f for f in frames if f.get("type") == "alerts.updated"]
        # Oldest first; raised at the same instant, by id.
        assert [[e["alert"]["id"] for e in b["events"]] for b in batches] == [sorted(ids)]
        assert not [f for f in frames if f.get("type") == "alert.updated"]
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-4000:])
        raise
    finally:
        await store.aclose()
        await command_ctx.close()
