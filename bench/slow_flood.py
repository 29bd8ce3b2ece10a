"""A flood of slow clients against a node relaying a live stream, while an officer raises SOS
alerts: is every SOS answered, and how fast?

Starts `fieldrelay serve --ice-host 127.0.0.1` in a fresh data dir (node flags from
--node-arg), a live stream (aiortc publisher o1 → aiortc viewer c1) in another process, and a
commander console (c2's WebSocket). Then this process holds --connections slow connections
from --addresses loopback addresses (127.0.0.2, 127.0.0.3, ...), in three equal parts:

- half-sent headers: a request line and some headers, then one more header byte a second;
- trickled bodies: whole headers of a login with Content-Length 100, then one byte a second;
- idle keep-alives: one whole GET /healthz, then silence.

Whatever the node cuts off (or refuses) is opened again at once, so the count stays up.
After --ramp seconds, officer o2 raises --alerts SOS alerts (POST /api/alerts, each on a new
connection from 127.0.0.1, as a phone whose old connection was cut would) at --rate a second.

Measured (besides the node's CPU, the machine's load average and this process's own event
loop lag, which the latencies include): each SOS's latency (POST sent → 201 read) and
delivery (POST sent → the console's alert event), its status; the connections held by the
flood (sampled at each SOS); what the node answered the slow clients with (0 = cut without
an answer) and how long it let each kind live; the viewer's frame rate during the alerts.
Exit 1 when an SOS is not answered 201, when anything is answered 5xx, or when SOS p99 is
above --p99-ms.

It opens only loopback sockets and carries WebRTC media, so it runs only in a network
namespace whose only interface is lo:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.slow_flood'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import NodeProcess, cpu_seconds, free_port, only_loopback
from bench.slow_clients import CUT
from bench.stream_probe import StreamProbe, start_probe, stop_probe

USERS = (("o1", "officer"), ("o2", "officer"), ("c1", "commander"), ("c2", "commander"))
KINDS = ("headers", "body", "idle")
HEADS = {
    "headers": b"POST /api/login HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
               b"X-Slow: ",
    "body": b"POST /api/login HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{",
    "idle": b"GET /healthz HTTP/1.1\r\nHost: node\r\n\r\n",
}
TRICKLE_EVERY_S = 1.0


@dataclass
class Flood:
    """The slow connections' counters."""

    held: int = 0
    opened: int = 0
    connect_errors: int = 0
    answers: dict[str, dict[int, int]] = field(default_factory=lambda: {k: {} for k in KINDS})
    lifetimes: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})

    def answered(self, kind: str, code: int, lived: float) -> None:
        self.answers[kind][code] = self.answers[kind].get(code, 0) + 1
        self.lifetimes[kind].append(lived)


async def one_slow(kind: str, port: int, local: str, flood: Flood) -> None:
    """One slow connection of `kind`, from open to the node's answer or cut."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))
    except OSError:
        flood.connect_errors += 1
        await asyncio.sleep(0.5)
        return
    began = time.monotonic()
    flood.held += 1
    flood.opened += 1
    code: int | None = CUT
    try:
        writer.write(HEADS[kind])
        while True:
            try:
                line = await asyncio.wait_for(reader.readline(), TRICKLE_EVERY_S)
            except TimeoutError:
                if kind != "idle":
                    writer.write(b"a" if kind == "headers" else b" ")
                continue
            if not line:
                break
            if line.startswith(b"HTTP/1."):
                code = int(line.split(b" ")[1])
                if kind != "idle" or code != 200:
                    break
                # The idle one got its answer: from now on it is an idle keep-alive.
                await reader.readexactly(_content_length(await reader.readuntil(b"\r\n\r\n")))
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    except asyncio.CancelledError:
        code = None  # the run ended, not the node: not an answer
        raise
    finally:
        flood.held -= 1
        if code is not None:
            flood.answered(kind, code, time.monotonic() - began)
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _content_length(headers: bytes) -> int:
    for line in headers.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def keep_slow(kind: str, port: int, local: str, flood: Flood, stop: asyncio.Event) -> None:
    """Hold one slow connection of `kind` until `stop`, opening it again whenever cut."""
    while not stop.is_set():
        await one_slow(kind, port, local, flood)


async def console(base: str, token: str, seen: dict[str, float], ready: asyncio.Event) -> None:
    """c2's console: the time each alert event arrived."""
    async with aiohttp.ClientSession() as http, http.ws_connect(
            f"{base}/ws?token={token}") as ws:
        ready.set()
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            if event.get("type") == "alert":
                seen[event["alert"]["id"]] = time.monotonic()


