"""Bad mobile links, made with a network namespace, a veth pair and tc netem: a lossy,
jittery uplink still delivers the stream and a recording without gaps; a 10 s cut is
survived by the officer page, the command wall and the evidence (one session, one gap)."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import av
import pytest

from recordings.store import read_entries
from relay import aiortc_hooks
from tests.conftest import REPO, NodeProcess
from tests.media import view
from tests.netns import Link, linked_namespace

pytestmark = pytest.mark.media


@pytest.fixture
def link(loopback_only: None) -> Iterator[Link]:
    """A namespace for the phone, joined to this one by a shaped veth link."""
    with linked_namespace() as made:
        yield made


@dataclass
class Lines:
    """A child process that prints JSON lines, drained by a thread."""

    proc: subprocess.Popen[str]
    lines: list[dict[str, object]] = field(default_factory=list)

    def start(self) -> Lines:
        def drain() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                if line.startswith("{"):
                    self.lines.append(json.loads(line))

        threading.Thread(target=drain, daemon=True).start()
        return self

    def last(self) -> dict[str, object]:
        assert self.lines, "the child printed nothing yet"
        return self.lines[-1]

    def stop(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def in_namespace(link: Link, module: str, *args: str) -> Lines:
    """Run `python -m module args` inside the phone's namespace."""
    proc = subprocess.Popen(link.command(sys.executable, "-m", module, *args),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
    return Lines(proc).start()


def video_times(folder: Path) -> list[float]:
    """Presentation times (s) of every decodable video frame of a session's segments."""
    times: list[float] = []
    for seg in sorted(folder.glob("seg-*")):
        with av.open(str(seg)) as container:
            for frame in container.decode(video=0):
                assert frame.pts is not None and frame.time_base is not None
                times.append(float(frame.pts * frame.time_base))
    return times


async def _until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


async def test_lossy_jittery_uplink_keeps_90_percent_of_frames_and_a_whole_recording(
        node_process: NodeProcess, link: Link) -> None:
    node_process.add_user("o1", "officer")
    node_process.add_user("c1", "commander")
    node_process.start("--host", "0.0.0.0", "--ice-host", link.host_ip)
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    link.shape(0.05, 0.100, 0.030)
    base = f"http://{link.host_ip}:{node_process.port}"
    publisher = in_namespace(link, "tests.net_publisher", base, node_process.login("o1"),
                             link.peer_ip)
    try:
        await _until(lambda: publisher.lines and publisher.last()["state"] == "connected", 30,
                     "the publisher to connect over the lossy link")
        async with aiohttp.ClientSession() as http:
            viewer = await view(http, node_process.url, node_process.login("c1"), "o1")
            try:
                await viewer.wait_frames(30, timeout=30)
                sent0, seen0 = int(publisher.last()["sent"]), viewer.frames  # type: ignore[call-overload]
                await asyncio.sleep(20)
                sent1 = int(publisher.last()["sent"])  # type: ignore[call-overload]
                await asyncio.sleep(0.5)  # the last frames are still on the 100 ms link
                seen1 = viewer.frames
            finally:
                await viewer.close()
        ratio = (seen1 - seen0) / max(1, sent1 - sent0)
        print(f"LOSSY_LINK viewer frames {seen1 - seen0} of {sent1 - sent0} sent: {ratio:.1%}")
        assert ratio >= 0.9, f"the viewer got {ratio:.1%} of the frames"
    finally:
        publisher.stop()
        total_sent = int(publisher.last()["sent"])  # type: ignore[call-overload]
        assert node_process.stop() == 0
    [folder] = list((node_process.data_dir / "sessions").iterdir())
    times = video_times(folder)
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    print(f"LOSSY_LINK recording: {len(times)} frames of {total_sent} sent, "
          f"largest gaps {[round(g, 3) for g in gaps[-3:]]} s")
    assert len(times) >= 0.9 * total_sent
    # 30 fps: a gap over 0.3 s would mean ~9 frames lost in a row, which 5% loss with
    # retransmission does not cause; the recorder must not drop what arrived.
    assert gaps[-1] < 0.3
    entries = list(read_entries(folder / "ledger.jsonl"))
    # The loss never broke the connection: the only drop is the publisher leaving at the end.
    assert not [e for e in entries if e.get("event") == "publisher.reconnected"]
