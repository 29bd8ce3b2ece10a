"""Hostile input against a node that is relaying a live stream: mutated SDP to /whip and
/whep, malformed JSON to every JSON endpoint, garbage and oversized frames to /ws. Every
answer is a clear 4xx or WebSocket close, never a 5xx or silence, and the stream flows on.

The node and the live stream run in processes of their own; this one only draws inputs
(hypothesis) and sends them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from relay import aiortc_hooks
from tests import hostile
from tests.conftest import REPO, NodeProcess
from tests.media import local_pc

pytestmark = pytest.mark.media

USERS = (("o1", "officer"), ("o2", "officer"), ("c1", "commander"), ("c2", "commander"))


async def _offer(direction: str) -> str:
    pc = local_pc()
    try:
        for kind in ("audio", "video"):
            pc.addTransceiver(kind, direction=direction)
        await pc.setLocalDescription(await pc.createOffer())
        assert pc.localDescription is not None
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


@dataclass
class StreamProbe:
    """The live o1 → c1 stream in its own process, read as (time, frames, publication)
    samples by a thread that drains its output, so a long batch never blocks it."""

    proc: subprocess.Popen[str]
    samples: list[tuple[float, int, str]] = field(default_factory=list)
    reader: threading.Thread | None = None

    def start(self) -> None:
        """Start draining the probe's output."""
        def drain() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                sample = json.loads(line)
                self.samples.append((sample["t"], sample["frames"], sample["publication"]))

        self.reader = threading.Thread(target=drain, name="stream-probe", daemon=True)
        self.reader.start()

    def read(self) -> tuple[float, int, str]:
        """A sample newer than the last one read (waits up to 5 s for it)."""
        seen = len(self.samples)
        deadline = time.monotonic() + 5
        while len(self.samples) <= seen:
            assert self.proc.poll() is None, "the stream probe exited"
            assert time.monotonic() < deadline, "the stream probe is silent"
            time.sleep(0.05)
        return self.samples[-1]

    def fps_since(self, mark: tuple[float, int, str]) -> float:
        now = self.read()
        return (now[1] - mark[1]) / max(1e-6, now[0] - mark[0])


def start_probe(node: NodeProcess, officer: str, commander: str) -> StreamProbe:
    """Start a publisher and a viewer in a child process and wait for the first frames."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.stream_probe", node.url, node.login(officer),
         node.login(commander), officer],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    probe = StreamProbe(proc)
    probe.start()
    deadline = time.monotonic() + 20
    while probe.read()[1] < 30:
        assert time.monotonic() < deadline, "the live stream did not start"
    return probe


def stop_probe(probe: StreamProbe) -> None:
    assert probe.proc.stdin is not None
    probe.proc.stdin.close()
    try:
        probe.proc.wait(15)
    except subprocess.TimeoutExpired:
        probe.proc.kill()
        probe.proc.wait()
    if probe.reader is not None:
        probe.reader.join(5)
    if probe.proc.stdout is not None:
        probe.proc.stdout.close()


@pytest.fixture
def fuzz_node(node_process: NodeProcess, loopback_only: None) -> Iterator[NodeProcess]:
    for name, role in USERS:
        node_process.add_user(name, role)
    # Alert floods are limited per officer; lift that so inputs reach the JSON parser.
    node_process.start("--alerts-per-minute", "10000000")
    yield node_process


def test_hostile_input_gets_clear_answers_while_the_stream_flows(
        fuzz_node: NodeProcess) -> None:
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    probe = start_probe(fuzz_node, "o1", "c1")
    loop = asyncio.new_event_loop()
    http = loop.run_until_complete(_session())
    tally: hostile.Tally = {}
    try:
        target = hostile.Target(
            fuzz_node.url, fuzz_node.login("o2"), fuzz_node.login("c2"), "o1",
            loop.run_until_complete(_offer("sendonly")),
            loop.run_until_complete(_offer("recvonly")))
        mark = [probe.read()]
        publication = mark[0][2]

        def still_flowing() -> None:
            fps = probe.fps_since(mark[0])
            print(f"viewer: {fps:.1f} fps during the batch")
            # 30 fps are sent; two shared cores run the node, the probe and this process.
            assert fps >= 10, f"the viewer got {fps:.1f} fps during the barrage"
            mark[0] = probe.samples[-1]

        hostile.run_barrage(loop, http, target, examples=100, strict=True, tally=tally,
                            between=still_flowing)
        print(json.dumps(tally, sort_keys=True))
        # The barrage itself was hostile: most offers and frames were refused.
        assert tally["POST /whip"].get(400, 0) > 20
        assert tally["POST /whep"].get(400, 0) > 20
        assert sum(n for code, n in tally["/ws"].items() if code != 1000) > 20
        # The live stream is still the same publication, and the node answers.
        assert probe.read()[2] == publication
        status, _ = loop.run_until_complete(hostile.send_http(
            http, "GET", f"{fuzz_node.url}/healthz", b"", {}))
        assert status == 200
        assert "Traceback" not in fuzz_node.log(), fuzz_node.log()[-3000:]
    finally:
        loop.run_until_complete(http.close())
        loop.close()
        stop_probe(probe)


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
