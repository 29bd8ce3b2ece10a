"""The commands about people: `fieldrelay user add` and `fieldrelay token`."""

from __future__ import annotations

import argparse
import getpass
import sys

from fieldrelay.config import ROLES
from fieldrelay.errors import BadRequest, Conflict
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fieldrelay.program.settings import DEFAULTS, add_flag
from fieldrelay.tokens import TokenIssuer, load_or_create_secret
from fieldrelay.users import UserStore


def add_user(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay user add NAME --role ROLE [--password-stdin]`."""
    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input")
    add_flag(add, "data_dir")
    add.set_defaults(run=cmd_user_add)


def add_token(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay token NAME [--ttl SECONDS]`: the default lifetime is a login token's."""
    token = commands.add_parser("token", help="print a signed token for an existing user")
    token.add_argument("name")
    token.add_argument("--ttl", type=int, default=DEFAULTS.token_ttl_s,
                       help="lifetime in seconds")
    add_flag(token, "data_dir")
    token.set_defaults(run=cmd_token)


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user in the data dir."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return EXIT_USAGE
    try:
        UserStore(args.data_dir).add(args.name, args.role, password)
    except Conflict as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_FAIL
    except BadRequest as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_USAGE
    print(f"created {args.role} {args.name}")
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    """Print a token for an existing user."""
    user = UserStore(args.data_dir).get(args.name)
    if user is None:
        print(f"no user {args.name!r} in {args.data_dir}", file=sys.stderr)
        return EXIT_FAIL
    config = DEFAULTS.replace(data_dir=args.data_dir)
    issuer = TokenIssuer(load_or_create_secret(args.data_dir), config.jwt_issuer,
                         config.jwt_audience, config.token_ttl_s)
    token, _ = issuer.issue(user.name, user.role, ttl_s=args.ttl)
    print(token)
    return EXIT_OK
