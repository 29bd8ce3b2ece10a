"""`fieldrelay case add|assign`: cases for scripts, written to the data dir's case chain.

A running node reads the case chain again when it grows, so a case added here shows on the
pages at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fieldrelay.program.settings import add_flag
from recordings.casebook import CaseBook
from recordings.cases import valid_case
from recordings.signing import NodeKey


def add_case(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay case add NUMBER --title T [--officer O]...` and `case assign NUMBER ...`."""
    case = commands.add_parser("case", help="register cases and assign people to them")
    case_commands = case.add_subparsers(dest="case_command", required=True)
    add = case_commands.add_parser("add", help="register a case by its case number")
    add.add_argument("number")
    add.add_argument("--title", default="", help="what the case is about")
    add.add_argument("--officer", action="append", default=[], help="an assigned officer")
    add_flag(add, "data_dir")
    add.set_defaults(run=cmd_case_add)
    assign = case_commands.add_parser(
        "assign", help="set a case's officers and grid workers (each list given replaces it)")
    assign.add_argument("number")
    assign.add_argument("--officer", action="append", default=None,
                        help="an assigned officer (repeatable)")
    assign.add_argument("--grid", action="append", default=None,
                        help="a grid worker of the case (repeatable)")
    add_flag(assign, "data_dir")
    assign.set_defaults(run=cmd_case_assign)


def _book(data_dir: Path) -> CaseBook:
    return CaseBook(data_dir, NodeKey.load_or_create(data_dir))


def cmd_case_add(args: argparse.Namespace) -> int:
    number = valid_case(args.number)
    if number is None:
        print("fieldrelay: a case number is 1 to 64 printable characters")
        return EXIT_USAGE
    try:
        case = _book(Path(args.data_dir)).add(number, args.title, "cli", args.officer)
    except ValueError as exc:
        print(f"fieldrelay: {exc}")
        return EXIT_FAIL
    print(json.dumps(case, sort_keys=True))
    return EXIT_OK


def cmd_case_assign(args: argparse.Namespace) -> int:
    try:
        case = _book(Path(args.data_dir)).assign(args.number, "cli", args.officer, args.grid)
    except KeyError:
        print(f"fieldrelay: there is no case {args.number!r}")
        return EXIT_FAIL
    print(json.dumps(case, sort_keys=True))
    return EXIT_OK
