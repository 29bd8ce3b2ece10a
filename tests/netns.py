"""A network namespace of the test's own for the phone, joined to the test's namespace by
a link this test controls: loss, delay and jitter, or a cut. The kernel here has no
sch_netem, so the link is tests/netem.py (two TUN devices and a process between them)
rather than a veth pair with `tc netem`. Only private addresses that exist in these two
namespaces are used, and the namespace is deleted afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


@dataclass
class Link:
    """The namespace `name`, reached from here at peer_ip; this side is host_ip."""

    name: str
    host_ip: str
    peer_ip: str
    netem: subprocess.Popen[str]

    def command(self, *cmd: str) -> list[str]:
        """A command line that runs `cmd` inside the namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def _send(self, line: str) -> None:
        assert self.netem.stdin is not None and self.netem.stdout is not None
        self.netem.stdin.write(line + "\n")
        self.netem.stdin.flush()
        assert self.netem.stdout.readline().startswith("ok"), "netem did not take the command"

    def shape(self, loss: float, delay_s: float, jitter_s: float) -> None:
        """Each packet, either way, is lost with probability `loss`, else delayed by
        delay_s ± jitter_s (uniform; packets may overtake each other, as with netem)."""
        self._send(f"shape {loss} {delay_s} {jitter_s}")

    def cut(self) -> None:
        """Drop every packet both ways, the way a phone loses its radio link."""
        self._send("cut")

    def clear(self) -> None:
        """Back to a clean link."""
        self._send("clear")


@contextmanager
def linked_namespace(index: int = 0) -> Iterator[Link]:
    """Create the namespace and the link; remove both on the way out."""
    tag = f"{os.getpid() % 100000}{index}"
    name = f"frnet{tag}"
    # 10.231.0.0/16 is private; only these two ends ever hold an address in it.
    net = f"10.231.{(os.getpid() + index) % 250}"
    _run("ip", "netns", "add", name)
    netem = None
    try:
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        netem = subprocess.Popen(
            [sys.executable, "-m", "tests.netem", name, f"{net}.1", f"{net}.2"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert netem.stdout is not None
        assert netem.stdout.readline().strip() == "ready", "the link did not come up"
        yield Link(name, f"{net}.1", f"{net}.2", netem)
    finally:
        if netem is not None:
            assert netem.stdin is not None and netem.stdout is not None
            netem.stdin.close()
            try:
                netem.wait(10)
            except subprocess.TimeoutExpired:
                netem.kill()
                netem.wait()
            netem.stdout.close()
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20,
                       check=False)
