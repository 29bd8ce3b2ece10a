"""What the benchmarks (and the tests that share their tools) have in common: the network guard,
free ports, readings of /proc, and a `fieldrelay serve` node in a process of its own."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

REPO = Path(__file__).resolve().parent.parent
# The password of every user a benchmark or a test creates on its own node.
PASSWORD = "correct-horse-battery"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def only_loopback() -> bool:
    """True inside a network namespace whose only interface is lo."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def append(path: Path) -> BinaryIO:
    """`path` opened for appending bytes (a log that several runs share)."""
    return open(path, "ab")


def make_dir(path: Path) -> Path:
    """`path`, created with its parents if need be."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    """Resident memory of a process, in MiB."""
    pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return pages * PAGE / 2**20


def host_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return total - idle, total


def wait_healthy(proc: subprocess.Popen[bytes], url: str, what: str,
                 log: Callable[[], str]) -> None:
    """Wait (at most 20 s) until the process at `url` answers /healthz; RuntimeError with
    the end of its log if it exits first or never answers."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited: {log()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not become healthy within 20 s")


def stop_process(proc: subprocess.Popen[bytes], sig: int, timeout: float) -> int:
    """Stop a process with a signal (killed after `timeout` s) and return its exit code."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


@dataclass
class NodeProcess:
    """A `fieldrelay serve` subprocess and the means to talk to it."""

    data_dir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a `fieldrelay` CLI command against this node's data dir."""
        return subprocess.run(
            [sys.executable, "-m", "fieldrelay", *args, "--data-dir", str(self.data_dir)],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )

    def add_user(self, name: str, role: str, password: str = PASSWORD) -> None:
        """Create a user through the CLI."""
        res = self.cli("user", "add", name, "--role", role, "--password-stdin", stdin=password)
        assert res.returncode == 0, res.stderr

    def login(self, name: str, password: str = PASSWORD) -> str:
        """Log in over HTTP and return the bearer token."""
        body = json.dumps({"username": name, "password": password}).encode()
        req = urllib.request.Request(f"{self.url}/api/login", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            token = str(json.load(resp)["token"])
        self.tokens[name] = token
        return token

    def start(self, *extra: str, file_size_limit: int | None = None) -> None:
        """Start the node and wait until /healthz answers.

        `file_size_limit` caps every file the node writes (RLIMIT_FSIZE): writes beyond it
        fail with EFBIG, the way they fail on a full disk.
        """

        def limit() -> None:
            if file_size_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

        self.log_path = self.data_dir.parent / f"node-{self.port}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process lifetime
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldrelay", "serve", "--data-dir", str(self.data_dir),
             "--port", str(self.port), "--ice-host", "127.0.0.1", *extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=REPO, preexec_fn=limit,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        wait_healthy(self.proc, self.url, "node", self.log)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Stop the node with a signal and return its exit code."""
        assert self.proc is not None
        return stop_process(self.proc, sig, timeout)

    def log(self) -> str:
        """What the node printed so far."""
        return self.log_path.read_text() if self.log_path else ""
