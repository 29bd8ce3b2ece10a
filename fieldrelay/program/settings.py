"""Config's fields as command-line flags and FIELDRELAY_* variables, derived from its metadata.

Each flag's default is its environment variable when that is set, else Config's default, so a
flag, its variable, its help and its default are all read from the one `option()` in Config.
An empty variable counts as unset where Config's default is a number or a path (it cannot be
one), and keeps its empty text for a text setting (an empty --map-tiles means no tiles).

Secrets never need the command line, where `ps` shows them to every local user: each has a
variable and a `--...-file` flag (`with_secrets` reads the files), and a secret given as a flag
all the same is taken with a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from fieldrelay.config import Config, Option, option_of
from fieldrelay.errors import BadRequest

DEFAULTS = Config()
TRUE_WORDS = ("1", "true", "yes")
# Config's annotations are strings (postponed evaluation): resolved once, here.
_HINTS = typing.get_type_hints(Config)
# Each secret and the field of the file that may hold it instead.
SECRET_FILES = {"turn_secret": "turn_secret_file", "cluster_secret": "cluster_secret_file",
                "redis_password": "redis_password_file",
                "database_password": "database_password_file",
                "portal_secret": "portal_secret_file"}
# URLs that may carry a password, and the secret that password is.
URL_SECRETS = {"redis_url": "redis_password", "database_url": "database_password"}


@dataclass(frozen=True)
class Setting:
    """One Config field that a command sets: its option, its default and its value type."""

    name: str
    option: Option
    default: object
    # bool, tuple (a repeatable flag of text), or the type that converts the flag's text.
    kind: type

    @property
    def dest(self) -> str:
        """The flag's attribute on parsed arguments, as argparse names it (e.g. ice_host)."""
        return (self.option.flag or self.name).replace("-", "_")

    @property
    def metavar(self) -> str:
        """The flag's placeholder in --help, e.g. ICE_HOST."""
        return self.dest.upper()


def _kind(hint: object) -> type:
    """bool, tuple, int, float, str or Path from a field's annotation (None stripped)."""
    if typing.get_origin(hint) is tuple:
        return tuple
    members = [a for a in typing.get_args(hint) if a is not type(None)]
    kind = members[0] if members else hint
    if not isinstance(kind, type):
        raise TypeError(f"Config option of unsupported type {hint!r}")
    return kind


def _setting(spec: dataclasses.Field[object], option: Option) -> Setting:
    return Setting(spec.name, option, getattr(DEFAULTS, spec.name), _kind(_HINTS[spec.name]))


def settings(command: str) -> list[Setting]:
    """The Config fields that `command` sets, in Config's order."""
    found = []
    for spec in dataclasses.fields(Config):
        option = option_of(spec)
        if option is not None and option.command == command:
            found.append(_setting(spec, option))
    return found


def setting(name: str) -> Setting:
    """The setting of one Config field; KeyError if no flag or variable sets it."""
    for spec in dataclasses.fields(Config):
        option = option_of(spec)
        if spec.name == name and option is not None:
            return _setting(spec, option)
    raise KeyError(name)


def env_help(text: str, env_var: str) -> str:
    """A flag's help, naming the environment variable that also sets it."""
    return f"{text} ({env_var})"


def env_or(env_var: str, default: object) -> object:
    """The variable's text if set, else `default`; empty counts as unset for a non-text default
    (argparse converts a text default with the flag's type, as it does the flag's own text)."""
    text = os.environ.get(env_var)
    if text is None or (text == "" and default is not None and not isinstance(default, str)):
        return default
    return text


def env_list(env_var: str) -> list[str]:
    """A comma-separated variable as a list, blanks dropped."""
    raw = os.environ.get(env_var)
    return [x.strip() for x in raw.split(",") if x.strip()] if raw else []


def add_flag(parser: argparse.ArgumentParser, name: str, help: str | None = None) -> None:
    """Add the flag of Config field `name`; `help` replaces Config's text for this command."""
    s = setting(name)
    if s.option.flag is None:
        return  # set by its environment variable only
    flag, text = f"--{s.option.flag}", env_help(help or s.option.help, s.option.env_var)
    if s.name in SECRET_FILES or s.name in URL_SECRETS:
        parser.add_argument(flag, dest=s.dest, type=s.kind, metavar=s.metavar,
                            default=env_or(s.option.env_var, s.default), help=text,
                            action=_SecretFlag)
    elif s.kind is bool:
        raw = os.environ.get(s.option.env_var)
        on = s.default if raw is None else raw in TRUE_WORDS
        parser.add_argument(flag, dest=s.dest, action="store_true", default=on, help=text)
    elif s.kind is tuple:
        # The variable is read after parsing: a repeated flag must replace it, not extend it.
        parser.add_argument(flag, dest=s.dest, action="append", default=None,
                            metavar=s.metavar, help=text)
    else:
        default = s.default if s.option.scale == 1 else _in_flag_units(s)
        parser.add_argument(flag, dest=s.dest, type=s.kind, metavar=s.metavar,
                            default=env_or(s.option.env_var, default), help=text)


