"""A real node and a real portal, ferrying over loopback: tasks, replies, invitations, clues,
published steps, and what each side refuses."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench.common import NodeProcess, free_port
from bench.portalkit import SECRET, PortalProcess, call, login

pytestmark = pytest.mark.timeout(120)


@dataclass
class Pair:
    node: NodeProcess
    portal: PortalProcess
    http: aiohttp.ClientSession
    tokens: dict[str, str]

    async def node_call(self, method: str, path: str, who: str,
                        body: Any = None) -> tuple[int, Any]:
        return await call(self.http, method, self.node.url + path, self.tokens[who], body)

    async def portal_call(self, method: str, path: str, who: str | None,
                          body: Any = None) -> tuple[int, Any]:
        token = self.tokens.get(who) if who else None
        return await call(self.http, method, self.portal.url + path, token, body)


async def until(check: Any, timeout: float = 10.0) -> Any:
    """Poll an async check until it returns something true."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.05)


def start_pair(tmp_path: Path, portal_url: str | None = None,
               portal_port: int | None = None) -> tuple[NodeProcess, PortalProcess]:
    portal = PortalProcess(tmp_path / "portal-data", portal_port or free_port())
    for name, community in (("g1", "north"), ("g2", "north"), ("g3", "south")):
        portal.add_user(name, "grid", community)
    portal.start()
    node = NodeProcess(tmp_path / "data", free_port())
    for name, role in (("o1", "officer"), ("o2", "officer"), ("c1", "commander"),
                       ("r1", "reviewer")):
        node.add_user(name, role)
    (tmp_path / "portal.secret").write_text(SECRET + "\n")
    node.start("--portal-url", portal_url or portal.url, "--portal-secret-file",
               str(tmp_path / "portal.secret"))
    return node, portal


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    node, portal = start_pair(tmp_path)
    try:
        async with aiohttp.ClientSession() as http:
            tokens = {n: await login(http, node.url, n) for n in ("o1", "o2", "c1")}
            tokens.update({n: await login(http, portal.url, n) for n in ("g1", "g2", "g3")})
            yield Pair(node, portal, http, tokens)
    finally:
        node.stop()
        portal.stop()


async def officer_events(pair: Pair, who: str, into: list[dict[str, Any]],
                         ready: asyncio.Event) -> None:
    """Collect `case.event`s from the node's WebSocket."""
    async with pair.http.ws_connect(f"{pair.node.url}/ws?token={pair.tokens[who]}") as ws:
        ready.set()
        async for msg in ws:
            event = json.loads(msg.data)
            if event.get("type") == "case.event":
                into.append(event["event"])


async def new_case(pair: Pair, number: str = "C-1") -> None:
    status, case = await pair.node_call("POST", "/api/cases", "c1",
                                        {"number": number, "title": "Debt of 4,000",
                                         "officers": ["o1"]})
    assert status == 201, case
    assert case["officers"] == ["o1"] and case["state"] == "open"


async def test_a_task_to_a_community_is_answered_and_every_step_is_in_the_chain(
        pair: Pair) -> None:
    await new_case(pair)
    events: list[dict[str, Any]] = []
    elsewhere: list[dict[str, Any]] = []
    ready, other_ready = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(officer_events(pair, "o1", events, ready))
    other = asyncio.create_task(officer_events(pair, "o2", elsewhere, other_ready))
    try:
        await ready.wait()
        await other_ready.wait()
        # The roster reaches the node with the first exchange.
        await until(lambda: _roster(pair))
        status, sent = await pair.node_call("POST", "/api/cases/C-1/tasks", "o1", {
            "kind": "find_person", "person": "Wang Wu", "address": "12 River St",
            "what": "find him and tell me", "deadline": "2026-12-08", "community": "north"})
        assert status == 201, sent
        assert sent["to"] == ["g1", "g2"]
        task = sent["task"]
        got = await until(lambda: _tasks(pair, "g1"))
        assert got[0]["person"] == "Wang Wu" and got[0]["id"] == task
        assert await _tasks(pair, "g2") and not await _tasks(pair, "g3")
        # g3 is not among its grid workers: the task does not exist for g3.
        status, _ = await pair.portal_call("POST", f"/api/tasks/{task}/replies", "g3",
                                           {"text": "found him"})
        assert status == 404
        status, _ = await pair.portal_call("POST", f"/api/tasks/{task}/answer", "g1",
                                           {"accept": True})
        assert status == 200
        status, _ = await pair.portal_call("POST", f"/api/tasks/{task}/replies", "g1",
                                           {"text": "he is at the market", "lat": 43.8,
                                            "lon": 87.6})
        assert status == 201
        status, _ = await pair.portal_call("POST", f"/api/tasks/{task}/close", "g1",
                                           {"outcome": "found"})
        assert status == 200
        # The node polls the portal every 20 s: the reply arriving within `until`'s 10 s shows
        # the portal's news is pushed down the waiting exchange, not picked up by a poll.
        reply = await until(lambda: _event(events, "task.replied"))
        assert reply["text"] == "he is at the market" and reply["lat"] == 43.8
        await until(lambda: _event(events, "task.closed"))
        status, seen = await pair.node_call("GET", "/api/cases/C-1/activity", "o1")
        kinds = [e["kind"] for e in seen["activity"]]
        assert kinds == ["case.created", "task.sent", "task.answered", "task.replied",
                         "task.closed"], kinds
        # An officer not on the case sees no such case, and hears nothing of it.
        status, _ = await pair.node_call("GET", "/api/cases/C-1/activity", "o2")
        assert status == 404
        status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o2",
                                         {"step": "auction"})
        assert status == 404
        assert elsewhere == []
    finally:
        watcher.cancel()
        other.cancel()
        await asyncio.wait([watcher, other])


