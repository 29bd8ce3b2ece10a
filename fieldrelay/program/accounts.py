"""The commands about people: `fieldrelay user add|remove|passwd|role` and `fieldrelay token`.

Every change is written to the data dir's users.json, which a running node reads again on
its next check: removing a user or changing its password or role ends every token of that
user at once (its open WebSockets close within seconds).
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time

from fieldrelay.config import ROLES
from fieldrelay.errors import BadRequest, Conflict, NotFound
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fieldrelay.program.settings import DEFAULTS, add_flag
from fieldrelay.tokens import TokenIssuer, load_or_create_secret
from fieldrelay.users import UserStore


def add_user(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay user add|remove|passwd|role ...`."""
    user = commands.add_parser("user", help="manage users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    add = user_commands.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input")
    add_flag(add, "data_dir")
    add_flag(add, "password_cost")
    add.set_defaults(run=cmd_user_add)
    remove = user_commands.add_parser(
        "remove", help="remove a user; every token of that user stops working at once")
    remove.add_argument("name")
    add_flag(remove, "data_dir")
    remove.set_defaults(run=cmd_user_remove)
    passwd = user_commands.add_parser(
        "passwd", help="set a user's password; every token of that user stops working")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input")
    add_flag(passwd, "data_dir")
    add_flag(passwd, "password_cost")
    passwd.set_defaults(run=cmd_user_passwd)
    role = user_commands.add_parser(
        "role", help="change a user's role; every token of that user stops working")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    add_flag(role, "data_dir")
    role.set_defaults(run=cmd_user_role)


def add_token(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay token NAME [--ttl SECONDS]`: the default lifetime is a login token's."""
    token = commands.add_parser("token", help="print a signed token for an existing user")
    token.add_argument("name")
    token.add_argument("--ttl", type=int, default=DEFAULTS.token_ttl_s,
                       help="lifetime in seconds (at most the session limit, --session-max)")
    add_flag(token, "data_dir")
    add_flag(token, "session_max_s")
    token.set_defaults(run=cmd_token)


def _read_password(from_stdin: bool) -> str | None:
    """The new password, from stdin or asked twice; None when the two differ."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("password: ")
    if getpass.getpass("again: ") != password:
        print("the passwords differ", file=sys.stderr)
        return None
    return password


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user in the data dir."""
    password = _read_password(args.password_stdin)
    if password is None:
        return EXIT_USAGE
    try:
        UserStore(args.data_dir, args.password_cost).add(args.name, args.role, password)
    except Conflict as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_FAIL
    except BadRequest as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_USAGE
    print(f"created {args.role} {args.name}")
    return EXIT_OK


def cmd_user_remove(args: argparse.Namespace) -> int:
    """Remove a user: 1 if there is none of that name."""
    try:
        UserStore(args.data_dir).remove(args.name)
    except NotFound as exc:
        print(f"{exc.detail} in {args.data_dir}", file=sys.stderr)
        return EXIT_FAIL
    print(f"removed {args.name}; every token of {args.name} stopped working")
    return EXIT_OK


def cmd_user_passwd(args: argparse.Namespace) -> int:
    """Set a user's password: 1 if there is none of that name, 2 for an unusable password."""
    store = UserStore(args.data_dir, args.password_cost)
    if store.get(args.name) is None:
        print(f"no user {args.name!r} in {args.data_dir}", file=sys.stderr)
        return EXIT_FAIL
    password = _read_password(args.password_stdin)
    if password is None:
        return EXIT_USAGE
    try:
        store.set_password(args.name, password)
    except NotFound as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_FAIL
    except BadRequest as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_USAGE
    print(f"changed the password of {args.name}; every earlier token stopped working")
    return EXIT_OK


def cmd_user_role(args: argparse.Namespace) -> int:
    """Change a user's role: 1 if there is none of that name."""
    try:
        store = UserStore(args.data_dir)
        user = store.set_role(args.name, args.role)
    except NotFound as exc:
        print(f"{exc.detail} in {args.data_dir}", file=sys.stderr)
        return EXIT_FAIL
    print(f"{user.name} is now {user.role}; every earlier token stopped working")
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
    now = int(time.time())
    if args.ttl > args.session_max:
        print(f"the token lasts the session limit, {args.session_max} s (--session-max)",
              file=sys.stderr)
    token, _ = issuer.issue(user.name, user.role, ttl_s=args.ttl, version=user.token_version,
                            auth_time=now, not_after=now + args.session_max)
    print(token)
    return EXIT_OK
