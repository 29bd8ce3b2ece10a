"""The node's end of the ferry: it connects OUT to the portal, never the other way.

One task owned by the link keeps one exchange in flight: it pushes what the node's mailbox
still holds for the portal and the ids of the portal messages it stored, and the portal
answers with the ids it stored and its own news (waiting for some up to a long poll). A new
message of the node's cuts a waiting poll short, so it leaves at once. Every message from
the portal is checked (signed by the portal, for this exchange) and stored before it is
applied and acknowledged; one seen before is acknowledged again and not applied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from fieldrelay import ferry
from fieldrelay.errors import FieldRelayError
from fieldrelay.mailbox import Mailbox
from fieldrelay.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Apply = Callable[[dict[str, Any]], Awaitable[None]]
RETRY_MIN_S, RETRY_MAX_S = 0.2, 5.0
# The bytes of messages one exchange carries (the portal takes bodies of up to 2 MiB; a task's
# photo makes a message of up to about 700 KiB).
EXCHANGE_BUDGET = 1536 * 1024


def _within(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first messages whose JSON fits the exchange's budget (at least one)."""
    out: list[dict[str, Any]] = []
    used = 0
    for message in messages:
        used += len(json.dumps(message))
        if out and used > EXCHANGE_BUDGET:
            break
        out.append(message)
    return out


# What a portal that is down, slow or answering nonsense causes: retried with a warning.
EXPECTED = (aiohttp.ClientError, TimeoutError, FieldRelayError, ValueError)

class FerryLink:
    """The node's mailbox for the portal and the task that ferries it."""

    def __init__(self, data_dir: Path, node_id: str, portal_url: str, secret: str,
                 poll_s: float) -> None:
        self.node_id, self.secret, self.poll_s = node_id, secret, poll_s
        self.base = portal_url.rstrip("/")
        self.url = self.base + "/ferry/exchange"
        self.mailbox = Mailbox(data_dir / "ferry")
        self.sender = ferry.NODE_PREFIX + node_id
        self._wake = asyncio.Event()
        self._write = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._apply: Apply | None = None
        self.connected = False
        self.exchanges = 0

    async def send(self, message: dict[str, Any]) -> None:
        """Store a signed message for the portal (before the caller answers), then wake."""
        async with self._write:
            await asyncio.to_thread(self.mailbox.post, message)
        self._wake.set()

    def sign(self, kind: str, case: str, body: dict[str, Any], at: str) -> dict[str, Any]:
        """A message from this node, signed for the ferry."""
        return ferry.sign(self.secret, self.sender, kind, case, body, at)

    def start(self, apply: Apply) -> None:
        """Start ferrying; `apply` is called once per new message from the portal."""
        self._apply = apply
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ferry-link")

    async def aclose(self) -> None:
        """Stop ferrying (what is pending stays in the mailbox for the next start)."""
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        retry = RETRY_MIN_S
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=5, sock_read=self.poll_s + 15)) as http:
            while True:
                try:
                    await self._once(http)
                    retry = RETRY_MIN_S
                except Exception as exc:
                    if not isinstance(exc, EXPECTED):
                        # A bug or a disk error: logged whole, and the link goes on (what is
                        # pending stays in the mailbox for the next exchange).
                        log.exception("the ferry to the portal failed unexpectedly; retrying")
                    elif self.connected:
                        log.warning("the ferry to the portal failed (%s); retrying", exc)
                    self.connected = False
                    await self._sleep(retry)
                    retry = min(retry * 2, RETRY_MAX_S)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _once(self, http: aiohttp.ClientSession) -> None:
        self._wake.clear()
        messages = _within(self.mailbox.pending(ferry.MAX_MESSAGES_PER_EXCHANGE))
        acks = self.mailbox.acks_due()
        # A first exchange (and the first after a failure) answers at once: the link is
        # known to be up without waiting out a poll.
        wait = 0.0 if messages or not self.connected else self.poll_s
        body = json.dumps({"messages": messages, "acks": acks, "wait": wait}).encode()
        header = ferry.exchange_signature(self.secret, self.node_id, int(time.time()), body)
        post = asyncio.ensure_future(self._post(http, body, header))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({post, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            woken.cancel()
            await asyncio.wait([woken])
            if not post.done() and wait > 0:
                # Only a poll carrying nothing is cut short: the portal keeps its news
                # until we acknowledge it, so nothing is lost by asking again at once.
                post.cancel()
            await asyncio.wait([post])
        if post.cancelled():
            return
        answer = post.result()
        self.connected = True
        self.exchanges += 1
        acked, incoming = answer.get("acks", []), answer.get("messages", [])
        if not isinstance(acked, list) or not isinstance(incoming, list):
            raise ValueError("the portal's answer is not an exchange")
        async with self._write:
            await asyncio.to_thread(self.mailbox.acknowledged, [str(a) for a in acked])
        self.mailbox.acks_sent(acks)
        for raw in incoming:
            message = ferry.check(self.secret, raw, expected_sender=ferry.PORTAL)
            if message.get("to") != self.sender:
                raise ValueError(f"a portal message for {message.get('to')!r}, not this node")
            async with self._write:
                new = await asyncio.to_thread(self.mailbox.receive, message)
            if new and self._apply is not None:
                await self._apply(message)
        if incoming:
            self._wake.set()  # acknowledge at once

    async def _post(self, http: aiohttp.ClientSession, body: bytes,
                    header: str) -> dict[str, Any]:
        async with http.post(self.url, data=body, headers={
                ferry.EXCHANGE_HEADER: header, "Content-Type": "application/json"}) as resp:
            if resp.status != 200:
                raise ValueError(f"the portal answered {resp.status}: {await resp.text()}")
            answer = await resp.json()
        if not isinstance(answer, dict):
            raise ValueError("the portal's answer is not a JSON object")
        return answer
