"""Slow clients: requests that never complete (half-sent headers, bodies trickled byte by byte),
drawn by hypothesis for bench/fuzz.py and held by the thousand by bench/slow_flood.py."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from hypothesis import strategies as st

HUNG = -1  # no answer within the time allowed
CUT = 0  # the node closed the connection without an answer: what a slow client should get


@dataclass(frozen=True)
class SlowClient:
    """A request that never completes: `head` at once, then one byte of `trickle` every
    `every` seconds, for as long as the node keeps the connection."""

    kind: str  # "headers" (never ends its headers) or "body" (never ends its body)
    head: bytes
    trickle: bytes
    every: float


@st.composite
def slow_client(draw: st.DrawFn, officer_token: str, kind: str) -> SlowClient:
    """Half-sent headers cut anywhere (`kind` "headers"), or whole headers and a body
    trickled byte by byte that never ends ("body")."""
    path, content_type, auth = draw(st.sampled_from([
        ("/api/login", "application/json", ""),
        ("/api/alerts", "application/json", officer_token),
        ("/whip", "application/sdp", officer_token)]))
    length = draw(st.integers(2, 16_000))
    lines = [f"POST {path} HTTP/1.1", "Host: node", f"Content-Type: {content_type}",
             f"Content-Length: {length}", f"Idempotency-Key: slow-{draw(st.integers(0, 10**9))}"]
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode()
    every = draw(st.floats(0.1, 2.0))
    if kind == "headers":
        cut = draw(st.integers(0, len(head) - 4))
        # The rest of the request's own header lines, then one that never ends: a valid
        # request that is never whole.
        return SlowClient("headers", head[:cut], head[cut:-2] + b"X-Slow: " + b"a" * 4000,
                          every)
    sent = draw(st.integers(0, min(length - 1, 64)))
    # One byte short of the whole body, however long the node waits.
    return SlowClient("body", head + b" " * sent, b" " * (length - sent - 1), every)


async def send_slow(base: str, client: SlowClient, limit_s: float) -> int:
    """The status the node answered the slow client with, CUT when it closed the connection
    without one, or HUNG when it still held it after `limit_s`."""
    url = urlsplit(base)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        async with asyncio.timeout(limit_s):
            writer.write(client.head)
            sent = 0
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), client.every)
                except TimeoutError:
                    writer.write(client.trickle[sent:sent + 1])
                    sent += 1
                    continue
                if not line:
                    return CUT
                return int(line.split(b" ")[1]) if line.startswith(b"HTTP/1.") else CUT
    except TimeoutError:
        return HUNG
    except ConnectionError:
        return CUT
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def slow_ok(client: SlowClient, code: int) -> bool:
    """Half-sent headers are cut (or refused as malformed); a trickled body gets a 4xx
    (408 once the body timeout passes, or an earlier refusal)."""
    if client.kind == "headers":
        return code in (CUT, 400, 408)
    return 400 <= code < 500
