"""Soak: a node under a changing load for a long time, and whether it gives back what it took.

Starts `fieldrelay serve --ice-host 127.0.0.1 --reconnect-grace 5` in a fresh data dir and
measures it idle (baseline). Then, for --minutes:
  - --officers aiortc publishers (160x120 test pattern) go live, stay 15-45 s, raise an alert
    now and then, and leave: DELETE mostly, sometimes a dropped connection (grace, then seal);
  - --viewers commanders watch a live officer over WHEP for 10-30 s, stop, and pick again;
  - --consoles commander WebSockets stay 10-40 s, reconnect with resume, and acknowledge and
    resolve every alert they see.
Every --every seconds it reads /metrics: RSS, open fds, asyncio tasks, WebSockets, streams.
After the load, every client leaves and the node settles for --settle seconds; then task
and fd counts should be back at the idle baseline, and RSS should have grown at most 10%
from the end of the warm-up (--warmup, a fifth of the run by default) to the end.

It carries WebRTC media, so it only runs in a network namespace that has loopback only:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.soak --minutes 30'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import NodeProcess, free_port, only_loopback
from bench.media import PatternVideoTrack, local_pc, publish, view
from relay import aiortc_hooks


@dataclass
class Sample:
    """One reading of the node."""

    t: float
    phase: str
    rss_mb: float
    fds: int
    tasks: int
    ws: int
    live: int
    viewers: int


@dataclass
class Activity:
    """What the load did, counted."""

    publishes: int = 0
    deletes: int = 0
    drops: int = 0
    views: int = 0
    consoles: int = 0
    resumes: int = 0
    alerts: int = 0
    acks: int = 0
    errors: list[str] = field(default_factory=list)


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text → {name: value} for unlabelled samples."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, _, value = line.partition(" ")
            out[name] = float(value)
    return out


class Soak:
    """The load and the readings, against one node."""

    def __init__(self, node: NodeProcess, args: argparse.Namespace) -> None:
        self.node, self.args = node, args
        self.base = node.url
        self.activity = Activity()
        self.samples: list[Sample] = []
        self.stop = asyncio.Event()
        self.rng = random.Random(args.seed)
        self.tokens: dict[str, str] = {}

    def auth(self, user: str, content_type: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    async def sample(self, http: aiohttp.ClientSession, phase: str) -> Sample:
        async with http.get(f"{self.base}/metrics") as resp:
            m = parse_metrics(await resp.text())
        s = Sample(time.monotonic(), phase, m["process_resident_memory_bytes"] / 2**20,
                   int(m["process_open_fds"]), int(m["fieldrelay_asyncio_tasks"]),
                   int(m["fieldrelay_ws_clients"]), int(m.get("fieldrelay_publishers_live", 0)),
                   int(m.get("fieldrelay_viewers", 0)))
        self.samples.append(s)
        return s

    async def pause(self, low: float, high: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), self.rng.uniform(low, high))

    async def officer(self, http: aiohttp.ClientSession, name: str) -> None:
        while not self.stop.is_set():
            pc = local_pc()
            pc.addTransceiver(PatternVideoTrack(160, 120), direction="sendonly")
            try:
                pub = await publish(http, self.base, self.tokens[name], video=False,
                                    audio=False, pc=pc)
            except AssertionError as exc:  # refused: note it, wait, try again
                self.activity.errors.append(f"publish {name}: {exc}")
                await pc.close()
                await self.pause(2, 5)
                continue
            self.activity.publishes += 1
            try:
                await self.pause(5, 20)
                if not self.stop.is_set() and self.rng.random() < 0.5:
                    await self.raise_alert(http, name)
                await self.pause(10, 25)
            finally:
                if self.rng.random() < 0.8 or self.stop.is_set():
                    async with http.delete(self.base + pub.location, headers=self.auth(name)):
                        self.activity.deletes += 1
                else:
                    self.activity.drops += 1  # no DELETE: the node holds it for the grace
                await pc.close()
            await self.pause(3, 10)

    async def raise_alert(self, http: aiohttp.ClientSession, name: str) -> None:
        key = f"soak-{name}-{self.rng.getrandbits(48):012x}"
        headers = {**self.auth(name, "application/json"), "Idempotency-Key": key}
        async with http.post(f"{self.base}/api/alerts", json={"kind": "sos", "lat": 52.5,
                                                             "lon": 13.4}, headers=headers) as r:
            if r.status in (200, 201):
                self.activity.alerts += 1
            else:
                self.activity.errors.append(f"alert {name}: {r.status}")

    async def viewer(self, http: aiohttp.ClientSession, name: str) -> None:
        while not self.stop.is_set():
            async with http.get(f"{self.base}/api/officers", headers=self.auth(name)) as r:
                live = [o["name"] for o in (await r.json())["officers"] if o["live"]]
            if not live:
                await self.pause(1, 3)
                continue
            try:
                client = await view(http, self.base, self.tokens[name], self.rng.choice(live),
                                    kinds=("video",))
            except AssertionError:
                await self.pause(1, 3)  # the officer left in between
                continue
            self.activity.views += 1
            try:
                await self.pause(10, 30)
            finally:
                async with http.delete(self.base + client.location, headers=self.auth(name)):
                    pass
                await client.close()

    async def console(self, http: aiohttp.ClientSession, name: str) -> None:
        last: str | None = None
        while not self.stop.is_set():
            async with http.ws_connect(f"{self.base}/ws?token={self.tokens[name]}") as ws:
                self.activity.consoles += 1
                if last is not None:
                    await ws.send_json({"type": "resume", "after": last})
                    self.activity.resumes += 1
                until = time.monotonic() + self.rng.uniform(10, 40)
                while time.monotonic() < until and not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        msg = await ws.receive(timeout=1.0)
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            break
                        event = json.loads(msg.data)
                        if event.get("type") == "alert":
                            alert = event["alert"]
                            last = alert["id"]
                            if alert["state"] in ("raised", "escalated"):
                                await self.act(http, name, alert["id"])
            await self.pause(1, 3)

    async def act(self, http: aiohttp.ClientSession, name: str, alert_id: str) -> None:
        for action in ("ack", "resolve"):
            async with http.post(f"{self.base}/api/alerts/{alert_id}/{action}",
                                 headers=self.auth(name)) as r:
                if r.status == 200 and action == "ack":
                    self.activity.acks += 1
                elif r.status not in (200, 409):
                    self.activity.errors.append(f"{action} {alert_id}: {r.status}")

    async def run(self) -> None:
        # Readings use their own connection each time (no keep-alive), so the idle and the
        # settled readings count the same one connection of their own, and nothing else.
        async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True)) as meter:
            for _ in range(3):
                await asyncio.sleep(2)
                await self.sample(meter, "idle")
            await self.load(meter)
            await asyncio.sleep(self.args.settle)
            for _ in range(3):
                await self.sample(meter, "settled")
                await asyncio.sleep(2)

    async def load(self, meter: aiohttp.ClientSession) -> None:
        """Run the load for --minutes with its own client session, closed at the end."""
        args = self.args
        async with aiohttp.ClientSession() as http:
            officers = [f"o{i + 1}" for i in range(args.officers)]
            commanders = [f"c{i + 1}" for i in range(max(args.viewers, args.consoles))]
            for name in officers + commanders:
                self.tokens[name] = self.node.login(name)
            loops = [*(self.officer(http, n) for n in officers),
                     *(self.viewer(http, commanders[i]) for i in range(args.viewers)),
                     *(self.console(http, commanders[i]) for i in range(args.consoles))]
            tasks = [asyncio.create_task(loop) for loop in loops]
            started = time.monotonic()
            end = started + args.minutes * 60
            warmup_end = started + (args.warmup if args.warmup is not None
                                    else args.minutes * 12)
            try:
                while time.monotonic() < end:
                    await asyncio.sleep(args.every)
                    failed = [t for t in tasks if t.done() and t.exception() is not None]
                    if failed:
                        raise RuntimeError("a load loop failed") from failed[0].exception()
                    phase = "warmup" if time.monotonic() < warmup_end else "load"
                    s = await self.sample(meter, phase)
                    print(f"{s.t - started:7.0f} s {phase:<6} rss {s.rss_mb:6.1f} MB  fds "
                          f"{s.fds:4d}  tasks {s.tasks:4d}  ws {s.ws:3d}  live {s.live}  "
                          f"viewers {s.viewers}", flush=True)
            finally:
                self.stop.set()
                await asyncio.wait(tasks, timeout=60)
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def report(self) -> dict[str, Any]:
        idle = [s for s in self.samples if s.phase == "idle"]
        warm = [s for s in self.samples if s.phase == "warmup"]
        load = [s for s in self.samples if s.phase == "load"]
        settled = [s for s in self.samples if s.phase == "settled"]
        base_rss = (warm or load)[-1].rss_mb if not load or not warm else warm[-1].rss_mb
        end_rss = (load or warm)[-1].rss_mb
        growth = (end_rss - base_rss) / base_rss * 100
        out = {
            "minutes": self.args.minutes,
            "rss_mb": {"idle": idle[-1].rss_mb, "end_of_warmup": base_rss,
                       "end_of_load": end_rss, "max": max(s.rss_mb for s in self.samples),
                       "growth_after_warmup_pct": round(growth, 1),
                       "settled": settled[-1].rss_mb},
            "tasks": {"idle": idle[-1].tasks, "max": max(s.tasks for s in self.samples),
                      "settled": settled[-1].tasks},
            "fds": {"idle": idle[-1].fds, "max": max(s.fds for s in self.samples),
                    "settled": settled[-1].fds},
            "ws_settled": settled[-1].ws, "live_settled": settled[-1].live,
            "activity": {k: v for k, v in asdict(self.activity).items() if k != "errors"},
            "errors": self.activity.errors[:20],
            "error_count": len(self.activity.errors),
        }
        out["ok"] = (growth <= 10 and out["tasks"]["settled"] <= out["tasks"]["idle"]
                     and out["fds"]["settled"] <= out["fds"]["idle"])
        return out


def main() -> int:
    """Run the soak and print the verdict; 1 when the node did not give back what it took."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds of warm-up (default: a fifth of the run)")
    parser.add_argument("--officers", type=int, default=3)
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--consoles", type=int, default=4)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between readings")
    parser.add_argument("--settle", type=float, default=15.0,
                        help="seconds after the load before the final reading")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(2**31)
    if not only_loopback():
        print("run inside `unshare -n` (see the docstring): this carries WebRTC media",
              file=sys.stderr)
        return 2
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    print(f"soak: {args.minutes} min, seed {args.seed}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fieldrelay-soak-") as tmp:
        node = NodeProcess(Path(tmp) / "data", free_port())
        for i in range(args.officers):
            node.add_user(f"o{i + 1}", "officer")
        for i in range(max(args.viewers, args.consoles)):
            node.add_user(f"c{i + 1}", "commander")
        node.start("--reconnect-grace", "5", "--escalate-after", "3600")
        try:
            soak = Soak(node, args)
            asyncio.run(soak.run())
            report = soak.report()
        finally:
            code = node.stop()
        report["node_exit"] = code
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"report": report,
                                         "samples": [asdict(s) for s in soak.samples]},
                                        indent=1))
    return 0 if report["ok"] and code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
