"""Secrets stay off command lines and out of logs: files and variables for every secret, a
warning for a secret given as a flag, and URL passwords and secrets masked in every log line."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fieldrelay import logs
from fieldrelay.errors import BadRequest
from fieldrelay.program.cli import build_parser, main
from fieldrelay.program.exits import EXIT_USAGE
from fieldrelay.program.serve import config_from_args
from tests.conftest import REPO, NodeProcess, RedisProcess, free_port

TURN_SECRET = "turn-secret-from-a-file-5a1d"
CLUSTER_SECRET = "cluster-secret-from-a-file-0123456789abcdef"
# Characters a URL must escape, so that joining it to the URL is tested too.
REDIS_PASSWORD = "p@ss/w:rd#1?x"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FIELDRELAY_"):
            monkeypatch.delenv(name)


@pytest.fixture
def root_logger() -> Iterator[None]:
    """logs.configure replaces the root handlers; give pytest its own back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level


def url_parts(url: str) -> dict[str, object]:
    """What redis-py makes of a Redis URL (host, port, db, username, password...)."""
    return dict(redis.ConnectionPool.from_url(url).connection_kwargs)


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_each_secret_can_come_from_a_file(tmp_path: Path) -> None:
    args = build_parser().parse_args([
        "serve", "--turn-url", "turn:turn.example:3478",
        "--turn-secret-file", str(_file(tmp_path, "turn", TURN_SECRET + "\n")),
        "--cluster-secret-file", str(_file(tmp_path, "cluster", CLUSTER_SECRET + "\r\n")),
        "--redis-url", "redis://redis.example:6379/2",
        "--redis-password-file", str(_file(tmp_path, "redis", REDIS_PASSWORD + "\n"))])
    config = config_from_args(args)
    assert (config.turn_secret, config.cluster_secret) == (TURN_SECRET, CLUSTER_SECRET)
    assert config.redis_url is not None
    parts = url_parts(config.redis_url)
    assert {k: parts.get(k) for k in ("password", "host", "port", "db")} == {
        "password": REDIS_PASSWORD, "host": "redis.example", "port": 6379, "db": 2}


def test_the_redis_password_can_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDRELAY_REDIS_URL", "redis://fieldrelay@redis.example/0")
    monkeypatch.setenv("FIELDRELAY_REDIS_PASSWORD", REDIS_PASSWORD)
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert config.redis_url is not None
    parsed = url_parts(config.redis_url)
    assert (parsed["username"], parsed["password"]) == ("fieldrelay", REDIS_PASSWORD)
    monkeypatch.setenv("FIELDRELAY_REDIS_URL", "unix:///run/redis.sock?db=1")
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert config.redis_url is not None
    assert url_parts(config.redis_url)["password"] == REDIS_PASSWORD


