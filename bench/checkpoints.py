"""Checkpoint costs: CPU and bytes per checkpoint on a node with many open chains, and
`fieldrelay verify` throughput with witnesses against the same verify without them.

Part 1 writes `--chains` open session chains into a temporary data dir and, between
checkpoints, appends entries as live sessions do (a segment entry per chain every 6 s and a
GPS event every 2 s, at a `--interval` of 10 s), then times `Checkpointer.checkpoint()` (CPU
seconds of this process) and a witness's countersignature of each checkpoint; bytes per day
are the checkpoint log, the witness ledger and the countersignatures at one checkpoint per
interval.

Part 2 records `--sessions` sessions with real VP8+Opus segments, making `--checkpoints`
checkpoints while they grow (so each one claims more than the one before), seals them, lets a
second node countersign every checkpoint, and times `verify` of the data dir with and
without `--witness` that node, alternating the two `--rounds` times (the machine is shared, so
compare the runs of one invocation).

    .venv/bin/python -m bench.checkpoints [--chains 50] [--checkpoints 360] [--rounds 5]
        [--sessions 20] [--segments 10] [--segment-kb 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import tempfile
import time
from pathlib import Path

from bench.media import webm_segment
from recordings.checkpoints import Checkpointer
from recordings.layout import utc_iso
from recordings.signing import NodeKey
from recordings.store import LedgerFile
from recordings.verify import verify_path
from recordings.verify.checkpoints import CHECKPOINT_LOG
from recordings.verify.witnesses import load_witness
from recordings.witness import WitnessLedger

DAY_S = 24 * 3600


def open_chains(data: Path, key: NodeKey, node: LedgerFile, n: int) -> list[LedgerFile]:
    """`n` sessions being recorded, each with its start entry."""
    out = []
    for i in range(n):
        sid = f"20261206T1000{i // 60 % 60:02d}Z-o{i}-{i:08x}"
        folder = data / "sessions" / sid
        folder.mkdir(parents=True)
        (folder / "OPEN").write_text("recording\n")
        ledger = LedgerFile(folder, key)
        ledger.append({"kind": "session.start", "session": sid, "officer": f"o{i}",
                       "node": "node-1", "at": utc_iso(time.time()), "case": None,
                       "media": {"video": "video/vp8", "audio": "audio/opus"},
                       "container": "webm"})
        ledger.sign_head()
        node.append({"kind": "session.opened", "session": sid, "officer": f"o{i}",
                     "at": utc_iso(time.time())})
        out.append(ledger)
    return out


def live_interval(chains: list[LedgerFile], interval_s: float, tick: int) -> None:
    """What `interval_s` of live recording appends to each chain (segments every 6 s, GPS
    every 2 s), signed as the recorder signs."""
    segments, fixes = int(interval_s // 6) + (tick % 3 == 0), int(interval_s // 2)
    for ledger in chains:
        sid = ledger.dir.name
        for _ in range(fixes):
            ledger.append({"kind": "event", "session": sid, "at": utc_iso(time.time()),
                           "event": "gps", "lat": 43.8, "lon": 87.6, "accuracy": 10})
        for _ in range(segments):
            ledger.append({"kind": "segment", "session": sid, "officer": "o", "case": None,
                           "index": 1, "file": "seg-000001.webm", "size": 1,
                           "sha256": "0" * 64, "start": utc_iso(time.time()),
                           "end": utc_iso(time.time()), "media_start_ms": 0,
                           "media_end_ms": 1, "partial": False})
            ledger.sign_head()


def part1(root: Path, chains: int, interval_s: float, ticks: int) -> dict[str, float]:
    data, other = root / "node-1", root / "node-2"
    key = NodeKey.load_or_create(data)
    node = LedgerFile(data / "ledger", key, shared=True)
    ledgers = open_chains(data, key, node, chains)
    cps = Checkpointer(data, "node-1", key, node, interval_s, witness_dir=root / "witness-disk")
    witness = WitnessLedger(other, "node-2", NodeKey.load_or_create(other))
    pem = key.public_pem().decode()
    cpu, wcpu = [], []
    for tick in range(ticks):
        live_interval(ledgers, interval_s, tick)
        t0 = time.process_time()
        cp = cps.checkpoint()
        cpu.append(time.process_time() - t0)
        assert cp is not None
        t0 = time.process_time()
        countersig = witness.countersign(cp, pem, f"{tick + 1}-0")
        wcpu.append(time.process_time() - t0)
        assert countersig is not None
        cps.keep_countersig(countersig)
    per_day = DAY_S / interval_s
    log = (data / CHECKPOINT_LOG).stat().st_size / ticks
    wit = (other / "witness" / "ledger.jsonl").stat().st_size / ticks
    csig = (data / "checkpoints" / "countersigs.jsonl").stat().st_size / ticks
    return {"cpu_ms_median": statistics.median(cpu) * 1000,
            "cpu_ms_p95": sorted(cpu)[int(len(cpu) * 0.95)] * 1000,
            "witness_cpu_ms_median": statistics.median(wcpu) * 1000,
            "bytes_per_checkpoint": log, "log_mb_per_day": log * per_day / 1e6,
            "witness_mb_per_day": wit * per_day / 1e6,
            "countersigs_mb_per_day": csig * per_day / 1e6,
            "cpu_s_per_day": statistics.mean(cpu) * per_day}


def sealed_data_dir(root: Path, sessions: int, checkpoints: int, segments: int,
                    segment_bytes: int) -> tuple[Path, Path]:
    """A data dir of sealed sessions with real segments and `checkpoints` checkpoints of it,
    each countersigned by a second node; (data dir, witness data dir)."""
    data, other = root / "v-node-1", root / "v-node-2"
    key = NodeKey.load_or_create(data)
    node = LedgerFile(data / "ledger", key, shared=True)
    ledgers = open_chains(data, key, node, sessions)
    cps = Checkpointer(data, "node-1", key, node, 10.0)
    witness = WitnessLedger(other, "node-2", NodeKey.load_or_create(other))
    pem = key.public_pem().decode()
    # Real WebM, padded to a phone's bitrate (the verifier only hashes the bytes).
    segs = [webm_segment(s, seconds=6.0) for s in range(segments)]
    segs = [b + bytes(max(0, segment_bytes - len(b))) for b in segs]
    # Recorded as live: every checkpoint sees the chains grown (a GPS fix, and in turn the
    # sessions' segments), so every one of them is a claim a verifier must check.
    pending = [(ledger, i, index) for index in range(1, segments + 1)
               for i, ledger in enumerate(ledgers)]
    per_checkpoint = max(1, -(-len(pending) // checkpoints))
    for n in range(checkpoints):
        ledger = ledgers[n % len(ledgers)]
        ledger.append({"kind": "event", "session": ledger.dir.name, "at": utc_iso(time.time()),
                       "event": "gps", "lat": 43.8, "lon": 87.6, "accuracy": 10})
        for ledger, i, index in pending[:per_checkpoint]:
            sid = ledger.dir.name
            name = f"seg-{index:06d}.webm"
            blob = segs[index - 1] + i.to_bytes(4, "big")  # each file its own
            (ledger.dir / name).write_bytes(blob)
            ledger.append({"kind": "segment", "session": sid, "officer": f"o{i}",
                           "case": None, "index": index, "file": name, "size": len(blob),
                           "sha256": hashlib.sha256(blob).hexdigest(),
                           "start": utc_iso(time.time()), "end": utc_iso(time.time()),
                           "media_start_ms": 0, "media_end_ms": 6000, "partial": False})
            ledger.sign_head()
        del pending[:per_checkpoint]
        cp = cps.checkpoint(force=True)
        assert cp is not None
        countersig = witness.countersign(cp, pem, f"{n + 1}-0")
        assert countersig is not None
        cps.keep_countersig(countersig)
    for ledger in ledgers:
        sid = ledger.dir.name
        seal = ledger.append({"kind": "session.seal", "session": sid,
                              "at": utc_iso(time.time()), "state": "sealed",
                              "segments": segments, "reason": "stopped"})
        ledger.sign_head()
        node.append({"kind": "session.sealed", "session": sid, "at": seal["at"],
                     "state": "sealed", "head_seq": seal["seq"], "head_hash": seal["hash"]})
        node.sign_head()
        (ledger.dir / "OPEN").unlink()
    cp = cps.checkpoint(force=True)
    assert cp is not None
    countersig = witness.countersign(cp, pem, f"{checkpoints + 1}-0")
    assert countersig is not None
    cps.keep_countersig(countersig)
    return data, other


def part2(root: Path, sessions: int, checkpoints: int, rounds: int, segments: int,
          segment_bytes: int) -> dict[str, float]:
    data, other = sealed_data_dir(root, sessions, checkpoints, segments, segment_bytes)
    media = sum(p.stat().st_size for p in (data / "sessions").glob("*/seg-*"))
    plain: list[float] = []
    witnessed: list[float] = []
    for _ in range(rounds):
        for runs, witnesses in ((plain, []), (witnessed, [str(other)])):
            t0 = time.perf_counter()
            report = verify_path(data, None, None, [load_witness(w) for w in witnesses])
            runs.append(time.perf_counter() - t0)
            assert report.ok, report.first_break
    return {"media_mb": media / 1e6, "without_s": statistics.median(plain),
            "with_s": statistics.median(witnessed),
            "without_mb_s": media / 1e6 / statistics.median(plain),
            "with_mb_s": media / 1e6 / statistics.median(witnessed),
            "slower_pct": (statistics.median(witnessed) / statistics.median(plain) - 1) * 100}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=50)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--checkpoints", type=int, default=360)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--segments", type=int, default=10, help="6 s segments per session")
    parser.add_argument("--segment-kb", type=int, default=1000,
                        help="bytes of a 6 s segment, in KB (1000: about 1.3 Mbit/s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-checkpoints-") as tmp:
        one = part1(Path(tmp), args.chains, args.interval, args.ticks)
        print(f"checkpoint of {args.chains} open chains (+ node ledger), {args.ticks} ticks:")
        for k, v in one.items():
            print(f"  {k}: {v:.2f}")
        two = part2(Path(tmp), args.sessions, args.checkpoints, args.rounds, args.segments,
                    args.segment_kb * 1000)
        print(f"verify of a data dir with {args.sessions} sealed sessions of {args.segments} "
              f"segments, {args.checkpoints} countersigned checkpoints, median of "
              f"{args.rounds} alternating rounds:")
        for k, v in two.items():
            print(f"  {k}: {v:.3f}")


if __name__ == "__main__":
    main()
