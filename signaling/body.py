"""Request bodies read whole, up to a limit."""

from __future__ import annotations

from aiohttp import web

from fieldrelay.errors import PayloadTooLarge


async def read_limited(request: web.Request, limit: int, what: str) -> bytes:
    """The whole body, or PayloadTooLarge past `limit` bytes.

    `StreamReader.read(n)` returns what has arrived so far, which on a slow link is only
    the first TCP segments: keep reading until the end of the body."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"the {what} is larger than {limit} bytes")
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
