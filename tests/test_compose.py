"""docker-compose.yml and the Dockerfile stay valid and true to the `fieldrelay serve` CLI."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
NODES = ("node-a", "node-b")
CLUSTER_SECRET = "test-cluster-secret-0123456789abcdef"
FLAG = re.compile(r"--[a-z][a-z0-9-]*")


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
                        "NODE_B_PUBLIC_URL", "CLUSTER_SECRET"}
           and not k.startswith(("COMPOSE_", "DOCKER_"))}
    return env


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The compose file as Compose resolves it, with a TURN secret set."""
    res = compose_config({**base_env(), "TURN_SECRET": "test-turn-secret",
                          "CLUSTER_SECRET": CLUSTER_SECRET})
    assert res.returncode == 0, f"docker-compose config failed:\n{res.stderr}"
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
    assert set(config["services"]) == {"redis", "coturn", *NODES}


def test_compose_refuses_to_run_without_a_turn_secret() -> None:
    res = compose_config({**base_env(), "CLUSTER_SECRET": CLUSTER_SECRET})
    assert res.returncode != 0
    assert "TURN_SECRET" in res.stderr


def test_compose_refuses_to_run_without_a_cluster_secret() -> None:
    res = compose_config({**base_env(), "TURN_SECRET": "test-turn-secret"})
    assert res.returncode != 0
    assert "CLUSTER_SECRET" in res.stderr


def test_nodes_share_the_cluster_secret_and_reach_each_other_by_service_name(
        config: dict[str, Any]) -> None:
    for name in NODES:
        env = config["services"][name]["environment"]
        assert env["FIELDRELAY_CLUSTER_SECRET"] == CLUSTER_SECRET
        assert env["FIELDRELAY_CLUSTER_URL"] == f"http://{name}:8080"


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
    assert "--static-auth-secret=test-turn-secret" in args
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
