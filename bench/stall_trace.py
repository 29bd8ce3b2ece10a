"""`fieldrelay` with two probes in front, for `bench.alerts_latency --trace-stalls`.

    python -m bench.stall_trace serve [fieldrelay serve flags]

runs the node as `python -m fieldrelay` would and prints to stderr every event-loop callback
that runs STALL_MS or more (what it was) and every garbage collection of GC_PAUSE_MS or more.
Each line carries its end time on CLOCK_MONOTONIC, so it can be set beside the load
generator's own clock:

    GCTRACE <monotonic> <generation> <ms>
    STALL <monotonic> <ms> <callback>

With ALERTS_BENCH_GC_TYPES set, a generation-2 collection also prints what it freed, counted
by type (GCTYPES). That is for diagnosis only: counting every object stalls the node too.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import runpy
import sys
import time
from typing import Any

GC_PAUSE_MS = 5.0
STALL_MS = 10.0
COUNT_TYPES = bool(os.environ.get("ALERTS_BENCH_GC_TYPES"))

Census = tuple[int, list[tuple[str, int]], str, list[tuple[str, int]]]


def census() -> Census:
    """How many objects the collector tracks, the commonest types, and the largest containers'
    total entries by type."""
    objects = gc.get_objects()
    kinds = collections.Counter(type(o).__name__ for o in objects)
    sizes: collections.Counter[str] = collections.Counter()
    for o in objects:
        if isinstance(o, dict | list | set | collections.deque):
            sizes[type(o).__name__] += len(o)
    return sum(kinds.values()), kinds.most_common(6), "entries", sizes.most_common(5)


class GcProbe:
    """A `gc.callbacks` entry that times each collection (and, if asked, counts its objects)."""

    def __init__(self, count_types: bool) -> None:
        self.count_types = count_types
        self.started = 0.0
        self.before: Census | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.before = (census() if self.count_types and info["generation"] == 2
                           else None)
            self.started = time.perf_counter()
            return
        ms = 1000 * (time.perf_counter() - self.started)
        if ms >= GC_PAUSE_MS:
            print(f"GCTRACE {time.monotonic():.4f} {info['generation']} {ms:.1f}",
                  file=sys.stderr, flush=True)
            if self.before is not None:
                print("GCTYPES collected", info["collected"], "before", self.before, "after",
                      census(), file=sys.stderr, flush=True)
        self.before = None


def install_stall_probe() -> None:
    """Time every event-loop callback: asyncio runs each one through `Handle._run`."""
    run = asyncio.events.Handle._run

    def timed_run(self: asyncio.events.Handle) -> None:
        t = time.perf_counter()
        run(self)
        ms = 1000 * (time.perf_counter() - t)
        if ms >= STALL_MS:
            cb = self._callback  # type: ignore[attr-defined]  # private, not in typeshed
            owner = getattr(cb, "__self__", None)
            # A task's step names the task (its coroutine), which says more than the method.
            what = repr(owner if isinstance(owner, asyncio.Future) else cb)
            print(f"STALL {time.monotonic():.4f} {ms:.1f} {what[:300]}", file=sys.stderr,
                  flush=True)

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]


def main() -> None:
    """Install both probes, then run `fieldrelay` with this process's arguments."""
    gc.callbacks.append(GcProbe(COUNT_TYPES))
    install_stall_probe()
    sys.argv = ["fieldrelay", *sys.argv[1:]]
    runpy.run_module("fieldrelay", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
