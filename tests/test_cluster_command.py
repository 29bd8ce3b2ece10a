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

from fieldrelay.program.supervisor import plan
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


def test_cluster_runs_two_nodes_with_one_login_and_stops_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
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
         str(base), "--data-dir", str(data), "--", "--ice-host", "127.0.0.1"],
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
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()[-3000:]
    for port in (base, base + 1):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            raise AssertionError(f"a node still answers on {port}")
        except urllib.error.HTTPError as exc:  # an answer, even an error, is a node still up
            raise AssertionError(f"a node still answers on {port}: {exc.code}") from None
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
