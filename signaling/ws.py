"""GET /ws: the JSON event stream of a logged-in user (presence, and later alerts)."""

from __future__ import annotations

import asyncio
import json
import logging
import math
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from fieldrelay import alerts, jsonsafe
from fieldrelay.errors import FieldRelayError
from signaling.alerts import DESK, IDEMPOTENCY_KEY, AlertDesk
from signaling.auth import authenticate, token_watch
from signaling.commands import COMMANDS, CommandDesk
from signaling.errors import (
    WS_BAD_MESSAGE,
    WS_FORBIDDEN,
    WS_RATE_LIMITED,
    WS_TOO_SLOW,
    WS_UNAUTHORIZED,
    TooManyRequests,
)
from signaling.hub import COMMAND_ROLES, Client
from signaling.keys import ALERTS_BY_OFFICER, CONFIG, HUB
from signaling.presence import WHEREABOUTS, Whereabouts
from signaling.ratelimit import RateLimiter

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 16 * 1024
TOO_MANY_MESSAGES = "too many messages: slow down and reconnect"
# The phone's media steps for a weak uplink (web/js/adapt-policy.js): 0 full video .. 4 audio only.
MAX_LINK_STEP = 4
MAX_LINK_LABEL = 80
# A client opts in to newer message types with {"type": "accept", "types": [...]}: today only
# "alerts.updated" (an escalation pass's updates in one message). One that does not gets each
# alert update as its own `alert.updated`, as before.
MAX_ACCEPT_TYPES = 16


def origin_allowed(request: web.Request) -> bool:
    """Browsers must come from this node's own pages (or a configured origin)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: the token alone decides
    config = request.app[CONFIG]
    allowed = set(config.allowed_origins)
    if config.public_url:
        parts = urlsplit(config.public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}")
    allowed.add(f"{request.scheme}://{request.host}")
    return origin in allowed


async def _close(ws: web.WebSocketResponse, code: int, reason: str) -> web.WebSocketResponse:
    await ws.close(code=code, message=reason.encode()[:120])
    return ws


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Authenticate, then stream events to the client until either side closes."""
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    if not origin_allowed(request):
        return await _close(ws, WS_FORBIDDEN, "origin not allowed")
    try:
        claims = authenticate(request, allow_query=True)
    except FieldRelayError as exc:
        return await _close(ws, WS_UNAUTHORIZED, exc.detail)

    hub, config = request.app[HUB], request.app[CONFIG]
    overflowed = asyncio.Event()
    client = hub.connect(claims.name, claims.role, overflowed.set)
    writer = asyncio.get_running_loop().create_task(_write(ws, client), name="ws-writer")
    try:
        client.offer(json.dumps({"type": "hello", "user": claims.name, "role": claims.role,
                                 "node": config.node_id}))
        desk, whereabouts = request.app[DESK], request.app[WHEREABOUTS]
        if claims.role in COMMAND_ROLES:
            for info in (await whereabouts.presence()).values():
                client.offer(json.dumps({"type": "presence", **info}))
            for officer, pos in (await whereabouts.positions()).items():
                client.offer(json.dumps({"type": "position", "officer": officer, **pos}))
            for link in whereabouts.links():
                client.offer(json.dumps(link))
        commands = request.app[COMMANDS]
        await commands.on_connect(client)
        reader = asyncio.get_running_loop().create_task(
            _read(ws, client, claims.role, desk, whereabouts, commands,
                  RateLimiter("messages", config.ws_message_burst,
                              config.ws_messages_per_s * 60),
                  request.app[ALERTS_BY_OFFICER]), name="ws-reader")
        watchdog = asyncio.get_running_loop().create_task(overflowed.wait(), name="ws-watch")
        shutdown = asyncio.get_running_loop().create_task(hub.closing.wait(), name="ws-shutdown")
        expiry = asyncio.get_running_loop().create_task(
            token_watch(request.app, claims), name="ws-token-watch")
        try:
            done, _ = await asyncio.wait({reader, writer, watchdog, shutdown, expiry},
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, watchdog, shutdown, expiry):
                task.cancel()
            await asyncio.wait({reader, watchdog, shutdown, expiry})
        if expiry in done:
            # Expired or revoked (checked every few s): the page refreshes or logs in again.
            await ws.close(code=WS_UNAUTHORIZED, message=expiry.result().encode()[:120])
        elif watchdog in done:
            await ws.close(code=WS_TOO_SLOW, message=b"too slow: reconnect and resume")
        elif reader in done and not reader.cancelled() and reader.exception() is not None:
            log.error("WebSocket reader of %s failed", claims.name, exc_info=reader.exception())
            await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"node error; reconnect")
        elif reader in done and not reader.cancelled() and reader.result() is not None:
            code = WS_RATE_LIMITED if reader.result() == TOO_MANY_MESSAGES else WS_BAD_MESSAGE
            await ws.close(code=code, message=str(reader.result()).encode()[:120])
    finally:
        hub.disconnect(client)
        writer.cancel()
        await asyncio.wait({writer})
        if not ws.closed:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"node shutting down")
    return ws


