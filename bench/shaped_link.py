"""A phone's uplink as a mobile network gives it: a veth pair from a network namespace of the
run's own to the node's namespace, rate-limited with `tc tbf` on the phone's side and made
lossy with an iptables `statistic` rule in the node's (the receiving) namespace, where a drop
is silent as real loss is (the same rule in the sender's OUTPUT chain would make its
`sendto()` fail with EPERM, which no real network does). This kernel has tbf but no netem.

Only private addresses that exist in these two namespaces are used; the namespace, the veth
pair and the iptables chain are removed afterwards. Run inside a loopback-only namespace
(tests/run and the benchmarks do), as root.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=20)


@dataclass(frozen=True)
class Step:
    """One step of a link profile: uplink rate (None: unlimited), loss, and how long."""

    label: str
    rate_kbit: int | None
    loss: float
    seconds: float


# The profile a weak county uplink goes through: good, poor, barely there, and back.
PROFILE = (
    Step("1 Mbit/s + 5 % loss", 1000, 0.05, 20),
    Step("150 kbit/s + 5 % loss", 150, 0.05, 25),
    Step("64 kbit/s + 5 % loss", 64, 0.05, 25),
    Step("back to 1 Mbit/s + 5 % loss", 1000, 0.05, 20),
)


@dataclass
class ShapedLink:
    """The namespace `name` (the phone), reached from here at peer_ip; this side is host_ip."""

    name: str
    host_if: str
    peer_if: str
    host_ip: str
    peer_ip: str
    chain: str

    def command(self, *cmd: str) -> list[str]:
        """A command line that runs `cmd` inside the phone's namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def rate(self, kbit: int | None) -> None:
        """Limit the uplink (phone → node) to `kbit` kbit/s; None lifts the limit."""
        if kbit is None:
            subprocess.run(self.command("tc", "qdisc", "del", "dev", self.peer_if, "root"),
                           capture_output=True, timeout=20, check=False)
            return
        # A burst of about 50 ms of the rate (at least two full packets), and a queue that
        # holds 400 ms: deeper than that, a phone's modem drops too.
        burst = max(3200, kbit * 1000 // 8 // 20)
        _run(*self.command("tc", "qdisc", "replace", "dev", self.peer_if, "root", "tbf",
                           "rate", f"{kbit}kbit", "burst", str(burst), "latency", "400ms"))

    def loss(self, probability: float) -> None:
        """Drop this share of the phone's UDP packets on arrival, silently."""
        _run("iptables", "-F", self.chain)
        if probability > 0:
            _run("iptables", "-A", self.chain, "-p", "udp", "-m", "statistic", "--mode",
                 "random", "--probability", f"{probability:.4f}", "-j", "DROP")

    def shape(self, step: Step) -> None:
        """Apply one step of a profile."""
        self.rate(step.rate_kbit)
        self.loss(step.loss)

    def sent_bytes(self) -> int:
        """Bytes the phone has sent over the link so far (its veth's counter)."""
        counter = f"/sys/class/net/{self.peer_if}/statistics/tx_bytes"
        out = subprocess.run(self.command("cat", counter), check=True, capture_output=True,
                             text=True, timeout=20)
        return int(out.stdout.strip())


@contextmanager
def shaped_namespace(index: int = 0) -> Iterator[ShapedLink]:
    """Create the phone's namespace and its link; remove both on the way out."""
    tag = f"{os.getpid() % 100000}{index}"
    name, host_if, peer_if, chain = f"frsh{tag}", f"frsh{tag}a", f"frsh{tag}b", f"FRLOSS{tag}"
    # 10.233.0.0/16 is private; only these two ends ever hold an address in it.
    net = f"10.233.{(os.getpid() + index) % 250}"
    _run("ip", "netns", "add", name)
    try:
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        _run("ip", "link", "set", peer_if, "netns", name)
        _run("ip", "addr", "add", f"{net}.1/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run(*["ip", "netns", "exec", name, "ip", "addr", "add", f"{net}.2/30", "dev", peer_if])
        _run("ip", "netns", "exec", name, "ip", "link", "set", peer_if, "up")
        _run("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        _run("iptables", "-N", chain)
        _run("iptables", "-A", "INPUT", "-i", host_if, "-j", chain)
        yield ShapedLink(name, host_if, peer_if, f"{net}.1", f"{net}.2", chain)
    finally:
        subprocess.run(["iptables", "-D", "INPUT", "-i", host_if, "-j", chain],
                       capture_output=True, timeout=20, check=False)
        subprocess.run(["iptables", "-F", chain], capture_output=True, timeout=20, check=False)
        subprocess.run(["iptables", "-X", chain], capture_output=True, timeout=20, check=False)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20,
                       check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=20,
                       check=False)
