"""How much evidence a kill -9 loses: the CI crash test, repeated at random moments.

Each trial starts a fresh `fieldrelay serve --ice-host 127.0.0.1` with its own data dir and
publishes to it from another process (relay_cpu.py's publisher: 640x480@30 VP8 pinned at
--video-kbps, and a 440 Hz Opus tone). A random time, uniform in [--min-wait, --max-wait]
seconds after the publisher's first video frame, the node gets SIGKILL. The publisher's own
clock says how long media had been sent: kill time - first frame time (CLOCK_MONOTONIC is
system-wide, so both processes read the same clock). The node is then started again on the
same data dir (crash recovery seals the session `interrupted` before /healthz answers),
`fieldrelay verify` checks the session folder and the data dir, and PyAV decodes every
segment: recorded = last video frame pts - first video frame pts across the segments, and
loss = sent - recorded.

It carries WebRTC media, so it only runs in a network namespace that has loopback only:

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.crash_loss'

Options: --trials N (24), --seed S (printed, so a run can be repeated), --min-wait/--max-wait
(1.5/12 s), --video-kbps (1000), --json FILE, --workdir DIR (keeps data dirs and logs).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiortc
import av

from bench.common import REPO, free_port, make_dir, only_loopback
from bench.nodes import Client, FieldRelay, await_ready, start_client

MAX_TRIALS = 500
LOSS_BOUND_S = 0.5
STEP_TIMEOUT = 60.0  # any one step: node start, publisher connect, verify
TRIAL_OVERHEAD_S = 240.0  # a whole trial is bounded by this plus its wait


class CrashNode(FieldRelay):
    """A fieldrelay node that can be killed with SIGKILL and started again on its data dir."""

    started_once = False

    async def prepare(self, publishers: int) -> None:
        if not self.started_once:
            await super().prepare(publishers)

    async def after_start(self, publishers: int) -> None:
        if not self.started_once:
            await super().after_start(publishers)
        self.started_once = True

    def kill9(self) -> float:
        """SIGKILL the node; returns time.monotonic() just before the signal."""
        assert self.proc is not None
        t = time.monotonic()
        os.kill(self.proc.pid, signal.SIGKILL)
        return t

    def new_port(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"


@dataclass
class Trial:
    trial: int
    wait_s: float
    sent_s: float | None = None
    frames_sent: int | None = None  # read from the publisher a few ms before the kill
    frames_read_ms_before_kill: float | None = None
    recorded_s: float | None = None
    frames_recorded: int | None = None
    max_gap_ms: float | None = None
    segments: int | None = None
    partial_segments: int | None = None
    open_after_crash: bool | None = None
    open_after_restart: bool | None = None
    seal: str | None = None  # "<state>/<reason>" of the session's last entry
    verify_session_rc: int | None = None
    verify_session_out: str = ""
    verify_datadir_rc: int | None = None
    decode_errors: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def loss_s(self) -> float | None:
        if self.sent_s is None or self.recorded_s is None:
            return None
        return self.sent_s - self.recorded_s

    @property
    def interrupted(self) -> bool:
        return (self.seal == "interrupted/recovered_after_crash" and self.open_after_crash is True
                and self.open_after_restart is False)


def verify(python: str, path: Path) -> tuple[int, str]:
    """`fieldrelay verify PATH`: exit code and what it printed."""
    try:
        res = subprocess.run([python, "-m", "fieldrelay", "verify", str(path)],
                             capture_output=True, text=True, timeout=STEP_TIMEOUT, cwd=REPO,
                             check=False)
    except subprocess.TimeoutExpired:
        return -1, f"verify did not finish in {STEP_TIMEOUT:g} s"
    return res.returncode, (res.stdout + res.stderr).strip()


def decode_video(folder: Path) -> tuple[float, int, float, list[str]]:
    """(last - first video pts in seconds, frames, largest gap between frames in ms, errors)."""
    times: list[float] = []
    errors: list[str] = []
    for seg in sorted(folder.glob("seg-*")):
        try:
            with av.open(str(seg)) as container:
                if not container.streams.video:
                    continue
                for frame in container.decode(video=0):
                    if frame.pts is not None and frame.time_base is not None:
                        times.append(float(frame.pts * frame.time_base))
        except av.error.FFmpegError as exc:  # keep what decoded before the damage
            errors.append(f"{seg.name} ({seg.stat().st_size} bytes): {exc.strerror}")
    if not times:
        return 0.0, 0, 0.0, errors
    times.sort()
    gap = max((b - a for a, b in itertools.pairwise(times)), default=0.0)
    return times[-1] - times[0], len(times), 1000 * gap, errors


def read_ledger(path: Path) -> list[dict[str, Any]]:
    entries = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entries.append(json.loads(line))
    return entries


async def run_trial(index: int, wait_s: float, workdir: Path, args: argparse.Namespace) -> Trial:
    result = Trial(index, wait_s)
    node = CrashNode(make_dir(workdir / f"trial-{index:02d}"), args.python)
    pub: Client | None = None
    try:
        await asyncio.wait_for(node.start(1), STEP_TIMEOUT)
        url, token = node.whip(0)
        pub = await start_client(node, "publisher", 0, url, token,
                                 ["--video-kbps", str(args.video_kbps)])
        await await_ready([pub])
        deadline = time.monotonic() + STEP_TIMEOUT
        while (first := (await pub.stats()).get("first_frame_t")) is None:
            if time.monotonic() > deadline:
                raise RuntimeError("the publisher sent no frame")
            await asyncio.sleep(0.02)
        await asyncio.sleep(max(0.0, first + wait_s - time.monotonic()))
        before = await pub.stats()  # frames handed to the encoder so far, read just before the kill
        t_kill = node.kill9()
        result.sent_s = t_kill - first
        result.frames_sent = int(before["frames"])
        result.frames_read_ms_before_kill = 1000 * (t_kill - float(before["t"]))
        assert node.proc is not None
        await asyncio.wait_for(node.proc.wait(), 10)
        await pub.stop()
        pub = None

        folders = [p for p in (node.data / "sessions").iterdir() if p.is_dir()]
        if len(folders) != 1:
            raise RuntimeError(f"expected one session folder, found {len(folders)}")
        folder = folders[0]
        result.open_after_crash = (folder / "OPEN").exists()

        node.new_port()
        await asyncio.wait_for(node.start(1), STEP_TIMEOUT)  # recovery runs before /healthz
        result.open_after_restart = (folder / "OPEN").exists()
        entries = read_ledger(folder / "ledger.jsonl")
        last = entries[-1] if entries else {}
        if last.get("kind") == "session.seal":
            result.seal = f"{last.get('state')}/{last.get('reason')}"
        else:
            result.seal = f"not sealed (last entry {last.get('kind')})"
        segs = [e for e in entries if e.get("kind") == "segment"]
        result.segments = len(segs)
        result.partial_segments = sum(1 for e in segs if e.get("partial"))
        rc, out = await asyncio.to_thread(verify, args.python, folder)
        result.verify_session_rc, result.verify_session_out = rc, out
        result.verify_datadir_rc, _ = await asyncio.to_thread(verify, args.python, node.data)
        span, frames, gap, errors = await asyncio.to_thread(decode_video, folder)
        result.recorded_s, result.frames_recorded = span, frames
        result.max_gap_ms, result.decode_errors = gap, errors
    finally:
        if pub is not None:
            await pub.stop()
        await node.stop()
    return result


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p * len(ordered)) - 1)]


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(trials: list[Trial]) -> str:
    rows = ["| trial | kill after (s) | sent (s) | recorded (s) | loss (s) | frames sent/recorded "
            "| max gap (ms) | segments (partial) | seal | verify session / data dir |",
            "|" + "---|" * 10]
    for t in trials:
        if t.error:
            rows.append(f"| {t.trial} | {t.wait_s:.2f} | " + " | ".join(["-"] * 7)
                        + f" | error: {t.error} |")
            continue
        rows.append(
            f"| {t.trial} | {t.wait_s:.2f} | {fmt(t.sent_s, '.3f')} | {fmt(t.recorded_s, '.3f')} | "
            f"{fmt(t.loss_s, '.3f')} | {t.frames_sent}/{t.frames_recorded} | "
            f"{fmt(t.max_gap_ms, '.0f')} | {t.segments} ({t.partial_segments}) | {t.seal} | "
            f"{t.verify_session_rc} / {t.verify_datadir_rc} |")
    return "\n".join(rows)


def summary(trials: list[Trial]) -> str:
    done = [t for t in trials if t.error is None]
    losses = [t.loss_s for t in done if t.loss_s is not None]
    lines = [
        f"trials: {len(trials)} ({len(trials) - len(done)} did not complete)",
        f"verified intact (fieldrelay verify <session folder> exit 0): "
        f"{sum(t.verify_session_rc == 0 for t in done)}/{len(trials)}; "
        f"data dir exit 0: {sum(t.verify_datadir_rc == 0 for t in done)}/{len(trials)}",
        f"sealed interrupted (recovered_after_crash, OPEN removed): "
        f"{sum(t.interrupted for t in done)}/{len(trials)}",
    ]
    if losses:
        lines.append(
            f"loss (sent - recorded video span), s: min {min(losses):.3f}, "
            f"p50 {pct(losses, 0.5):.3f}, p90 {pct(losses, 0.9):.3f}, max {max(losses):.3f}; "
            f"<= {LOSS_BOUND_S:g} s in {sum(x <= LOSS_BOUND_S for x in losses)}/{len(losses)}")
        gaps = [t.max_gap_ms for t in done if t.max_gap_ms is not None]
        lines.append(f"largest gap between recorded frames: {max(gaps):.0f} ms")
    decode_errors = [e for t in done for e in t.decode_errors]
    if decode_errors:
        lines.append(f"segments PyAV could not open or read to the end ({len(decode_errors)}; "
                     "frames before the error are counted): " + "; ".join(decode_errors[:5]))
    for t in done:
        if t.verify_session_rc != 0:
            lines.append(f"trial {t.trial} verify: {t.verify_session_out[-500:]}")
    return "\n".join(lines)


async def orchestrate(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    waits = [rng.uniform(args.min_wait, args.max_wait) for _ in range(args.trials)]
    trials: list[Trial] = []
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.workdir:
            workdir = make_dir(Path(args.workdir))
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="crash-loss-")))
        for i, wait_s in enumerate(waits, 1):
            try:
                t = await asyncio.wait_for(run_trial(i, wait_s, workdir, args),
                                           wait_s + TRIAL_OVERHEAD_S)
            except Exception as exc:  # one failed trial is a row, not the end of the run
                t = Trial(i, wait_s, error=f"{type(exc).__name__}: {exc}"[:300])
            trials.append(t)
            print(f"[{i}/{len(waits)}] kill after {wait_s:.2f} s: "
                  + (f"error {t.error}" if t.error else
                     f"sent {fmt(t.sent_s, '.3f')} s, recorded {fmt(t.recorded_s, '.3f')} s, "
                     f"loss {fmt(t.loss_s, '.3f')} s, {t.seal}, verify {t.verify_session_rc}"),
                  file=sys.stderr, flush=True)
    print(table(trials))
    print()
    print(summary(trials))
    print()
    print(f"{time.monotonic() - started:.0f} s; {os.cpu_count()} CPUs; Python "
          f"{platform.python_version()}, aiortc {aiortc.__version__}, PyAV {av.__version__}")
    argv = sys.argv[1:]
    if args.seed_given is None:
        argv += ["--seed", str(args.seed)]
    print("command: unshare -n bash -c 'ip link set lo up && exec .venv/bin/python "
          + shlex.join(["-m", "bench.crash_loss", *argv]) + "'")
    if args.json:
        rows = [asdict(t) | {"loss_s": t.loss_s, "interrupted": t.interrupted} for t in trials]
        Path(args.json).write_text(json.dumps(rows, indent=2))  # noqa: ASYNC240 - at the end
    return 0 if all(t.error is None for t in trials) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24, help=f"1..{MAX_TRIALS}")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for the kill moments (default: random, printed)")
    parser.add_argument("--min-wait", type=float, default=1.5,
                        help="earliest kill, seconds after the first frame")
    parser.add_argument("--max-wait", type=float, default=12.0, help="latest kill")
    parser.add_argument("--video-kbps", type=int, default=1000, help="publisher VP8 rate")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--json", help="also write every trial to this file")
    parser.add_argument("--workdir", help="keep data dirs and logs here (default: a temp dir)")
    args = parser.parse_args()
    if not 1 <= args.trials <= MAX_TRIALS:
        parser.error(f"--trials 1..{MAX_TRIALS}")
    if not 0.5 <= args.min_wait <= args.max_wait <= 300:
        parser.error("need 0.5 <= --min-wait <= --max-wait <= 300")
    args.seed_given = args.seed
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**31)
    if not only_loopback():
        sys.exit("crash_loss.py carries WebRTC media, so it runs only in a network namespace "
                 "whose only interface is lo. Run:\n  unshare -n bash -c 'ip link set lo up && "
                 "exec .venv/bin/python -m bench.crash_loss'")
    return asyncio.run(orchestrate(args))


if __name__ == "__main__":
    sys.exit(main())
