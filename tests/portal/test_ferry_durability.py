"""Nothing lost, nothing doubled: the link between node and portal cut for 10 s, and the
portal killed with `kill -9` while clues and published steps are on their way."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.common import free_port
from bench.portalkit import LinkCutter, call, login
from tests.portal.test_ferry_flow import Pair, start_pair, until

pytestmark = pytest.mark.timeout(180)


async def _clues_on_node(pair: Pair) -> list[str]:
    status, seen = await pair.node_call("GET", "/api/cases/C-1/activity", "o1")
    assert status == 200, seen
    return [e["text"] for e in seen["activity"] if e["kind"] == "clue.received"]


async def _steps_on_portal(pair: Pair) -> list[str]:
    status, view = await pair.portal_call("GET", "/api/cases/C-1", "creditor")
    assert status == 200, view
    return [s["note"] for s in view["steps"]]


async def _with_party(pair: Pair) -> None:
    status, case = await pair.node_call("POST", "/api/cases", "c1", {
        "number": "C-1", "title": "Debt", "officers": ["o1"]})
    assert status == 201, case
    status, invitation = await pair.node_call("POST", "/api/cases/C-1/invitations", "o1")
    assert status == 201, invitation

    async def redeemed() -> Any:
        status, body = await pair.portal_call("POST", "/api/redeem", None, {
            "code": invitation["code"], "username": "creditor",
            "password": "party-password-1"})
        return body if status == 201 else None

    pair.tokens["creditor"] = (await until(redeemed))["token"]

    async def joined() -> bool:
        status, cases = await pair.node_call("GET", "/api/cases", "o1")
        return status == 200 and cases["cases"][0]["parties"] == ["creditor"]

    await until(joined)


async def test_a_cut_link_and_a_killed_portal_lose_and_double_nothing(tmp_path: Path) -> None:
    portal_port = free_port()
    cutter = LinkCutter(portal_port)
    await cutter.start()
    node, portal = start_pair(tmp_path, portal_url=f"http://127.0.0.1:{cutter.port}",
                              portal_port=portal_port)
    try:
        async with aiohttp.ClientSession() as http:
            tokens = {n: await login(http, node.url, n) for n in ("o1", "c1")}
            pair = Pair(node, portal, http, tokens)
            await _with_party(pair)

            # The link drops for 10 s while both sides go on working.
            cutter.sever()
            for i in range(5):
                status, _ = await pair.portal_call("POST", "/api/cases/C-1/clues", "creditor",
                                                   {"text": f"cut-clue-{i}"})
                assert status == 201
            for i in range(3):
                status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o1",
                                                 {"step": "property found",
                                                  "note": f"cut-step-{i}"})
                assert status == 201
            await asyncio.sleep(10)
            assert not [c for c in await _clues_on_node(pair) if c.startswith("cut-")]
            assert await _steps_on_portal(pair) == []
            assert await _link(pair) == "unreachable"
            cutter.join()
            await until(lambda: _all(pair, 5, 3), timeout=15)
            assert await _link(pair) == "connected"

            # The portal dies mid-flow: what either side acknowledged survives it, once.
            acked: list[str] = []
            stepped: list[str] = []
            back = asyncio.Event()

            async def party() -> None:
                after = 0
                for i in range(600):  # bounded: about 30 s at most
                    try:
                        status, _ = await call(http, "POST",
                                               f"{portal.url}/api/cases/C-1/clues",
                                               pair.tokens["creditor"],
                                               {"text": f"kill-clue-{i}"})
                    except aiohttp.ClientError:
                        status = 0
                    if status == 201:
                        acked.append(f"kill-clue-{i}")
                        after += back.is_set()
                    if after >= 5:
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError("the portal did not take clues again after its restart")

            async def officer() -> None:
                for i in range(20):
                    status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o1", {
                        "step": "sanction", "note": f"kill-step-{i}"})
                    assert status == 201  # the node stores it whatever the portal does
                    stepped.append(f"kill-step-{i}")
                    await asyncio.sleep(0.1)

            async def killer() -> None:
                await asyncio.sleep(0.8)
                portal.stop(signal.SIGKILL)
                await asyncio.sleep(1.0)
                await asyncio.to_thread(portal.start)
                back.set()

            await asyncio.gather(party(), officer(), killer())
            assert len(acked) >= 10 and len(stepped) == 20

            async def settled() -> bool:
                clues = await _clues_on_node(pair)
                steps = await _steps_on_portal(pair)
                return set(acked) <= set(clues) and set(stepped) <= set(steps)

            await until(settled, timeout=20)
            clues, steps = await _clues_on_node(pair), await _steps_on_portal(pair)
            doubled = [t for t, n in {**Counter(clues), **Counter(steps)}.items() if n > 1]
            assert not doubled, f"applied twice: {doubled}"
            assert len(steps) == 23
    finally:
        node.stop()
        portal.stop()
        await cutter.aclose()


async def _link(pair: Pair) -> str:
    status, health = await call(pair.http, "GET", f"{pair.node.url}/healthz")
    assert status == 200
    return str(health["portal"])


async def _all(pair: Pair, clues: int, steps: int) -> bool:
    got = [c for c in await _clues_on_node(pair) if c.startswith("cut-")]
    return len(got) == clues and len(await _steps_on_portal(pair)) == steps
