"""`fieldrelay serve --demo-users` (the README's first command) also starts a portal on the
next port with a demo party (in the demo case) and a demo grid worker, whose passwords are
printed with the others, once."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bench.common import free_port

pytestmark = pytest.mark.timeout(120)


def _get(url: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


def _serve(cwd: Path, port: int, run: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = cwd / f"serve-{run}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDRELAY_")}
    env.update(PYTHONUNBUFFERED="1", FIELDRELAY_PASSWORD_COST="12")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "fieldrelay", "serve", "--demo-users",
                                 "--port", str(port), "--ice-host", "127.0.0.1"], cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        if "listening on" in log.read_text() and "node-1 listening" in log.read_text():
            return proc, log
        time.sleep(0.1)
    raise AssertionError(log.read_text())


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(20)


def test_the_demo_starts_a_portal_with_a_party_in_the_demo_case(tmp_path: Path) -> None:
    port = free_port()
    while True:  # the portal takes the next port: it must be free too
        try:
            with socket.create_server(("127.0.0.1", port + 1)):
                break
        except OSError:
            port = free_port()
    proc, log = _serve(tmp_path, port, 1)
    try:
        portal = f"http://127.0.0.1:{port + 1}"
        output = log.read_text()
        found = dict(re.findall(r"^\s+(?:party|grid)\s+user '(\w+)'\s+password (\S+)$", output,
                                re.M))
        assert set(found) == {"party", "grid"}, output
        status, party = _get(f"{portal}/api/login", body={"username": "party",
                                                          "password": found["party"]})
        assert status == 200 and party["role"] == "party"
        status, me = _get(f"{portal}/api/me", party["token"])
        assert me["cases"] == ["DEMO-1"]
        status, view = _get(f"{portal}/api/cases/DEMO-1", party["token"])
        assert status == 200 and view["title"]
        status, grid = _get(f"{portal}/api/login", body={"username": "grid",
                                                         "password": found["grid"]})
        assert status == 200 and grid["role"] == "grid"
    finally:
        assert _stop(proc) == 0, log.read_text()
    # Started again: the same users, no password printed again, the portal still there.
    proc, log2 = _serve(tmp_path, port, 2)
    try:
        assert found["party"] not in log2.read_text()
        status, _ = _get(f"http://127.0.0.1:{port + 1}/api/login",
                         body={"username": "party", "password": found["party"]})
        assert status == 200
    finally:
        assert _stop(proc) == 0, log2.read_text()
    assert (tmp_path / "data-portal" / "users.json").is_file()
    assert not (tmp_path / "data" / "users.json").read_text().count('"party"')