async def raise_sos(base: str, token: str, key: str) -> tuple[int, float, str | None]:
    """(status, seconds, alert id) of one SOS on a new connection."""
    connector = aiohttp.TCPConnector(force_close=True)
    began = time.monotonic()
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            async with asyncio.timeout(10), http.post(
                    f"{base}/api/alerts", json={"kind": "sos", "lat": 43.8, "lon": 87.6},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key}
                    ) as resp:
                body = await resp.json(content_type=None)
                return resp.status, began, body.get("id") if resp.status < 300 else None
        except (TimeoutError, aiohttp.ClientError):
            return -1, began, None


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`, in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


async def watch_lag(lags: list[float], stop: asyncio.Event) -> None:
    """How late this process's event loop wakes from 10 ms sleeps: the generator's own lag,
    which a measured latency includes."""
    while not stop.is_set():
        began = time.monotonic()
        await asyncio.sleep(0.01)
        lags.append(time.monotonic() - began - 0.01)


async def run(args: argparse.Namespace, node: NodeProcess, probe: StreamProbe,
              officer: str, commander: str) -> dict[str, Any]:
    """The flood, the alerts and the measurements; returns the report."""
    flood, stop = Flood(), asyncio.Event()
    seen: dict[str, float] = {}
    ready = asyncio.Event()
    addresses = [f"127.0.0.{2 + i}" for i in range(args.addresses)]
    results: list[tuple[int, float, float, str | None]] = []
    samples: list[int] = []
    lags: list[float] = []
    assert node.proc is not None
    async with asyncio.TaskGroup() as tasks:
        console_task = tasks.create_task(console(node.url, commander, seen, ready))
        await ready.wait()
        holders = [tasks.create_task(keep_slow(KINDS[i % 3], node.port,
                                               addresses[i % len(addresses)], flood, stop))
                   for i in range(args.connections)]
        await asyncio.sleep(args.ramp)
        mark = await asyncio.to_thread(probe.read)
        window = asyncio.Event()
        tasks.create_task(watch_lag(lags, window))
        cpu, load = cpu_seconds(node.proc.pid), os.getloadavg()[0]
        began = time.monotonic()
        for i in range(args.alerts):
            await asyncio.sleep(max(0.0, began + i / args.rate - time.monotonic()))
            status, sent, alert_id = await raise_sos(node.url, officer, f"flood-{i:06d}")
            results.append((status, sent, time.monotonic(), alert_id))
            samples.append(flood.held)
        node_cpu = (cpu_seconds(node.proc.pid) - cpu) / (time.monotonic() - began)
        window.set()
        fps = await asyncio.to_thread(probe.fps_since, mark)
        await asyncio.sleep(1.0)  # the last alerts' events
        stop.set()
        for holder in holders:
            holder.cancel()
        console_task.cancel()
    figures = report(args, flood, results, samples, seen, fps)
    figures.update(node_cpu_pct=round(100 * node_cpu), load_before=load,
                   load_after=os.getloadavg()[0],
                   generator_lag_ms={"p99": pct(lags, 99), "max": pct(lags, 100)})
    return figures


def report(args: argparse.Namespace, flood: Flood,
           results: list[tuple[int, float, float, str | None]], samples: list[int],
           seen: dict[str, float], fps: float) -> dict[str, Any]:
    """The figures of one run."""
    statuses: dict[int, int] = {}
    for status, *_ in results:
        statuses[status] = statuses.get(status, 0) + 1
    answered = [(done - sent) for status, sent, done, _ in results if status == 201]
    delivered = [seen[a] - sent for status, sent, _, a in results if a and a in seen]
    return {
        "connections": args.connections, "addresses": args.addresses,
        "node_args": args.node_arg, "alerts": len(results), "sos_status": statuses,
        "sos_ms": {"p50": pct(answered, 50), "p99": pct(answered, 99),
                   "max": pct(answered, 100)} if answered else None,
        "delivered": len(delivered),
        "delivery_ms": {"p50": pct(delivered, 50), "p99": pct(delivered, 99),
                        "max": pct(delivered, 100)} if delivered else None,
        "held": {"min": min(samples), "median": statistics.median(samples),
                 "max": max(samples)} if samples else None,
        "slow_opened": flood.opened, "connect_errors": flood.connect_errors,
        "slow_answers": flood.answers,
        "slow_lifetime_s": {k: round(statistics.median(v), 1) if v else None
                            for k, v in flood.lifetimes.items()},
        "viewer_fps": round(fps, 1),
    }


def main() -> int:
    """Run the flood and print its figures; 1 when an SOS failed or was too slow."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--addresses", type=int, default=10,
                        help="loopback source addresses the flood comes from")
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--rate", type=float, default=5.0, help="SOS alerts a second")
    parser.add_argument("--ramp", type=float, default=10.0,
                        help="seconds of flood before the first SOS")
    parser.add_argument("--p99-ms", type=float, default=100.0)
    parser.add_argument("--node-arg", action="append", default=[],
                        help="a flag for the node's serve (repeatable), e.g. "
                             "--node-arg=--max-connections=500")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if not only_loopback():
        print("run inside `unshare -n` (see the docstring): this carries WebRTC media",
              file=sys.stderr)
        return 2
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory(prefix="fieldrelay-flood-") as tmp:
        node = NodeProcess(Path(tmp) / "data", free_port())
        for name, role in USERS:
            node.add_user(name, role)
        node.start("--alerts-per-minute", "100000", *args.node_arg)
        probe = start_probe(node, "o1", "c1")
        try:
            figures = asyncio.run(run(args, node, probe, node.login("o2"), node.login("c2")))
            figures["tracebacks"] = node.log().count("Traceback")
        finally:
            stop_probe(probe)
            node.stop()
    print(json.dumps(figures, indent=1))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    answers = [c for kind in figures["slow_answers"].values() for c in kind]
    ok = (figures["sos_status"] == {201: figures["alerts"]}
          and figures["sos_ms"] is not None and figures["sos_ms"]["p99"] <= args.p99_ms
          and not any(c >= 500 for c in answers) and not figures["tracebacks"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
