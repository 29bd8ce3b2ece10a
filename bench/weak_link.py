"""The officer page on a weak uplink: real Chromium in a namespace of its own, its uplink
rate-limited with `tc tbf` and losing 5 % of its UDP on arrival (bench/shaped_link.py), going
through a profile (1 Mbit/s → 150 kbit/s → 64 kbit/s → back). For each step: the officer's
audio frames a viewer received (by RTP sequence number, RED recoveries included), the video
frame rate and picture size at the viewer, the SOS press → console time, the bytes the phone
sent, and the page's link step. Run with adaptation and FEC/RED on, then with both off (the
page's `?adapt=off`, the node's `--plain-audio`), alternating, in one run.

    unshare -n bash -c 'ip link set lo up && exec .venv/bin/python -m bench.weak_link [--rounds N]'

(as root, inside a loopback-only namespace: the phone's namespace and veth pair are made here)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc.rtp import RtpPacket

from bench.common import REPO, NodeProcess, free_port
from bench.media import ViewerClient, view
from bench.shaped_link import PROFILE, ShapedLink, Step, shaped_namespace
from relay import aiortc_hooks

OFFICER, COMMANDER = "o1", "c1"
SOS_WAIT_S = 10.0
AUDIO_ONLY_STEP = 4


@dataclass
class StepResult:
    """What one step of the profile delivered."""

    step: Step
    audio_received: int = 0
    audio_expected: int = 0
    video_frames: int = 0
    size: tuple[int, int] | None = None
    sos_ms: float | None = None
    page_steps: list[int] = field(default_factory=list)
    bytes_sent: int = 0
    # Where the missing audio frames fell: (seconds into the step, frames missing there).
    audio_gaps: list[tuple[float, int]] = field(default_factory=list)

    @property
    def audio_ratio(self) -> float:
        return self.audio_received / self.audio_expected if self.audio_expected else 0.0

    @property
    def fps(self) -> float:
        return self.video_frames / self.step.seconds


@dataclass
class RunResult:
    """One pass through the profile."""

    adapt: bool
    steps: list[StepResult]
    audio_codec: str | None = None
    recorded_audio_frames: int = 0
    viewer_audio_frames: int = 0
    reached_audio_only_after_s: float | None = None
    back_to_video_after_s: float | None = None
    stills: int = 0
    errors: list[str] = field(default_factory=list)
    answer_audio: list[str] = field(default_factory=list)
    # The node's counters at the end: Opus frames recorded, and recovered from RED.
    audio_recorded: int = 0
    audio_recovered: int = 0
    # The node's `uplink` reports (a queue on the phone's uplink) the page received.
    uplink_reports: int = 0
    # Every sample the page printed (its state, link step, sender statistics).
    samples: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Phone:
    """The officer page's process in the phone's namespace, and its JSON lines."""

    proc: subprocess.Popen[str]
    samples: list[dict[str, Any]] = field(default_factory=list)
    reader: threading.Thread | None = None

    @classmethod
    def start(cls, link: ShapedLink, base: str, adapt: bool) -> Phone:
        proc = subprocess.Popen(
            link.command(sys.executable, "-m", "bench.phone_page", base, OFFICER,
                         "adapt=on" if adapt else "adapt=off"),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        phone = cls(proc)
        phone.reader = threading.Thread(target=phone._drain, daemon=True)
        phone.reader.start()
        return phone

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.samples.append(json.loads(line))

    def last(self) -> dict[str, Any]:
        return self.samples[-1] if self.samples else {}

    def press_sos(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("sos\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.reader is not None:
            self.reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


class AudioSeqs:
    """Every audio packet a viewer got: (arrival, sequence number), RTX included."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []

    def __call__(self, kind: str, packet: RtpPacket) -> None:
        if kind == "audio":
            self.seen.append((time.monotonic(), packet.sequence_number))

    def _window(self, start: float, end: float) -> dict[int, float]:
        """Unwrapped sequence number → first arrival, for arrivals in range."""
        first: dict[int, float] = {}
        last: int | None = None
        base = 0
        for at, seq in self.seen:
            if last is not None and seq < last and last - seq > 0x8000:
                base += 0x10000
            last = seq
            if start <= at < end:
                first.setdefault(base + seq, at)
        return first

    def between(self, start: float, end: float) -> tuple[int, int]:
        """(distinct sequence numbers received, the span they cover) for arrivals in range."""
        seqs = self._window(start, end)
        if not seqs:
            return 0, 0
        return len(seqs), max(seqs) - min(seqs) + 1

    def gaps(self, start: float, end: float) -> list[tuple[float, int]]:
        """The holes in the range: (arrival of the frame after the hole, seconds after
        `start`; frames missing)."""
        seqs = self._window(start, end)
        ordered = sorted(seqs)
        return [(round(seqs[b] - start, 1), b - a - 1)
                for a, b in itertools.pairwise(ordered) if b - a > 1]