@pytest.mark.parametrize("argv", [
    # Twice: from a file and from the command line or a URL.
    ["--turn-secret", "x" * 40, "--turn-secret-file", "{file}"],
    ["--cluster-secret", "x" * 40, "--cluster-secret-file", "{file}"],
    ["--redis-url", "redis://:pw@h/0", "--redis-password-file", "{file}"],
    # A password and no Redis; an empty file; a file that is not there.
    ["--redis-password-file", "{file}"],
    ["--turn-secret-file", "{empty}"],
    ["--cluster-secret-file", "{missing}"],
])
def test_a_secret_given_twice_missing_or_empty_is_a_usage_error(
        tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    paths = {"file": _file(tmp_path, "secret", "s3cret-in-the-file\n"),
             "empty": _file(tmp_path, "empty", "\n"), "missing": tmp_path / "missing"}
    argv = [a.format(**paths) for a in argv]
    with pytest.raises(BadRequest) as failure:
        config_from_args(build_parser().parse_args(["serve", *argv]))
    assert "s3cret-in-the-file" not in failure.value.detail
    code = main(["serve", "--data-dir", str(tmp_path / "data"), "--port", "0", *argv])
    assert code == EXIT_USAGE
    assert "s3cret-in-the-file" not in capsys.readouterr().err


def test_a_secret_on_the_command_line_draws_a_warning(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    build_parser().parse_args(["serve", "--cluster-secret", CLUSTER_SECRET,
                               "--turn-secret", TURN_SECRET,
                               "--redis-url", "redis://:pw@redis.example/0",
                               "--database-url", "postgresql://fr:pw@db.example/fieldrelay"])
    err = capsys.readouterr().err
    for flag, instead in (("--cluster-secret", "FIELDRELAY_CLUSTER_SECRET"),
                          ("--turn-secret", "--turn-secret-file"),
                          ("--redis-url", "--redis-password-file"),
                          ("--database-url", "--database-password-file")):
        assert f"warning: {flag} puts a secret on the command line" in err and instead in err
    build_parser().parse_args(["serve", "--redis-url", "redis://redis.example/0",
                               "--database-url", "postgresql://fr@db.example/fieldrelay"])
    assert capsys.readouterr().err == ""


def test_log_lines_mask_url_passwords_and_configured_secrets(
        root_logger: None, capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", secrets=(TURN_SECRET, CLUSTER_SECRET))
    log = logging.getLogger("fieldrelay.test")
    log.warning("Redis at %s is not reachable yet", "redis://fieldrelay:hunter2@redis:6379/0")
    log.warning("socket at unix:///run/redis.sock?db=0&password=hunter2 failed")
    log.info("cluster secret is %s and TURN's %s", CLUSTER_SECRET, TURN_SECRET)
    try:
        raise RuntimeError(f"signing with {CLUSTER_SECRET} failed")
    except RuntimeError:
        log.exception("a failure")
    log.info("node at http://127.0.0.1:8080/x@y stays as it is")
    err = capsys.readouterr().err
    for secret in ("hunter2", TURN_SECRET, CLUSTER_SECRET):
        assert secret not in err
    assert "redis://fieldrelay:***@redis:6379/0" in err
    assert "db=0&password=***" in err
    assert "signing with *** failed" in err
    assert "http://127.0.0.1:8080/x@y" in err


def _start_without_waiting(node: NodeProcess, env: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path = node.data_dir.parent / f"node-{node.port}.log"
    node.log_path = log_path
    with open(log_path, "wb") as out:
        node.proc = subprocess.Popen(
            [sys.executable, "-m", "fieldrelay", "serve", "--data-dir", str(node.data_dir),
             "--port", str(node.port), "--ice-host", "127.0.0.1"],
            stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
    return node.proc


def test_a_node_logs_its_redis_url_without_the_password(node_process: NodeProcess) -> None:
    # A Redis that is not there: the node says so, with the URL, and goes on starting.
    port = free_port()
    proc = _start_without_waiting(node_process, {
        "FIELDRELAY_REDIS_URL": f"redis://fieldrelay:hunter2-{port}@127.0.0.1:{port}/0"})
    try:
        deadline = time.monotonic() + 20
        while "not reachable" not in node_process.log():
            assert proc.poll() is None, node_process.log()[-2000:]
            assert time.monotonic() < deadline, node_process.log()[-2000:]
            time.sleep(0.1)
        assert f"redis://fieldrelay:***@127.0.0.1:{port}/0" in node_process.log()
    finally:
        node_process.stop()
    assert f"hunter2-{port}" not in node_process.log()


def test_a_node_reaches_a_redis_with_a_password_from_a_file(
        node_process: NodeProcess, redis_server: RedisProcess, tmp_path: Path) -> None:
    client = redis.Redis(port=redis_server.port)
    client.config_set("requirepass", REDIS_PASSWORD)
    password_file = _file(tmp_path, "redis_password", REDIS_PASSWORD + "\n")
    node_process.start("--redis-url", redis_server.url,
                       "--redis-password-file", str(password_file))
    assert node_process.proc is not None
    authed = redis.Redis(port=redis_server.port, password=REDIS_PASSWORD)
    deadline = time.monotonic() + 10
    # The node's bus listener holds a subscription: it is in.
    while not any(c.get("cmd") in ("subscribe", "psubscribe", "ssubscribe")
                  for c in authed.client_list()):
        assert time.monotonic() < deadline, authed.client_list()
        time.sleep(0.1)
    argv = Path(f"/proc/{node_process.proc.pid}/cmdline").read_bytes().decode(errors="replace")
    node_process.stop()
    assert REDIS_PASSWORD not in argv
    assert REDIS_PASSWORD not in node_process.log()
