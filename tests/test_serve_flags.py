"""Config is the one source of defaults: every setting `serve` exposes has its flag, its
FIELDRELAY_* variable and its help from Config's metadata, and the parser's defaults are Config's.
The flag and variable names below are the contract (CONTRACT.md): they never change."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import pytest

from fieldrelay.config import Config
from fieldrelay.errors import BadRequest
from fieldrelay.program import settings
from fieldrelay.program.cli import build_parser
from fieldrelay.program.serve import config_from_args
from fieldrelay.program.settings import Setting

SERVE_FLAGS = {
    "host", "port", "data-dir", "redis-url", "node-id", "public-url", "tls-cert", "tls-key",
    "ice-host", "ice-public-ip", "ice-server", "reconnect-grace", "escalate-after",
    "dispatch-count", "dispatch-radius", "alerts-per-minute", "token-ttl", "allowed-origin",
    "demo-users", "map-tiles", "map-attribution", "log-level", "gop-cache-kb", "cluster-secret",
    "cluster-url", "turn-url", "turn-secret", "tls-self-signed", "trusted-proxy", "turn-ttl",
    "cluster-peer",
    "password-cost", "session-max",
    "turn-secret-file", "cluster-secret-file", "redis-password-file",
    "header-timeout", "body-timeout", "keepalive-timeout", "max-connections",
    "max-connections-per-address", "reserve-connections",
}
SERVE_FLAGS |= {"hold-two-person-release"}  # legal holds: the two-person release
SERVE_FLAGS |= {"checkpoint-interval", "witness-dir", "tsa-url", "key-file"}  # checkpoints
SERVE_FLAGS |= {  # the whole trail: uploads
    "upload-max-photo-mb", "upload-max-audio-mb", "upload-max-video-mb", "upload-max-file-mb",
    "upload-max-preevent-mb", "upload-max-gapfill-mb", "uploads-per-officer", "upload-expire",
    "upload-receive-threads",
}
# Archive and catalog.
SERVE_FLAGS |= {"archive-url", "archive-endpoint", "archive-region", "archive-credentials-file",
                "archive-lock-days", "archive-concurrency", "archive-behind", "database-url",
                "database-password-file"}
SERVE_FLAGS |= {"plain-audio"}  # weak links: Opus FEC and RED off, for measurements
SERVE_FLAGS |= {"portal-url", "portal-secret-file", "published-step"}  # the portal
ENV_ONLY = {"WEB_DIR", "REDIS_PASSWORD", "DATABASE_PASSWORD", "PORTAL_SECRET"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("FIELDRELAY_"):
            monkeypatch.delenv(name)


def _sample(s: Setting) -> tuple[str, list[str], object]:
    """A value unlike the default: (variable text, flag arguments, the field's value)."""
    flag = f"--{s.option.flag}"
    if s.kind is bool:
        return "yes", [flag], True
    if s.kind is tuple:
        return "a.example, b.example", [flag, "a.example", flag, "b.example"], (
            "a.example", "b.example")
    if s.kind in (int, float):
        assert isinstance(s.default, int | float)
        count = s.default // s.option.scale + 7 if s.kind is int else s.default + 1.5
        return str(count), [flag, str(count)], count * s.option.scale
    if s.kind is Path:
        return "/elsewhere/x", [flag, "/elsewhere/x"], Path("/elsewhere/x")
    return "other.example", [flag, "other.example"], "other.example"


def test_every_contract_flag_and_variable_comes_from_config() -> None:
    serve = settings.settings("serve")
    assert {s.option.flag for s in serve if s.option.flag} == SERVE_FLAGS
    for s in serve:
        expected = (s.option.flag or "").upper().replace("-", "_") or s.option.env
        assert s.option.env_var == f"FIELDRELAY_{expected}", s.name
    assert {s.option.env for s in serve if s.option.flag is None} == ENV_ONLY
    fields = {f.name for f in dataclasses.fields(Config)}
    assert {s.name for s in serve} <= fields


def test_serve_help_names_each_flag_and_its_variable(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for s in settings.settings("serve"):
        if s.option.flag:
            assert f"--{s.option.flag}" in text
            assert " ".join(s.option.help.split()) in text, s.name
            assert s.option.env_var in text, s.name


def test_serve_without_flags_or_environment_is_configs_default() -> None:
    assert config_from_args(build_parser().parse_args(["serve"])) == Config()


@pytest.mark.parametrize("s", settings.settings("serve"), ids=lambda s: s.name)
def test_each_variable_and_each_flag_sets_its_field(s: Setting,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    text, argv, value = _sample(s)
    assert value != s.default
    monkeypatch.setenv(s.option.env_var, text)
    from_env = settings.values_from_args(build_parser().parse_args(["serve"]), "serve")
    assert from_env == {**settings.values_from_args(_parse_clean(monkeypatch, s), "serve"),
                        s.name: value}
    if s.option.flag is not None:
        monkeypatch.delenv(s.option.env_var)
        args = build_parser().parse_args(["serve", *argv])
        assert settings.values_from_args(args, "serve")[s.name] == value


def _parse_clean(monkeypatch: pytest.MonkeyPatch, s: Setting) -> argparse.Namespace:
    with monkeypatch.context() as m:
        m.delenv(s.option.env_var)
        return build_parser().parse_args(["serve"])


def test_a_flag_wins_over_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDRELAY_PORT", "9000")
    monkeypatch.setenv("FIELDRELAY_ICE_HOST", "10.0.0.1,10.0.0.2")
    config = config_from_args(build_parser().parse_args(
        ["serve", "--port", "9001", "--ice-host", "127.0.0.1"]))
    assert (config.port, config.ice_hosts) == (9001, ("127.0.0.1",))


def test_the_gop_cache_flag_counts_kib() -> None:
    assert build_parser().parse_args(["serve"]).gop_cache_kb == 2048
    for kib, cache in (("3", 3072), ("0", 0), ("-5", 0)):
        args = build_parser().parse_args(["serve", "--gop-cache-kb", kib])
        assert config_from_args(args).gop_cache_bytes == cache


def test_the_map_has_no_tiles_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every tile request tells the tile host where officers are: none leaves by default.
    assert (Config().map_tiles, Config().map_attribution) == ("", "")
    config = config_from_args(build_parser().parse_args(["serve"]))
    assert (config.map_tiles, config.map_attribution) == ("", "")
    tiles = "https://tiles.example.org/{z}/{x}/{y}.png"
    config = config_from_args(build_parser().parse_args(
        ["serve", "--map-tiles", tiles, "--map-attribution", "© Example"]))
    assert (config.map_tiles, config.map_attribution) == (tiles, "© Example")


def test_the_map_credits_no_one_without_tiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDRELAY_MAP_ATTRIBUTION", "© Someone")
    args = build_parser().parse_args(["serve", "--map-tiles", ""])
    assert (config_from_args(args).map_tiles, config_from_args(args).map_attribution) == ("", "")
    monkeypatch.setenv("FIELDRELAY_MAP_TILES", "")
    assert config_from_args(build_parser().parse_args(["serve"])).map_attribution == ""


def test_an_empty_variable_means_the_default_for_numbers_and_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "RECONNECT_GRACE", "DATA_DIR", "WEB_DIR", "GOP_CACHE_KB"):
        monkeypatch.setenv(f"FIELDRELAY_{name}", "")
    monkeypatch.setenv("FIELDRELAY_NODE_ID", "")
    assert config_from_args(build_parser().parse_args(["serve"])) == Config(node_id="")


def test_a_bad_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDRELAY_PORT", "eighty")
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["serve"])
    assert stopped.value.code == 2
    # Only serve reads it: other commands are not stopped by it.
    assert build_parser().parse_args(["reindex"]).data_dir == Path("data")


def test_other_commands_take_their_defaults_from_config(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Config()
    parse = build_parser().parse_args
    assert parse(["token", "u"]).ttl == defaults.token_ttl_s
    assert parse(["retention"]).older_than == defaults.retention_days
    cluster = parse(["cluster"])
    assert (cluster.base_port, cluster.host, cluster.data_dir, cluster.redis_url,
            cluster.cluster_secret) == (defaults.port, defaults.host, defaults.data_dir,
                                        defaults.redis_url, defaults.cluster_secret)
    for command in (["user", "add", "u", "--role", "admin"], ["export", "s", "-o", "f"],
                    ["reindex"], ["retention"], ["token", "u"]):
        assert parse(command).data_dir == defaults.data_dir
    monkeypatch.setenv("FIELDRELAY_RETENTION_DAYS", "3")
    monkeypatch.setenv("FIELDRELAY_BASE_PORT", "9000")
    monkeypatch.setenv("FIELDRELAY_NODES", "3")
    parse = build_parser().parse_args
    assert parse(["retention"]).older_than == 3.0
    assert (parse(["cluster"]).base_port, parse(["cluster"]).nodes) == (9000, 3)


def test_a_malformed_archive_url_stops_the_node_with_a_usage_error() -> None:
    for url in ("http://bucket/x", "s3://B/x", "s3://bucket/x y"):
        with pytest.raises(BadRequest):
            config_from_args(build_parser().parse_args(["serve", "--archive-url", url]))
    config = config_from_args(build_parser().parse_args(
        ["serve", "--archive-url", "s3://evidence-archive/node"]))
    assert config.archive_url == "s3://evidence-archive/node"