async def _until(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109 - a deadline poll
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _sos(phone: Phone, console: list[tuple[float, dict[str, Any]]],
               http: aiohttp.ClientSession, node: NodeProcess) -> float | None:
    """Press SOS; the time until a console has the alert (ms); then resolve it."""
    seen = len(console)
    before = phone.last().get("sos_at")
    phone.press_sos()
    deadline = time.monotonic() + SOS_WAIT_S
    alert: dict[str, Any] | None = None
    arrived = 0.0
    while time.monotonic() < deadline and alert is None:
        for at, event in console[seen:]:
            if event["alert"]["officer"] == OFFICER:
                alert, arrived = event["alert"], at
                break
        await asyncio.sleep(0.02)
    await _until(lambda: phone.last().get("sos_at") not in (None, before), 10, "the SOS stamp")
    if alert is None:
        return None
    async with http.post(f"{node.url}/api/alerts/{alert['id']}/resolve",
                         headers={"Authorization": f"Bearer {node.tokens[COMMANDER]}"}) as r:
        assert r.status == 200, await r.text()
    return arrived * 1000 - float(phone.last()["sos_at"])


def _counters(text: str) -> dict[str, int]:
    """The label-less counters of a Prometheus text page."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("fieldrelay_") and "{" not in name and value:
            out[name] = int(float(value))
    return out


def recorded_audio_frames(data_dir: Path) -> int:
    """Opus frames in the officer's recorded segments."""
    frames = 0
    for folder in (data_dir / "sessions").iterdir():
        for seg in sorted(folder.glob("seg-*")):
            with av.open(str(seg)) as container:
                if container.streams.audio:
                    frames += sum(1 for p in container.demux(audio=0) if p.size)
    return frames


async def _settle(done: Callable[[], bool], within_s: float) -> None:
    """Poll `done` (a look at files on disk: nothing to wait on) until true or time is up."""
    until = time.monotonic() + within_s
    for _ in range(int(within_s / 0.5) + 1):
        if done() or time.monotonic() >= until:
            return
        await asyncio.sleep(0.5)


async def run_profile(node: NodeProcess, link: ShapedLink, steps: tuple[Step, ...],
                      adapt: bool, settle: Callable[[], bool] | None = None,
                      settle_s: float = 0.0) -> RunResult:
    """One pass of the officer page through `steps`; the node is started and stopped here.
    With `settle`, the page stays open after the last step until it returns true (at most
    `settle_s` seconds): what the phone kept back while the link was weak goes then."""
    node.start("--host", "0.0.0.0", "--ice-host", link.host_ip,
               *(() if adapt else ("--plain-audio",)))
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    node.login(COMMANDER)
    base = f"http://{link.host_ip}:{node.port}"
    link.shape(steps[0])
    phone = Phone.start(link, base, adapt)
    result = RunResult(adapt, [])
    seqs = AudioSeqs()
    console: list[tuple[float, dict[str, Any]]] = []
    viewer: ViewerClient | None = None
    try:
        await _until(lambda: phone.last().get("state") == "live", 60, "the phone to go live")
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"{node.url}/ws?token={node.tokens[COMMANDER]}")

            async def listen() -> None:
                async for msg in ws:
                    event = json.loads(msg.data)
                    if event.get("type") == "alert":
                        console.append((time.time(), event))

            listener = asyncio.get_running_loop().create_task(listen())
            try:
                viewer = await view(http, node.url, node.tokens[COMMANDER], OFFICER, on_rtp=seqs)
                await viewer.wait_frames(10, timeout=30)
                for index, step in enumerate(steps):
                    result.steps.append(
                        await _run_step(step, index, link, phone, viewer, seqs, console, http,
                                        node))
                result.viewer_audio_frames = len({s for _, s in seqs.seen})
                async with http.get(f"{node.url}/metrics") as r:
                    counters = _counters(await r.text())
                result.audio_recorded = counters.get("fieldrelay_audio_recorded_total", 0)
                result.audio_recovered = counters.get("fieldrelay_audio_recovered_total", 0)
                if settle is not None:
                    await _settle(settle, settle_s)
            finally:
                if viewer is not None:
                    await viewer.close()
                await ws.close()
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)
    finally:
        phone.stop()
        node.stop()
    result.audio_codec = next((s.get("audio_codec") for s in reversed(phone.samples)
                               if s.get("audio_codec")), None)
    result.stills = max((int(s.get("stills") or 0) for s in phone.samples), default=0)
    result.uplink_reports = max((int(s.get("uplink_reports") or 0) for s in phone.samples),
                                default=0)
    result.errors = [str(s["error"]) for s in phone.samples if "error" in s]
    result.answer_audio = next((list(s["answer_audio"]) for s in phone.samples
                                if "answer_audio" in s), [])
    result.samples = phone.samples
    result.recorded_audio_frames = recorded_audio_frames(node.data_dir)
    _page_timing(result, phone, steps)
    return result


