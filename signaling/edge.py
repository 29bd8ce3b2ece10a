"""The node's edge: what a connection may cost before aiohttp ever sees a request.

aiohttp has no timeout for a request's headers, and its server takes every connection it is
offered. A slow or idle client that holds its socket would, a few thousand times over, use up
the node's file descriptors and block every SOS. So each connection passes through a guard:

- a client has `header_timeout_s` to send a request's headers (from the connection's start,
  or from the first byte after a response), and `body_timeout_s` to read on once it has
  stopped reading a response (the transport stays paused that long); bodies are bounded
  where they are read (signaling/body.py), idle keep-alive by aiohttp's keepalive_timeout;
- at most `max_connections` are open in all and `max_connections_per_address` from one
  address (trusted proxies are exempt). Beyond either cap, `reserve_connections` more are
  taken, at most RESERVE_PER_ADDRESS of them from one address, and they carry one request
  each, to the alert and login paths only (429 or 503 for any other). Past the reserve, the
  connection (of that address, for its cap) that has held a slot longest with nothing for
  the app to do (idle, or still sending headers or body) is cut to make room; only when
  every one is busy is the newcomer answered at once (429 for one address, 503 for the
  node) and closed. So slow clients can never keep an SOS out, busy ones only beyond the
  reserve.

The guard wraps the protocol factory (`web.Server`, what `AppRunner.server` is) at the
asyncio level, so nothing inside aiohttp is touched; its middleware learns from
`request.transport` where a request's headers ended and its handling began.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from fieldrelay.config import Config
from signaling.middleware import error_body

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ProtocolFactory = Callable[[], asyncio.Protocol]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What the reserve carries: the one-click call (and its acks) and logging in to make it.
RESERVED_PATHS = ("/api/alerts", "/api/login")
# One address may not hold more of the reserve than this: a flood from a few addresses
# leaves the rest of it to everyone else.
RESERVE_PER_ADDRESS = 4
RETRY_AFTER_S = 5
# Many connections arrive at once in a flood: a short accept queue would drop SYNs and
# delay an SOS by the client's retransmission timeout (1 s and more).
LISTEN_BACKLOG = 1024
# A refusal is logged at most this often.
LOG_EVERY_S = 60.0


class _MalformedHttpIsNoError(logging.Filter):
    """aiohttp logs every malformed request it answers 400 with a traceback at ERROR: one
    line a request from anyone who sends garbage, and noise that hides real failures. Keep
    it as one DEBUG line; everything else passes as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = "malformed HTTP (answered %s): %s", (
                error.code, str(error.message).splitlines()[0] if error.message else "")
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True


def http_logger() -> logging.Logger:
    """The logger to give aiohttp's server (`AppRunner(logger=...)`): its own errors, with
    malformed requests turned into DEBUG lines."""
    logger = logging.getLogger(f"{__name__}.http")
    if not any(isinstance(f, _MalformedHttpIsNoError) for f in logger.filters):
        logger.addFilter(_MalformedHttpIsNoError())
    return logger


@dataclass(frozen=True)
class EdgeLimits:
    """The guard's timeouts and caps (Config's fields of the same meaning)."""

    header_timeout_s: float = 5.0
    body_timeout_s: float = 30.0
    max_connections: int = 2000
    max_per_address: int = 200
    reserve: int = 64
    exempt: tuple[Network, ...] = ()

    @classmethod
    def from_config(cls, config: Config) -> EdgeLimits:
        """The limits a node's Config sets; trusted proxies are exempt from the per-address cap."""
        return cls(config.header_timeout_s, config.body_timeout_s, config.max_connections,
                   config.max_connections_per_address, config.reserve_connections,
                   tuple(ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies))


def reserved(path: str) -> bool:
    """Whether a reserve connection may carry a request for `path`."""
    return any(path == p or path.startswith(p + "/") for p in RESERVED_PATHS)


