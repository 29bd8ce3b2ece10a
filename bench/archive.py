"""Archive and catalog costs: archive lag at N streams, the drain after a store outage, and
catalog searches over many sessions, PostgreSQL against SQLite.

Streams are simulated through the evidence store's own ledger files (so every seal point
queues its copy exactly as in a node): each stream appends an event line every 0.5 s and
closes a segment (`--segment-kb` of random bytes, its entry and signed head) every
`--segment-s`. The store is moto's standalone S3 server on loopback (bench/s3server.py). No
WebRTC media is carried, so no network namespace is needed; everything is on 127.0.0.1.

    .venv/bin/python -m bench.archive lag [--streams 10] [--seconds 60]
    .venv/bin/python -m bench.archive outage [--streams 10] [--outage 300]
    .venv/bin/python -m bench.archive catalog [--sessions 100000] [--queries 200] [--limit 100]
    .venv/bin/python -m bench.archive components [--copies 300]
    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.archive relay-cpu'
        [--publishers 4] [--viewers 1] [--seconds 30] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from aiobotocore.session import AioSession

from bench.common import free_port, only_loopback
from bench.s3server import BUCKET, CREDENTIALS, MotoServer
from recordings.archive.backlog import Backlog
from recordings.archive.confirmed import ArchiveChain, Copy
from recordings.archive.drain import Archiver
from recordings.archive.s3 import ArchiveStore, StoreSettings
from recordings.catalog_pg import PgCatalog
from recordings.catalog_schema import CatalogRow, Query
from recordings.catalog_sql import SqlCatalog
from recordings.catalog_sqlite import SqliteCatalog
from recordings.layout import new_session_id, utc_iso
from recordings.segments import file_sha256
from recordings.session import Evidence
from recordings.store import LedgerFile

PG_SOCKET = "/var/run/postgresql"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def make_bucket(endpoint: str) -> None:
    session = AioSession()
    async with session.create_client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"]) as s3:
        await s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        await s3.put_object_lock_configuration(
            Bucket=BUCKET, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})


def stream(evidence: Evidence, n: int, stop: threading.Event, segment_s: float,
           segment_bytes: int, delay_s: float) -> None:
    """One simulated live session until `stop`, starting after `delay_s` (streams do not
    cut their segments in step): events twice a second, a segment every `segment_s`."""
    if stop.wait(delay_s):
        return
    sid = new_session_id(f"o{n}", time.time())
    folder = evidence.sessions_dir / sid
    ledger = LedgerFile(folder, evidence.key, archive=evidence.archive)
    ledger.append({"kind": "session.start", "session": sid, "officer": f"o{n}",
                   "node": evidence.node_id, "at": utc_iso(time.time()), "case": None,
                   "media": {"video": "video/vp8", "audio": "audio/opus"},
                   "container": "webm"})
    ledger.sign_head()
    index, next_segment = 0, time.monotonic() + segment_s
    while not stop.wait(0.5):
        ledger.append({"kind": "event", "session": sid, "event": "gps",
                       "at": utc_iso(time.time()), "lat": 43.8, "lon": 87.6, "accuracy": 5})
        if time.monotonic() >= next_segment:
            index += 1
            path = folder / f"seg-{index:06d}.webm"
            path.write_bytes(os.urandom(segment_bytes))
            ledger.append({"kind": "segment", "session": sid, "officer": f"o{n}", "case": None,
                           "index": index, "file": path.name, "size": segment_bytes,
                           "sha256": file_sha256(path), "start": utc_iso(time.time()),
                           "end": utc_iso(time.time()), "media_start_ms": 0,
                           "media_end_ms": 0, "partial": False})
            ledger.sign_head()
            next_segment += segment_s


class Rig:
    """A data dir, its evidence store feeding a backlog, and an archiver to moto."""

    def __init__(self, data: Path, endpoint: str, concurrency: int) -> None:
        self.backlog = Backlog(data)
        self.evidence = Evidence(data, "bench", archive=self.backlog)
        store = ArchiveStore(StoreSettings(url=f"s3://{BUCKET}/bench", endpoint=endpoint,
                                           lock_days=1.0, timeout_s=5.0))
        self.archiver = Archiver(data, "bench", self.backlog, store,
                                 ArchiveChain(data, self.evidence.key, self.backlog),
                                 concurrency, max_backoff_s=2.0)

    def streams(self, count: int, segment_s: float, segment_bytes: int
                ) -> tuple[threading.Event, list[threading.Thread]]:
        stop = threading.Event()
        threads = [threading.Thread(target=stream, args=(self.evidence, n, stop, segment_s,
                                                         segment_bytes, n * segment_s / count),
                                    daemon=True)
                   for n in range(count)]
        for t in threads:
            t.start()
        return stop, threads


async def run_lag(args: argparse.Namespace) -> None:
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    moto = MotoServer(free_port())
    moto.start()
    try:
        await make_bucket(moto.endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            rig = Rig(Path(tmp), moto.endpoint, args.concurrency)
            cpu0 = time.process_time()
            async with rig.archiver.store:
                rig.archiver.start()
                try:
                    stop, threads = rig.streams(args.streams, args.segment_s,
                                                args.segment_kb * 1024)
                    await asyncio.sleep(args.seconds)
                    stop.set()
                    for t in threads:
                        await asyncio.to_thread(t.join, 10)
                    assert await rig.archiver.drained(120)
                finally:
                    await rig.archiver.aclose()
            cpu = time.process_time() - cpu0
            lags = [lag for _, lag in rig.archiver.lags]
            segments = [lag for kind, lag in rig.archiver.lags if kind == "segment"]
            lines = [lag for kind, lag in rig.archiver.lags if kind == "ledger.line"]
    finally:
        moto.stop()
    print(f"archive lag, queued to confirmed, {args.streams} streams for {args.seconds:g} s "
          f"({args.segment_kb} KiB segments every {args.segment_s:g} s, events at 2/s, "
          f"concurrency {args.concurrency}): {len(lags)} copies, p50 {pct(lags, 50):.3f} s, "
          f"p99 {pct(lags, 99):.3f} s, max {max(lags):.3f} s; segments ({len(segments)}) "
          f"p50 {pct(segments, 50):.3f} s, p99 {pct(segments, 99):.3f} s; chain lines "
          f"({len(lines)}) p50 {pct(lines, 50):.3f} s, p99 {pct(lines, 99):.3f} s; this process "
          f"{cpu / args.seconds:.3f} CPU-s per second (streams' writing included)")


async def run_outage(args: argparse.Namespace) -> None:
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    moto = MotoServer(free_port())
    moto.start()
    try:
        await make_bucket(moto.endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            rig = Rig(Path(tmp), moto.endpoint, args.concurrency)
            async with rig.archiver.store:
                rig.archiver.start()
                try:
                    moto.stop()
                    stop, threads = rig.streams(args.streams, args.segment_s,
                                                args.segment_kb * 1024)
                    await asyncio.sleep(args.outage)
                    stop.set()
                    for t in threads:
                        await asyncio.to_thread(t.join, 10)
                    queued = len(rig.backlog.names())
                    size = sum((Path(tmp) / "archive" / "backlog" / n).stat().st_size
                               for n in rig.backlog.names())
                    moto.start()
                    await make_bucket(moto.endpoint)
                    t0 = time.monotonic()
                    assert await rig.archiver.drained(3600)
                    took = time.monotonic() - t0
                finally:
                    await rig.archiver.aclose()
    finally:
        moto.stop()
    media = args.streams * int(args.outage // args.segment_s) * args.segment_kb / 1024
    print(f"drain after a {args.outage:g} s store outage at {args.streams} streams: "
          f"{queued} copies queued ({size / 2**20:.1f} MiB of queue files, about {media:.0f} "
          f"MiB of segments), drained in {took:.1f} s: {queued / took:.0f} copies/s, "
          f"{media / took:.1f} MiB/s of segments (concurrency {args.concurrency}, "
          f"retries back off up to 2 s)")


def fake_rows(count: int) -> list[CatalogRow]:
    rng = random.Random(7)
    t0 = 1795770000.0
    rows = []
    for i in range(count):
        start = t0 + i * 60
        case = f"C-{rng.randrange(count // 20 or 1)}" if rng.random() < 0.7 else None
        rows.append(CatalogRow(
            id=f"20270101T000000Z-o{i % 500}-{i:08x}", node=f"node-{i % 8}",
            officer=f"o{i % 500}", case=case, cases=(case,) if case else (),
            started_at=utc_iso(start), ended_at=utc_iso(start + rng.randrange(60, 3600)),
            state="sealed", media={"video": "video/vp8", "audio": "audio/opus"},
            alerts=1 if rng.random() < 0.03 else 0, segments=10, bytes=10_000_000,
            seal_reason="stopped", head_seq=40, head_hash=secrets.token_hex(32)))
    return rows


QUERIES: dict[str, Callable[[random.Random, int], Query]] = {
    "officer": lambda r, n: Query(officer=f"o{r.randrange(500)}"),
    "case": lambda r, n: Query(case=f"C-{r.randrange(n // 20 or 1)}"),
    "time (a day)": lambda r, n: Query(
        since=1795770000.0 + (t := r.randrange(n) * 60), until=1795770000.0 + t + 86400),
    "alerts": lambda r, n: Query(with_alerts=True),
    "node": lambda r, n: Query(node=f"node-{r.randrange(8)}"),
    "officer + time": lambda r, n: Query(
        officer=f"o{r.randrange(500)}", since=1795770000.0 + (t := r.randrange(n) * 60),
        until=1795770000.0 + t + 7 * 86400),
    "none (newest first)": lambda r, n: Query(),
}


async def time_catalog(catalog: SqlCatalog, rows: list[CatalogRow], queries: int, limit: int
                       ) -> tuple[float, dict[str, tuple[float, float]]]:
    await catalog.start()
    try:
        t0 = time.monotonic()
        for i in range(0, len(rows), 5000):
            await catalog.put_sessions(rows[i:i + 5000])
        await catalog.analyze()  # what `reindex --from-archive` does, and autovacuum soon
        load = time.monotonic() - t0
        out = {}
        for name, make in QUERIES.items():
            rng = random.Random(11)
            times = []
            for _ in range(queries):
                q = dataclasses.replace(make(rng, len(rows)), limit=limit)
                t = time.perf_counter()
                await catalog.search(q)
                times.append(time.perf_counter() - t)
            out[name] = (pct(times, 50), pct(times, 99))
        return load, out
    finally:
        await catalog.aclose()


async def run_catalog(args: argparse.Namespace) -> None:
    rows = fake_rows(args.sessions)
    name = f"fieldrelay_bench_{secrets.token_hex(4)}"
    admin = f"postgresql:///postgres?host={PG_SOCKET}"
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    results = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for backend, catalog in (
                    ("SQLite", SqliteCatalog(Path(tmp) / "catalog.sqlite")),
                    ("PostgreSQL", PgCatalog(f"postgresql:///{name}?host={PG_SOCKET}"))):
                results[backend] = await time_catalog(catalog, rows, args.queries, args.limit)
    finally:
        async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"catalog search over {args.sessions} sessions, {args.queries} queries per filter, "
          f"a page of at most {args.limit} rows each (p50 / p99 ms):")
    print("| filter | SQLite p50 | SQLite p99 | PostgreSQL p50 | PostgreSQL p99 |")
    print("|---|---|---|---|---|")
    for query in QUERIES:
        s50, s99 = results["SQLite"][1][query]
        p50, p99 = results["PostgreSQL"][1][query]
        print(f"| {query} | {s50 * 1000:.1f} | {s99 * 1000:.1f} | {p50 * 1000:.1f} | "
              f"{p99 * 1000:.1f} |")
    print(f"load ({args.sessions} rows in batches of 5,000): SQLite "
          f"{results['SQLite'][0]:.1f} s, PostgreSQL {results['PostgreSQL'][0]:.1f} s")


async def run_components(args: argparse.Namespace) -> None:
    """The node's CPU for each piece of one archived copy, one after another (no concurrency,
    so each figure is that piece's alone): queueing it durably, reading it back, the PUT of a
    chain line and of a segment, and recording a confirmed batch in the archive chain."""
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    moto = MotoServer(free_port())
    moto.start()
    n = args.copies
    figures: list[tuple[str, float]] = []

    def took(label: str, t0: float, count: int) -> None:
        figures.append((label, (time.process_time() - t0) / count * 1000))

    try:
        await make_bucket(moto.endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp)
            backlog = Backlog(data)
            evidence = Evidence(data, "bench", archive=None)
            line = json.dumps({"kind": "segment", "pad": "x" * 400}).encode() + b"\n"
            t0 = time.process_time()
            for i in range(n):
                backlog.enqueue(data / "sessions" / "s" / "ledger.jsonl", "ledger.line",
                                data=line, seq=i)
            took("enqueue (JSON, 2 fsyncs)", t0, n)
            names = backlog.names()
            t0 = time.process_time()
            for name in names:
                backlog.read(name)
            took("read back from the backlog", t0, n)
            store = ArchiveStore(StoreSettings(url=f"s3://{BUCKET}/bench", endpoint=moto.endpoint,
                                               lock_days=1.0))
            async with store:
                await store.put("bench/warm", line, hashlib.sha256(line).hexdigest(), time.time())
                for label, body, count in (
                        (f"PUT of a chain line ({len(line)} B)", line, n),
                        ("PUT of a segment (768 KiB)", os.urandom(768 * 1024), max(1, n // 10))):
                    digest = hashlib.sha256(body).hexdigest()
                    t0 = time.process_time()
                    for i in range(count):
                        await store.put(f"bench/c/{i}-{len(body)}", body, digest, time.time())
                    took(label, t0, count)
            chain = ArchiveChain(data, evidence.key, backlog)
            copy = Copy(key="k", version="v", sha256="0" * 64, size=1, retain_until=None)
            t0 = time.process_time()
            for _ in range(max(1, n // 3)):
                chain.record([("sessions/s/seg-000001.webm", "segment", "s", copy)] * 3,
                             time.time())
            took("record a confirmed batch of 3 (append, sign, 2 enqueues)", t0, max(1, n // 3))
    finally:
        moto.stop()
    print(f"CPU of the archive's pieces, {n} copies each (segments {max(1, n // 10)}), moto on "
          "loopback as the store, one at a time:")
    for label, ms in figures:
        print(f"  {label}: {ms:.3f} ms")


def run_relay_cpu(args: argparse.Namespace) -> None:
    """The relay's CPU per stream-second with the archive off and on, alternating in one run
    (bench.relay_cpu, a node and real WebRTC publishers and viewers), moto as the store."""
    if not only_loopback():
        raise SystemExit("relay-cpu carries WebRTC media: run it in a loopback-only namespace:"
                         "\n  unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
                         "-m bench.archive relay-cpu'")
    moto = MotoServer(free_port())
    moto.start()
    env = {**os.environ, **CREDENTIALS}
    runs: dict[str, list[float]] = {"off": [], "on": []}
    try:
        asyncio.run(make_bucket(moto.endpoint))
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(args.rounds):
                for mode in ("off", "on"):
                    out = Path(tmp) / f"{mode}-{n}.json"
                    extra = [f"--node-arg=--archive-url=s3://{BUCKET}/cpu{n}",
                             f"--node-arg=--archive-endpoint={moto.endpoint}",
                             "--node-arg=--archive-lock-days=1"] if mode == "on" else []
                    subprocess.run(
                        [sys.executable, "-m", "bench.relay_cpu", "--systems", "fieldrelay",
                         "--publishers", str(args.publishers), "--viewers", str(args.viewers),
                         "--seconds", str(args.seconds), "--json", str(out), *extra],
                        env=env, check=True, stdout=subprocess.DEVNULL)
                    [row] = json.loads(out.read_text())
                    runs[mode].append(float(row["cpu_per_stream_s"]))
                    fps = row["viewer_fps"]
                    # A run whose viewers got no video measured nothing: say so.
                    print(f"round {n + 1} archive {mode}: "
                          f"{runs[mode][-1]:.4f} CPU-s per stream-second, viewer fps "
                          f"{statistics.mean(fps) if fps else 0:.1f} (min "
                          f"{min(fps) if fps else 0:.1f})", flush=True)
    finally:
        moto.stop()
    off, on = statistics.median(runs["off"]), statistics.median(runs["on"])
    print(f"relay CPU per stream-second, {args.publishers} publishers x {args.viewers} viewers, "
          f"{args.seconds:g} s windows, {args.rounds} alternating rounds (median): archive off "
          f"{off:.4f}, on {on:.4f} ({(on / off - 1) * 100:+.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.archive", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("lag", "outage"):
        p = sub.add_parser(name)
        p.add_argument("--streams", type=int, default=10)
        p.add_argument("--segment-s", type=float, default=6.0)
        p.add_argument("--segment-kb", type=int, default=1536)
        p.add_argument("--concurrency", type=int, default=4)
        if name == "lag":
            p.add_argument("--seconds", type=float, default=60.0)
        else:
            p.add_argument("--outage", type=float, default=300.0)
    c = sub.add_parser("catalog")
    c.add_argument("--sessions", type=int, default=100_000)
    c.add_argument("--queries", type=int, default=200)
    c.add_argument("--limit", type=int, default=100, help="rows per page")
    k = sub.add_parser("components")
    k.add_argument("--copies", type=int, default=300)
    r = sub.add_parser("relay-cpu")
    r.add_argument("--publishers", type=int, default=4)
    r.add_argument("--viewers", type=int, default=1)
    r.add_argument("--seconds", type=float, default=30.0)
    r.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.what == "relay-cpu":
        run_relay_cpu(args)
        return
    runner = {"lag": run_lag, "outage": run_outage, "catalog": run_catalog,
              "components": run_components}[args.what]
    asyncio.run(runner(args))


if __name__ == "__main__":
    main()