async def _run_step(step: Step, index: int, link: ShapedLink, phone: Phone,
                    viewer: ViewerClient, seqs: AudioSeqs,
                    console: list[tuple[float, dict[str, Any]]],
                    http: aiohttp.ClientSession, node: NodeProcess) -> StepResult:
    link.shape(step)
    out = StepResult(step)
    start, wall_start = time.monotonic(), time.time()
    sent0, frames0 = link.sent_bytes(), viewer.frames
    phone.samples.append({"t": wall_start, "mark": index})
    await asyncio.sleep(step.seconds * 0.4)
    out.sos_ms = await _sos(phone, console, http, node)
    await asyncio.sleep(max(0.0, start + step.seconds - time.monotonic()))
    out.video_frames = viewer.frames - frames0
    out.size = viewer.last_size
    out.bytes_sent = link.sent_bytes() - sent0
    out.audio_received, out.audio_expected = seqs.between(start, start + step.seconds)
    out.audio_gaps = seqs.gaps(start, start + step.seconds)
    out.page_steps = sorted({int(s["step"]) for s in phone.samples
                             if "step" in s and wall_start <= s["t"] < wall_start + step.seconds})
    return out


def _page_timing(result: RunResult, phone: Phone, steps: tuple[Step, ...]) -> None:
    """When the page reached audio only in the slowest step, and when it came back to video
    once the link did."""
    marks = {int(s["mark"]): float(s["t"]) for s in phone.samples if "mark" in s}
    slowest = min(range(len(steps)), key=lambda i: steps[i].rate_kbit or 10**9)
    if slowest in marks:
        at = next((s["t"] for s in phone.samples if "step" in s and s["t"] >= marks[slowest]
                   and int(s["step"]) == AUDIO_ONLY_STEP), None)
        result.reached_audio_only_after_s = None if at is None else at - marks[slowest]
    back = slowest + 1
    if back in marks:
        at = next((s["t"] for s in phone.samples if "step" in s and s["t"] >= marks[back]
                   and int(s["step"]) < AUDIO_ONLY_STEP), None)
        result.back_to_video_after_s = None if at is None else at - marks[back]


