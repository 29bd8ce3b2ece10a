"""Request bodies read whole, up to a limit and within the body timeout."""

from __future__ import annotations

import asyncio

from aiohttp import web

from fieldrelay.errors import FieldRelayError, PayloadTooLarge
from signaling.keys import CONFIG


class BodyTimeout(FieldRelayError):
    """A body that did not arrive within Config.body_timeout_s (a trickle, or a stall)."""

    code = "request_timeout"
    status = 408


async def read_limited(request: web.Request, limit: int, what: str) -> bytes:
    """The whole body, PayloadTooLarge past `limit` bytes, or BodyTimeout when it has not all
    arrived within the node's body timeout (1 of 100 bytes, then silence, holds no socket).

    `StreamReader.read(n)` returns what has arrived so far, which on a slow link is only
    the first TCP segments: keep reading until the end of the body."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the {what} is larger than {limit} bytes")
    timeout = request.app[CONFIG].body_timeout_s
    try:
        async with asyncio.timeout(timeout):
            return await _read_all(request, limit, what)
    except TimeoutError:
        raise BodyTimeout(f"the {what} did not arrive within {timeout:g} s") from None
    except (ConnectionResetError, RuntimeError) as exc:
        # The client went (or was cut off as the stalest at the connection cap): aiohttp's
        # reader then raises ConnectionResetError, or RuntimeError("Connection closed.") once
        # the transport is gone. No one reads this answer, but it is no failure of the node.
        transport = request.transport
        if isinstance(exc, RuntimeError) and transport is not None and not transport.is_closing():
            raise
        raise BodyTimeout(f"the connection closed before the {what} arrived") from None


async def _read_all(request: web.Request, limit: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the {what} is larger than {limit} bytes")
