"""`fieldrelay portal` and `serve --portal-url`: the secret only from a file or the
environment, and a clean stop with a long poll in flight."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bench.common import REPO, NodeProcess, free_port
from bench.portalkit import SECRET, PortalProcess
from fieldrelay.errors import BadRequest
from fieldrelay.program.cli import build_parser
from fieldrelay.program.serve import config_from_args

pytestmark = pytest.mark.timeout(120)


def test_the_portal_secret_comes_from_a_file_or_the_environment_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FIELDRELAY_PORTAL_SECRET", "FIELDRELAY_PORTAL_SECRET_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BadRequest):
        config_from_args(build_parser().parse_args(["serve", "--portal-url", "http://p"]))
    # No flag takes the secret itself (argparse reads `--portal-secret` as the file flag).
    with pytest.raises(BadRequest):
        config_from_args(build_parser().parse_args(
            ["serve", "--portal-url", "http://p", "--portal-secret", SECRET]))
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "\n")
    config = config_from_args(build_parser().parse_args(
        ["serve", "--portal-url", "http://p", "--portal-secret-file", str(secret)]))
    assert config.portal_secret == SECRET
    monkeypatch.setenv("FIELDRELAY_PORTAL_SECRET", "short")
    with pytest.raises(BadRequest):
        config_from_args(build_parser().parse_args(["serve", "--portal-url", "http://p"]))
    without = subprocess.run(
        [sys.executable, "-m", "fieldrelay", "portal", "--data-dir", str(tmp_path / "p"),
         "--port", str(free_port())], capture_output=True, text=True, cwd=REPO, timeout=60,
        env={"PATH": "/usr/bin:/bin"}, check=False)
    assert without.returncode == 2, without.stderr
    assert "FIELDRELAY_PORTAL_SECRET" in without.stderr


def test_portal_and_node_stop_cleanly_with_a_poll_in_flight(tmp_path: Path) -> None:
    portal = PortalProcess(tmp_path / "portal-data", free_port())
    portal.add_user("g1", "grid", "north")
    portal.start()
    node = NodeProcess(tmp_path / "data", free_port())
    (tmp_path / "secret").write_text(SECRET)
    node.start("--portal-url", portal.url, "--portal-secret-file", str(tmp_path / "secret"))
    try:
        deadline = time.monotonic() + 10
        while b'"connected"' not in urllib.request.urlopen(f"{node.url}/healthz").read():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        started = time.monotonic()
        assert portal.stop() == 0, portal.log()
        assert node.stop() == 0, node.log()
        assert time.monotonic() - started < 15
        assert SECRET not in node.log() + portal.log()
        # The portal holds no evidence and no key: its users, its token secret, its mailbox.
        held = {str(p.relative_to(portal.data_dir)) for p in portal.data_dir.rglob("*")
                if p.is_file()}
        assert held <= {"users.json", "jwt.secret", "communities.json", "ferry/mailbox.jsonl"}
        assert "ferry/mailbox.jsonl" in held
    finally:
        node.stop()
        portal.stop()
