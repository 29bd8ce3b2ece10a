"""Where a node's memory goes: RSS per stream at load steps, smaps by mapping, threads.

The node runs as `fieldrelay serve --ice-host 127.0.0.1` (recording always on), loaded by
pre-encoded publishers (640x480@30 VP8 at 1,000 kbps plus Opus, a process each,
bench/clients.py) and viewers that count frames from the RTP headers (by default all of a
stream's viewers in one bench/loadgen.py process; `--viewer-mode count` gives each viewer a
bench/clients.py process). The script samples the node when idle (1 s after start)
and after each load step has run for --settle seconds:

- RSS, "MiB per stream" (RSS minus idle, divided by the streams) and the slope between steps;
- /proc/<pid>/smaps summed by mapping: [heap] (the main malloc arena), the malloc arenas of
  other threads (64 MiB-aligned anonymous heaps), thread stacks (anonymous mappings right
  above a guard page), other anonymous memory (pymalloc's arenas, large malloc blocks
  mmap'd on their own), and each shared library;
- the node's threads, by name;
- with `--mallinfo`, glibc's view of the heap at each sample (bytes in use, bytes free but
  kept by malloc, bytes in mmap'd blocks; bench/launch_node.py answers SIGUSR2 with it);
- with `--tracemalloc FRAMES`, the Python allocations that the load added, by file:line
  (and by package, and by call chain when FRAMES > 1): the node then runs under
  bench/launch_node.py, which writes a tracemalloc snapshot whenever it gets SIGUSR1, and
  the script compares the last step's snapshot with the idle one. Tracing costs memory and
  CPU of its own: RSS figures of a traced run are not comparable with untraced ones.

`--compare DIR` alternates the same run between another checkout (DIR, e.g. an extracted
`git archive` of the commit before a change, started from its folder so its own packages load)
and this one: before, after, before, after… `--components` instead measures, in this process
and with no network, what single objects cost (a DTLS certificate, an OpenSSL context, a DTLS
connection, an idle thread, an open WebM segment muxer).

It carries WebRTC media, so the node runs only in a network namespace with loopback only:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.memory_profile'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
from aiortc.rtcdtlstransport import (
    SRTP_AEAD_AES_128_GCM,
    SRTP_AES128_CM_SHA1_80,
    RTCCertificate,
)
from aiortc.rtp import RtpPacket
from OpenSSL import SSL

from bench.clients import preencode
from bench.common import REPO, make_dir, only_loopback, rss_mib
from bench.nodes import Client, FieldRelay, await_ready, start_client
from bench.relay_cpu import viewer_stats
from recordings.segments import SegmentWriter
from relay.history import SentHistory

MAX_STREAMS = 16
TOP_LINES = 30
ARENA_ALIGN = 64 * 2**20  # glibc's HEAP_MAX_SIZE on 64-bit: a thread arena's heap alignment
_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \d+\s*(.*)$")


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    path: str
    rss_kib: int = 0


def read_smaps(pid: int) -> list[Mapping]:
    """Every mapping of a process with its resident size."""
    maps: list[Mapping] = []
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = _HEADER.match(line)
        if head:
            maps.append(Mapping(int(head[1], 16), int(head[2], 16), head[3], head[4].strip()))
        elif line.startswith("Rss:") and maps:
            maps[-1].rss_kib = int(line.split()[1])
    return maps


def classify(maps: list[Mapping]) -> dict[str, float]:
    """Resident MiB by kind of mapping (see the module docstring)."""
    out: Counter[str] = Counter()
    by_start = {m.start: m for m in maps}
    by_end = {m.end: m for m in maps}
    for m in maps:
        if m.path == "[heap]":
            kind = "[heap] (main malloc arena)"
        elif m.path.startswith("["):
            kind = m.path
        elif m.path:
            name = os.path.basename(m.path)
            kind = "python" if name.startswith("python") else re.sub(r"\.so.*$", ".so", name)
        else:
            below = by_end.get(m.start)
            above = by_start.get(m.end)
            if m.start % ARENA_ALIGN == 0 and (above is None or above.perms.startswith("---")):
                kind = "malloc arenas of threads"
            elif below is not None and below.perms.startswith("---") and (
                    below.end - below.start) <= 64 * 1024:
                kind = "thread stacks"
            else:
                kind = "other anonymous (pymalloc arenas, large blocks)"
        out[kind] += m.rss_kib
    return {k: v / 1024 for k, v in out.items()}


def thread_names(pid: int) -> Counter[str]:
    names: Counter[str] = Counter()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            name = (task / "comm").read_text().strip()
            names[re.sub(r"[-_]?[0-9a-f]{6,}.*$|\d+$", "", name) or name] += 1
    return names


@dataclass
class Sample:
    label: str
    streams: int
    rss: float
    groups: dict[str, float]
    threads: Counter[str]
    viewer_fps_min: float | None = None
    snapshot: str | None = None  # a tracemalloc snapshot of the node (--tracemalloc)
    mallinfo: dict[str, int] | None = None  # glibc's mallinfo2() of the node (--mallinfo)


@dataclass
class Run:
    side: str
    samples: list[Sample] = field(default_factory=list)
    traced: str = ""  # the tracemalloc comparison, last step against idle

    def compare_snapshots(self) -> None:
        """Fill `traced` from the run's snapshots (before their folder is removed)."""
        idle, last = self.samples[0], self.samples[-1]
        if idle.snapshot and last.snapshot and last.streams:
            self.traced = traced_report(idle.snapshot, last.snapshot, last.streams, TOP_LINES)


