"""The case desk: cases and the people around them, on the node.

It writes every change into the case chain (recordings/casebook.py) and tells the consoles
and the case's officers at once (`case.event` on /ws). What goes to the portal (published
steps, tasks, invitations, the officer's messages, read receipts) is a signed ferry message,
recorded in the case chain *with* the message before it is handed to the ferry, so what the
portal shows is exactly what the chain holds. What comes back (clues, replies, messages,
accounts) is checked against the chain before it is applied: a reply to a task that was not
sent to its grid worker, or a clue from a party of another case, is refused and logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from fieldrelay.errors import NotFound
from recordings.casebook import CaseBook, now_iso
from signaling.ferrylink import FerryLink
from signaling.hub import COMMAND_ROLES, EventHub
from signaling.portal_uploads import PortalPuller

log = logging.getLogger(__name__)

# Each kind a portal message may have and the case chain kind it is recorded as.
FROM_PORTAL = {"clue": "clue.received", "message": "message.received",
               "task.answer": "task.answered", "task.reply": "task.replied",
               "task.closed": "task.closed", "party.joined": "party.joined",
               "upload": "material.received"}
# What the node writes into an entry of a portal message itself; a body never names them.
OWN_FIELDS = frozenset({"kind", "case", "at", "ferry", "direction", "portal_at", "message"})
# Unambiguous letters and digits for invitation codes read aloud or typed from paper.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_CHARS = 10


def new_code() -> str:
    """A one-use invitation code, e.g. `K7QXM-2HDPA` (50 bits: rate limits do the rest)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_CHARS))
    return f"{raw[:5]}-{raw[5:]}"


