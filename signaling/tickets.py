"""One-use tickets for the URLs that cannot carry an Authorization header.

A `<video src>` and a browser WebSocket cannot send a header, and a bearer token in their URL
lands in proxy and server logs. Instead the page asks for a ticket with its header: a random
name that stands for the caller's claims on one path, for a few seconds, and once. A media
element makes several requests for one playback (ranges, seeks), so redeeming a ticket there
yields a grant: a cookie bound to the same path (HttpOnly, SameSite=Strict), held only by
the browser and checked against the live user on every request like a token.

Tickets and grants are this node's own, in memory: a page redeems them at the node it
asked. Nothing here does I/O.
"""

from __future__ import annotations

import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from fieldrelay.errors import BadRequest, Unauthorized
from fieldrelay.tokens import Claims

# The paths that accept a ticket: the WebSocket and a session's media (the one file of a
# session, with ?track= beside it on the same path).
TICKET_PATHS = re.compile(r"/ws|/api/sessions/[A-Za-z0-9._-]{1,128}/media"
                          r"|/api/materials/[0-9a-f]{32}/content")
GRANT_COOKIE = "fieldrelay_grant"
MAX_ENTRIES = 20_000


@dataclass(frozen=True)
class _Pass:
    claims: Claims
    path: str
    until: float  # time.time() seconds


def ticket_path(path: object) -> str:
    """`path` if it is one that takes tickets; BadRequest otherwise."""
    if not isinstance(path, str) or TICKET_PATHS.fullmatch(path) is None:
        raise BadRequest('"path" must be /ws, /api/sessions/<id>/media or '
                         '/api/materials/<id>/content')
    return path


class TicketBook:
    """Issues one-use tickets bound to a path, and the media grants they turn into."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._tickets: OrderedDict[str, _Pass] = OrderedDict()
        self._grants: OrderedDict[str, _Pass] = OrderedDict()

    def issue(self, claims: Claims, path: str) -> tuple[str, float]:
        """A new ticket for `claims` on `path`, and when it expires unused (unix seconds)."""
        until = min(self._clock() + self.ttl_s, float(claims.expires_at))
        return self._put(self._tickets, _Pass(claims, ticket_path(path), until)), until

    def redeem(self, ticket: str, path: str) -> Claims:
        """The claims a ticket stands for, spending it; Unauthorized if it is spent, expired,
        unknown or for another path."""
        entry = self._tickets.pop(ticket, None)
        if entry is None or entry.until <= self._clock():
            raise Unauthorized("the ticket is spent, expired or unknown; ask for a new one")
        if entry.path != path:
            raise Unauthorized(f"the ticket is for {entry.path}, not this path")
        return entry.claims

    def grant(self, claims: Claims, path: str, until: float) -> str:
        """A grant (a cookie value) for `claims` on `path` until `until` (unix seconds).

        It may outlive the token the ticket came from (the page refreshes that token while a
        recording plays), but it is checked against the live user like a token each time."""
        return self._put(self._grants, _Pass(replace(claims, expires_at=int(until)), path,
                                             until))

    def granted(self, value: str, path: str) -> Claims | None:
        """The claims of a live grant for `path`, or None."""
        entry = self._grants.get(value)
        if entry is None or entry.path != path:
            return None
        if entry.until <= self._clock():
            del self._grants[value]
            return None
        return entry.claims

    def _put(self, table: OrderedDict[str, _Pass], entry: _Pass) -> str:
        now = self._clock()
        # Oldest first: drop the expired ones at the front, and the oldest beyond the bound.
        while table and (len(table) >= MAX_ENTRIES or next(iter(table.values())).until <= now):
            table.popitem(last=False)
        name = secrets.token_urlsafe(24)
        table[name] = entry
        return name
