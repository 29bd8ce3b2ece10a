"""A userspace netem between this network namespace and another: two TUN devices, one on
each side, and this process moving IP packets between them with loss, delay, jitter, or
a cut. (Kernels without the sch_netem module cannot run `tc qdisc ... netem`.)

    python -m tests.netem NAMESPACE HOST_IP PEER_IP

Prints "ready" once both ends are up; then reads commands, one a line, from stdin:
`shape LOSS DELAY_S JITTER_S` (both directions), `cut`, `clear`. Stops at EOF."""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import os
import random
import select
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
MTU = 1500


def open_tun(name: str) -> int:
    """A TUN device carrying bare IP packets, created in this namespace."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def main(namespace: str, host_ip: str, peer_ip: str) -> int:
    """Bridge the two ends until stdin closes."""
    tag = namespace[-8:]
    host_if, peer_if = f"frth{tag}", f"frtp{tag}"
    host_fd, peer_fd = open_tun(host_if), open_tun(peer_if)
    ip("link", "set", peer_if, "netns", namespace)
    ip("addr", "add", host_ip, "peer", peer_ip, "dev", host_if)
    ip("link", "set", host_if, "mtu", str(MTU), "up")
    ip("netns", "exec", namespace, "ip", "addr", "add", peer_ip, "peer", host_ip, "dev", peer_if)
    ip("netns", "exec", namespace, "ip", "link", "set", peer_if, "mtu", str(MTU), "up")
    print("ready", flush=True)

    loss, delay, jitter = 0.0, 0.0, 0.0
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    due: list[tuple[float, int, int, bytes]] = []  # (when, order, fd to write, packet)
    order = 0
    out = {host_fd: peer_fd, peer_fd: host_fd}
    stdin = sys.stdin.fileno()
    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else 1.0
        ready, _, _ = select.select([host_fd, peer_fd, stdin], [], [], timeout)
        for fd in ready:
            if fd == stdin:
                line = sys.stdin.readline()
                if not line:
                    return 0
                words = line.split()
                if words[:1] == ["shape"]:
                    loss, delay, jitter = (float(w) for w in words[1:4])
                elif words[:1] == ["cut"]:
                    loss = 1.0
                elif words[:1] == ["clear"]:
                    loss, delay, jitter = 0.0, 0.0, 0.0
                print(f"ok {line.strip()}", flush=True)
                continue
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                if rng.random() < loss:
                    continue
                when = time.monotonic() + max(0.0, delay + rng.uniform(-jitter, jitter))
                order += 1
                heapq.heappush(due, (when, order, out[fd], packet))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, fd, packet = heapq.heappop(due)
            # A far end that went down loses the packet, as on a real link.
            with contextlib.suppress(OSError):
                os.write(fd, packet)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
