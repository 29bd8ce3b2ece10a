"""Builds the node's aiohttp application from a Config."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.tokens import TokenIssuer, load_or_create_secret
from fieldrelay.users import UserStore
from recordings.session import Evidence
from relay import aiortc_hooks
from relay.registry import Presence, RelaySettings, StreamRegistry
from relay.talkback import Floor
from signaling import (
    alerts,
    api,
    auth,
    cluster,
    commands,
    denials,
    ice,
    pages,
    proxy,
    review,
    talkback,
    whip,
    ws,
)
from signaling.alerts import DESK, AlertDesk, AlertSettings
from signaling.bus import Bus, MemoryBus
from signaling.commands import COMMANDS, CommandDesk
from signaling.hub import EventHub
from signaling.keys import (
    ALERTS_BY_OFFICER,
    CONFIG,
    HUB,
    LOGIN_BY_ADDRESS,
    LOGIN_BY_USER,
    METRICS,
    REGISTRY,
    TOKENS,
    USERS,
)
from signaling.metrics import NodeMetrics
from signaling.middleware import errors_as_json
from signaling.outbox import AlertOutbox
from signaling.ratelimit import RateLimiter
from signaling.redisbus import RedisBus

log = logging.getLogger(__name__)


def relay_settings(config: Config) -> RelaySettings:
    """The relay's view of the node config."""
    return RelaySettings(
        ice_servers=config.ice_servers, ice_hosts=config.ice_hosts,
        ice_public_ip=config.ice_public_ip, viewer_queue_packets=config.viewer_queue_packets,
        pli_interval_s=config.pli_interval_s, reconnect_grace_s=config.reconnect_grace_s,
        segment_s=config.segment_s, keyframe_interval_s=config.keyframe_interval_s,
        gop_cache_packets=config.gop_cache_packets, gop_cache_bytes=config.gop_cache_bytes,
    )


def new_bus(config: Config) -> Bus:
    """Redis when the node has a --redis-url, otherwise the in-process bus with a journal."""
    if config.redis_url:
        return RedisBus(config.redis_url, config.node_id)
    return MemoryBus(journal=config.data_dir / "alerts" / "journal.jsonl")


async def _alerts_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    settings = AlertSettings(escalate_after_s=config.escalate_after_s,
                             dispatch_count=config.dispatch_count,
                             dispatch_radius_m=config.dispatch_radius_m)
    desk = AlertDesk(config, settings, new_bus(config), AlertOutbox(config.data_dir), app[HUB],
                     lambda: app.get(REGISTRY))
    app[DESK] = desk
    app[COMMANDS] = CommandDesk(desk, app[USERS], lambda: app.get(REGISTRY))
    await desk.start()
    try:
        yield
    finally:
        await app[COMMANDS].aclose()
        await desk.aclose()


async def _relay_ctx(app: web.Application) -> AsyncIterator[None]:
    config, desk = app[CONFIG], app[DESK]
    await aiortc_hooks.verify_internals()
    aiortc_hooks.use_ice_host_addresses(config.ice_hosts)

    def on_presence(p: Presence) -> None:
        desk.presence_changed(p)
        app[COMMANDS].presence_changed(p)

    def on_floor(floor: Floor) -> None:
        app[COMMANDS].floor_changed(floor)

    evidence = Evidence(config.data_dir, config.node_id)
    recovered = await asyncio.to_thread(evidence.recover)
    if recovered:
        log.warning("sealed %d session(s) left open by a crash: %s", len(recovered),
                    ", ".join(recovered))
    registry = StreamRegistry(relay_settings(config), evidence, on_presence, on_floor)
    app[REGISTRY] = registry
    tokens = cluster.node_tokens(config)
    if tokens is not None:
        app[cluster.NODE_TOKENS] = tokens
        registry.cascade = cluster.new_cascade(config, registry, desk, tokens)
        app[cluster.TALKBACK_PUSH] = cluster.new_talkback_push(config, registry, desk, tokens)
    try:
        yield
    finally:
        if cluster.TALKBACK_PUSH in app:
            await app[cluster.TALKBACK_PUSH].aclose()
        await registry.aclose()


async def _close_websockets(app: web.Application) -> None:
    """Tell every WebSocket the node is going away, before handlers are cancelled."""
    app[HUB].closing.set()


def build_app(config: Config) -> web.Application:
    """The node's application: API, WHIP/WHEP, WebSocket and pages."""
    app = web.Application(middlewares=[errors_as_json, proxy.forwarded,
                                       denials.log_evidence_denials],
                          client_max_size=max(config.max_sdp_bytes, config.max_json_bytes))
    app[CONFIG] = config
    app[USERS] = UserStore(config.data_dir)
    app[TOKENS] = TokenIssuer(load_or_create_secret(config.data_dir), config.jwt_issuer,
                              config.jwt_audience, config.token_ttl_s)
    hub = EventHub()
    app[HUB] = hub
    app[LOGIN_BY_USER] = RateLimiter("login attempts for this user", burst=10, per_minute=10)
    app[LOGIN_BY_ADDRESS] = RateLimiter("login attempts from this address", burst=30,
                                        per_minute=60)
    # A phone retrying one press reuses its key, but still spends a token: leave room.
    app[ALERTS_BY_OFFICER] = RateLimiter("alerts from this officer", burst=config.alert_burst,
                                         per_minute=config.alerts_per_minute)
    app[METRICS] = NodeMetrics(lambda: app.get(REGISTRY), lambda: len(hub))
    app.cleanup_ctx.append(_alerts_ctx)
    app.cleanup_ctx.append(_relay_ctx)
    app.cleanup_ctx.append(review.review_ctx)
    app.on_shutdown.append(_close_websockets)
    app.add_routes([
        web.get("/healthz", api.healthz),
        web.get("/metrics", api.metrics),
        web.post("/api/login", auth.login),
        web.post("/api/token/refresh", auth.refresh),
        web.get("/api/config", api.client_config),
        web.get("/api/officers", api.officers),
        web.get("/ws", ws.websocket),
        *whip.routes(),
        *review.routes(),
        *cluster.routes(),
        *alerts.routes(),
        *commands.routes(),
        *talkback.routes(),
        *ice.routes(),
        *pages.routes(config.web_dir),
    ])
    return app
