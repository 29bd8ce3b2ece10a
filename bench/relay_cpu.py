"""Node CPU per relayed stream: fieldrelay against the naive aiortc relay, in one run.

For each system this starts the node, N publishers and V viewers per publisher, each
in its own process (so their encode and decode cost is not on the node). A publisher
sends 640x480@30 VP8 (a moving pattern with noise, encoder pinned at --video-kbps)
and a 440 Hz Opus tone over WHIP; a viewer pulls it over WHEP, decodes and counts
frames. After a warm-up the node's CPU time (utime+stime from /proc/<pid>/stat) is
measured over a window, together with the frames each viewer decoded.

It carries WebRTC media, so it only runs in a network namespace that has loopback only:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.relay_cpu'

Options: --publishers N (default 1), --viewers V per publisher (3), --seconds (30).
The publisher and viewer processes are bench/clients.py; the nodes are started by bench/nodes.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiortc

from bench.clients import LOOP_SECONDS, preencode
from bench.common import cpu_seconds, host_busy, make_dir, only_loopback, rss_mib
from bench.nodes import (
    SETUP_TIMEOUT,
    Client,
    FieldRelay,
    FieldRelayNodes,
    FieldRelayUvloop,
    Naive,
    System,
    await_ready,
    start_client,
)

MAX_PUBLISHERS, MAX_VIEWERS, MAX_SECONDS = 96, 10, 300


@dataclass
class Result:
    system: str
    publishers: int
    viewers: int
    window_s: float
    node_cpu_s: float
    viewer_fps: list[float]
    publisher_fps: list[float]
    video_kbps: list[float]
    viewer_kbps: list[float]
    viewer_frames: int
    rss_mib: float
    host_busy: float
    notes: list[str] = field(default_factory=list)
    idle_rss_mib: float = 0.0
    latency_ms: tuple[float, float] | None = None  # in-node p50, p99
    lost_packets: int | None = None
    first_frame_ms: list[float] = field(default_factory=list)
    load: str = ""
    nodes: int = 1
    generator_cpu_s: float = 0.0  # the publisher and viewer processes over the window
    generators: str = ""  # publisher mode / viewer mode
    publisher_cpu_s: float = 0.0  # the publisher processes' part of generator_cpu_s

    @property
    def generator_cpu_per_stream_s(self) -> float:
        return self.generator_cpu_s / (self.window_s * self.publishers)

    @property
    def mib_per_stream(self) -> float:
        return (self.rss_mib - self.idle_rss_mib) / self.publishers

    @property
    def cpu_per_stream_s(self) -> float:
        return self.node_cpu_s / (self.window_s * self.publishers)

    @property
    def cpu_ms_per_frame(self) -> float:
        """Node CPU per video frame a viewer decoded: fair when an overloaded node drops frames."""
        return 1000 * self.node_cpu_s / max(1, self.viewer_frames)


async def measure(system: System, args: argparse.Namespace) -> Result:
    publishers: list[Client] = []
    viewers: list[Client] = []
    try:
        await system.start(args.publishers)
        pids = system.pids()
        await asyncio.sleep(1.0)
        idle_rss = sum(rss_mib(p) for p in pids)
        pub_args = (["--media", str(args.media)] if args.media
                    else ["--video-kbps", str(args.video_kbps)])
        if args.publisher_mode == "blast":
            # One process sends every publisher's media (bench/blast.py).
            (url, token), *more = [system.whip(i) for i in range(args.publishers)]
            publishers.append(await start_client(
                system, "publishers", 0, url, token,
                [*pub_args, "--phases", str(args.phases),
                 *[x for u, t in more for x in ("--target", u, t)]],
                module=args.blast_module))
        else:
            for i in range(args.publishers):
                url, token = system.whip(i)
                publishers.append(await start_client(system, "publisher", i, url, token,
                                                     pub_args))
        await await_ready(publishers)
        view_args = ["--count-only"] if args.viewer_mode == "count" else []
        if args.viewer_mode == "blast":
            # One process holds every viewer (bench/blast.py).
            (url, token), *more = [system.whep(i) for i in range(args.publishers)]
            viewers.append(await start_client(
                system, "viewers", 0, url, token,
                ["--count", str(args.viewers),
                 *[x for u, t in more for x in ("--target", u, t)]], module=args.blast_module))
        for i in range(args.publishers if args.viewer_mode != "blast" else 0):
            if args.viewer_mode == "headers":
                # One process holds all of this publisher's viewers (bench/loadgen.py).
                url, token = system.whep(i)
                viewers.append(await start_client(system, "viewers", i, url, token,
                                                  ["--count", str(args.viewers)],
                                                  module="bench.loadgen"))
                continue
            for j in range(args.viewers):
                url, token = system.whep(i)
                viewers.append(await start_client(system, "viewer", i * args.viewers + j,
                                                  url, token, view_args))
        await await_ready(viewers)
        print(f"[{system.name}] {len(publishers)} publishers, {len(viewers)} viewers up; "
              f"warm-up {args.warmup:g} s, window {args.seconds:g} s", file=sys.stderr, flush=True)
        await asyncio.sleep(args.warmup)

        spies = []
        if args.profile:
            # py-spy (pip install py-spy) samples the node for the window: collapsed stacks.
            for p in pids:
                out = make_dir(Path(args.profile)) / f"{system.name}-{p}.collapsed"
                spies.append(await asyncio.create_subprocess_exec(
                    "py-spy", "record", "--pid", str(p), "--duration", str(int(args.seconds)),
                    "--rate", "100", "--nonblocking", "--format", "raw", "-o", str(out),
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
        lat0 = await asyncio.to_thread(system.latency_buckets)
        generators = [c.proc.pid for c in publishers + viewers]
        senders = [c.proc.pid for c in publishers]
        t0, cpu0, host0 = time.monotonic(), sum(cpu_seconds(p) for p in pids), host_busy()
        gen0 = sum(cpu_seconds(p) for p in generators)
        send0 = sum(cpu_seconds(p) for p in senders)
        v0 = await viewer_stats(viewers)
        p0 = await viewer_stats(publishers, "publishers")
        await asyncio.sleep(args.seconds)
        t1, cpu1, host1 = time.monotonic(), sum(cpu_seconds(p) for p in pids), host_busy()
        gen1 = sum(cpu_seconds(p) for p in generators)
        send1 = sum(cpu_seconds(p) for p in senders)
        v1 = await viewer_stats(viewers)
        p1 = await viewer_stats(publishers, "publishers")
        rss = sum(rss_mib(p) for p in pids)
        lat1 = await asyncio.to_thread(system.latency_buckets)
        for spy in spies:
            await asyncio.wait_for(spy.wait(), 60)
        load = open("/proc/loadavg").read().split()[:3]  # noqa: ASYNC230, SIM115 - procfs
        first_frames: list[float] = []
        if args.first_frame and isinstance(system, FieldRelay):
            url, token = system.whep(0)
            joiner = await start_client(system, "joiner", 0, url, token,
                                        ["--count", str(args.first_frame)])
            msg = await joiner.read_json(SETUP_TIMEOUT + 20 * args.first_frame)
            first_frames = [float(x) for x in msg["ms"]]
            await joiner.stop()

        def rate(a: dict[str, Any], b: dict[str, Any], key: str) -> float:
            return float(b[key] - a[key]) / float(b["t"] - a["t"])

        notes = []
        sizes = {tuple(s) for v in v1 for s in v["sizes"]}
        if sizes != {(640, 480)}:
            notes.append(f"viewer frame sizes {sorted(sizes)}")
        if any(v["audio"] == 0 for v in v1):
            notes.append("a viewer decoded no audio")
        return Result(
            system=system.name, publishers=args.publishers, viewers=args.viewers,
            window_s=t1 - t0, node_cpu_s=cpu1 - cpu0,
            viewer_fps=[rate(a, b, "frames") for a, b in zip(v0, v1, strict=True)],
            publisher_fps=[rate(a, b, "frames") for a, b in zip(p0, p1, strict=True)],
            video_kbps=[rate(a, b, "video_bytes") * 8 / 1000 for a, b in zip(p0, p1, strict=True)],
            viewer_kbps=[rate(a, b, "bytes") * 8 / 1000 for a, b in zip(v0, v1, strict=True)],
            viewer_frames=sum(b["frames"] - a["frames"] for a, b in zip(v0, v1, strict=True)),
            rss_mib=rss, host_busy=(host1[0] - host0[0]) / max(1, host1[1] - host0[1]),
            notes=notes, idle_rss_mib=idle_rss,
            latency_ms=percentiles_ms(lat0, lat1) if lat0 and lat1 else None,
            lost_packets=(sum(b["lost"] - a["lost"] for a, b in zip(v0, v1, strict=True))
                          if args.viewer_mode in ("count", "headers", "blast") else None),
            generator_cpu_s=gen1 - gen0, publisher_cpu_s=send1 - send0,
            generators=f"{args.publisher_mode}/{args.viewer_mode}" + (
                f" ({args.blast_module})" if args.blast_module != "bench.blast" else ""),
            first_frame_ms=first_frames, load=" ".join(load), nodes=args.nodes)
    finally:
        for client in viewers + publishers:
            await client.stop()
        await system.stop()


async def viewer_stats(viewers: list[Client], key: str = "viewers") -> list[dict[str, Any]]:
    """One dict of counters per viewer, or per publisher with key="publishers" (a
    bench/loadgen.py or bench/blast.py process reports several)."""
    out: list[dict[str, Any]] = []
    for client in viewers:
        stats = await client.stats()
        if key in stats:
            out += [{"t": stats["t"], **v} for v in stats[key]]
        else:
            out.append(stats)
    return out


def percentiles_ms(before: list[tuple[float, float]], after: list[tuple[float, float]]
                   ) -> tuple[float, float]:
    """p50 and p99 (ms) of the window from two cumulative histograms, interpolated in buckets."""
    counts = [(bound, a - b) for (bound, a), (_, b) in zip(after, before, strict=True)]
    total = counts[-1][1] if counts else 0.0

    def pct(q: float) -> float:
        if total <= 0:
            return float("nan")
        target, low, prev = q * total, 0.0, 0.0
        for bound, cum in counts:
            if cum >= target:
                if bound == float("inf"):
                    return low * 1000
                frac = (target - prev) / max(cum - prev, 1e-9)
                return (low + frac * (bound - low)) * 1000
            low, prev = bound, cum
        return low * 1000

    return pct(0.50), pct(0.99)


def extra_table(results: list[Result]) -> str:
    """Latency, memory per stream, loss and first frame: the capacity figures."""
    rows = ["| system | nodes | publishers | in-node added latency p50 / p99 (ms) | "
            "node RSS idle → loaded (MiB) | MiB per stream | lost packets (viewers) | "
            "first frame p50 / p99 (ms, n) | load generators (publishers/viewers) | "
            "load generators' CPU-s per stream-s (publishers + viewers) | "
            "load average (1/5/15 min) |",
            "|" + "---|" * 11]
    for r in results:
        per_stream = 1 / (r.window_s * r.publishers)
        lat = (f"{r.latency_ms[0]:.2f} / {r.latency_ms[1]:.2f}" if r.latency_ms
               else "n/a (transcodes)")
        ff = "-"
        if r.first_frame_ms:
            xs = sorted(r.first_frame_ms)
            p99 = xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]
            ff = f"{xs[len(xs) // 2]:.0f} / {p99:.0f} ({len(xs)})"
        lost = "-" if r.lost_packets is None else str(r.lost_packets)
        rows.append(f"| {r.system} | {r.nodes} | {r.publishers} | {lat} | {r.idle_rss_mib:.0f} → "
                    f"{r.rss_mib:.0f} | {r.mib_per_stream:.1f} | {lost} | {ff} | "
                    f"{r.generators} | {r.generator_cpu_per_stream_s:.4f} "
                    f"({per_stream * r.publisher_cpu_s:.4f} + "
                    f"{per_stream * (r.generator_cpu_s - r.publisher_cpu_s):.4f}) | {r.load} |")
    return "\n".join(rows)


def table(results: list[Result]) -> str:
    head = ("| system | publishers | viewers/publisher | node CPU-s per stream-s | "
            "node CPU ms per delivered frame | "
            "viewer fps mean (min) | publisher fps | publisher video kbps | viewer rx kbps | "
            "node RSS MiB | host CPU busy |")
    rows = [head, "|" + "---|" * 11]
    for r in results:
        rows.append(
            f"| {r.system} | {r.publishers} | {r.viewers} | {r.cpu_per_stream_s:.3f} | "
            f"{r.cpu_ms_per_frame:.2f} | "
            f"{statistics.mean(r.viewer_fps):.1f} ({min(r.viewer_fps):.1f}) | "
            f"{statistics.mean(r.publisher_fps):.1f} | {statistics.mean(r.video_kbps):.0f} | "
            f"{statistics.mean(r.viewer_kbps):.0f} | "
            f"{r.rss_mib:.0f} | {100 * r.host_busy:.0f}% |")
    by = {r.system: r for r in results}
    if "naive" in by and "fieldrelay" in by:
        n, f = by["naive"], by["fieldrelay"]
        rows.append("")
        rows.append(f"ratio naive/fieldrelay: CPU per stream-s "
                    f"{n.cpu_per_stream_s / f.cpu_per_stream_s:.1f}x, CPU per delivered frame "
                    f"{n.cpu_ms_per_frame / f.cpu_ms_per_frame:.1f}x, "
                    f"RSS {n.rss_mib / f.rss_mib:.1f}x")
    for r in results:
        for note in r.notes:
            rows.append(f"note ({r.system}): {note}")
    return "\n".join(rows)


def _nth(modes: str, n: int) -> str:
    """The n-th of a comma-separated list of modes, one per system run (one: for every run)."""
    listed = modes.split(",")
    return listed[n] if len(listed) > 1 else listed[0]


async def orchestrate(args: argparse.Namespace) -> int:
    systems: dict[str, type[System]] = {"fieldrelay": FieldRelay, "naive": Naive,
                                        "fieldrelay-uvloop": FieldRelayUvloop}
    results = []
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = make_dir(Path(args.workdir))
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="relay-cpu-")))
        args.media = None
        if args.source == "preencoded":
            args.media = workdir / "media.bin"
            print(f"pre-encoding {LOOP_SECONDS} s of VP8 at {args.video_kbps} kbps and Opus…",
                  file=sys.stderr, flush=True)
            await asyncio.to_thread(preencode, args.media, args.video_kbps)
        for n, name in enumerate(args.systems.split(",")):
            # A system named twice (alternation) gets a folder (and users) of its own each time.
            folder = workdir / (name if n == args.systems.split(",").index(name)
                                else f"{name}-{n + 1}")
            if name == "fieldrelay" and args.nodes > 1:
                system: System = FieldRelayNodes(folder, args.python, args.nodes)
            else:
                system = systems[name](folder, args.python)
            if isinstance(system, FieldRelay):
                system.node_args = list(args.node_arg or [])
                if args.node_cwd:
                    system.cwd = Path(args.node_cwd)
                    for node in getattr(system, "nodes", []):
                        node.cwd = system.cwd
            if isinstance(system, Naive):
                system.record = args.naive_record
            make_dir(system.workdir)
            budget = args.warmup + args.seconds + 300  # set-up and tear-down are bounded too
            run = argparse.Namespace(**vars(args))
            run.publisher_mode = _nth(args.publisher_mode, n)
            run.viewer_mode = _nth(args.viewer_mode, n)
            run.blast_module = _nth(args.blast_module, n)
            results.append(await asyncio.wait_for(measure(system, run), budget))
    print(table(results))
    print()
    print(extra_table(results))
    print()
    print(f"warm-up {args.warmup:g} s, window {results[0].window_s:.1f} s; "
          f"{os.cpu_count()} CPUs; Python {platform.python_version()}, aiortc {aiortc.__version__}")
    print("command: unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
          + shlex.join(["-m", "bench.relay_cpu", *sys.argv[1:]]) + "'")
    if args.json:
        rows = [r.__dict__ | {"cpu_per_stream_s": r.cpu_per_stream_s,
                              "cpu_ms_per_frame": r.cpu_ms_per_frame,
                              "generator_cpu_per_stream_s": r.generator_cpu_per_stream_s}
                for r in results]
        Path(args.json).write_text(json.dumps(rows, indent=2))  # noqa: ASYNC240 - at the end
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--publishers", type=int, default=1, help=f"1..{MAX_PUBLISHERS}")
    parser.add_argument("--viewers", type=int, default=3, help=f"per publisher, 1..{MAX_VIEWERS}")
    parser.add_argument("--seconds", type=float, default=30.0, help=f"window, 5..{MAX_SECONDS}")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--video-kbps", type=int, default=1000, help="publisher VP8 rate")
    parser.add_argument("--systems", default="fieldrelay,naive",
                        help="in this order, repeats allowed (old/new alternation): "
                             "fieldrelay, naive, fieldrelay-uvloop (the node on uvloop)")
    parser.add_argument("--naive-record", metavar="DIR",
                        help="the naive node also records to DIR/*.mkv (MediaRecorder)")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--workdir", help="keep node data and logs here (default: a temp dir)")
    parser.add_argument("--source", choices=("preencoded", "live"), default="preencoded",
                        help="publishers send pre-encoded VP8+Opus (cheap) or encode live")
    parser.add_argument("--viewer-mode", default="decode",
                        help="viewers decode every frame, count frames and loss from RTP, "
                             "(headers) count from the still-encrypted RTP headers, all of a "
                             "publisher's viewers in one process (bench/loadgen.py), or "
                             "(blast) every viewer in one process that reads the sockets in a "
                             "thread, off aiortc (bench/blast.py); a comma-separated list gives "
                             "one mode per --systems entry (old/new generator alternation)")
    parser.add_argument("--publisher-mode", default="aiortc",
                        help="aiortc: a process per publisher (bench/clients.py); blast: every "
                             "publisher in one process that writes, encrypts and sends the "
                             "pre-encoded RTP itself (bench/blast.py; needs --source "
                             "preencoded); a comma-separated list as for --viewer-mode")
    parser.add_argument("--phases", type=int, default=4,
                        help="--publisher-mode blast: publishers' send grids, spread over a "
                             "frame interval (1: every publisher's frames leave together)")
    parser.add_argument("--blast-module", default="bench.blast",
                        help="the module that runs the blast generators; a comma-separated "
                             "list gives one per --systems entry (a copy of an older "
                             "bench/blast.py against the current one, in one run)")
    parser.add_argument("--first-frame", type=int, default=0, metavar="K",
                        help="after the window, K viewers join one after another: WHEP POST "
                             "to first decoded frame")
    parser.add_argument("--nodes", type=int, default=1,
                        help="fieldrelay nodes on one Redis; publisher i goes to node i mod N")
    parser.add_argument("--node-arg", action="append",
                        help="extra flag for fieldrelay serve (repeatable), e.g. "
                             "--node-arg=--gop-cache-kb=0")
    parser.add_argument("--node-cwd", metavar="DIR",
                        help="start fieldrelay from another checkout (DIR): its code, with this "
                             "script's load generators, for old/new alternation")
    parser.add_argument("--profile", metavar="DIR",
                        help="sample each node with py-spy over the window (collapsed stacks)")
    args = parser.parse_args()
    if not 1 <= args.publishers <= MAX_PUBLISHERS or not 1 <= args.viewers <= MAX_VIEWERS:
        parser.error(f"--publishers 1..{MAX_PUBLISHERS}, --viewers 1..{MAX_VIEWERS}")
    if not 5 <= args.seconds <= MAX_SECONDS or not 0 <= args.warmup <= 60:
        parser.error(f"--seconds 5..{MAX_SECONDS}, --warmup 0..60")
    if not set(args.systems.split(",")) <= {"fieldrelay", "naive", "fieldrelay-uvloop"}:
        parser.error("--systems takes fieldrelay, naive and fieldrelay-uvloop")
    runs = len(args.systems.split(","))
    for option, value, allowed in (
            ("--viewer-mode", args.viewer_mode, {"decode", "count", "headers", "blast"}),
            ("--publisher-mode", args.publisher_mode, {"aiortc", "blast"})):
        modes = value.split(",")
        if not set(modes) <= allowed or len(modes) not in (1, runs):
            parser.error(f"{option}: one of {sorted(allowed)}, or one per --systems entry")
    modules = args.blast_module.split(",")
    if len(modules) not in (1, runs) or not all(
            m.replace(".", "").replace("_", "").isalnum() for m in modules):
        parser.error("--blast-module: a module name, or one per --systems entry")
    if "blast" in args.publisher_mode and args.source != "preencoded":
        parser.error("--publisher-mode blast sends pre-encoded media: --source preencoded")
    if not only_loopback():
        sys.exit("bench.relay_cpu carries WebRTC media, so it runs only in a network namespace "
                 "whose only interface is lo. Run:\n  unshare -n bash -c 'ip link set lo up && "
                 "exec .venv/bin/python -m bench.relay_cpu'")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
