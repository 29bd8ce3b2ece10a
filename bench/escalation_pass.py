"""What one escalation pass costs a node: the old scan of every open alert against the read of
the alerts that are due, on a real Redis with thousands of open alerts.

The alert fan-out benchmark (bench/alerts_latency.py) found the escalation scan behind its
tail: every second, every node read all open alerts (SMEMBERS + MGET) and parsed them on
its event loop. This script stores --open alerts (of which --raised still wait for an ack,
the rest acknowledged, as a busy command center leaves them), then times, in alternation,
--passes of each kind of pass on one RedisBus:

- scan: `open_alerts()` and the filter on state and age, as the timer did before;
- due: `due_alerts(now - after, 100)` and `next_due()`, as the timer does now.

For each it reports the wall time per pass (p50/p99) and the longest time the event loop was
blocked during the passes (a 1 ms ticker's largest lateness). It talks only to its own
redis-server on 127.0.0.1.

    .venv/bin/python -m bench.escalation_pass
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import free_port
from fieldrelay.alerts import apply, raise_alert
from signaling.redisbus import RedisBus

# Longer than the run: nothing falls due meanwhile, so every pass reads the same alerts.
AFTER_S = 3600.0


async def _loop_lag(stop: asyncio.Event, worst: list[float]) -> None:
    """Record how late a 1 ms ticker wakes: what the passes block the loop for."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.001)
        worst.append(time.perf_counter() - t - 0.001)


async def timed(passes: int, one: Callable[[], Awaitable[int]]) -> tuple[list[float], float, int]:
    stop = asyncio.Event()
    lags: list[float] = []
    ticker = asyncio.get_running_loop().create_task(_loop_lag(stop, lags))
    times = []
    found = 0
    try:
        for _ in range(passes):
            t0 = time.perf_counter()
            found = await one()
            times.append(time.perf_counter() - t0)
            await asyncio.sleep(0.01)
    finally:
        stop.set()
        await ticker
    return times, max(lags, default=0.0), found


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="escalation-pass-") as tmp:
        port = free_port()
        redis = await asyncio.create_subprocess_exec(
            "redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
            "--appendonly", "no", "--dir", tmp, stdout=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.sleep(0.5)
            bus = RedisBus(f"redis://127.0.0.1:{port}/0", "bench")
            await bus.start()
            try:
                now = time.time()
                for i in range(args.open):
                    # Raised within the last 20 s: none is due during the run.
                    alert = raise_alert(f"o{i % 100}", "bench", "sos", 43.8, 87.6, None,
                                        now=now - 20 * i / args.open)
                    stored, _ = await bus.store_alert(alert, f"k{i}")
                    if i >= args.raised:
                        await bus.update_alert(stored["id"], lambda a: apply(a, "ack", "c1"))

                async def scan() -> int:
                    t = time.time()
                    waiting = [a for a in await bus.open_alerts() if a["state"] == "raised"]
                    return sum(1 for a in waiting if t - a["raised_at"] >= AFTER_S)

                async def due() -> int:
                    found = len(await bus.due_alerts(time.time() - AFTER_S, 100))
                    await bus.next_due()
                    return found

                rows = []
                for rep in range(args.rounds):
                    for name, one in (("scan (before)", scan), ("due time (now)", due)):
                        times, lag, found = await timed(args.passes, one)
                        rows.append((rep + 1, name, times, lag, found))
            finally:
                await bus.aclose()
        finally:
            redis.terminate()
            with contextlib.suppress(ProcessLookupError):
                await redis.wait()
    print("| round | pass | ms per pass p50 / p99 | event loop blocked, longest (ms) | due |")
    print("|---|---|---|---|---|")
    for rep, name, times, lag, found in rows:
        print(f"| {rep} | {name} | {1000 * statistics.median(times):.2f} / "
              f"{1000 * pct(times, 0.99):.2f} | {1000 * lag:.1f} | {found} |")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])  # noqa: ASYNC240 - procfs
    print(f"\n{args.open} open alerts, {args.raised} of them still raised; {args.passes} passes "
          f"each, alternating; load average {load}")
    print("command: .venv/bin/python -m bench.escalation_pass " + " ".join(sys.argv[1:]))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--open", type=int, default=3000, help="open alerts (1..20000)")
    p.add_argument("--raised", type=int, default=1500, help="of those, still raised")
    p.add_argument("--passes", type=int, default=30)
    p.add_argument("--rounds", type=int, default=2)
    a = p.parse_args()
    if not 1 <= a.open <= 20000 or not 0 <= a.raised <= a.open or not 1 <= a.passes <= 1000:
        p.error("--open 1..20000, --raised 0..open, --passes 1..1000")
    if not 1 <= a.rounds <= 10:
        p.error("--rounds 1..10")
    return asyncio.run(run(a))


if __name__ == "__main__":
    sys.exit(main())
