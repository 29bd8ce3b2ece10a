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

    async def post(self, kind: str, case: str, body: dict[str, Any]) -> dict[str, Any]:
        """A message from the portal's side: stored, folded, announced, ferried."""
        message = ferry.sign(self.secret, ferry.PORTAL, kind, case, body, now_iso())
        async with self._write:
            await asyncio.to_thread(self.mailbox.post, message)
            self.state.apply(message)
        self._told(message)
        async with self._news:
            self._news.notify_all()
        return message

    async def take_in(self, messages: list[object]) -> list[str]:
        """Store and fold the messages a node pushed; the ids stored (to acknowledge).

        A message signed for any sender but a node, or not signed, refuses the exchange."""
        checked = [ferry.check(self.secret, m) for m in messages]
        for message in checked:
            if not str(message["from"]).startswith(ferry.NODE_PREFIX):
                raise Unauthorized("the portal takes only nodes' messages from an exchange")
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

    async def acknowledged(self, ids: list[str]) -> None:
        """A node stored these of the portal's messages."""
        async with self._write:
            await asyncio.to_thread(self.mailbox.acknowledged, ids)

    async def outbound(self, wait_s: float) -> list[dict[str, Any]]:
        """The portal's messages a node has not acknowledged, waiting up to `wait_s` for one."""
        pending = self.mailbox.pending(ferry.MAX_MESSAGES_PER_EXCHANGE)
        if pending or wait_s <= 0:
            return pending
        async with self._news:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._news.wait_for(
                        lambda: bool(self.mailbox.pending(1))), timeout=wait_s)
        return self.mailbox.pending(ferry.MAX_MESSAGES_PER_EXCHANGE)
