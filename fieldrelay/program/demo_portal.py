"""`serve --demo-users` starts a portal beside the node, on the next port, ferrying over
loopback: a demo case for the demo officer, a demo grid worker, and a demo party who has
redeemed an invitation to that case. Production runs the portal apart, on the internet side.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.files import write_private
from fieldrelay.program.portals import RunningPortal, set_community, start_portal
from portal.routes import redeem_invitation
from portal.web_common import DESK as PORTAL_DESK
from portal.web_common import USERS as PORTAL_USERS
from signaling.casedesk import DESK as CASES

DEMO_CASE = "DEMO-1"
DEMO_GRID, DEMO_PARTY, DEMO_COMMUNITY = "grid", "party", "demo"
# The ferry carries the demo invitation across within a poll; wait this long for it at most.
INVITATION_WAIT_S = 15.0


@dataclass(frozen=True)
class DemoPortal:
    """Where the demo portal is, and the Config the node ferries to it with."""

    node_config: Config
    portal_config: Config
    secret: str


def demo_secret(data_dir: Path) -> str:
    """The secret node and demo portal share, made once in the node's data dir (messages
    waiting in either mailbox stay valid across restarts)."""
    path = data_dir / "ferry" / "demo-portal.secret"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        secret = secrets.token_hex(32)
        write_private(path, secret.encode())
        return secret


def plan(config: Config) -> DemoPortal:
    """The demo portal's Config (next port, `<data>-portal` beside the data dir) and the
    node's, which ferries to it."""
    secret = demo_secret(config.data_dir)
    port = config.port + 1
    portal_dir = config.data_dir.with_name(config.data_dir.name + "-portal")
    return DemoPortal(
        node_config=config.replace(portal_url=f"http://127.0.0.1:{port}",
                                   portal_secret=secret),
        portal_config=config.replace(portal_host=config.host, portal_port=port,
                                     portal_data_dir=portal_dir),
        secret=secret)


async def start(demo: DemoPortal) -> RunningPortal:
    """Start the demo portal (before the node, so the node's first exchange finds it)."""
    return await start_portal(demo.portal_config, demo.secret)


async def seed(node_app: web.Application, portal: RunningPortal,
               officer: str) -> list[tuple[str, str, str]]:
    """The demo case, grid worker and party, made once; returns (name, role, password) of the
    portal users created now."""
    users, created = portal.app[PORTAL_USERS], []
    if users.get(DEMO_GRID) is None:
        password = secrets.token_urlsafe(9)
        await asyncio.to_thread(users.add, DEMO_GRID, "grid", password)
        set_community(portal.app[PORTAL_USERS].path.parent, DEMO_GRID, DEMO_COMMUNITY)
        created.append((DEMO_GRID, "grid", password))
    desk = node_app[CASES]
    if await desk.case(DEMO_CASE) is None:
        await desk.record("case.created", DEMO_CASE, title="Demo: a debt to recover",
                          by="demo", officers=[officer])
        await desk.record("case.assigned", DEMO_CASE, by="demo", officers=[officer],
                          grid=[DEMO_GRID])
        await desk.case_info(DEMO_CASE)
    if users.get(DEMO_PARTY) is None:
        portal_desk, arrived = portal.app[PORTAL_DESK], asyncio.Event()

        def heard(message: dict[str, Any]) -> None:
            if message["kind"] == "invitation":
                arrived.set()

        portal_desk.listeners.append(heard)
        try:
            invitation = await desk.invite(DEMO_CASE, "demo", 3600.0)
            async with asyncio.timeout(INVITATION_WAIT_S):
                await arrived.wait()
        finally:
            portal_desk.listeners.remove(heard)
        password = secrets.token_urlsafe(9)
        await redeem_invitation(portal.app, invitation["code"], DEMO_PARTY, password)
        created.append((DEMO_PARTY, "party", password))
    return created


def print_created(created: list[tuple[str, str, str]], portal_url: str) -> None:
    """The portal's demo users, printed with the node's (once, when made)."""
    if not created:
        return
    print(f"Portal demo users ({portal_url}/public for the party, {portal_url}/grid for the "
          f"grid worker; case {DEMO_CASE}):")
    for name, role, password in created:
        print(f"  {role:<10} user {name!r:<12} password {password}")
    print(flush=True)