def add_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the flag of every Config field that `command` sets."""
    for s in settings(command):
        add_flag(parser, s.name)


def values_from_args(args: argparse.Namespace, command: str) -> dict[str, object]:
    """Config's fields for `command`: each flag as given, else its variable, else the default."""
    return {s.name: _value(s, args) for s in settings(command)}


def value_of(name: str, args: argparse.Namespace) -> object:
    """One Config field's value for a command that added its flag with `add_flag`."""
    return _value(setting(name), args)


def _value(s: Setting, args: argparse.Namespace) -> object:
    if s.option.flag is None:
        raw = env_or(s.option.env_var, s.default)
        return s.kind(raw) if isinstance(raw, str) else raw
    given: object = getattr(args, s.dest)
    if s.kind is tuple:
        listed = given if isinstance(given, list) else []
        return tuple(listed or env_list(s.option.env_var)) or s.default
    if s.option.scale != 1 and isinstance(given, int):
        return max(0, given) * s.option.scale
    return given


def _in_flag_units(s: Setting) -> object:
    return s.default // s.option.scale if isinstance(s.default, int) else s.default


class _SecretFlag(argparse.Action):
    """Stores a flag that is or holds a secret, warning when the secret is on the command line,
    where every user of the machine can read it (ps, /proc/PID/cmdline)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        name = URL_SECRETS.get(self.dest, self.dest)
        if self.dest in URL_SECRETS and not (isinstance(values, str) and _has_password(values)):
            return
        s, file = setting(name), setting(SECRET_FILES[name])
        print(f"fieldrelay: warning: {option_string} puts a secret on the command line, where "
              f"every local user can read it; use {s.option.env_var} or --{file.option.flag}",
              file=sys.stderr, flush=True)


def _has_password(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.password) or any(k == "password" for k, _ in parse_qsl(parts.query))


def read_secret(path: Path, flag: str) -> str:
    """The secret held in a file: its text without trailing line breaks (as `echo` or an
    editor leaves them). BadRequest, naming the file but never its content, if there is none."""
    try:
        text = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise BadRequest(f"--{flag} {path}: cannot read it ({reason})") from None
    if not text:
        raise BadRequest(f"--{flag} {path} is empty")
    return text


def with_secrets(config: Config) -> Config:
    """The Config with every secret file read into its secret, and the Redis password joined to
    the Redis URL; BadRequest when a secret is given twice or a password has no Redis."""
    changes: dict[str, object] = {}
    for name, file_field in SECRET_FILES.items():
        path = getattr(config, file_field)
        given = getattr(config, name) or None
        if path is not None:
            flag = setting(file_field).option.flag or file_field
            if given is not None:
                raise BadRequest(f"--{flag} and {setting(name).option.env_var} (or its flag) "
                                 f"both give the secret; give it once")
            given = read_secret(path, flag)
        changes[name], changes[file_field] = given, None
    password = changes.pop("redis_password")
    if isinstance(password, str):
        if not config.redis_url:
            raise BadRequest("a Redis password needs --redis-url")
        changes["redis_url"] = redis_url_with_password(config.redis_url, password)
    return config.replace(**changes, redis_password=password)


def redis_url_with_password(url: str, password: str) -> str:
    """`url` with `password` in it (percent-encoded, as redis-py reads it); BadRequest if the
    URL has a password already."""
    if _has_password(url):
        raise BadRequest("--redis-url has a password already; give it in one place")
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = urlencode([*parse_qsl(parts.query), ("password", password)])
        # Not urlunsplit: with an empty host it drops the `//` that redis-py needs.
        return f"unix://{parts.netloc}{parts.path}?{query}"
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{host}"))


def secret_values(config: Config) -> tuple[str, ...]:
    """The secrets in a Config, for the logs to mask wherever they appear."""
    return tuple(s for s in (config.turn_secret, config.cluster_secret, config.redis_password,
                             config.database_password, config.portal_secret) if s)
