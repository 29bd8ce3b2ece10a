"""Clue → officer's phone and grid reply → command center, through the ferry, with 1,000
parties and 200 grid workers connected to the portal; and the portal's memory per connected
user.

A real `fieldrelay portal` and a real `fieldrelay serve --portal-url` in processes of their
own, on loopback. The bench holds the users' WebSockets open (each authenticated, as a page
does), then sends clues and replies one at a time and times each from the moment the party's
or grid worker's POST is sent to the moment the officer's (or commander's) node WebSocket
delivers the `case.event`. That path is: the portal stores and fsyncs the message, wakes the
node's waiting long poll, the node stores it, writes and signs the case chain entry, and
tells the consoles. Memory: the portal's RSS with the users logged in but not connected,
then with every WebSocket open.

    python -m bench.portal [--parties 1000] [--grid 200] [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import PASSWORD, NodeProcess, free_port, rss_mib
from bench.portalkit import SECRET, PortalProcess, call, login
from fieldrelay.users import UserStore
from portal.web_common import COMMUNITIES, PORTAL_ROLES

COST = 10  # scrypt 2^10 for the bench's 1,200 users: their logins are not what is measured


def make_users(data_dir: Path, parties: int, grid: int) -> None:
    """Write the portal's users directly (the CLI would take a process per user)."""
    store = UserStore(data_dir, COST, roles=PORTAL_ROLES)
    for i in range(grid):
        store.add(f"g{i}", "grid", PASSWORD)
    for i in range(parties):
        store.add(f"p{i}", "party", PASSWORD)
    (data_dir / COMMUNITIES).write_text(json.dumps(
        {f"g{i}": f"community-{i % 10}" for i in range(grid)}))


async def hold_socket(http: aiohttp.ClientSession, base: str, token: str,
                      ready: asyncio.Event, counter: list[int], total: int) -> None:
    async with http.ws_connect(f"{base}/ws", heartbeat=None) as ws:
        await ws.send_str(json.dumps({"type": "auth", "token": token}))
        msg = await ws.receive()
        assert json.loads(msg.data)["type"] == "hello"
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        async for _ in ws:
            pass