async def profile(side: str, cwd: Path, args: argparse.Namespace, workdir: Path,
                  media: Path) -> Run:
    node = FieldRelay(make_dir(workdir), args.python)
    node.cwd = cwd
    node.node_args = list(args.node_arg or [])
    node.env = dict(e.split("=", 1) for e in (args.node_env or []))
    snapshots = make_dir(workdir / "tracemalloc")
    infos = make_dir(workdir / "mallinfo")
    if args.tracemalloc or args.mallinfo or args.uvloop or args.trim:
        # By path, so a node started from another checkout's folder gets it too.
        node.launcher = [str(REPO / "bench" / "launch_node.py")]
        if args.tracemalloc:
            node.launcher += ["--tracemalloc", str(snapshots), str(args.tracemalloc)]
        if args.mallinfo:
            node.launcher += ["--mallinfo", str(infos)]
        if args.uvloop:
            node.launcher.append("--uvloop")
        if args.trim:
            node.launcher += ["--trim", str(args.trim)]
        node.launcher.append("--")
    run = Run(side)
    clients: list[Client] = []
    steps = [int(s) for s in args.steps.split(",")]
    try:
        await node.start(max(steps))
        pid = node.pids()[0]
        await asyncio.sleep(1.0)
        run.samples.append(Sample("idle", 0, rss_mib(pid), classify(read_smaps(pid)),
                                  thread_names(pid)))
        if args.tracemalloc:
            run.samples[-1].snapshot = await take_snapshot(pid, snapshots, 1)
        if args.mallinfo:
            run.samples[-1].mallinfo = await take_mallinfo(pid, infos, 1)
        publishers: list[Client] = []
        viewers: list[Client] = []
        for step in steps:
            new_pubs = []
            for i in range(len(publishers), step):
                url, token = node.whip(i)
                new_pubs.append(await start_client(node, "publisher", i, url, token,
                                                   ["--media", str(media)]))
            clients += new_pubs
            await await_ready(new_pubs)
            new_viewers = []
            for i in range(len(publishers), step):
                url, token = node.whep(i)
                if args.viewer_mode == "headers":
                    new_viewers.append(await start_client(
                        node, "viewers", i, url, token, ["--count", str(args.viewers)],
                        module="bench.loadgen"))
                    continue
                for j in range(args.viewers):
                    new_viewers.append(await start_client(
                        node, "viewer", i * args.viewers + j, url, token, ["--count-only"]))
            clients += new_viewers
            await await_ready(new_viewers)
            publishers += new_pubs
            viewers += new_viewers
            print(f"[{side}] {step} streams up; settling {args.settle:g} s",
                  file=sys.stderr, flush=True)
            v0 = await viewer_stats(viewers)
            await asyncio.sleep(args.settle)
            v1 = await viewer_stats(viewers)
            fps = [(b["frames"] - a["frames"]) / (b["t"] - a["t"])
                   for a, b in zip(v0, v1, strict=True)]
            run.samples.append(Sample(f"{step} x {args.viewers}", step, rss_mib(pid),
                                      classify(read_smaps(pid)), thread_names(pid),
                                      min(fps) if fps else None))
            if args.tracemalloc:
                run.samples[-1].snapshot = await take_snapshot(pid, snapshots,
                                                               len(run.samples))
            if args.mallinfo:
                run.samples[-1].mallinfo = await take_mallinfo(pid, infos, len(run.samples))
    finally:
        for client in reversed(clients):
            await client.stop()
        await node.stop()
    return run


