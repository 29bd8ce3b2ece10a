"""docker-compose.yml and the Dockerfile stay valid and true to the `fieldrelay serve` CLI."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from aioice import turn as aioice_turn
from aioice.stun import TransactionFailed

from fieldrelay.turn import issue
from tests.conftest import free_port

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
NODES = ("node-a", "node-b")
# Set in the environment while Compose reads the file: none of them may reach the config.
CLUSTER_SECRET = "test-cluster-secret-0123456789abcdef"
TURN_SECRET = "test-turn-secret-0123456789abcdef"
REDIS_PASSWORD = "test-redis-password-0123456789abcdef"
FLAG = re.compile(r"--[a-z][a-z0-9-]*")
SECRET_FILES = {"turn_secret", "cluster_secret", "redis_password", "postgres_password",
                "minio_root_user", "minio_root_password", "archive_credentials"}
# The secrets a node itself reads.
NODE_SECRETS = {"turn_secret", "cluster_secret", "redis_password", "postgres_password",
                "archive_credentials"}
NODE_SECRET_VARS = {"FIELDRELAY_CLUSTER_SECRET_FILE": "/run/secrets/cluster_secret",
                    "FIELDRELAY_TURN_SECRET_FILE": "/run/secrets/turn_secret",
                    "FIELDRELAY_REDIS_PASSWORD_FILE": "/run/secrets/redis_password"}
# What a relay must never reach for a TURN user: the ranges behind the host and on it.
PRIVATE = ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
           "172.16.0.0/12", "192.168.0.0/16", "::1/128", "fc00::/7", "fe80::/10")


def compose_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on the repo's file; validates it without a Docker engine."""
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose (Debian's Compose v1) is not installed; tests/run installs it",
                    pytrace=False)
    return subprocess.run(
        [exe, "-f", str(COMPOSE), "config"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )


def base_env() -> dict[str, str]:
    """The environment without any of the variables the compose file reads."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"TURN_SECRET", "TURN_EXTERNAL_IP", "NODE_A_PUBLIC_URL",
                        "NODE_B_PUBLIC_URL", "CLUSTER_SECRET", "REDIS_PASSWORD"}
           and not k.startswith(("COMPOSE_", "DOCKER_"))}
    return env


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The compose file as Compose resolves it, with secrets in the environment that it must
    not use (they would show in `docker inspect` and in this very output)."""
    res = compose_config({**base_env(), "TURN_SECRET": TURN_SECRET,
                          "CLUSTER_SECRET": CLUSTER_SECRET, "REDIS_PASSWORD": REDIS_PASSWORD})
    assert res.returncode == 0, f"docker-compose config failed:\n{res.stderr}"
    for secret in (TURN_SECRET, CLUSTER_SECRET, REDIS_PASSWORD):
        assert secret not in res.stdout
    parsed = yaml.safe_load(res.stdout)
    assert isinstance(parsed, dict)
    return parsed


@cache
def serve_flags() -> frozenset[str]:
    """Every flag that `fieldrelay serve --help` lists."""
    res = subprocess.run(
        [sys.executable, "-m", "fieldrelay", "serve", "--help"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert res.returncode == 0, f"`fieldrelay serve --help` failed:\n{res.stderr}"
    flags = frozenset(FLAG.findall(res.stdout))
    # The contract's core flags; if these are missing the help text is not what we think it is.
    assert {"--host", "--port", "--data-dir", "--redis-url", "--node-id"} <= flags, res.stdout
    return flags


def flags_in(command: list[str]) -> list[str]:
    """The flags in a command line, `--name=value` reduced to `--name`."""
    return [arg.split("=", 1)[0] for arg in command if arg.startswith("--")]


def test_compose_file_is_valid(config: dict[str, Any]) -> None:
    assert set(config["services"]) == {"redis", "coturn", "postgres", "minio", "minio-setup",
                                       *NODES}


def test_compose_runs_without_any_secret_in_its_environment() -> None:
    res = compose_config(base_env())
    assert res.returncode == 0, res.stderr


def test_every_secret_is_a_file_and_never_inline(config: dict[str, Any]) -> None:
    assert {name: spec["file"] for name, spec in config["secrets"].items()} == {
        name: str(REPO / "secrets" / name) for name in SECRET_FILES}
    raw = "\n".join(line for line in COMPOSE.read_text().splitlines()
                    if not line.lstrip().startswith("#"))
    assert "static-auth-secret=" not in re.sub(r"printf '[^']*'", "", raw)
    assert not re.search(r"requirepass\s+[^%\s]", raw)
    assert "${TURN_SECRET" not in raw and "${CLUSTER_SECRET" not in raw
    for name, service in config["services"].items():
        words = [str(w) for w in [*service.get("command", []), *service.get("entrypoint", [])]]
        assert not any(re.search(r"redis://[^/@\s]*:[^/@\s]*@", w) for w in words), name
        for var, value in service.get("environment", {}).items():
            assert not var.endswith(("_SECRET", "_PASSWORD", "_AUTH")), (name, var, value)
    # The build context must not carry the secrets into the image.
    ignored = (REPO / ".dockerignore").read_text().split()
    assert "secrets" in ignored or "secrets/" in ignored


def test_nodes_read_their_secrets_from_files_and_reach_each_other_by_service_name(
        config: dict[str, Any]) -> None:
    for name in NODES:
        node = config["services"][name]
        env = node["environment"]
        assert {k: env[k] for k in NODE_SECRET_VARS} == NODE_SECRET_VARS
        assert {s["source"] for s in node["secrets"]} == NODE_SECRETS
        assert env["FIELDRELAY_CLUSTER_URL"] == f"http://{name}:8080"
        # Node tokens go only to the cluster's own nodes (pinned peers), every one of them.
        peers = env["FIELDRELAY_CLUSTER_PEER"].split(",")
        assert sorted(peers) == sorted(f"http://{n}:8080" for n in NODES)


def test_redis_keeps_its_data(config: dict[str, Any]) -> None:
    redis = config["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    assert redis["command"][-2:] == ["--appendonly", "yes"]
    assert any(v.endswith(":/data") or ":/data:" in v for v in redis["volumes"])


def test_coturn_uses_short_lived_credentials(config: dict[str, Any]) -> None:
    coturn = config["services"]["coturn"]
    assert coturn["image"].startswith("coturn/coturn")
    args = coturn["command"]
    assert "--use-auth-secret" in args
    assert not any(a.startswith("--static-auth-secret") for a in args)
    assert "-n" not in args, "-n makes coturn ignore the config file that holds the secret"
    assert [s["source"] for s in coturn["secrets"]] == ["turn_secret"]
    assert "--realm=fieldrelay" in args
    assert "--listening-port=3478" in args
    assert {"--min-port=49160", "--max-port=49200"} <= set(args)
    published = {(p["published"], p.get("protocol", "tcp")) for p in coturn["ports"]}
    assert (3478, "udp") in published
    assert {(port, "udp") for port in range(49160, 49201)} <= published
    assert "network_mode" not in coturn


@pytest.mark.parametrize("name", NODES)
def test_node_command_uses_only_real_serve_flags(config: dict[str, Any], name: str) -> None:
    node = config["services"][name]
    command = [str(arg) for arg in node["command"]]
    assert command[0] == "serve"
    unknown = set(flags_in(command)) - serve_flags()
    assert not unknown, f"{name} uses flags `fieldrelay serve` does not have: {sorted(unknown)}"
    args = dict(zip(command[1::2], command[2::2], strict=False))
    assert args["--host"] == "0.0.0.0"
    assert args["--port"] == "8080"
    assert args["--data-dir"] == "/data"
    assert args["--redis-url"] == "redis://redis:6379/0"
    assert args["--node-id"] == name


@pytest.mark.parametrize("name", NODES)
def test_node_environment_mirrors_real_flags(config: dict[str, Any], name: str) -> None:
    env = config["services"][name]["environment"]
    assert env["FIELDRELAY_PUBLIC_URL"].startswith("http")
    for var in env:
        if var.startswith("FIELDRELAY_"):
            flag = "--" + var.removeprefix("FIELDRELAY_").lower().replace("_", "-")
            assert flag in serve_flags(), f"{name}: {var} mirrors no serve flag ({flag})"


@pytest.mark.parametrize(("name", "published"), [("node-a", 8080), ("node-b", 8081)])
def test_node_is_built_here_with_its_own_data_and_a_healthcheck(
    config: dict[str, Any], name: str, published: int
) -> None:
    node = config["services"][name]
    assert os.path.realpath(node["build"]["context"]) == os.path.realpath(REPO)
    assert "redis" in node["depends_on"]
    assert [(p["published"], p["target"]) for p in node["ports"]] == [(published, 8080)]
    volumes = [v for v in node["volumes"] if ":/data" in v]
    assert volumes == [f"{name}-data:/data:rw"] or volumes == [f"{name}-data:/data"]
    test = " ".join(node["healthcheck"]["test"])
    assert "urllib" in test and "/healthz" in test


def test_dockerfile_default_command_uses_only_real_serve_flags() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", text, re.M)
    assert re.search(r"^USER (?!root\b)\S+", text, re.M), "the image must not run as root"
    assert re.search(r"^EXPOSE 8080\b", text, re.M)
    entry = re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M)
    assert entry and json.loads(entry.group(1)) == ["fieldrelay"]
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd is not None
    command = json.loads(cmd.group(1))
    assert command[0] == "serve"
    assert not set(flags_in(command)) - serve_flags()


def _ranges(args: list[str], option: str) -> list[tuple[int, int, int]]:
    """Each `option=LOW[-HIGH]` as (IP version, low, high)."""
    found: list[tuple[int, int, int]] = []
    for arg in args:
        if arg.startswith(f"{option}="):
            low, _, high = arg.split("=", 1)[1].partition("-")
            first, last = ipaddress.ip_address(low), ipaddress.ip_address(high or low)
            assert first.version == last.version, arg
            found.append((first.version, int(first), int(last)))
    return found


def test_coturn_relays_to_the_nodes_only_and_never_over_tcp(config: dict[str, Any]) -> None:
    args = [str(a) for a in config["services"]["coturn"]["command"]]
    assert "--no-tcp-relay" in args
    denied = _ranges(args, "--denied-peer-ip")
    subnet = ipaddress.ip_network(config["networks"]["default"]["ipam"]["config"][0]["subnet"])

    def covered(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        return any(version == network.version and low <= int(network[0])
                   and int(network[-1]) <= high for version, low, high in denied)

    for private in (*map(ipaddress.ip_network, PRIVATE), subnet):
        assert covered(private), f"coturn may relay into {private}"
    nodes = {config["services"][n]["networks"]["default"]["ipv4_address"] for n in NODES}
    allowed = {str(ipaddress.ip_address(low)) for _, low, high in _ranges(args, "--allowed-peer-ip")
               if low == high}
    assert allowed == nodes
    assert all(ipaddress.ip_address(n) in subnet for n in nodes)
    assert "networks" not in config["services"]["redis"] or not any(
        "ipv4_address" in str(v) for v in config["services"]["redis"]["networks"].values())
    assert "ports" not in config["services"]["redis"]


def _shims(tmp_path: Path) -> dict[str, str]:
    """An environment whose PATH runs the images' helpers as no-ops around the real servers:
    docker-entrypoint.sh just runs its arguments, chown does nothing (we are not root)."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name, body in (("docker-entrypoint.sh", 'exec "$@"'), ("chown", "exit 0")):
        (shims / name).write_text(f"#!/bin/sh\n{body}\n")
        (shims / name).chmod(0o755)
    return {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}"}


def _here(words: list[Any], tmp_path: Path) -> list[str]:
    """A service's command with Compose's `$$` unescaped and the container's /run/secrets and
    /tmp moved into the test's directory."""
    # /tmp/ first: the test's own directory is under /tmp too.
    return [str(w).replace("$$", "$").replace("/tmp/", f"{tmp_path}/tmpfs/")
            .replace("/run/secrets/", f"{tmp_path}/secrets/") for w in words]


def _write_secret(tmp_path: Path, name: str) -> str:
    value = secrets.token_hex(16)
    (tmp_path / "secrets").mkdir(exist_ok=True)
    (tmp_path / "tmpfs").mkdir(exist_ok=True)
    (tmp_path / "secrets" / name).write_text(value + "\n")
    return value


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_compose_redis_wants_the_password_from_its_secret(config: dict[str, Any],
                                                            tmp_path: Path) -> None:
    redis = config["services"]["redis"]
    password = _write_secret(tmp_path, "redis_password")
    port = free_port()
    env = _shims(tmp_path)
    command = [*_here(redis["entrypoint"], tmp_path), *_here(redis["command"], tmp_path),
               "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    health = _here(redis["healthcheck"]["test"], tmp_path)
    assert health[0] == "CMD-SHELL"
    check = health[1].replace("redis-cli ", f"redis-cli -p {port} ")
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["sh", "-c", check], env=env, check=False,
                             capture_output=True).returncode != 0:
            assert proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "the healthcheck never passed"
            time.sleep(0.1)
        anonymous = subprocess.run(["redis-cli", "-p", str(port), "ping"], text=True,
                                   capture_output=True, check=False, env=env)
        assert "NOAUTH" in anonymous.stdout + anonymous.stderr
        assert password not in _cmdline(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def test_compose_coturn_takes_its_secret_from_the_file(config: dict[str, Any],
                                                        tmp_path: Path) -> None:
    coturn = config["services"]["coturn"]
    secret = _write_secret(tmp_path, "turn_secret")
    port = free_port()
    low = 30000 + (port % 300) * 100
    # The compose flags as they are, but on loopback and on ports of this test's own.
    flags = [a for a in _here(coturn["command"], tmp_path)
             if not a.startswith(("--listening-port", "--min-port", "--max-port",
                                  "--external-ip"))]
    command = [*_here(coturn["entrypoint"], tmp_path), *flags, f"--listening-port={port}",
               "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--min-port={low}",
               f"--max-port={low + 99}", f"--userdb={tmp_path / 'turndb'}",
               f"--pidfile={tmp_path / 'turnserver.pid'}", "--simple-log"]
    log = tmp_path / "coturn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while "Relay ports initialization done" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "turnserver did not become ready"
            time.sleep(0.05)
        assert secret not in _cmdline(proc.pid)
        asyncio.run(_allocate(port, secret))
        with pytest.raises(TransactionFailed):
            asyncio.run(_allocate(port, "not-" + secret))
    finally:
        proc.terminate()
        proc.wait(10)


async def _allocate(port: int, secret: str) -> None:
    """A TURN allocation with a REST credential made from `secret` (what a node hands out)."""
    credential = issue(secret, "officer1", 600, time.time())
    transport, _ = await aioice_turn.create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", port), credential.username,
        credential.credential)
    transport.close()


def test_both_nodes_archive_to_minio_and_share_the_postgresql_catalog(
        config: dict[str, Any]) -> None:
    services = config["services"]
    for name in NODES:
        env = services[name]["environment"]
        assert env["FIELDRELAY_ARCHIVE_URL"] == "s3://fieldrelay-evidence/nodes"
        assert env["FIELDRELAY_ARCHIVE_ENDPOINT"] == "http://minio:9000"
        assert env["FIELDRELAY_ARCHIVE_CREDENTIALS_FILE"] == "/run/secrets/archive_credentials"
        assert env["FIELDRELAY_DATABASE_URL"] == (
            "postgresql://fieldrelay@postgres:5432/fieldrelay")
        assert env["FIELDRELAY_DATABASE_PASSWORD_FILE"] == "/run/secrets/postgres_password"
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["minio-setup"]["condition"] == "service_completed_successfully"
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert any(v.endswith(":/var/lib/postgresql/data") or
               v.endswith(":/var/lib/postgresql/data:rw") for v in postgres["volumes"])
    minio = services["minio"]
    assert minio["environment"]["MINIO_ROOT_PASSWORD_FILE"] == (
        "/run/secrets/minio_root_password")
    setup = " ".join(services["minio-setup"]["entrypoint"])
    # Object Lock can only be turned on when the bucket is made.
    assert "mc mb --ignore-existing --with-lock archive/fieldrelay-evidence" in setup
    assert "minio_root_password" in setup and "MC_HOST_archive" in setup
