"""Behind a reverse proxy: believe X-Forwarded-* only from the configured proxies, so the
rate limits see the phone's address and the Origin check sees the public scheme and host."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

from aiohttp import web

from signaling.keys import CONFIG

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str | None, networks: list[Network]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in n for n in networks)


def client_address(remote: str, forwarded_for: str, networks: list[Network]) -> str:
    """The first address, from the right, that is not one of our proxies (RFC 7239 §7.4):
    anything left of it was written by the client and proves nothing."""
    address = remote
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _trusted(address, networks):
            break
        address = hop
    return address


@web.middleware
async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Rewrite remote, scheme and host from a trusted proxy's X-Forwarded-* headers."""
    proxies = request.app[CONFIG].trusted_proxies
    if not proxies:
        return await handler(request)
    networks = [ipaddress.ip_network(p, strict=False) for p in proxies]
    if not _trusted(request.remote, networks):
        return await handler(request)
    changes: dict[str, str] = {}
    xff = request.headers.get("X-Forwarded-For")
    if xff:
        changes["remote"] = client_address(request.remote or "", xff, networks)
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        changes["scheme"] = proto
    host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    if host:
        changes["host"] = host
    return await handler(request.clone(**changes) if changes else request)  # type: ignore[arg-type]