async def _signalled_file(pid: int, sig: int, path: Path) -> Path:
    """Signal the node (bench/launch_node.py) and wait for the file it writes in answer."""
    os.kill(pid, sig)
    deadline = time.monotonic() + 60
    while not os.path.exists(path):  # noqa: ASYNC240 - a stat every 0.1 s
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {path} from the node in 60 s")
        await asyncio.sleep(0.1)
    return path


async def take_snapshot(pid: int, folder: Path, number: int) -> str:
    """Have a traced node write its `number`th tracemalloc snapshot; its path."""
    return str(await _signalled_file(pid, signal.SIGUSR1, folder / f"{number}.snap"))


async def take_mallinfo(pid: int, folder: Path, number: int) -> dict[str, int]:
    """The node's glibc mallinfo2(), its `number`th."""
    path = await _signalled_file(pid, signal.SIGUSR2, folder / f"{number}.json")
    with open(path) as f:  # noqa: ASYNC230 - a few bytes, already written
        return dict(json.load(f))


_IGNORED = [tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
            tracemalloc.Filter(False, "<unknown>")]


def short_name(filename: str) -> str:
    """A source file's name without the install prefix: `aiortc/rtp.py`, `relay/forward.py`,
    `stdlib asyncio/selector_events.py`."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    # This checkout's packages, or another's (--compare).
    match = re.search(r"/((?:fieldrelay|relay|recordings|signaling|portal|bench)/[^/].*)$",
                      filename)
    if match:
        return match[1]
    match = re.search(r"/lib/python3\.\d+/(.*)$", filename)
    if match:
        return "stdlib " + match[1]
    parts = Path(filename).parts
    return "/".join(parts[-2:])


def package_of(filename: str) -> str:
    """The top-level package (or stdlib module) a source file belongs to."""
    name = short_name(filename)
    if name.startswith("stdlib "):
        return "stdlib " + name[7:].split("/")[0].removesuffix(".py")
    return name.split("/")[0].removesuffix(".py")


def traced_report(idle_path: str, loaded_path: str, streams: int, top: int) -> str:
    """What the load added to the Python heap between two snapshots of one node."""
    idle = tracemalloc.Snapshot.load(idle_path).filter_traces(_IGNORED)
    loaded = tracemalloc.Snapshot.load(loaded_path).filter_traces(_IGNORED)
    lines = loaded.compare_to(idle, "lineno")
    total = sum(d.size_diff for d in lines)
    traced = sum(s.size for s in loaded.statistics("filename"))
    rows = [f"tracemalloc: {traced / 2**20:.1f} MiB traced when loaded, "
            f"{total / 2**20:+.2f} MiB against idle ({total / 2**20 / streams:+.2f} MiB "
            f"per stream over {streams} streams)", "",
            "| allocated at | KiB added | KiB per stream | blocks added |", "|---|---|---|---|"]
    for d in sorted(lines, key=lambda d: -d.size_diff)[:top]:
        where = d.traceback[0]
        rows.append(f"| {short_name(where.filename)}:{where.lineno} | {d.size_diff / 1024:.0f} "
                    f"| {d.size_diff / 1024 / streams:.0f} | {d.count_diff} |")
    by_package: Counter[str] = Counter()
    for d in loaded.compare_to(idle, "filename"):
        by_package[package_of(d.traceback[0].filename)] += d.size_diff
    rows += ["", "| package | KiB added | KiB per stream |", "|---|---|---|"]
    for name, size in by_package.most_common(12):
        rows.append(f"| {name} | {size / 1024:.0f} | {size / 1024 / streams:.0f} |")
    if loaded.traceback_limit > 1:
        rows += ["", "| call chain (innermost first) | KiB added | KiB per stream |",
                 "|---|---|---|"]
        chains = loaded.compare_to(idle, "traceback")
        for d in sorted(chains, key=lambda d: -d.size_diff)[:top]:
            # tracemalloc keeps the oldest frame first; the innermost says most.
            chain = " < ".join(f"{short_name(f.filename)}:{f.lineno}"
                               for f in reversed(d.traceback))
            rows.append(f"| {chain} | {d.size_diff / 1024:.0f} | "
                        f"{d.size_diff / 1024 / streams:.0f} |")
    return "\n".join(rows)


def report(runs: list[Run]) -> str:
    rows = ["| run | side | load | node RSS MiB | MiB per stream (vs idle) | MiB per added stream "
            "(vs previous step) | threads | viewer fps min |", "|" + "---|" * 8]
    for n, run in enumerate(runs, 1):
        idle = run.samples[0]
        prev = idle
        for s in run.samples:
            per = f"{(s.rss - idle.rss) / s.streams:.2f}" if s.streams else "-"
            slope = (f"{(s.rss - prev.rss) / (s.streams - prev.streams):.2f}"
                     if s.streams and s.streams != prev.streams and prev.streams else "-")
            fps = "-" if s.viewer_fps_min is None else f"{s.viewer_fps_min:.1f}"
            rows.append(f"| {n} | {run.side} | {s.label} | {s.rss:.1f} | {per} | {slope} | "
                        f"{sum(s.threads.values())} | {fps} |")
            prev = s
    if any(s.mallinfo for r in runs for s in r.samples):
        rows += ["", "| run | side | load | malloc in use (MiB) | free, kept by malloc | "
                 "in mmap'd blocks | releasable at the top |", "|" + "---|" * 7]
        for n, run in enumerate(runs, 1):
            for s in run.samples:
                if s.mallinfo:
                    m = s.mallinfo
                    rows.append(f"| {n} | {run.side} | {s.label} | {m['uordblks'] / 2**20:.1f} "
                                f"| {m['fordblks'] / 2**20:.1f} | {m['hblkhd'] / 2**20:.1f} | "
                                f"{m['keepcost'] / 2**20:.1f} |")
    rows.append("")
    # smaps by mapping: idle and the last step of each run, largest first.
    cols = [(f"{n} {r.side} {s.label}", s) for n, r in enumerate(runs, 1)
            for s in (r.samples[0], r.samples[-1])]
    kinds = sorted({k for _, s in cols for k in s.groups},
                   key=lambda k: -max(s.groups.get(k, 0.0) for _, s in cols))
    rows.append("| mapping (resident MiB) | " + " | ".join(c for c, _ in cols) + " |")
    rows.append("|" + "---|" * (len(cols) + 1))
    for k in kinds:
        if max(s.groups.get(k, 0.0) for _, s in cols) < 0.5:
            continue
        rows.append(f"| {k} | " + " | ".join(f"{s.groups.get(k, 0.0):.1f}" for _, s in cols)
                    + " |")
    rows.append("")
    for n, run in enumerate(runs, 1):
        last = run.samples[-1]
        rows.append(f"threads, run {n} ({run.side}, {last.label}): "
                    + ", ".join(f"{k} {v}" for k, v in last.threads.most_common()))
    for n, run in enumerate(runs, 1):
        if run.traced:
            rows += ["", f"run {n} ({run.side}), {run.samples[-1].label} against idle:",
                     run.traced]
    return "\n".join(rows)


# ---------------------------------------------------------------------------------------------
# Single objects, measured in this process


def _rss_kib() -> float:
    return rss_mib(os.getpid()) * 1024


COMPONENTS = ("certificate", "certificate+context", "certificate+context+connection",
              "connection-on-shared-context", "thread", "webm-segment", "nack-history-packets",
              "nack-history-entries", "nack-history-arrays", "publisher-packet-with-copy",
              "publisher-packet")


def components(count: int) -> str:
    """What one object of each kind costs in resident memory (KiB), over `count` of them, each
    kind in a fresh process so that one kind does not reuse memory another freed."""
    rows = ["| object | KiB resident each (mean of N) | N |", "|---|---|---|"]
    for kind in COMPONENTS:
        n = count * 100 if kind.startswith("publisher-packet") else count  # small: many
        out = subprocess.run([sys.executable, "-m", "bench.memory_profile", "--components",
                              str(n), "--only", kind], capture_output=True, text=True,
                             check=True, timeout=300, cwd=REPO)
        rows.append(out.stdout.strip())
    return "\n".join(rows)


def component(kind: str, count: int) -> str:
    """One row of `components`: `count` objects of one kind, in this process."""
    profiles = [SRTP_AEAD_AES_128_GCM, SRTP_AES128_CM_SHA1_80]
    shared = RTCCertificate.generateCertificate()
    shared_ctx = shared._create_ssl_context(profiles)

    def certificate() -> Any:
        return RTCCertificate.generateCertificate()

    def certificate_and_context() -> Any:
        cert = RTCCertificate.generateCertificate()
        return cert, cert._create_ssl_context(profiles)

    def connection_own_context() -> Any:
        cert = RTCCertificate.generateCertificate()
        return cert, SSL.Connection(cert._create_ssl_context(profiles))

    def connection_shared_context() -> Any:
        return SSL.Connection(shared_ctx)

    stop = threading.Event()

    def idle_thread() -> Any:
        started = threading.Event()

        def body() -> None:
            # What a writer does: allocate and free in its own arena, then wait.
            junk = [bytes(4000) for _ in range(200)]
            del junk
            started.set()
            stop.wait()
        t = threading.Thread(target=body, daemon=True)
        t.start()
        started.wait()
        return t

    tmp = Path(tempfile.mkdtemp(prefix="memprof-"))
    opened: list[Any] = []

    keyframe = _vp8_keyframe()

    def webm_segment() -> Any:
        writer = SegmentWriter(tmp / f"s{len(opened)}.webm", "video/vp8", True, (640, 480))
        writer.write("video", keyframe, 0, True)  # the header goes out with the first frame
        writer.write("audio", b"\xfc\xff\xfe", 0, False)
        opened.append(writer)
        return writer

    kinds = {"certificate": ("DTLS certificate (EC P-256 key + X.509)", certificate),
             "certificate+context": ("certificate + OpenSSL DTLS context",
                                     certificate_and_context),
             "certificate+context+connection": (
                 "certificate + context + DTLS connection (aiortc: one each per peer)",
                 connection_own_context),
             "connection-on-shared-context": ("DTLS connection on one shared context",
                                              connection_shared_context),
             "thread": ("a thread that allocated 800 KB and waits", idle_thread),
             "webm-segment": ("an open WebM segment muxer (VP8 + Opus), one frame written",
                              webm_segment)}
    # The publisher's packets (1.1 KB of VP8 each) that the viewers' histories point to.
    sources = [RtpPacket(payload_type=96, sequence_number=i, timestamp=i * 3000, ssrc=1,
                         payload=os.urandom(1100)) for i in range(1024)]

    def history_of_packets() -> Any:
        # What a viewer kept before: 1,024 outgoing packets, rebuilt for the viewer.
        history = []
        for src in sources:
            out = RtpPacket(payload_type=100, sequence_number=src.sequence_number + 7,
                            timestamp=src.timestamp + 11, ssrc=2, payload=src.payload)
            out.extensions.mid = "1"
            out.extensions.abs_send_time = 123456
            history.append(out)
        return history

    def history_of_entries() -> Any:
        # What a viewer kept next: 512 (seq, timestamp, publisher's packet).
        return [(src.sequence_number + 7, src.timestamp + 11, src) for src in sources[:512]]

    def history_of_arrays() -> Any:
        # What a viewer keeps now: relay/history.py over the same 512 packets.
        history = SentHistory()
        for src in sources[:512]:
            history.add(src.sequence_number + 7, src.timestamp + 11, src)
        return history

    def packet(with_copy: bool) -> Any:
        data = os.urandom(1100)
        src = RtpPacket(payload_type=96, sequence_number=1, timestamp=1, ssrc=1, payload=data)
        if with_copy:
            src._data = data[4:]  # type: ignore[attr-defined]  # aiortc's depayloaded copy
        return src

    kinds["nack-history-packets"] = ("a viewer's NACK history before: 1,024 rebuilt packets "
                                     "(payloads shared)", history_of_packets)
    kinds["nack-history-entries"] = ("a viewer's NACK history next: 512 (seq, timestamp, "
                                     "packet) entries", history_of_entries)
    kinds["nack-history-arrays"] = ("a viewer's NACK history now: SentHistory of 512 "
                                    "(flat arrays, shared payloads)", history_of_arrays)
    kinds["publisher-packet-with-copy"] = ("a 1,100-byte publisher packet with its "
                                           "depayloaded copy", lambda: packet(True))
    kinds["publisher-packet"] = ("the same packet once the copy is dropped",
                                 lambda: packet(False))
    name, make = kinds[kind]
    make()  # the first one pays for one-off set-up (library state, first arena)
    gc.collect()
    before = _rss_kib()
    keep = [make() for _ in range(count)]
    gc.collect()
    row = f"| {name} | {(_rss_kib() - before) / count:.0f} | {count} |"
    del keep
    stop.set()
    for w in opened:
        with contextlib.suppress(Exception):
            w.close()
    return row


def _vp8_keyframe() -> bytes:
    """One real 640x480 VP8 keyframe."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = 640, 480, "yuv420p"
    frame = av.VideoFrame(640, 480, "yuv420p")
    packets = [*codec.encode(frame), *codec.encode(None)]
    return bytes(packets[0])