class CaseDesk:
    """The case registry, its chain and its ferry to the portal (when there is one)."""

    def __init__(self, book: CaseBook, hub: EventHub, link: FerryLink | None,
                 puller: PortalPuller | None = None) -> None:
        self.book, self.hub, self.link, self.puller = book, hub, link, puller
        self._write = asyncio.Lock()

    async def start(self) -> None:
        """Apply what the mailbox stored but a crash kept from the chain, then ferry."""
        if self.link is None:
            return
        if self.puller is not None:
            self.puller.start(self.upload_sealed)
        applied = await asyncio.to_thread(self.book.applied)
        for message in self.link.mailbox.received():
            if message["id"] not in applied:
                await self.apply(message)
        known = {m["id"] for m in self.link.mailbox.history()}
        for entry in await asyncio.to_thread(self.book.entries):
            sent = entry.get("message")
            if entry.get("kind") == "material.received":
                sent = entry.get("confirmation")  # the seal's confirmation to the portal
            elif entry.get("direction") != "out":
                sent = None
            if isinstance(sent, dict) and sent.get("id") not in known:
                await self.link.send(sent)  # recorded, but the crash came before the mailbox
        self.link.start(self.apply)

    async def aclose(self) -> None:
        """Stop the ferry (and the pulls of portal uploads)."""
        if self.puller is not None:
            await self.puller.aclose()
        if self.link is not None:
            await self.link.aclose()

    def grid_roster(self) -> dict[str, str]:
        """Grid workers the portal told of, and their communities."""
        if self.link is None:
            return {}
        return {str(m["body"].get("name")): str(m["body"].get("community", ""))
                for m in self.link.mailbox.received() if m["kind"] == "grid.worker"}

    async def case(self, number: str) -> dict[str, Any] | None:
        """One case as the chain stands, or None (the chain is read off the event loop)."""
        return await asyncio.to_thread(self.book.get, number)

    async def entries(self) -> list[dict[str, Any]]:
        """Every entry of the case chain (read off the event loop)."""
        return await asyncio.to_thread(self.book.entries)

    async def visible(self, number: str, name: str, role: str) -> dict[str, Any]:
        """The case for a commander or one of its officers; 404 for anyone else."""
        case = await self.case(number)
        if case is None or (role not in COMMAND_ROLES and name not in case["officers"]):
            raise NotFound(f"no case {number!r}")
        return case

    def _announce(self, entry: dict[str, Any], case: dict[str, Any] | None) -> None:
        view = {k: v for k, v in entry.items() if k not in ("v", "prev", "hash", "message",
                                                              "confirmation")}
        event = {"type": "case.event", "case": entry.get("case"), "event": view}
        self.hub.send_to_roles(event, COMMAND_ROLES)
        for officer in (case or {}).get("officers", []):
            self.hub.send_to_user(event, officer)

    async def record(self, kind: str, number: str, /, **fields: Any) -> dict[str, Any]:
        """An entry in the case chain, announced."""
        def write() -> tuple[dict[str, Any], dict[str, Any] | None]:
            return self.book.record(kind, number, **fields), self.book.get(number)
        async with self._write:
            entry, case = await asyncio.to_thread(write)
        self._announce(entry, case)
        return entry

    async def publish(self, kind: str, number: str, ferry_kind: str, body: dict[str, Any],
                      by: str, attached: dict[str, Any] | None = None) -> dict[str, Any]:
        """Record an entry that also goes to the portal, with the signed message it sends
        (`attached` replaces fields of `body` in the message only, such as a photo's bytes
        where the entry names the material)."""
        if self.link is None:
            return await self.record(kind, number, by=by, **body)
        message = self.link.sign(ferry_kind, number, {**body, **(attached or {}), "by": by},
                                 now_iso())
        entry = await self.record(kind, number, by=by, ferry=message["id"], direction="out",
                                  message=message, **body)
        await self.link.send(message)
        return entry

    async def case_info(self, number: str) -> None:
        """Tell the portal a case's title (it shows it to the case's parties)."""
        case = await self.case(number)
        if self.link is None or case is None:
            return
        await self.link.send(self.link.sign("case.info", number,
                                            {"title": case["title"]}, now_iso()))

    def _refused(self, message: dict[str, Any], why: str) -> None:
        log.warning("refused a portal message %s (%s): %s", message.get("id"),
                    message.get("kind"), why)

    async def apply(self, message: dict[str, Any]) -> None:
        """Record one message the portal sent (checked against the chain), once."""
        kind, number, body = str(message["kind"]), str(message["case"]), message["body"]
        if kind == "grid.worker":
            return  # the roster is read from the mailbox
        recorded = FROM_PORTAL.get(kind)
        case = await self.case(number)
        if recorded is None or case is None:
            return self._refused(message, "an unknown kind or case")
        who = str(body.get("by") or body.get("party") or "")
        if kind.startswith("task."):
            sent = next((e for e in await self.entries() if e.get("kind") == "task.sent"
                         and e.get("case") == number and e.get("task") == body.get("task")),
                        None)
            if sent is None or who not in sent.get("to", []):
                return self._refused(message, "a task not sent to that grid worker")
        elif kind in ("clue", "message") and who not in case["parties"]:
            return self._refused(message, "a party of another case")
        elif kind == "party.joined" and not await self._invited(number, body):
            return self._refused(message, "an invitation this node did not issue")
        if kind == "upload":
            # Its fields go into the entry by name once sealed, never spread (its `kind` is
            # the material's), so the rule below is not its own.
            return await self._upload(message, case)
        if OWN_FIELDS & body.keys():
            # Passed on as they stand these would clash with the entry's own fields (a
            # TypeError that stops the ferry and the node's start) or overwrite them.
            return self._refused(message, "a body naming the chain entry's own fields")
        fields = {k: v for k, v in body.items() if k not in ("by",)}
        await self.record(recorded, number, by=who, ferry=message["id"], direction="in",
                          portal_at=message["at"], message=message, **fields)

    async def _upload(self, message: dict[str, Any], case: dict[str, Any]) -> None:
        """A photo of a party's clue or a grid worker's task: pulled in only when the clue or
        the task is in the chain and the sender is its party or one of its grid workers."""
        body, number = message["body"], str(message["case"])
        who, entries = str(body.get("by") or ""), await self.entries()
        if body.get("role") == "party":
            ok = who in case["parties"] and any(
                e.get("kind") == "clue.received" and e.get("case") == number
                and e.get("ferry") == body.get("clue") and e.get("by") == who
                for e in entries)
        else:
            ok = any(e.get("kind") == "task.sent" and e.get("case") == number
                     and e.get("task") == body.get("task") and who in e.get("to", [])
                     for e in entries)
        if not ok or self.puller is None:
            return self._refused(message, "an upload for no clue or task of its sender")
        self.puller.want(message)

    async def upload_sealed(self, message: dict[str, Any], entry: dict[str, Any]) -> None:
        """A portal upload is sealed: record it (with the portal's message, so it is applied
        once) and confirm to the portal, which then deletes its copy."""
        assert self.link is not None
        body, number = message["body"], str(message["case"])
        confirmation = self.link.sign("upload.sealed", number, {
            "upload": body.get("upload"), "sha256": entry["sha256"],
            "material": entry["material"]}, now_iso())
        await self.record("material.received", number, by=str(body.get("by") or ""),
                          ferry=message["id"], direction="in", portal_at=message["at"],
                          message=message, confirmation=confirmation,
                          material=entry["material"], sha256=entry["sha256"],
                          size=entry["size"], material_kind=entry["material_kind"],
                          mime=entry["mime"], **{k: body[k] for k in ("clue", "task", "reply")
                                                if k in body})
        await self.link.send(confirmation)

    async def _invited(self, number: str, body: dict[str, Any]) -> bool:
        return any(e.get("kind") == "invitation.issued" and e.get("case") == number
                   and e.get("invitation") == body.get("invitation")
                   for e in await self.entries())

    async def invite(self, number: str, by: str, ttl_s: float) -> dict[str, Any]:
        """A one-use invitation code for a party of the case: the chain records (and the
        portal receives) its SHA-256 only; the code goes back to the officer alone."""
        case = await self.case(number)
        if case is None:
            raise NotFound(f"no case {number!r}")
        code, invitation = new_code(), secrets.token_hex(8)
        expires_at = round(time.time() + ttl_s, 3)
        digest = hashlib.sha256(code.replace("-", "").encode()).hexdigest()
        await self.publish("invitation.issued", number, "invitation",
                           {"invitation": invitation, "code_sha256": digest,
                            "expires_at": expires_at, "title": case["title"]}, by)
        return {"invitation": invitation, "code": code, "expires_at": expires_at}


DESK = web.AppKey("case_desk", CaseDesk)
