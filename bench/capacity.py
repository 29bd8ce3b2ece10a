"""Streams carried at full frame rate with no loss: 1 fieldrelay node against N nodes.

For each node count, this runs bench/relay_cpu.py (fieldrelay only, pre-encoded publishers,
viewers that count frames and lost packets from RTP without decoding) with 1, 2, 3, ...
publishers, each with V viewers on the publisher's node, until a run misses: a viewer
below --min-fps, or any packet lost. The last passing count is that configuration's capacity.
Publishers and viewers share the machine with the nodes, so on a small machine the load
generators limit the result too; the script prints the host's load with every step.

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.capacity'
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import REPO


def run_step(nodes: int, publishers: int, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """One relay_cpu.py run; its single result row."""
    cmd = [sys.executable, "-m", "bench.relay_cpu", "--systems", "fieldrelay",
           "--viewer-mode", args.viewer_mode, "--publisher-mode", args.publisher_mode,
           "--nodes", str(nodes),
           "--publishers", str(publishers),
           "--viewers", str(args.viewers), "--seconds", str(args.seconds),
           "--warmup", str(args.warmup), "--json", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, cwd=REPO)
    if res.returncode != 0:
        return {"error": res.stderr[-800:] or res.stdout[-800:]}
    rows = json.loads(out.read_text())
    return dict(rows[0])  # a JSON object written by relay_cpu.py


def search(passes: Callable[[int], bool | None], start: int, step: int, most: int) -> int:
    """The largest count that passes: up from `start` by `step` until a miss, then halving the
    gap between the last pass and the miss. A count below `start` is not tried (0 then)."""
    good, bad = 0, None
    count = start
    while count <= most:
        ok = passes(count)
        if ok is None:
            return good
        if not ok:
            bad = count
            break
        good, count = count, count + step
    while bad is not None and bad - good > 1 and good:
        middle = (good + bad) // 2
        ok = passes(middle)
        if ok is None:
            break
        good, bad = (middle, bad) if ok else (good, middle)
    return good


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2", help="node counts to compare")
    parser.add_argument("--max-publishers", type=int, default=8)
    parser.add_argument("--start", type=int, default=1,
                        help="publishers per node of the first step (the count for N nodes "
                             "starts at N times this)")
    parser.add_argument("--step", type=int, default=1,
                        help="publishers per node added per step; after a miss the gap to the "
                             "last pass is halved until it is one")
    parser.add_argument("--viewers", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--min-fps", type=float, default=29.0)
    parser.add_argument("--viewer-mode", choices=("count", "headers", "blast"), default="count",
                        help="a process per counting viewer, (headers) bench/loadgen.py: "
                             "a process per publisher's viewers, counting encrypted headers, or "
                             "(blast) bench/blast.py: one process for every viewer, its "
                             "sockets read by a thread off aiortc")
    parser.add_argument("--publisher-mode", choices=("aiortc", "blast"), default="aiortc",
                        help="a process per aiortc publisher, or (blast) bench/blast.py: one "
                             "process that sends every publisher's pre-encoded RTP itself")
    args = parser.parse_args()
    capacity: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        for nodes in [int(n) for n in args.nodes.split(",")]:

            def passes(publishers: int, nodes: int = nodes) -> bool | None:
                """Whether this many streams run at full frame rate with no loss (None: the
                run itself failed)."""
                row = run_step(nodes, publishers, args, Path(tmp) / f"{nodes}-{publishers}.json")
                if "error" in row:
                    print(f"nodes={nodes} publishers={publishers}: run failed: {row['error']}")
                    return None
                fps = [float(x) for x in row["viewer_fps"]]
                lost = int(row["lost_packets"] or 0)
                ok = min(fps) >= args.min_fps and lost == 0
                print(f"nodes={nodes} publishers={publishers} viewers={publishers * args.viewers}"
                      f" min fps {min(fps):.1f} lost {lost} node CPU-s/stream-s "
                      f"{row['cpu_per_stream_s']:.3f} generators CPU-s/stream-s "
                      f"{row.get('generator_cpu_per_stream_s', 0.0):.3f} host busy "
                      f"{100 * float(row['host_busy']):.0f}% load {row['load']} "
                      f"-> {'ok' if ok else 'MISS'}", flush=True)
                return ok

            capacity[nodes] = search(passes, args.start * nodes, args.step * nodes,
                                     args.max_publishers)
    print()
    print("| nodes | streams at full frame rate, no loss |")
    print("|---|---|")
    for nodes, count in capacity.items():
        print(f"| {nodes} | {count} |")
    if 1 in capacity and len(capacity) > 1 and capacity[1]:
        for nodes, count in capacity.items():
            if nodes != 1:
                print(f"{nodes} nodes / 1 node: {count / capacity[1]:.2f}x")
    print("command: unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
          + shlex.join(["-m", "bench.capacity", *sys.argv[1:]]) + "'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
