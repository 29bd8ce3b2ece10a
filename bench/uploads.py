"""Upload throughput over tus against plain `cp` of the same file on the same disk, the node's
CPU per MiB, and the live relay while a large upload runs.

    unshare -n bash -c 'ip link set lo up && exec python -m bench.uploads'

Two nodes run side by side, one per receive path (`--paths`): "loop" reads upload bodies on
the event loop (`--upload-receive-threads 0`), "thread" has them moved off the socket by
threads (the default). For each size (1, 50 and 500 MiB by default) and round, alternately:
`cp` of the file (and `cp` followed by an fsync of the copy, since the node fsyncs what it
receives), then an upload of the same file by an officer to each node in turn, once per
client (`--clients`) and way of starting it (`--creations`): "with-upload" has the POST carry
the first 4 MiB (all of a photo), as the officer's page does, and one PATCH the rest;
"separate" is a POST, then one PATCH of every byte. Each upload is timed until the node's
answer to its last byte (the material checked and sealed). The "sendfile" client has the
kernel send the file, so the load generator costs the two shared cores next to nothing (a
phone sends from its own CPU); the "aiohttp" client reads and sends it in pieces, as earlier
runs did. The node's CPU is read from /proc around each upload. Then, for each node, a live
stream (a publisher and a viewer in a process of their own) runs for a window without uploads
and a window with one upload of the largest size: the viewer's frame rate and the node's
in-node forwarding latency (its /metrics histogram, p50 and p99) in each.
The machine may be shared: each round alternates cp and the uploads so all see the same load.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import mmap
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench import tus_client as tus
from bench.common import NodeProcess, free_port
from bench.relay_cpu import percentiles_ms
from bench.stream_probe import start_probe, stop_probe
from fieldrelay.tus import encode_metadata
from relay import aiortc_hooks

MIB = 1 << 20
# The receive paths compared, and the node flags that choose them.
PATHS: dict[str, tuple[str, ...]] = {"loop": ("--upload-receive-threads", "0"), "thread": ()}
TICKS = os.sysconf("SC_CLK_TCK")
FILE_CHUNK = 4 * MIB
# What the officer's page sends with the creation (web/js/tus-upload.js CHUNK_BYTES).
FIRST_BYTES = 4 * MIB
WITH_UPLOAD, SEPARATE = "with-upload", "separate"


def only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def make_file(path: Path, size: int) -> str:
    """Random bytes (nothing compresses them), fsynced; returns their SHA-256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, FILE_CHUNK))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
        f.flush()
        os.fsync(f.fileno())
    return digest.hexdigest()


def warm_memory(gib: float) -> float:
    """Touch `gib` GiB of fresh memory once, then free it; returns the seconds it took.

    This VM's RAM is backed by the host lazily: a page written for the first time since boot
    costs about 3 ms per MiB (measured: a 1 MiB write into the page cache took 3.0-3.4 ms
    on fresh pages, 0.2 ms once they had been touched), whoever writes it. A server that has
    run a while has touched its RAM; a benchmark on a fresh VM would otherwise time this
    machine's first touches, unevenly (the copies `cp` deletes are reused, the node's sealed
    files are not)."""
    started = time.perf_counter()
    size = int(gib * (1 << 30))
    if size:
        with mmap.mmap(-1, size) as area:
            for offset in range(0, size, mmap.PAGESIZE):
                area[offset] = 1
    return time.perf_counter() - started


