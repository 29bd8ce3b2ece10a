"""Is this process in a network namespace from which no test packet can leave?

Media and browser tests must run in a private network namespace where only `lo` is up
(tests/run makes one with `unshare -n`). Interfaces that are down cannot carry a packet, so
they are allowed: a host with the sit/ipip modules loaded gives every new namespace a
`sit0` and a `tunl0`, both down. Anything else is a wrong namespace, and the tests that
need it fail (never skip): under CI a skipped media test would pass unseen.

`/sys/class/net` is not used: it shows the interfaces of the namespace sysfs was mounted
in, not ours. The ioctl asks the kernel through a socket, which lives in our namespace.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

SIOCGIFFLAGS = 0x8913  # linux/sockios.h
IFF_UP = 0x1  # linux/if.h: administratively up (it may carry packets)


@dataclass(frozen=True)
class Interface:
    """One network interface of this namespace and whether it is up."""

    name: str
    up: bool


def interfaces() -> list[Interface]:
    """Every interface of the calling process's network namespace."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            request = struct.pack("16sH14x", name.encode()[:15], 0)
            flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, request))[1]
            found.append(Interface(name, bool(flags & IFF_UP)))
    return found


def _netns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:  # another user's process, or one that just exited
        return None


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name may hold spaces and parentheses: the fields follow the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[1])


def outer_netns(pid: int | None = None) -> str | None:
    """The network namespace of PID 1, or (when that cannot be read, as in a container
    without ptrace rights) of the outermost ancestor whose namespace can be read."""
    init = _netns(1)
    if init is not None:
        return init
    outer = None
    current = os.getpid() if pid is None else pid
    while current > 1:
        outer = _netns(current) or outer
        current = _parent(current)
    return outer


def problem(found: list[Interface], own_ns: str | None, outer_ns: str | None) -> str | None:
    """Why this namespace is wrong for media tests, or None if nothing can leave it."""
    if own_ns is None or outer_ns is None or own_ns == outer_ns:
        return (f"this is not a private network namespace (ours {own_ns}, the outer one "
                f"{outer_ns})")
    if not any(i.name == "lo" and i.up for i in found):
        return "`lo` is missing or down"
    up = sorted(i.name for i in found if i.up and i.name != "lo")
    if up:
        return f"interfaces other than `lo` are up: {', '.join(up)}"
    return None


def namespace_problem() -> str | None:
    """Why the calling process's namespace is wrong for media tests, or None if it is right."""
    return problem(interfaces(), _netns(os.getpid()), outer_netns())
