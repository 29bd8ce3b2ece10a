"""Config's fields as command-line flags and FIELDRELAY_* variables, derived from its metadata.

Each flag's default is its environment variable when that is set, else Config's default, so a
flag, its variable, its help and its default are all read from the one `option()` in Config.
An empty variable counts as unset where Config's default is a number or a path (it cannot be
one), and keeps its empty text for a text setting (an empty --map-tiles means no tiles).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from dataclasses import dataclass

from fieldrelay.config import Config, Option, option_of

DEFAULTS = Config()
TRUE_WORDS = ("1", "true", "yes")
# Config's annotations are strings (postponed evaluation): resolved once, here.
_HINTS = typing.get_type_hints(Config)


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
    if s.kind is bool:
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