async def _roster(pair: Pair) -> bool:
    status, seen = await pair.node_call("GET", "/api/cases/C-1/activity", "c1")
    return status == 200 and seen["grid"] == {"g1": "north", "g2": "north", "g3": "south"}


async def _tasks(pair: Pair, who: str) -> list[dict[str, Any]]:
    status, body = await pair.portal_call("GET", "/api/tasks", who)
    assert status == 200, body
    return list(body["tasks"])


async def _event(events: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    return next((e for e in events if e["kind"] == kind), None)


async def redeem(pair: Pair, code: str, name: str) -> tuple[int, Any]:
    return await pair.portal_call("POST", "/api/redeem", None,
                                  {"code": code, "username": name,
                                   "password": "party-password-1"})


async def test_a_party_redeems_sends_a_clue_and_sees_the_published_step(pair: Pair) -> None:
    await new_case(pair)
    await new_case(pair, "C-2")
    status, invitation = await pair.node_call("POST", "/api/cases/C-1/invitations", "o1")
    assert status == 201, invitation
    assert len(invitation["qr"]) >= 21 and set("".join(invitation["qr"])) == {"0", "1"}
    code = invitation["code"]

    async def redeemed() -> Any:
        status, body = await redeem(pair, code, "creditor")
        return body if status == 201 else None

    party = await until(redeemed)
    pair.tokens["creditor"] = party["token"]
    # Used once: refused after.
    status, body = await redeem(pair, code, "someone")
    assert status == 410, body
    # A guess at another case's number (that exists) is a 404, as is a made-up one.
    for other in ("C-2", "C-3"):
        status, _ = await pair.portal_call("GET", f"/api/cases/{other}", "creditor")
        assert status == 404
    events: list[dict[str, Any]] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(officer_events(pair, "o1", events, ready))
    try:
        await ready.wait()
        await until(lambda: _event(events, "party.joined") if events else _joined(pair))
        status, clue = await pair.portal_call("POST", "/api/cases/C-1/clues", "creditor",
                                              {"text": "<b>he</b> drives a red car",
                                               "lat": 43.82, "lon": 87.61})
        assert status == 201 and clue["state"] == "received"
        got = await until(lambda: _event(events, "clue.received"))  # well within the poll
        assert got["text"] == "<b>he</b> drives a red car" and got["party"] == "creditor"
        status, _ = await pair.node_call("POST", f"/api/cases/C-1/clues/{got['ferry']}/read",
                                         "o1")
        assert status == 201
        status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o1",
                                         {"step": "property seized", "note": "a car"})
        assert status == 201
        status, _ = await pair.node_call("POST", "/api/cases/C-1/steps", "o1",
                                         {"step": "not a configured step"})
        assert status == 400

        async def published() -> Any:
            status, view = await pair.portal_call("GET", "/api/cases/C-1", "creditor")
            assert status == 200
            return view if view["steps"] and view["clues"][0]["state"] == "read" else None

        view = await until(published)
        assert [(s["step"], s["note"]) for s in view["steps"]] == [("property seized", "a car")]
        assert view["title"] == "Debt of 4,000"
        # A party sees nothing of tasks, other parties or materials.
        assert set(view) == {"case", "title", "steps", "messages", "clues"}
    finally:
        watcher.cancel()
        await asyncio.wait([watcher])


async def _joined(pair: Pair) -> bool:
    status, cases = await pair.node_call("GET", "/api/cases", "o1")
    return status == 200 and cases["cases"][0]["parties"] == ["creditor"]


async def test_invitations_are_rate_limited_and_wrong_codes_refused(pair: Pair) -> None:
    await new_case(pair)
    statuses = [(await pair.node_call("POST", "/api/cases/C-1/invitations", "o1"))[0]
                for _ in range(11)]
    assert statuses == [201] * 10 + [429]
    status, _ = await redeem(pair, "AAAAA-AAAAA", "guess1")
    assert status == 404
    for i in range(5):
        await redeem(pair, f"BBBBB-BBBB{i}", f"guess{i}")
    status, body = await redeem(pair, "CCCCC-CCCCC", "guess9")
    assert status == 429, body
