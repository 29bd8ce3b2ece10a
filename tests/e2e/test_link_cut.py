"""The officer's phone loses its link for 10 s: the officer page reconnects by itself, the
command wall's tile plays again without a reload, and the evidence is one session with a
gap event."""

from __future__ import annotations

import asyncio
import time

import pytest
from playwright.async_api import Browser, expect

from recordings.store import read_entries
from tests.conftest import NodeProcess
from tests.e2e.conftest import new_media_context
from tests.e2e.test_live_wall import DESKTOP, FRAMES_DECODED_JS, login_via_ui
from tests.netns import linked_namespace
from tests.signaling.test_bad_network import in_namespace

CUT_S = 10.0


async def _until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.mark.browser
@pytest.mark.media
async def test_ten_second_cut_reconnects_page_and_wall_in_one_session(
        loopback_only: None, node_process: NodeProcess, browser: Browser) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("c1", "commander")
    with linked_namespace() as link:
        node_process.start("--host", "0.0.0.0", "--ice-host", link.host_ip)
        command_ctx = await new_media_context(browser, **DESKTOP)
        officer = None
        try:
            command = await command_ctx.new_page()
            await command.goto(f"{node_process.url}/command")
            await login_via_ui(command, "c1")
            await expect(command.locator("#ws-state")).to_have_attribute("data-state", "open")
            await command.evaluate("window.__sameDocument = true")

            base = f"http://{link.host_ip}:{node_process.port}"
            officer = in_namespace(link, "tests.net_officer", base, "o1")

            def states() -> list[str]:
                return [str(x["state"]) for x in officer.lines if "state" in x]

            await _until(lambda: "live" in states(), 40, "the officer page to go live")

            async def frames() -> int:
                return int(await command.evaluate(FRAMES_DECODED_JS, "o1"))

            first = await frames()
            deadline = time.monotonic() + 15
            while await frames() <= max(first, 10):
                assert time.monotonic() < deadline, "the tile never played"
                await asyncio.sleep(0.2)

            link.cut()
            cut_at = time.monotonic()
            await asyncio.sleep(CUT_S)
            link.clear()
            live_count = states().count("live")
            await _until(lambda: states().count("live") > live_count, 60,
                         "the officer page to be live again")
            back_after = time.monotonic() - cut_at
            seq = states()
            print(f"LINK_CUT officer states {seq}; live again {back_after:.1f} s after the cut")
            assert "reconnecting" in seq[seq.index("live"):]

            # The same wall, no reload, plays the officer again.
            resumed = await frames()
            deadline = time.monotonic() + 20
            while await frames() <= resumed + 10:
                assert time.monotonic() < deadline, "the tile did not resume"
                await asyncio.sleep(0.2)
            assert await command.evaluate("window.__sameDocument") is True
            await expect(command.locator('.tile[data-officer="o1"]')).to_have_attribute(
                "data-state", "live")
            errors = [x for x in officer.lines if "error" in x]
            assert not errors, errors
        finally:
            if officer is not None:
                officer.stop()
            await command_ctx.close()
            assert node_process.stop() == 0

    sessions = list((node_process.data_dir / "sessions").iterdir())
    assert len(sessions) == 1, f"one session across the cut, not {len(sessions)}"
    entries = list(read_entries(sessions[0] / "ledger.jsonl"))
    events = [e["event"] for e in entries if e["kind"] == "event"]
    print(f"LINK_CUT events {[e for e in events if e.startswith('publisher')]}")
    assert [e for e in events if e.startswith("publisher.")][:2] == [
        "publisher.disconnected", "publisher.reconnected"], events
    reconnected = next(e for e in entries if e.get("event") == "publisher.reconnected")
    # The gap runs from the last packet before the cut to the new publication.
    assert CUT_S * 1000 <= reconnected["gap_ms"] <= back_after * 1000 + 1000, reconnected