def drop_cache(path: Path) -> None:
    """Ask the kernel to forget the file's pages, so each read starts from the disk alike."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def timed_cp(src: Path, dst: Path) -> tuple[float, float]:
    """(seconds of `cp`, seconds of `cp` then fsync of the copy). The copy stays until the
    caller removes it, as a sealed material stays: both then take their page cache from the
    same memory (on this VM a page of RAM touched for the first time costs about 3 ms per MiB
    of it, where a page freed by a deleted file is reused at once; a `cp` whose copy were
    deleted at once would reuse its own pages round after round, the uploads never)."""
    drop_cache(src)
    started = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    copied = time.perf_counter() - started
    fd = os.open(dst, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    synced = time.perf_counter() - started
    return copied, synced


async def file_body(path: Path, start: int = 0, end: int | None = None) -> Any:
    """The file's bytes from `start` to `end`, read off the event loop a piece at a time."""
    f = await asyncio.to_thread(open, path, "rb")
    try:
        left = (end if end is not None else os.fstat(f.fileno()).st_size) - start
        f.seek(start)
        while left > 0 and (chunk := await asyncio.to_thread(f.read, min(FILE_CHUNK, left))):
            left -= len(chunk)
            yield chunk
    finally:
        f.close()


def own_cpu() -> float:
    """This process's CPU so far (the client's side of an upload)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _answer_head(conn: socket.socket) -> tuple[int, dict[str, str]]:
    """One answer's status and headers off the connection; its body is read and dropped."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        piece = conn.recv(4096)
        if not piece:
            raise ConnectionError("the node closed the connection mid-answer")
        raw += piece
    head, rest = raw.split(b"\r\n\r\n", 1)
    status_line, *lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines)}
    left = int(headers.get("content-length", "0")) - len(rest)
    while left > 0:
        left -= len(conn.recv(min(left, 65536)))
    return int(status_line.split()[1]), headers


