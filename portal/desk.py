"""The portal's desk: its mailbox, the state folded from it, and who to tell about changes.

Everything that changes the portal is a ferry message: one from a node (pulled in through an
exchange) or one the portal's own users caused (a clue, a reply). Each is stored in the
mailbox before it counts, then folded into the state, then the users it concerns are told
over their WebSockets, and a node's waiting exchange is woken to carry the portal's news.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fieldrelay import ferry
from fieldrelay.errors import Unauthorized
from fieldrelay.mailbox import Mailbox
from portal.state import PortalState, fold

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]


def now_iso() -> str:
    """UTC now with milliseconds and Z, as the chains write times."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class PortalDesk:
    """Stores, folds and announces every ferry message of the portal."""

    def __init__(self, data_dir: Path, secret: str) -> None:
        self.secret = secret
        self.mailbox = Mailbox(data_dir / "ferry")
        self.state: PortalState = fold(self.mailbox.history())
        self._news = asyncio.Condition()
        # One writer at a time keeps the mailbox's order the order the state folds in.
        self._write = asyncio.Lock()
        self.listeners: list[Listener] = []

    def _told(self, message: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception:  # one page's failure never stops the others hearing
                log.exception("a portal listener failed")

    async def post(self, kind: str, case: str, body: dict[str, Any],
                   to: str | None = None) -> dict[str, Any]:
        """A message from the portal's side: stored, folded, announced, ferried to the node
        the case lives on (or `to`)."""
        message = ferry.sign(self.secret, ferry.PORTAL, kind, case, body, now_iso(),
                             to=to or self.state.case_node.get(case))
        async with self._write:
            await asyncio.to_thread(self.mailbox.post, message)
            self.state.apply(message)
        self._told(message)
        async with self._news:
            self._news.notify_all()
        return message

    async def take_in(self, sender: str, messages: list[object]) -> list[str]:
        """Store and fold the messages a node pushed; the ids stored (to acknowledge).

        A message not signed by the node that signed the exchange refuses the exchange."""
        checked = [ferry.check(self.secret, m) for m in messages]
        for message in checked:
            if message["from"] != sender:
                raise Unauthorized("an exchange carries only its own node's messages")
        stored = []
        for message in checked:
            async with self._write:
                new = await asyncio.to_thread(self.mailbox.receive, message)
                if new:
                    self.state.apply(message)
            if new:
                self._told(message)
            stored.append(str(message["id"]))
        return stored

    async def acknowledged(self, sender: str, ids: list[str]) -> None:
        """A node stored these of the portal's messages to it."""
        async with self._write:
            await asyncio.to_thread(self.mailbox.acknowledged, ids, sender)

    async def outbound(self, sender: str, wait_s: float) -> list[dict[str, Any]]:
        """The portal's messages to a node that it has not acknowledged, waiting up to
        `wait_s` for one."""
        limit = ferry.MAX_MESSAGES_PER_EXCHANGE
        pending = self.mailbox.pending(limit, sender)
        if pending or wait_s <= 0:
            return pending
        async with self._news:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._news.wait_for(
                    lambda: bool(self.mailbox.pending(1, sender))), timeout=wait_s)
        return self.mailbox.pending(limit, sender)