async def _write(ws: web.WebSocketResponse, client: Client) -> None:
    while True:
        data = await client.queue.get()
        await ws.send_frame(data, WSMsgType.TEXT)  # encoded once, when it was queued
        client.sent += 1


async def _read(ws: web.WebSocketResponse, client: Client, role: str,
                desk: AlertDesk, whereabouts: Whereabouts, commands: CommandDesk,
                limiter: RateLimiter, alert_limiter: RateLimiter) -> str | None:
    """Read client messages until close; a reason string when a message is malformed."""
    async for msg in ws:
        try:
            limiter.check("connection")
        except TooManyRequests:
            return TOO_MANY_MESSAGES
        if msg.type == WSMsgType.TEXT:
            try:
                data = jsonsafe.parse_object(msg.data)
            except FieldRelayError:
                return "messages must be JSON objects"
            if not isinstance(data.get("type"), str):
                return 'messages must be JSON objects with a "type"'
            kind = data["type"]
            try:
                if kind == "ping":
                    client.offer(json.dumps({"type": "pong"}))
                elif kind == "accept":
                    types = data.get("types")
                    if (not isinstance(types, list) or len(types) > MAX_ACCEPT_TYPES
                            or not all(isinstance(t, str) for t in types)):
                        return f'"types" must be a list of at most {MAX_ACCEPT_TYPES} names'
                    # Unknown names are ignored: a newer page may name types this node lacks.
                    client.batches = "alerts.updated" in types
                elif kind == "resume" and role in COMMAND_ROLES:
                    after = data.get("after")
                    if after is not None:
                        if not isinstance(after, str) or len(after) > 64:
                            return '"after" must be the id of the last alert seen'
                        await desk.replay(client, after)
                elif kind == "position" and role == "officer":
                    lat, lon, accuracy = data.get("lat"), data.get("lon"), data.get("accuracy")
                    alerts.validate_request({"lat": lat, "lon": lon})
                    if lat is None or lon is None:
                        return "a position needs lat and lon"
                    if accuracy is not None and (
                            isinstance(accuracy, bool) or not isinstance(accuracy, (int, float))
                            or not math.isfinite(accuracy) or accuracy < 0):
                        return "accuracy must be a finite number of metres"
                    await whereabouts.position(client.user, float(lat), float(lon),
                                               None if accuracy is None else float(accuracy))
                elif kind == "alert" and role == "officer":
                    # The one-click call on the link that is already open (no new connection
                    # to set up on a weak uplink); the phone POSTs it too, with the same key.
                    key, body = data.get("key"), data.get("body")
                    if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
                        return 'an alert needs a "key" of 8-128 letters, digits or ._:-'
                    if not isinstance(body, dict):
                        return 'an alert needs a "body" object, as POST /api/alerts takes'
                    alert_limiter.check(client.user)
                    alert, created = await desk.raise_alert(client.user, key, body)
                    client.offer(json.dumps({"type": "alert.accepted", "key": key,
                                             "alert": alert, "created": created}))
                elif kind == "link" and role == "officer":
                    step, label = data.get("step"), data.get("label")
                    if (isinstance(step, bool) or not isinstance(step, int)
                            or not 0 <= step <= MAX_LINK_STEP):
                        return f"a link step is a whole number 0..{MAX_LINK_STEP}"
                    if not isinstance(label, str) or len(label) > MAX_LINK_LABEL:
                        return f"a link label is text of at most {MAX_LINK_LABEL} characters"
                    await whereabouts.link(client.user, step, label)
                else:
                    await commands.on_message(client, data)
            except FieldRelayError as exc:
                client.offer(json.dumps({"type": "error", "error": exc.code,
                                         "detail": exc.detail}))
        elif msg.type == WSMsgType.BINARY:
            return "binary messages are not accepted"
        elif msg.type == WSMsgType.ERROR:
            return None
    return None