class Arrivals:
    """When each case.event reached a node console, by its text."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self._events: dict[str, asyncio.Event] = {}

    def _event(self, text: str) -> asyncio.Event:
        return self._events.setdefault(text, asyncio.Event())

    def seen(self, text: str) -> None:
        self.at.setdefault(text, time.monotonic())
        self._event(text).set()

    async def since(self, text: str, t0: float) -> float:
        """Milliseconds from t0 until `text` arrived (waiting for it, 10 s at most)."""
        await asyncio.wait_for(self._event(text).wait(), 10)
        return (self.at[text] - t0) * 1000


async def node_events(http: aiohttp.ClientSession, base: str, token: str,
                      arrivals: Arrivals, ready: asyncio.Event) -> None:
    """Record when each case.event reaches a node console, by its text."""
    async with http.ws_connect(f"{base}/ws?token={token}") as ws:
        ready.set()
        async for msg in ws:
            event = json.loads(msg.data)
            if event.get("type") == "case.event" and "text" in event["event"]:
                arrivals.seen(event["event"]["text"])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 1), "p99": round(pct(values, 0.99), 1),
            "max": round(max(values), 1), "n": len(values)}


class Flow:
    """One clue from the party, then one reply from the grid worker, timed to the consoles."""

    def __init__(self, http: aiohttp.ClientSession, portal: str, party: str, grid: str,
                 task: str, officer: Arrivals, command: Arrivals) -> None:
        self.http, self.portal, self.party, self.grid, self.task = (http, portal, party, grid,
                                                                    task)
        self.officer, self.command = officer, command

    async def measure(self, label: str, samples: int) -> dict[str, dict[str, float]]:
        clue_ms, reply_ms = [], []
        for i in range(samples):
            text, t0 = f"{label}-clue-{i}", time.monotonic()
            status, _ = await call(self.http, "POST", f"{self.portal}/api/cases/B-1/clues",
                                   self.party, {"text": text, "lat": 43.8, "lon": 87.6})
            assert status == 201
            clue_ms.append(await self.officer.since(text, t0))
            text, t0 = f"{label}-reply-{i}", time.monotonic()
            status, _ = await call(self.http, "POST",
                                   f"{self.portal}/api/tasks/{self.task}/replies", self.grid,
                                   {"text": text, "lat": 43.8, "lon": 87.6})
            assert status == 201
            reply_ms.append(await self.command.since(text, t0))
        return {"clue_to_officer_ms": summary(clue_ms),
                "reply_to_command_ms": summary(reply_ms)}


async def run(parties: int, grid: int, samples: int, work: Path) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    # The portal and node check passwords at the cost the users were made with (no upgrade).
    os.environ["FIELDRELAY_PASSWORD_COST"] = str(COST)
    portal = PortalProcess(work / "portal-data", free_port())
    portal.data_dir.mkdir(parents=True)
    make_users(portal.data_dir, parties, grid)
    portal.start()
    node = NodeProcess(work / "data", free_port())
    node.add_user("o1", "officer")
    node.add_user("c1", "commander")
    (work / "secret").write_text(SECRET)
    node.start("--portal-url", portal.url, "--portal-secret-file", str(work / "secret"))
    assert portal.proc is not None
    try:
        conn = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=conn) as http:
            o1, c1 = await login(http, node.url, "o1"), await login(http, node.url, "c1")
            status, _ = await call(http, "POST", f"{node.url}/api/cases", c1,
                                   {"number": "B-1", "title": "bench", "officers": ["o1"]})
            assert status == 201
            status, inv = await call(http, "POST", f"{node.url}/api/cases/B-1/invitations", o1)
            assert status == 201, inv
            await asyncio.sleep(0.5)
            status, party = await call(http, "POST", f"{portal.url}/api/redeem", None, {
                "code": inv["code"], "username": "creditor", "password": PASSWORD})
            assert status == 201, party
            sem = asyncio.Semaphore(8)

            async def token_of(name: str) -> str:
                async with sem:
                    return await login(http, portal.url, name)

            names = [f"p{i}" for i in range(parties)] + [f"g{i}" for i in range(grid)]
            tokens = await asyncio.gather(*(token_of(n) for n in names))
            officer_seen, command_seen = Arrivals(), Arrivals()
            o_ready, c_ready = asyncio.Event(), asyncio.Event()
            watchers = [
                asyncio.create_task(node_events(http, node.url, o1, officer_seen, o_ready)),
                asyncio.create_task(node_events(http, node.url, c1, command_seen, c_ready))]
            holders: list[asyncio.Task[None]] = []
            try:
                await o_ready.wait()
                await c_ready.wait()
                # The roster (the grid workers) crossed with the first exchanges.
                status, sent = await call(http, "POST", f"{node.url}/api/cases/B-1/tasks", o1,
                                          {"kind": "find_person", "person": "X", "to": ["g0"]})
                assert status == 201, sent
                g0 = tokens[parties]
                flow = Flow(http, portal.url, party["token"], g0, str(sent["task"]),
                            officer_seen, command_seen)
                # The same path with nobody else connected first, then with everyone.
                idle = await flow.measure("idle", samples // 4)
                rss_idle = rss_mib(portal.proc.pid)
                ready, counter = asyncio.Event(), [0]
                holders = [asyncio.create_task(hold_socket(http, portal.url, t, ready, counter,
                                                           len(tokens))) for t in tokens]
                await asyncio.wait_for(ready.wait(), 120)
                await asyncio.sleep(2)
                rss_loaded = rss_mib(portal.proc.pid)
                loaded = await flow.measure("loaded", samples)
            finally:
                for task in [*watchers, *holders]:
                    task.cancel()
                await asyncio.wait([*watchers, *holders])
        users = parties + grid
        return {
            "parties": parties, "grid": grid, "samples": samples,
            "nobody_else_connected": idle,
            "all_connected": loaded,
            "portal_rss_mib": {"logged_in_not_connected": round(rss_idle, 1),
                               "all_connected": round(rss_loaded, 1)},
            "portal_kib_per_connected_user": round((rss_loaded - rss_idle) * 1024 / users, 1),
        }
    finally:
        node.stop()
        portal.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parties", type=int, default=1000)
    parser.add_argument("--grid", type=int, default=200)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-portal-") as tmp:
        result = asyncio.run(run(args.parties, args.grid, args.samples, Path(tmp)))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
