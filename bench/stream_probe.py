"""A live stream in a process of its own, and the handle that reads it: the child publishes a
test pattern as one officer, views it as a commander, and prints the viewer's decoded frame
count as JSON lines until stdin closes.

    python -m bench.stream_probe BASE OFFICER_TOKEN COMMANDER_TOKEN OFFICER

Hostile-input runs (bench/fuzz.py and the fuzz test) use it so that nothing in their own
process shares aiortc's event loop (or its use of `random`) with the generator of inputs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import aiohttp

from bench.common import REPO, NodeProcess
from bench.media import publish, view
from relay import aiortc_hooks


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
        [sys.executable, "-m", "bench.stream_probe", node.url, node.login(officer),
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


async def main(base: str, officer_token: str, commander_token: str, officer: str) -> int:
    """Run until stdin reaches EOF; the exit code says whether frames kept coming."""
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    async with aiohttp.ClientSession() as http:
        pub = await publish(http, base, officer_token)
        viewer = await view(http, base, commander_token, officer)
        eof = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        try:
            while not eof.done():
                print(json.dumps({"t": time.monotonic(), "frames": viewer.frames,
                                  "publication": pub.location}), flush=True)
                await asyncio.wait({eof}, timeout=0.5)
        finally:
            await viewer.close()
            await pub.pc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:5])))
