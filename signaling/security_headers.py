"""Security headers on every response the node sends.

A Content-Security-Policy lets the pages run only the node's own scripts and styles (no inline
code, no eval), talk only to the node (HTTP and its WebSocket), load images only from the node
and the configured map tile hosts, and never be framed. `nosniff` stops a browser from running
an upload or a JSON body as a script, `no-referrer` keeps `?token=` URLs and session ids out of
other sites' logs, and HSTS pins HTTPS once a browser has reached the node over it.

The headers are added in `on_response_prepare`, not by a middleware: that signal also sees the
error bodies `errors_as_json` makes, files, streamed downloads and the WebSocket handshake,
which a middleware would see too late (already sent) or not at all.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from fieldrelay.config import Config
from signaling.keys import CONFIG

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# One year, as HSTS preload lists ask; sub-domains are left alone (they may be other services).
HSTS = "max-age=31536000"
FIXED_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # For browsers older than CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
}
# A host as a CSP host-source may name it: DNS names and IPv4 with an optional port. Anything
# else (IPv6 literals, which CSP cannot name, or a forged Host with spaces or `;`) is left to
# 'self', so that a request header can never add a directive.
_CSP_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
# A tile template's sub-domain placeholder, e.g. https://{s}.tile.example.org/{z}/{x}/{y}.png
_SUBDOMAIN = re.compile(r"^\{[a-z]+\}\.")


def tile_source(template: str) -> str | None:
    """The CSP source that a map tile URL template loads from, e.g.
    `https://tile.example.org` or `https://*.tile.example.org` for a `{s}.` sub-domain.

    None when the template names no other host (empty, or a path on the node itself, which
    'self' covers) or names one a CSP source cannot express (then no tile loads, and the
    policy stays strict rather than open)."""
    if not template:
        return None
    parts = urlsplit(template)
    if not parts.scheme and not parts.netloc:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    host = _SUBDOMAIN.sub("*.", parts.netloc, count=1)
    if not _CSP_HOST.match(host.removeprefix("*.")):
        return None
    return f"{parts.scheme}://{host}"


@dataclass(frozen=True)
class Policy:
    """What one node's headers allow, from its Config (the request adds its own host)."""

    img_sources: tuple[str, ...]
    node_hosts: tuple[str, ...]
    proxies: tuple[Network, ...]

    def content_security_policy(self, host: str | None) -> str:
        """The CSP for a page reached at `host` (the browser's Host, if a CSP can name it)."""
        hosts = [h for h in (host, *self.node_hosts) if h and _CSP_HOST.match(h)]
        sockets = [f"{scheme}://{h}" for h in dict.fromkeys(hosts) for scheme in ("ws", "wss")]
        directives = (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            " ".join(("img-src 'self'", *self.img_sources)),
            "media-src 'self'",
            " ".join(("connect-src 'self'", *sockets)),
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
        return "; ".join(directives)

    def from_proxy(self, request: web.Request) -> bool:
        """Whether the request came from a reverse proxy whose X-Forwarded-* are believed."""
        if not self.proxies or not request.remote:
            return False
        try:
            address = ipaddress.ip_address(request.remote)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)


def policy(config: Config) -> Policy:
    """The node's policy, from the three settings it depends on."""
    return _policy(config.map_tiles, config.public_url, tuple(config.trusted_proxies))


# Made once per node (a process runs one, tests a few), not once per response.
@functools.lru_cache(maxsize=16)
def _policy(map_tiles: str, public_url: str | None, trusted_proxies: tuple[str, ...]) -> Policy:
    tiles = tile_source(map_tiles)
    # Leaflet cancels a tile it removes by pointing it at a blank data: GIF; a data: image
    # carries nothing out, so it is allowed when there are tiles to cancel.
    img = (tiles, "data:") if tiles else ()
    node_hosts = (urlsplit(public_url).netloc,) if public_url else ()
    proxies = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
    return Policy(img, node_hosts, proxies)


def _forwarded(request: web.Request, name: str) -> str:
    return request.headers.get(name, "").split(",")[0].strip()


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: the security headers, on every response of the node."""
    rules = policy(request.app[CONFIG])
    behind_proxy = rules.from_proxy(request)
    # The Host header itself: aiohttp's request.host falls back to a blocking getfqdn().
    host = ((_forwarded(request, "X-Forwarded-Host") if behind_proxy else "")
            or request.headers.get("Host", ""))
    response.headers["Content-Security-Policy"] = rules.content_security_policy(host)
    for name, value in FIXED_HEADERS.items():
        response.headers[name] = value
    https = request.secure or (
        behind_proxy and _forwarded(request, "X-Forwarded-Proto").lower() == "https")
    if https:
        response.headers["Strict-Transport-Security"] = HSTS