async def orchestrate(args: argparse.Namespace) -> int:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="memprof-") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        media = workdir / "media.bin"
        make_dir(workdir)
        await asyncio.to_thread(preencode, media, 1000)
        sides = [("this", REPO)]
        if args.compare:
            sides = [("before", Path(args.compare)), ("this", REPO)]
        for rep in range(args.repeat):
            for side, cwd in sides:
                budget = 120 + len(args.steps.split(",")) * (args.settle + 120)
                try:
                    runs.append(await asyncio.wait_for(
                        profile(side, cwd, args, workdir / f"{side}-{rep}", media), budget))
                except (RuntimeError, TimeoutError) as exc:
                    # A busy machine can starve one run; the others still count.
                    print(f"[{side}] run {rep + 1} failed: {str(exc)[-300:]}", file=sys.stderr)
                    continue
                runs[-1].compare_snapshots()
                print(report(runs[-1:]).split("\n\n")[0], file=sys.stderr, flush=True)
    print(report(runs))
    print()
    print("load average at the end:", open("/proc/loadavg").read().strip())  # noqa: ASYNC230, SIM115
    print("command: unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
          + shlex.join(["-m", "bench.memory_profile", *sys.argv[1:]]) + "'")
    if args.json:
        Path(args.json).write_text(json.dumps(  # noqa: ASYNC240 - at the end
            [{"side": r.side, "samples": [s.__dict__ for s in r.samples]} for r in runs],
            indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", default="4,12", help="streams at each step, e.g. 4,12")
    parser.add_argument("--viewers", type=int, default=3, help="per stream")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds at each step")
    parser.add_argument("--viewer-mode", choices=("headers", "count"), default="headers",
                        help="viewers: bench/loadgen.py (one process per stream, counting "
                             "encrypted headers) or a bench/clients.py process each")
    parser.add_argument("--compare", metavar="DIR",
                        help="alternate with the node of another checkout (DIR)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--node-arg", action="append", help="extra flag for fieldrelay serve")
    parser.add_argument("--node-env", action="append", metavar="KEY=VALUE",
                        help="extra environment for the node")
    parser.add_argument("--trim", type=float, metavar="SECONDS",
                        help="the node calls malloc_trim(0) this often (an experiment)")
    parser.add_argument("--uvloop", action="store_true",
                        help="run the node (both sides with --compare) on uvloop's event loop")
    parser.add_argument("--mallinfo", action="store_true",
                        help="sample glibc's mallinfo2() of the node with each step")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="run the node under tracemalloc (FRAMES frames per allocation) "
                             "and report what the load added, by file:line")
    parser.add_argument("--components", type=int, default=0, metavar="N",
                        help="measure N of each single object in this process instead")
    parser.add_argument("--only", choices=COMPONENTS, help=argparse.SUPPRESS)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json")
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.compare:
        args.compare = str(Path(args.compare).resolve())
    if args.components and args.only:
        print(component(args.only, args.components))
        return 0
    if args.components:
        print(components(args.components))
        return 0
    steps = [int(s) for s in args.steps.split(",")]
    if steps != sorted(steps) or not 1 <= steps[0] <= steps[-1] <= MAX_STREAMS:
        parser.error(f"--steps rising, 1..{MAX_STREAMS}")
    if not 1 <= args.viewers <= 6 or not 1 <= args.repeat <= 5 or not 2 <= args.settle <= 120:
        parser.error("--viewers 1..6, --repeat 1..5, --settle 2..120")
    if not only_loopback():
        sys.exit("bench.memory_profile carries WebRTC media, so it runs only in a network "
                 "namespace whose only interface is lo. Run:\n  unshare -n bash -c 'ip link "
                 "set lo up && exec .venv/bin/python -m bench.memory_profile'")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    t0 = time.monotonic()
    code = main()
    print(f"took {time.monotonic() - t0:.0f} s", file=sys.stderr)
    sys.exit(code)