def table(results: list[RunResult]) -> str:
    """The BENCHMARKS.md table: one row per step and mode."""
    rows = ["| step | adaptation + FEC/RED | audio frames at the viewer | video fps at the viewer "
            "| picture | SOS → console | bytes sent by the phone | page steps |",
            "|---|---|---|---|---|---|---|---|"]
    for r in results:
        for s in r.steps:
            size = f"{s.size[0]}x{s.size[1]}" if s.size else "—"
            sos = f"{s.sos_ms:.0f} ms" if s.sos_ms is not None else "not within 10 s"
            rows.append(f"| {s.step.label} | {'on' if r.adapt else 'off'} "
                        f"| {s.audio_ratio:.1%} ({s.audio_received}/{s.audio_expected}) "
                        f"| {s.fps:.1f} | {size} | {sos} | {s.bytes_sent / 1000:.0f} kB "
                        f"| {','.join(map(str, s.page_steps)) or '—'} |")
    return "\n".join(rows)


def gaps(r: RunResult) -> str:
    """Where each step lost audio frames, as `frames@seconds-into-the-step`."""
    return "\n".join(f"{s.step.label}: audio lost "
                     + (" ".join(f"{n}@{t}s" for t, n in s.audio_gaps) or "nothing")
                     for s in r.steps)


def _link_read(sample: dict[str, Any]) -> str:
    """What the page read in one sample: its estimate, loss, RTT and the node's queue."""
    link = sample.get("link") or {}
    est = link.get("availableBps")
    return (f"estimate {'?' if est is None else round(est / 1000)} kbit/s, "
            f"loss {link.get('loss')}, rtt {link.get('rttS')}, node queue {link.get('queueS')}")


def page_timeline(r: RunResult) -> str:
    """Each change of the page's step, seconds into the profile step it fell in, with the
    sender statistics the page read then."""
    marks = sorted((float(s["t"]), int(s["mark"])) for s in r.samples if "mark" in s)
    out: list[str] = []
    last: int | None = None
    for s in r.samples:
        if "step" not in s or int(s["step"]) == last:
            continue
        last = int(s["step"])
        t = float(s["t"])
        mark = max((m for m in marks if m[0] <= t), default=None)
        where = f"step {mark[1] + 1} +{t - mark[0]:.1f}s" if mark else "before the profile"
        out.append(f"{where}: page step {last} ({_link_read(s)})")
    return "\n".join(out)


def link_samples(r: RunResult, step_index: int, seconds: float) -> str:
    """The page's samples in the first `seconds` of a profile step: its step and the sender
    statistics it read (what the adaptation saw when the link changed)."""
    mark = next((float(s["t"]) for s in r.samples if s.get("mark") == step_index), None)
    if mark is None:
        return ""
    rows = []
    for s in r.samples:
        t = float(s["t"]) - mark
        if "step" in s and 0 <= t < seconds:
            rows.append(f"+{t:4.1f}s step {s['step']}: {_link_read(s)}")
    return "\n".join(rows)


def summary(r: RunResult) -> str:
    return (f"adapt={'on' if r.adapt else 'off'} codec={r.audio_codec} "
            f"viewer audio frames={r.viewer_audio_frames} recorded={r.recorded_audio_frames} "
            f"(node: {r.audio_recorded}, {r.audio_recovered} from RED) "
            f"audio only after {r.reached_audio_only_after_s} s, back to video after "
            f"{r.back_to_video_after_s} s, stills={r.stills}, "
            f"node queue reports={r.uplink_reports}, page errors={r.errors}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1,
                        help="on/off pairs to run, alternating (the machine is shared)")
    args = parser.parse_args()
    results: list[RunResult] = []
    with shaped_namespace() as link:
        for _ in range(args.rounds):
            for adapt in (True, False):
                with tempfile.TemporaryDirectory() as tmp:
                    node = NodeProcess(Path(tmp) / "data", free_port())
                    node.add_user(OFFICER, "officer")
                    node.add_user(COMMANDER, "commander")
                    result = await run_profile(node, link, PROFILE, adapt)
                results.append(result)
                print(summary(result), flush=True)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
