"""`fieldrelay portal` (the internet-side process) and `fieldrelay portal-user add`.

The portal takes its own host, port and data dir (`--host`, `--port`, `--data-dir`, with
FIELDRELAY_PORTAL_* variables) and the secret it shares with the nodes from
FIELDRELAY_PORTAL_SECRET or `--portal-secret-file`, never from a flag's value.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from fieldrelay import logs
from fieldrelay.config import Config
from fieldrelay.errors import BadRequest, Conflict
from fieldrelay.program import settings
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK
from fieldrelay.program.settings import DEFAULTS, add_flag
from portal.app import build_portal_app, user_store
from portal.web_common import COMMUNITIES, PORTAL_ROLES


def add_portal(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay portal [--host] [--port] [--data-dir ./portal-data]`."""
    parser = commands.add_parser(
        "portal", help="run the internet-side portal for parties and grid workers")
    settings.add_flags(parser, "portal")
    add_flag(parser, "portal_secret_file")
    add_flag(parser, "password_cost")
    add_flag(parser, "log_level")
    parser.set_defaults(run=cmd_portal)


def portal_config(args: argparse.Namespace) -> Config:
    """The portal's Config: its own flags, the shared secret from a file or the environment."""
    config = settings.with_secrets(DEFAULTS.replace(
        **settings.values_from_args(args, "portal"),
        portal_secret_file=args.portal_secret_file, password_cost=args.password_cost,
        portal_secret=settings.env_or(settings.setting("portal_secret").option.env_var,
                                      None)))
    if not config.portal_secret or len(config.portal_secret.encode()) < 32:
        raise BadRequest("the portal needs the secret it shares with the nodes, 32 bytes or "
                         "more (FIELDRELAY_PORTAL_SECRET or --portal-secret-file)")
    return config


@dataclass
class RunningPortal:
    """A portal listening; `aclose()` stops it."""

    runner: web.AppRunner
    app: web.Application
    port: int

    async def aclose(self) -> None:
        await self.runner.cleanup()


async def start_portal(config: Config, secret: str) -> RunningPortal:
    """Build the portal's app and listen on its host and port."""
    app = build_portal_app(config, secret)
    runner = web.AppRunner(app, shutdown_timeout=config.shutdown_grace_s, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.portal_host, config.portal_port)
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    # The port actually bound (0 picks one).
    port = int(runner.addresses[0][1]) if runner.addresses else config.portal_port
    return RunningPortal(runner, app, port)


async def _run(config: Config, secret: str) -> int:
    portal = await start_portal(config, secret)
    try:
        print(f"fieldrelay portal listening on http://{config.portal_host}:{portal.port} "
              f"(data in {config.portal_data_dir})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("fieldrelay portal shutting down", flush=True)
    finally:
        await portal.aclose()
    return EXIT_OK


def cmd_portal(args: argparse.Namespace) -> int:
    """Run the portal until SIGINT/SIGTERM."""
    config = portal_config(args)
    logs.configure(config.log_level, secrets=settings.secret_values(config))
    assert config.portal_secret is not None
    return asyncio.run(_run(config, config.portal_secret))


def add_portal_user(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay portal-user add NAME --role grid|party [--community C]`."""
    parser = commands.add_parser("portal-user", help="manage the portal's own users")
    sub = parser.add_subparsers(dest="portal_user_command", required=True)
    add = sub.add_parser("add", help="create a grid worker (or a party) on the portal")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=PORTAL_ROLES)
    add.add_argument("--community", default="", help="the grid worker's community")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input")
    add_flag(add, "portal_data_dir")
    add_flag(add, "password_cost")
    add.set_defaults(run=cmd_portal_user_add)


def set_community(data_dir: Path, name: str, community: str) -> None:
    """Remember a grid worker's community (the portal tells the nodes at its next exchange)."""
    path = data_dir / COMMUNITIES
    try:
        known = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        known = {}
    known[name] = community
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, sort_keys=True))
    tmp.replace(path)


def cmd_portal_user_add(args: argparse.Namespace) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Again: "):
            print("fieldrelay: the passwords differ", file=sys.stderr)
            return EXIT_FAIL
    config = DEFAULTS.replace(portal_data_dir=Path(args.data_dir),
                              password_cost=args.password_cost)
    config.portal_data_dir.mkdir(parents=True, exist_ok=True)
    try:
        user_store(config).add(args.name, args.role, password)
    except Conflict as exc:
        print(f"fieldrelay: {exc.detail}", file=sys.stderr)
        return EXIT_FAIL
    if args.role == "grid":
        set_community(config.portal_data_dir, args.name, args.community)
    print(f"created {args.role} {args.name!r}")
    return EXIT_OK