def refusal(status: int, reason: str, code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response, written to a connection aiohttp never gets."""
    body = json.dumps({"error": code, "detail": detail}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: {RETRY_AFTER_S}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


NODE_FULL = refusal(503, "Service Unavailable", "busy",
                    "the node holds as many connections as it can; try again shortly")
ADDRESS_FULL = refusal(429, "Too Many Requests", "too_many_connections",
                       "too many connections from this address; close some and try again")


@dataclass
class Counts:
    """Open connections, in all and per address, normal and reserve."""

    total: int = 0
    reserve: int = 0
    by_address: dict[str, int] = field(default_factory=dict)
    reserve_by_address: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    timed_out: int = 0
    evicted: int = 0


def _add(counts: dict[str, int], key: str, n: int) -> None:
    value = counts.get(key, 0) + n
    if value:
        counts[key] = value
    else:
        counts.pop(key, None)


class ConnectionGuard:
    """Admits, times and counts the node's connections (see the module docstring)."""

    def __init__(self, limits: EdgeLimits) -> None:
        self.limits = limits
        self.counts = Counts()
        self._open: dict[asyncio.BaseTransport, GuardedConnection] = {}
        self._logged_at = 0.0
        self._no_eviction_before = 0.0

    def wrap(self, factory: ProtocolFactory) -> ProtocolFactory:
        """A protocol factory for `loop.create_server` that puts the guard before `factory`."""
        return lambda: GuardedConnection(self, factory)

    def _exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in self.limits.exempt)

    def admit(self, conn: GuardedConnection) -> bytes | None:
        """Count `conn` in (normal or reserve) and return None, or return the refusal. When
        the reserve is full too, the stalest connection that is only costing a slot (idle,
        or still sending its headers or body) is cut to make room."""
        refusal = self._place(conn)
        if refusal is not None and self._evict(conn.address if refusal is ADDRESS_FULL
                                               else None):
            refusal = self._place(conn)
        if refusal is not None:
            self.counts.refused += 1
            self._log_refusal(conn.address, "address" if refusal is ADDRESS_FULL else "node")
            return refusal
        assert conn.transport is not None
        self._open[conn.transport] = conn
        return None

    def _place(self, conn: GuardedConnection) -> bytes | None:
        counts, limits, address = self.counts, self.limits, conn.address
        address_full = (counts.by_address.get(address, 0) >= limits.max_per_address
                        and not self._exempt(address))
        node_full = counts.total - counts.reserve >= limits.max_connections
        if address_full or node_full:
            if (counts.reserve >= limits.reserve
                    or counts.reserve_by_address.get(address, 0) >= RESERVE_PER_ADDRESS):
                return ADDRESS_FULL if address_full else NODE_FULL
            conn.reserve = "address" if address_full else "node"
            counts.reserve += 1
            _add(counts.reserve_by_address, address, 1)
        counts.total += 1
        _add(counts.by_address, address, 1)
        return None

    def _evict(self, address: str | None) -> bool:
        """Cut the connection (from `address`, or any) that has cost a slot longest without
        a request the app is working on, if that is longer than the header timeout; False
        when there is none. The minimum age keeps slow clients from cutting each other in a
        tight loop (each cut one reconnects at once), and a failed search says when the next
        one could succeed, so refusals in a flood cost no search at all."""
        now = time.monotonic()
        if now < self._no_eviction_before:
            return False
        oldest_allowed = now - self.limits.header_timeout_s
        stalest: GuardedConnection | None = None
        stalest_since = now
        for conn in self._open.values():
            since = conn.idle_since
            if since is None or (address is not None and conn.address != address):
                continue
            if since < stalest_since:
                stalest, stalest_since = conn, since
        if stalest is None or stalest_since > oldest_allowed:
            self._no_eviction_before = stalest_since + self.limits.header_timeout_s
            return False
        self.counts.evicted += 1
        self.release(stalest)
        stalest.expire("was the stalest when the cap was hit")
        return True

    def release(self, conn: GuardedConnection) -> None:
        """Count a closed connection out."""
        assert conn.transport is not None
        if self._open.pop(conn.transport, None) is None:
            return
        self.counts.total -= 1
        _add(self.counts.by_address, conn.address, -1)
        if conn.reserve:
            self.counts.reserve -= 1
            _add(self.counts.reserve_by_address, conn.address, -1)

    def _log_refusal(self, address: str, cap: str) -> None:
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY_S:
            self._logged_at = now
            log.warning("connection cap (%s) hit: refusing %s; %d open, %d of the reserve, "
                        "%d refused so far", cap, address, self.counts.total,
                        self.counts.reserve, self.counts.refused)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Stop the header clock when a request reaches the app; keep reserve connections to
        the reserved paths, one request each."""
        conn = self._open.get(request.transport) if request.transport is not None else None
        if conn is None:  # not through the guard (a test server), or already gone
            return await handler(request)
        conn.request_started(request)
        response: web.StreamResponse
        try:
            if conn.reserve and not reserved(request.path):
                response = (error_body(429, "too_many_connections", "too many connections "
                                       "from this address; only alerts and logins are taken")
                            if conn.reserve == "address" else
                            error_body(503, "busy", "the node holds as many connections as it "
                                       "can; only alerts and logins are taken now"))
                response.headers["Retry-After"] = str(RETRY_AFTER_S)
            else:
                response = await handler(request)
            if conn.reserve:
                response.force_close()  # free the reserve slot for the next SOS
            return response
        finally:
            conn.request_ended()


class GuardedConnection(asyncio.Protocol):
    """One connection: counted in by the guard, then passed through to aiohttp's protocol,
    with a clock on the headers and on a stalled response."""

    def __init__(self, guard: ConnectionGuard, factory: ProtocolFactory) -> None:
        self._guard, self._factory = guard, factory
        self._inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.address = ""
        # Why it is in the reserve ("address" or "node" cap hit), or None.
        self.reserve: str | None = None
        self._request: web.BaseRequest | None = None
        self._phase_since = time.monotonic()
        self._header_clock: asyncio.TimerHandle | None = None
        self._stall_clock: asyncio.TimerHandle | None = None

    def connection_made(self, base: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's do not derive from asyncio.Transport, so no isinstance.
        self.transport = transport = cast(asyncio.Transport, base)
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else "local"
        refused = self._guard.admit(self)
        if refused is not None:
            transport.write(refused)
            transport.close()
            return
        self._start_header_clock()
        self._inner = self._factory()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is None:
            return
        if self._request is None and self._header_clock is None:
            self._start_header_clock()  # the first byte of the next request
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is None:
            return
        # The client stopped reading what we send: it has body_timeout_s to read on.
        if self._stall_clock is None:
            self._stall_clock = asyncio.get_running_loop().call_later(
                self._guard.limits.body_timeout_s, self.expire, "stopped reading")
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is None:
            return
        self._cancel_stall_clock()
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_clock()
        self._cancel_stall_clock()
        if self._inner is not None:
            self._guard.release(self)
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)

    def request_started(self, request: web.BaseRequest) -> None:
        """The app has a request's headers: its body and handling have their own bounds."""
        self._request, self._phase_since = request, time.monotonic()
        self._cancel_header_clock()

    def request_ended(self) -> None:
        """The app is done with a request; the next byte starts the next header clock."""
        self._request, self._phase_since = None, time.monotonic()

    @property
    def idle_since(self) -> float | None:
        """Since when this connection has held a slot with nothing for the app to do (idle,
        sending headers, or sending a body not yet whole); None while the app works on a
        request or a WebSocket."""
        request = self._request
        if request is None or (request.body_exists and not request.content.is_eof()):
            return self._phase_since
        return None

    def _start_header_clock(self) -> None:
        self._header_clock = asyncio.get_running_loop().call_later(
            self._guard.limits.header_timeout_s, self.expire, "sent no whole request header")

    def _cancel_header_clock(self) -> None:
        if self._header_clock is not None:
            self._header_clock.cancel()
            self._header_clock = None

    def _cancel_stall_clock(self) -> None:
        if self._stall_clock is not None:
            self._stall_clock.cancel()
            self._stall_clock = None

    def expire(self, why: str) -> None:
        """Cut the connection now (abort, not close: close() would wait to flush to a client
        that does not read)."""
        self._header_clock = self._stall_clock = None
        self._guard.counts.timed_out += 1
        log.debug("closing a connection from %s: it %s in time", self.address, why)
        if self.transport is not None:
            self.transport.abort()


async def listen(runner: web.BaseRunner, guard: ConnectionGuard, host: str, port: int,
                 ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    """Listen on host:port with `guard` in front of the runner's server (after setup()).

    The caller closes the returned server (stop accepting) before `runner.cleanup()`. TLS
    handshakes get the header timeout too (asyncio's default is a minute)."""
    server = runner.server
    if server is None:
        raise RuntimeError("call runner.setup() before listen()")
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        guard.wrap(server), host, port, ssl=ssl_context,
        backlog=LISTEN_BACKLOG, reuse_address=True,
        ssl_handshake_timeout=guard.limits.header_timeout_s if ssl_context else None)