class KeptConnections:
    """One kept-alive connection per node for the sendfile client, from item to item, as a
    phone's browser keeps its own (a new one when the node closed the last)."""

    def __init__(self) -> None:
        self._open: dict[str, socket.socket] = {}

    def get(self, base: str) -> socket.socket:
        conn = self._open.get(base)
        if conn is not None and select.select([conn], [], [], 0)[0]:
            # Readable between answers: the node closed it (or broke the protocol).
            self.drop(base)
            conn = None
        if conn is None:
            url = urlsplit(base)
            assert url.hostname is not None and url.port is not None
            conn = self._open[base] = socket.create_connection((url.hostname, url.port),
                                                                timeout=120)
        return conn

    def drop(self, base: str) -> None:
        conn = self._open.pop(base, None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        for base in list(self._open):
            self.drop(base)


def sendfile_upload(conns: KeptConnections, base: str, token: str, src: Path, size: int,
                    meta: dict[str, str], first: int) -> None:
    """POST carrying the file's first `first` bytes (creation-with-upload; none: a creation
    alone), then PATCH the rest, on the node's kept-alive connection, the bodies sent by the
    kernel (sendfile): a client that costs the shared cores next to nothing, as a phone sends
    from its own CPU. Raises unless the node answers 201, then 204 (sealed)."""
    url = urlsplit(base)
    common = (f"Host: {url.netloc}\r\nAuthorization: Bearer {token}\r\n"
              "Tus-Resumable: 1.0.0\r\n")
    body_type = "Content-Type: application/offset+octet-stream\r\n"
    conn = conns.get(base)
    try:
        _send_item(conn, common, body_type, src, size, meta, first)
    except BaseException:
        conns.drop(base)  # mid-answer: the connection's state is unknown
        raise


def _send_item(conn: socket.socket, common: str, body_type: str, src: Path, size: int,
               meta: dict[str, str], first: int) -> None:
    with open(src, "rb") as f:
        conn.sendall((f"POST /api/uploads HTTP/1.1\r\n{common}Upload-Length: {size}\r\n"
                      f"Upload-Metadata: {encode_metadata(meta)}\r\n"
                      f"{body_type if first else ''}Content-Length: {first}\r\n\r\n").encode())
        if first:
            conn.sendfile(f, 0, first)  # os.sendfile, waiting on the socket as it fills
        status, headers = _answer_head(conn)
        if status != 201 or int(headers.get("upload-offset", "0")) != first:
            raise AssertionError(f"POST answered {status} {headers}")
        if first == size:
            return
        conn.sendall((f"PATCH {headers['location']} HTTP/1.1\r\n{common}"
                      f"Upload-Offset: {first}\r\n{body_type}"
                      f"Content-Length: {size - first}\r\n\r\n").encode())
        conn.sendfile(f, first, size - first)
        status, _ = _answer_head(conn)
        if status != 204:
            raise AssertionError(f"PATCH answered {status}")


def item_meta(src: Path, sha: str) -> dict[str, str]:
    """Upload-Metadata for one upload of `src`: each upload its own item (a note of its own),
    since the node answers a sealed item sent again with the upload it sealed."""
    return {"kind": "video", "mime": "video/mp4", "filename": src.name, "sha256": sha,
            "note": os.urandom(8).hex()}


async def timed_upload(http: aiohttp.ClientSession, conns: KeptConnections, node: NodeProcess,
                       token: str, src: Path, size: int, sha: str, client: str = "aiohttp",
                       creation: str = WITH_UPLOAD) -> tuple[float, float, float]:
    """(seconds from POST to the sealed answer, node CPU seconds meanwhile, client CPU).
    `creation`: WITH_UPLOAD sends the first FIRST_BYTES (all of a photo) with the POST, as
    the officer's page does; SEPARATE sends every byte by PATCH after it."""
    assert node.proc is not None
    drop_cache(src)
    meta = item_meta(src, sha)
    first = min(size, FIRST_BYTES) if creation == WITH_UPLOAD else 0
    cpu0, mine0 = cpu_seconds(node.proc.pid), own_cpu()
    started = time.perf_counter()
    if client == "sendfile":
        await asyncio.to_thread(sendfile_upload, conns, node.url, token, src, size, meta,
                                first)
    else:
        if first:
            created = await tus.create_with_data(http, node.url, token, size, meta,
                                                 file_body(src, 0, first),
                                                 {"Content-Length": str(first)})
        else:
            created = await tus.create(http, node.url, token, size, meta)
        assert created.status == 201, created.body
        location = created.headers["Location"]
        assert int(created.headers.get("Upload-Offset", "0")) == first, created.headers
        if first < size:
            headers = {**tus.TUS, **tus.auth(token), "Upload-Offset": str(first),
                       "Content-Type": "application/offset+octet-stream",
                       "Content-Length": str(size - first)}
            async with http.patch(f"{node.url}{location}", headers=headers,
                                  data=file_body(src, first)) as resp:
                assert resp.status == 204, (resp.status, await resp.text())
    elapsed = time.perf_counter() - started
    return elapsed, cpu_seconds(node.proc.pid) - cpu0, own_cpu() - mine0


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


@dataclass
class Uploads:
    """One receive path's rounds of one size."""

    upload_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    client_cpu_s: list[float] = field(default_factory=list)


@dataclass
class Row:
    size_mib: int
    cp_s: list[float] = field(default_factory=list)
    cp_fsync_s: list[float] = field(default_factory=list)
    paths: dict[str, Uploads] = field(default_factory=dict)

    def rate(self, seconds: list[float]) -> float:
        return self.size_mib / median(seconds)


def latency_buckets(node: NodeProcess) -> list[tuple[float, float]]:
    with urllib.request.urlopen(node.url + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    total: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith("fieldrelay_forward_latency_seconds_bucket"):
            le = line.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            total[bound] = total.get(bound, 0.0) + float(line.split()[-1])
    return sorted(total.items())


async def throughput(args: argparse.Namespace, nodes: dict[str, NodeProcess],
                     work: Path) -> list[Row]:
    conns = KeptConnections()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        try:
            return await _throughput(args, nodes, work, http, conns)
        finally:
            conns.close()


async def _throughput(args: argparse.Namespace, nodes: dict[str, NodeProcess], work: Path,
                      http: aiohttp.ClientSession, conns: KeptConnections) -> list[Row]:
    rows = []
    tokens = {name: node.login("o2") for name, node in nodes.items()}
    for size_mib in args.sizes:
        src = work / f"item-{size_mib}.bin"
        sha = make_file(src, size_mib * MIB)
        ways = [(name, client, creation) for name in nodes for client in args.clients
                for creation in args.creations]
        row = Row(size_mib, paths={", ".join(way): Uploads() for way in ways})
        for _ in range(args.rounds):
            copied, synced = timed_cp(src, work / f"copy-{len(row.cp_s)}.bin")
            row.cp_s.append(copied)
            row.cp_fsync_s.append(synced)
            for name, client, creation in ways:
                seconds, cpu, mine = await timed_upload(
                    http, conns, nodes[name], tokens[name], src, size_mib * MIB, sha,
                    client, creation)
                done = row.paths[", ".join((name, client, creation))]
                done.upload_s.append(seconds)
                done.cpu_s.append(cpu)
                done.client_cpu_s.append(mine)
        line = (f"{size_mib} MiB: cp {row.rate(row.cp_s):.0f} MiB/s, cp+fsync "
                f"{row.rate(row.cp_fsync_s):.0f} MiB/s")
        for name, done in row.paths.items():
            line += (f"; {name} {row.rate(done.upload_s):.0f} MiB/s, node CPU "
                     f"{1000 * median(done.cpu_s) / size_mib:.2f} ms/MiB")
        print(line, flush=True)
        await asyncio.to_thread(_remove, src, work)
        rows.append(row)
    return rows


async def live_windows(args: argparse.Namespace, node: NodeProcess, work: Path,
                       label: str) -> dict[str, dict[str, float]]:
    """The viewer's fps and the node's forwarding latency without and with a big upload."""
    probe = start_probe(node, "o1", "c1")
    out: dict[str, dict[str, float]] = {}
    src = work / "live.bin"
    size = args.live_mib * MIB
    sha = make_file(src, size)
    conns = KeptConnections()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
            token = node.login("o2")
            await asyncio.sleep(2)
            mark, lat0 = probe.read(), latency_buckets(node)
            await asyncio.sleep(args.window)
            fps, lat1 = probe.fps_since(mark), latency_buckets(node)
            p50, p99 = percentiles_ms(lat0, lat1)
            out["idle"] = {"fps": fps, "p50_ms": p50, "p99_ms": p99, "seconds": args.window}
            mark, lat0 = probe.read(), latency_buckets(node)
            seconds, cpu, _ = await timed_upload(http, conns, node, token, src, size, sha,
                                                 args.clients[0], args.creations[0])
            fps, lat1 = probe.fps_since(mark), latency_buckets(node)
            p50, p99 = percentiles_ms(lat0, lat1)
            out["upload"] = {"fps": fps, "p50_ms": p50, "p99_ms": p99, "seconds": seconds,
                             "mib_s": args.live_mib / seconds, "cpu_s": cpu}
    finally:
        conns.close()
        stop_probe(probe)
        src.unlink(missing_ok=True)
    for name, w in out.items():
        print(f"live stream ({label}), {name}: viewer {w['fps']:.1f} fps, in-node forwarding "
              f"latency "
              f"p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms over {w['seconds']:.1f} s",
              flush=True)
    return out


@dataclass
class Parallel:
    """Items of one size sent by several clients at once against as many `cp` at once."""

    size_mib: int
    clients: int
    items: int  # per client and round
    cp_s: list[float] = field(default_factory=list)
    upload_s: dict[str, list[float]] = field(default_factory=dict)
    cpu_s: dict[str, list[float]] = field(default_factory=dict)

    def rate(self, seconds: list[float]) -> float:
        return self.size_mib * self.clients * self.items / median(seconds)


def _remove(src: Path, work: Path) -> None:
    """The item's source and the copies `cp` made of it."""
    for path in [src, *work.glob("copy-*.bin")]:
        path.unlink()


def parallel_cp(sources: list[Path], work: Path, items: int) -> float:
    """Seconds for `items` copies of each source, one `cp` after another per source, all
    sources at once (each source's page cache dropped before each copy). The copies stay,
    as in timed_cp."""
    batch = len(list(work.glob("copy-*")))
    def chain(i: int, src: Path) -> None:
        for k in range(items):
            drop_cache(src)
            subprocess.run(["cp", str(src), str(work / f"copy-{batch}-{i}-{k}.bin")],
                           check=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(len(sources)) as pool:
        list(pool.map(chain, range(len(sources)), sources))
    return time.perf_counter() - started


def parallel_uploads(node: NodeProcess, token: str, sources: list[tuple[Path, str]],
                     items: int) -> tuple[float, float]:
    """(seconds, node CPU seconds) for `items` uploads of each source by a client of its own
    (the sendfile client, creation-with-upload, a kept connection each), all at once."""
    assert node.proc is not None
    def chain(src: Path, sha: str) -> None:
        conns = KeptConnections()
        size = src.stat().st_size
        try:
            for _ in range(items):
                drop_cache(src)
                sendfile_upload(conns, node.url, token, src, size, item_meta(src, sha),
                                min(size, FIRST_BYTES))
        finally:
            conns.close()

    cpu0 = cpu_seconds(node.proc.pid)
    started = time.perf_counter()
    with ThreadPoolExecutor(len(sources)) as pool:
        list(pool.map(lambda pair: chain(*pair), sources))
    return time.perf_counter() - started, cpu_seconds(node.proc.pid) - cpu0


def parallel_rounds(args: argparse.Namespace, nodes: dict[str, NodeProcess],
                    work: Path) -> list[Parallel]:
    """For each size in --parallel-sizes: --parallel clients at once, alternating with as
    many `cp` at once, --rounds times."""
    out = []
    tokens = {name: node.login("o2") for name, node in nodes.items()}
    for size_mib in args.parallel_sizes:
        paths = [work / f"par-{i}.bin" for i in range(args.parallel)]
        sources = [(path, make_file(path, size_mib * MIB)) for path in paths]
        row = Parallel(size_mib, args.parallel, args.parallel_items,
                       upload_s={name: [] for name in nodes}, cpu_s={name: [] for name in nodes})
        for _ in range(args.rounds):
            row.cp_s.append(parallel_cp([p for p, _ in sources], work, args.parallel_items))
            for name, node in nodes.items():
                seconds, cpu = parallel_uploads(node, tokens[name], sources, args.parallel_items)
                row.upload_s[name].append(seconds)
                row.cpu_s[name].append(cpu)
        line = f"{size_mib} MiB x {args.parallel} at once: cp {row.rate(row.cp_s):.0f} MiB/s"
        for name in nodes:
            line += f"; {name} {row.rate(row.upload_s[name]):.0f} MiB/s"
        print(line, flush=True)
        for path in [p for p, _ in sources] + list(work.glob("copy-*.bin")):
            path.unlink()
        out.append(row)
    return out


def parallel_table(rows: list[Parallel]) -> str:
    lines = ["| items | receive path | `cp` at once, MiB/s | uploads at once (tus, sealed), MiB/s "
             "| upload / `cp` | node CPU ms per MiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        for name, seconds in r.upload_s.items():
            rate = r.rate(seconds)
            cpu = 1000 * median(r.cpu_s[name]) / (r.size_mib * r.clients * r.items)
            lines.append(f"| {r.clients} x {r.items} x {r.size_mib} MiB | {name} "
                         f"| {r.rate(r.cp_s):.0f} | {rate:.0f} | {rate / r.rate(r.cp_s):.0%} "
                         f"| {cpu:.2f} |")
    return "\n".join(lines)


def table(rows: list[Row]) -> str:
    lines = ["| item | receive path, client, creation | `cp` MiB/s | `cp` + fsync MiB/s "
             "| upload (tus, sealed) MiB/s | upload / `cp` | upload / (`cp` + fsync) "
             "| node CPU ms per MiB | one core's worth of node CPU, MiB/s "
             "| client CPU ms per MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        for name, done in r.paths.items():
            cpu = 1000 * median(done.cpu_s) / r.size_mib
            mine = 1000 * median(done.client_cpu_s) / r.size_mib
            rate = r.rate(done.upload_s)
            lines.append(f"| {r.size_mib} MiB | {name} | {r.rate(r.cp_s):.0f} "
                         f"| {r.rate(r.cp_fsync_s):.0f} | {rate:.0f} "
                         f"| {rate / r.rate(r.cp_s):.0%} | {rate / r.rate(r.cp_fsync_s):.0%} "
                         f"| {cpu:.2f} | {f'{1000 / cpu:.0f}' if cpu else '-'} | {mine:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1, 50, 500], help="item sizes in MiB (1,50,500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per size (3; medians)")
    parser.add_argument("--live-mib", type=int, default=500,
                        help="the upload that runs beside the live stream (500 MiB)")
    parser.add_argument("--window", type=float, default=15.0,
                        help="seconds of the window without uploads (15)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the node's data and the files go (one disk for both)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--paths", type=lambda s: s.split(","), default=list(PATHS),
                        help="receive paths, one node each, in this order (loop,thread)")
    parser.add_argument("--clients", type=lambda s: s.split(","),
                        default=["sendfile", "aiohttp"],
                        help="how the bench sends each PATCH body, in turn: sendfile (the "
                             "kernel sends the file; the client costs the cores next to "
                             "nothing) and aiohttp (read in pieces and sent by its client)")
    parser.add_argument("--creations", type=lambda s: s.split(","),
                        default=[WITH_UPLOAD, SEPARATE],
                        help="how each upload starts, in turn: with-upload (the POST carries "
                             "the first 4 MiB, as the officer's page sends them) and separate "
                             "(POST, then every byte by PATCH)")
    parser.add_argument("--warm-gib", type=float, default=16.0,
                        help="GiB of RAM touched once before the runs (16; see warm_memory)")
    parser.add_argument("--parallel", type=int, default=4,
                        help="clients at once for the parallel rounds (4; 0: none), against "
                             "as many `cp` at once: many officers' phones, one node")
    parser.add_argument("--parallel-items", type=int, default=10,
                        help="items per client and round in the parallel rounds (10)")
    parser.add_argument("--parallel-sizes", type=lambda s: [int(x) for x in s.split(",")],
                        default=[1], help="item sizes in MiB for the parallel rounds (1)")
    args = parser.parse_args()
    if not only_loopback():
        print("run inside `unshare -n` (see the docstring): the live part carries WebRTC",
              file=sys.stderr)
        return 2
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    print(f"RAM warmed: {args.warm_gib:g} GiB in {warm_memory(args.warm_gib):.1f} s", flush=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="fieldrelay-uploads-", dir=args.workdir) as tmp:
        work = Path(tmp)
        nodes: dict[str, NodeProcess] = {}
        live: dict[str, dict[str, dict[str, float]]] = {}
        try:
            for name in args.paths:
                node = nodes[name] = NodeProcess(work / f"data-{name}", free_port())
                for user, role in (("o1", "officer"), ("o2", "officer"),
                                   ("c1", "commander")):
                    node.add_user(user, role)
                node.start("--upload-max-video-mb",
                           str(max([*args.sizes, args.live_mib]) + 1), *PATHS[name])
            rows = asyncio.run(throughput(args, nodes, work))
            parallel = parallel_rounds(args, nodes, work) if args.parallel else []
            if args.window > 0:
                for name, node in nodes.items():
                    live[name] = asyncio.run(live_windows(args, node, work, name))
        finally:
            for node in nodes.values():
                if node.proc is not None:
                    node.stop()
    print(f"load average after: {os.getloadavg()}")
    print()
    print(table(rows))
    if parallel:
        print()
        print(parallel_table(parallel))
    if args.json:
        args.json.write_text(json.dumps({"rows": [dataclasses.asdict(r) for r in rows],
                                         "parallel": [dataclasses.asdict(p) for p in parallel],
                                         "live": live}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
