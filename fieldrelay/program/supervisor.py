"""The supervisor behind `fieldrelay cluster`: one node per core on one machine, sharing one
Redis and one secret.

Python runs one core per process, so a machine with N cores runs N nodes. Each node is an
ordinary `fieldrelay serve` child with its own port, node id and data dir; they share
Redis (the directory and alerts) and the cluster secret (for cascades between them).
Users and the login-token key are copied from the cluster's data dir into every node's,
so one account and one token work on every node. Secrets (the cluster secret, the Redis URL
with its password) reach the children in their environment, never on their command lines,
which every local user can read.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from fieldrelay.logs import mask_url_passwords
from fieldrelay.program.settings import redis_url_with_password, setting
from fieldrelay.tokens import load_or_create_secret

SHARED_FILES = ("users.json", "jwt.secret")
RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STOP_TIMEOUT_S = 20.0
# The children read the secrets from their environment, where `ps` does not show them.
CLUSTER_SECRET_VAR = setting("cluster_secret").option.env_var
REDIS_URL_VAR = setting("redis_url").option.env_var
# Resolved by the supervisor into the two variables above; a child must not read them again.
RESOLVED_VARS = tuple(setting(name).option.env_var for name in (
    "cluster_secret_file", "redis_password_file", "redis_password"))


@dataclass(frozen=True)
class NodePlan:
    """How one node of the cluster is started."""

    node_id: str
    port: int
    data_dir: Path
    url: str

    def argv(self, host: str, extra: tuple[str, ...]) -> list[str]:
        """The `fieldrelay serve` command line of this node (the Redis URL, which may hold a
        password, and the cluster secret are in its environment: `child_environment`)."""
        return [sys.executable, "-m", "fieldrelay", "serve", "--host", host,
                "--port", str(self.port), "--data-dir", str(self.data_dir),
                "--node-id", self.node_id, "--cluster-url", self.url, *extra]


def child_environment(base: dict[str, str], redis_url: str,
                      cluster_secret: str) -> dict[str, str]:
    """The environment of every node: `base` with the Redis URL and the cluster secret, and
    without the secret-file variables the supervisor has already read."""
    env = {k: v for k, v in base.items() if k not in RESOLVED_VARS}
    env.update({REDIS_URL_VAR: redis_url, CLUSTER_SECRET_VAR: cluster_secret,
                "PYTHONUNBUFFERED": "1"})
    return env


def plan(nodes: int, base_port: int, host: str, data_dir: Path) -> list[NodePlan]:
    """The nodes to run: node-1 on base_port, node-2 on the next port, and so on."""
    reach = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in reach:
        reach = f"[{reach}]"
    return [NodePlan(f"node-{i + 1}", base_port + i, data_dir / f"node-{i + 1}",
                     f"http://{reach}:{base_port + i}") for i in range(nodes)]


def share_accounts(data_dir: Path, node_dirs: list[Path]) -> list[str]:
    """Copy users and the token key from the cluster's data dir into each node's."""
    copied = []
    for name in SHARED_FILES:
        source = data_dir / name
        if not source.exists():
            continue
        copied.append(name)
        for node_dir in node_dirs:
            node_dir.mkdir(parents=True, exist_ok=True)
            target = node_dir / name
            tmp = target.with_suffix(".tmp")
            shutil.copyfile(source, tmp)
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
    return copied


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(data_dir: Path, password: str) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of the cluster's own on loopback, with AOF in the data dir; its URL
    (without the password). Loopback is open to every local user, so it wants `password`,
    which it reads from its stdin: not on its command line."""
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
         "--appendonly", "yes", "--dir", str(redis_dir), "-"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.stdin is not None
    proc.stdin.write(f"requirepass {password}\n".encode())
    proc.stdin.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(f"AUTH {password}\r\n".encode())
                if s.recv(16).startswith(b"+OK"):
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
        if proc.poll() is not None:
            break
    proc.terminate()
    proc.wait(10)
    raise RuntimeError("redis-server did not start (is it installed?)")


class _Node:
    """One supervised `fieldrelay serve` child, restarted with backoff if it dies."""

    def __init__(self, node: NodePlan, argv: list[str], env: dict[str, str]) -> None:
        self.plan, self._argv, self._env = node, argv, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._next_start = 0.0

    def start(self) -> None:
        self.plan.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(self._argv, env=self._env)

    def check(self, now: float) -> None:
        """Restart the node if it exited (a crash: evidence recovery runs at its start)."""
        if self.proc is None or self.proc.poll() is None:
            return
        if self._next_start == 0.0:
            delay = RESTART_BACKOFF_S[min(self.restarts, len(RESTART_BACKOFF_S) - 1)]
            print(f"fieldrelay cluster: {self.plan.node_id} exited with "
                  f"{self.proc.returncode}; restarting in {delay:.0f} s", flush=True)
            self._next_start = now + delay
        elif now >= self._next_start:
            self.restarts += 1
            self._next_start = 0.0
            self.start()

    def terminate(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def run(nodes: int, base_port: int, host: str, data_dir: Path, redis_url: str | None,
        cluster_secret: str | None, extra: tuple[str, ...]) -> int:
    """Run the cluster until SIGINT/SIGTERM; 0 on a clean stop."""
    plans = plan(nodes, base_port, host, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    load_or_create_secret(data_dir)  # one login-token key for every node
    shared = share_accounts(data_dir, [p.data_dir for p in plans])
    redis_proc = None
    if redis_url is None:
        password = secrets.token_hex(32)
        redis_proc, redis_url = start_redis(data_dir, password)
        print(f"fieldrelay cluster: started redis-server at {redis_url} with a password "
              f"(data in {data_dir / 'redis'})", flush=True)
        redis_url = redis_url_with_password(redis_url, password)
    else:
        print(f"fieldrelay cluster: nodes share Redis at {mask_url_passwords(redis_url)}",
              flush=True)
    env = child_environment(dict(os.environ), redis_url,
                            cluster_secret or secrets.token_hex(32))
    # Node tokens go only to the cluster's own nodes.
    env[setting("cluster_peers").option.env_var] = ",".join(p.url for p in plans)
    children = [_Node(p, p.argv(host, extra), env) for p in plans]
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child in children:
            child.start()
        print(f"fieldrelay cluster: {nodes} node(s) on ports {base_port}-"
              f"{base_port + nodes - 1}" + (f", sharing {', '.join(shared)} from {data_dir}"
                                            if shared else ""), flush=True)
        while not stop:
            now = time.monotonic()
            for child in children:
                child.check(now)
            time.sleep(0.2)
    finally:
        for child in children:
            child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in children:
            child.wait(deadline)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
