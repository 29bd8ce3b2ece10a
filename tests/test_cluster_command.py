"""`fieldrelay cluster`: N nodes on one machine, one Redis of their own, one login for all."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fieldrelay.program.supervisor import child_environment, plan
from tests.conftest import REPO, free_port
from tests.live import PASSWORD


def get(url: str, token: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return dict(json.load(r))


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the cluster exited"
        try:
            return get(f"{url}/healthz")
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.2)
    raise AssertionError(f"{url} did not become healthy")


def test_plan_gives_each_node_its_port_dir_and_reachable_url(tmp_path: Path) -> None:
    nodes = plan(3, 9000, "0.0.0.0", tmp_path)
    assert [(n.node_id, n.port, n.data_dir.name, n.url) for n in nodes] == [
        ("node-1", 9000, "node-1", "http://127.0.0.1:9000"),
        ("node-2", 9001, "node-2", "http://127.0.0.1:9001"),
        ("node-3", 9002, "node-3", "http://127.0.0.1:9002"),
    ]


def test_children_get_the_resolved_secrets_and_not_the_files_they_came_from() -> None:
    env = child_environment({"PATH": "/bin", "FIELDRELAY_CLUSTER_SECRET_FILE": "/s/c",
                             "FIELDRELAY_REDIS_PASSWORD_FILE": "/s/r",
                             "FIELDRELAY_REDIS_PASSWORD": "pw",
                             "FIELDRELAY_TURN_SECRET_FILE": "/s/t"},
                            "redis://:pw@127.0.0.1:6379/0", "c" * 40)
    assert env == {"PATH": "/bin", "FIELDRELAY_TURN_SECRET_FILE": "/s/t",
                   "FIELDRELAY_REDIS_URL": "redis://:pw@127.0.0.1:6379/0",
                   "FIELDRELAY_CLUSTER_SECRET": "c" * 40, "PYTHONUNBUFFERED": "1"}


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _proc_file(pid: int, name: str) -> list[str]:
    return [a.decode() for a in (Path(f"/proc/{pid}") / name).read_bytes().split(b"\0") if a]


def _assert_secrets_only_in_environments(cluster: int, secret: str) -> None:
    """The cluster's children (nodes and redis-server) carry no secret nor Redis URL on their
    command lines; each node has the cluster secret and the Redis URL in its environment."""
    children = _children(cluster)
    nodes = [p for p in children if "serve" in _proc_file(p, "cmdline")]
    assert len(nodes) == 2 and len(children) == 3, children
    for pid in children:
        argv = " ".join(_proc_file(pid, "cmdline"))
        assert secret not in argv and "redis://" not in argv and "requirepass" not in argv, argv
    for pid in nodes:
        env = dict(v.split("=", 1) for v in _proc_file(pid, "environ") if "=" in v)
        assert env["FIELDRELAY_CLUSTER_SECRET"] == secret
        assert env["FIELDRELAY_REDIS_URL"].startswith("redis://:")
        assert "FIELDRELAY_CLUSTER_SECRET_FILE" not in env


def env_of_first_node(cluster: int) -> dict[str, str]:
    node = next(p for p in _children(cluster) if "serve" in _proc_file(p, "cmdline"))
    return dict(v.split("=", 1) for v in _proc_file(node, "environ") if "=" in v)


def test_cluster_runs_two_nodes_with_one_login_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    secret = "cluster-secret-from-a-file-0123456789abcdef"
    secret_file = tmp_path / "cluster_secret"
    secret_file.write_text(secret + "\n")
    add = subprocess.run([sys.executable, "-m", "fieldrelay", "user", "add", "c1", "--role",
                          "commander", "--password-stdin", "--data-dir", str(data)],
                         input=PASSWORD, text=True, capture_output=True, timeout=60, check=False)
    assert add.returncode == 0, add.stderr
    base = free_port()
    while True:  # two free ports in a row
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", base + 1))
            break
        except OSError:
            base = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "fieldrelay", "cluster", "--nodes", "2", "--base-port",
         str(base), "--data-dir", str(data), "--cluster-secret-file", str(secret_file),
         "--", "--ice-host", "127.0.0.1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        urls = [f"http://127.0.0.1:{base}", f"http://127.0.0.1:{base + 1}"]
        assert [wait_healthy(u, proc)["node"] for u in urls] == ["node-1", "node-2"]
        body = json.dumps({"username": "c1", "password": PASSWORD}).encode()
        req = urllib.request.Request(f"{urls[0]}/api/login", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            token = json.load(r)["token"]
        # A token from node-1 works on node-2, and both pull from each other.
        assert get(f"{urls[1]}/api/config", token)["cascade"] is True
        assert get(f"{urls[0]}/api/config", token)["node"] == "node-1"
        assert (data / "node-2" / "users.json").exists()
        assert (data / "redis").is_dir()
        _assert_secrets_only_in_environments(proc.pid, secret)
        # The cluster's own Redis is on loopback, open to every local user: it wants a password.
        redis_port = int(env_of_first_node(proc.pid)["FIELDRELAY_REDIS_URL"].rsplit(":", 1)[1]
                         .split("/")[0])
        anonymous = subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], text=True,
                                   capture_output=True, timeout=10, check=False)
        assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()[-3000:]
    assert secret not in out.decode()
    for port in (base, base + 1):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"a node still answers on {port}")
        except urllib.error.HTTPError as exc:  # an answer, even an error, is a node still up
            raise AssertionError(f"a node still answers on {port}: {exc.code}") from None
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
