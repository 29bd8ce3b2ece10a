"""The one-click call when the network misbehaves, in real Chromium.

- The phone's POST fails (network error, then 503): it retries with the SAME Idempotency-Key
  until the node answers, and exactly one alert exists. A 4xx is shown, not retried.
- The console's WebSocket drops while alerts are raised and acknowledged elsewhere: on
  reconnect it resumes, and shows every missed alert once, in its current state.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.async_api import Browser, Route, WebSocketRoute, expect

from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context, screenshot
from tests.e2e.test_live_wall import DESKTOP, PHONE, login_via_ui, watch_errors
from tests.e2e.test_one_click import SCENE

OFFICER = "officer1"
COMMANDER = "cmd1"


def call(node: NodeProcess, token: str, method: str, path: str,
         body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{node.url}{path}", data=data, method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                 **(headers or {})})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def raise_alert(node: NodeProcess, token: str) -> dict[str, Any]:
    return dict(call(node, token, "POST", "/api/alerts",
                     {"kind": "sos", "lat": 43.79, "lon": 87.61},
                     {"Idempotency-Key": uuid.uuid4().hex}))


@pytest.mark.browser
@pytest.mark.media
async def test_sos_retries_with_the_same_key_until_the_node_answers(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start("--escalate-after", "60")
    commander = node_process.login(COMMANDER)
    errors: list[str] = []
    ctx = await new_media_context(browser, permissions=("geolocation",), geolocation=SCENE,
                                  **PHONE)
    try:
        officer = await ctx.new_page()
        watch_errors(officer, "officer", errors)

        # This test is about the POST and its retries: the same press over the open event
        # link (which would get through at once) is held back.
        async def no_alert_on_the_link(ws: WebSocketRoute) -> None:
            server = ws.connect_to_server()

            def to_server(message: str | bytes) -> None:
                if isinstance(message, str) and json.loads(message).get("type") == "alert":
                    return
                server.send(message)

            ws.on_message(to_server)

        await officer.route_web_socket("**/ws?*", no_alert_on_the_link)
        await officer.goto(f"{node_process.url}/officer")
        await login_via_ui(officer, OFFICER)
        await expect(officer.locator("#ws-state")).to_have_attribute("data-state", "open")

        # The first POST never reaches the node, the second meets an overloaded node.
        seen: list[tuple[str, str]] = []

        async def flaky(route: Route) -> None:
            req = route.request
            if req.method != "POST":
                await route.continue_()
                return
            seen.append((req.headers.get("idempotency-key", ""), req.post_data or ""))
            if len(seen) == 1:
                await route.abort("internetdisconnected")
            elif len(seen) == 2:
                await route.fulfill(status=503, content_type="application/json",
                                    body='{"error":"unavailable","detail":"busy"}')
            else:
                await route.continue_()

        await officer.route("**/api/alerts", flaky)
        sos_state = officer.locator("#sos-state")
        await officer.click("#sos")
        await expect(sos_state).to_have_attribute("data-state", "sending")
        await expect(sos_state).to_contain_text("retrying")
        await screenshot(officer, "officer-sos-retrying")
        await expect(sos_state).to_have_attribute("data-state", "sent", timeout=10_000)

        assert len(seen) == 3, seen
        keys = {key for key, _ in seen}
        assert len(keys) == 1 and len(keys.pop()) >= 8, seen
        assert len({body for _, body in seen}) == 1, seen  # the same press, byte for byte
        alerts = call(node_process, commander, "GET", "/api/alerts?state=open")["alerts"]
        assert len(alerts) == 1 and alerts[0]["officer"] == OFFICER

        # Pressing again while the alert is open does not raise a second one.
        await officer.click("#sos")
        await officer.wait_for_timeout(500)
        assert len(seen) == 3
        assert len(call(node_process, commander, "GET", "/api/alerts?state=open")["alerts"]) == 1

        # Closed by the console: the phone says so, and the button is ready again.
        call(node_process, commander, "POST", f"/api/alerts/{alerts[0]['id']}/false-alarm")
        await expect(sos_state).to_have_attribute("data-state", "closed")
        await expect(sos_state).to_contain_text("Closed as false alarm")

        # A refusal (4xx) is shown and not retried.
        await officer.unroute("**/api/alerts")
        refused: list[str] = []

        async def refuse(route: Route) -> None:
            refused.append(route.request.headers.get("idempotency-key", ""))
            await route.fulfill(status=422, content_type="application/json",
                                body='{"error":"bad_request","detail":"The node refused it."}')

        await officer.route("**/api/alerts", refuse)
        await officer.click("#sos")
        await expect(sos_state).to_have_attribute("data-state", "error")
        await expect(sos_state).to_contain_text("The node refused it.")
        await officer.wait_for_timeout(1500)
        assert len(refused) == 1
        assert refused[0] not in {key for key, _ in seen}  # a new press, a new key
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        await ctx.close()


@pytest.mark.browser
@pytest.mark.media
async def test_console_resumes_after_a_dropped_link_and_shows_each_alert_once(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start("--escalate-after", "60")
    officer = node_process.login(OFFICER)
    commander = node_process.login(COMMANDER)
    errors: list[str] = []

    # The page's WebSocket goes through this route, so the test can cut it.
    link: dict[str, Any] = {"down": False, "current": None}
    sent: list[dict[str, Any]] = []

    async def through(ws: WebSocketRoute) -> None:
        if link["down"]:
            await ws.close(code=4000, reason="network down")
            return
        server = ws.connect_to_server()

        def to_server(message: str | bytes) -> None:
            if isinstance(message, str):
                sent.append(json.loads(message))
            server.send(message)

        ws.on_message(to_server)
        link["current"] = ws

    ctx = await new_media_context(browser, **DESKTOP)
    try:
        command = await ctx.new_page()
        watch_errors(command, "command", errors)
        await command.route_web_socket("**/ws?*", through)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        conn = command.locator("#ws-state")
        await expect(conn).to_have_attribute("data-state", "open")

        first = raise_alert(node_process, officer)
        items = command.locator(".alert-item")
        await expect(items).to_have_count(1)

        # The link drops. Meanwhile two alerts come in and the first is acknowledged elsewhere.
        link["down"] = True
        await link["current"].close(code=4000, reason="network down")
        await expect(conn).to_have_attribute("data-state", "reconnecting")
        missed = [raise_alert(node_process, officer), raise_alert(node_process, officer)]
        call(node_process, commander, "POST", f"/api/alerts/{first['id']}/ack")
        await command.wait_for_timeout(300)
        await expect(items).to_have_count(1)  # nothing new could arrive

        link["down"] = False
        await expect(conn).to_have_attribute("data-state", "open", timeout=10_000)
        resumes = [m for m in sent if m.get("type") == "resume"]
        assert len(resumes) == 1, sent
        # It resumes after the last event it saw: the first alert's (a cursor, which the node
        # accepts like an alert id and which cannot skip events of other alerts).
        assert resumes[0]["after"] == first["cursor"], (resumes, first)

        await expect(items).to_have_count(3)
        for a in missed:
            await expect(command.locator(f'.alert-item[data-alert="{a["id"]}"]')).to_have_attribute(
                "data-state", "raised")
        await expect(command.locator(f'.alert-item[data-alert="{first["id"]}"]')).to_have_attribute(
            "data-state", "acknowledged")
        # Newest first, those still waiting for acknowledgement ahead of the acknowledged one.
        order = await items.evaluate_all("els => els.map(e => e.dataset.alert)")
        assert order == [missed[1]["id"], missed[0]["id"], first["id"]], order
        shown = await command.evaluate("Object.keys(window.__fieldrelay.alertShownAt)")
        assert sorted(shown) == sorted([first["id"], *(a["id"] for a in missed)])
        await command.wait_for_timeout(500)
        await expect(items).to_have_count(3)  # and no duplicate turned up late
        await screenshot(command, "command-resumed")
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        await ctx.close()


@pytest.mark.browser
@pytest.mark.media
async def test_console_outlives_its_token_and_misses_no_alert(
    loopback_only: None, node_process: NodeProcess, browser: Browser
) -> None:
    """The node closes a WebSocket when the token it was opened with expires. The console has
    refreshed its token by then: it reconnects, resumes, and stays signed in."""
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    node_process.start("--escalate-after", "60", "--token-ttl", "4")
    errors: list[str] = []
    ctx = await new_media_context(browser, **DESKTOP)
    try:
        command = await ctx.new_page()
        watch_errors(command, "command", errors)
        await command.goto(f"{node_process.url}/command")
        await login_via_ui(command, COMMANDER)
        conn = command.locator("#ws-state")
        await expect(conn).to_have_attribute("data-state", "open")
        first = raise_alert(node_process, node_process.login(OFFICER))
        await expect(command.locator(".alert-item")).to_have_count(1)

        # Past the first token's expiry: the link was closed and came back by itself.
        await command.wait_for_function(
            """() => window.__fieldrelay.linkUps >= 2""", timeout=10_000)
        await expect(conn).to_have_attribute("data-state", "open", timeout=5000)
        await expect(command.locator("#login-form")).to_have_count(0)
        second = raise_alert(node_process, node_process.login(OFFICER))
        await expect(command.locator(".alert-item")).to_have_count(2)
        for a in (first, second):
            await expect(command.locator(f'.alert-item[data-alert="{a["id"]}"]')).to_have_count(1)
        assert errors == []
    except BaseException:
        print("---- node log ----\n" + node_process.log()[-6000:])
        raise
    finally:
        await ctx.close()
