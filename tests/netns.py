"""A network namespace of the test's own, joined to the test's namespace by a veth pair,
with tc netem on the link: loss, delay and jitter, or a cut. Only private addresses that
exist in these two namespaces are used, and the namespace is deleted afterwards."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


@dataclass(frozen=True)
class Link:
    """The namespace `name` reached from here over `host_if` (host_ip) ↔ `peer_if` (peer_ip)."""

    name: str
    host_if: str
    peer_if: str
    host_ip: str
    peer_ip: str

    def command(self, *cmd: str) -> list[str]:
        """A command line that runs `cmd` inside the namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def shape(self, netem: str) -> None:
        """Apply one netem spec (e.g. "loss 5% delay 100ms 30ms") to both directions."""
        _run("tc", "qdisc", "replace", "dev", self.host_if, "root", "netem", *netem.split())
        _run(*self.command("tc", "qdisc", "replace", "dev", self.peer_if, "root", "netem",
                           *netem.split()))

    def cut(self) -> None:
        """Drop every packet both ways, the way a phone loses its radio link."""
        self.shape("loss 100%")

    def clear(self) -> None:
        """Back to a clean link."""
        self.shape("delay 0ms")


@contextmanager
def linked_namespace(index: int = 0) -> Iterator[Link]:
    """Create the namespace and the veth pair; delete both on the way out."""
    tag = f"{os.getpid() % 100000}{index}"
    name = f"frnet{tag}"
    host_if, peer_if = f"frh{tag}", f"frp{tag}"
    # 10.231.0.0/16 is private; only these two ends ever hold an address in it.
    net = f"10.231.{(os.getpid() + index) % 250}"
    link = Link(name, host_if, peer_if, f"{net}.1", f"{net}.2")
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _run("ip", "link", "set", peer_if, "netns", name)
        _run("ip", "addr", "add", f"{link.host_ip}/24", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run(*link.command("ip", "addr", "add", f"{link.peer_ip}/24", "dev", peer_if))
        _run(*link.command("ip", "link", "set", peer_if, "up"))
        _run(*link.command("ip", "link", "set", "lo", "up"))
        yield link
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20,
                       check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20,
                       check=False)
