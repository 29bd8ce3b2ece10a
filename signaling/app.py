"""Builds the node's aiohttp application from a Config, top-down and in order.

Every object is built once, here, after the objects it needs: the evidence store and the
directory of live streams first, then the desks (which read them), then the relay (which
tells the desks about presence and floors), then what needs the relay. The cleanup
contexts only start and stop what was built.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.locks import KeyedLocks
from fieldrelay.tokens import TokenIssuer, load_or_create_secret
from fieldrelay.users import UserStore
from recordings.archive.backlog import Backlog
from recordings.casebook import CaseBook
from recordings.session import Evidence
from relay import aiortc_hooks
from relay.directory import StreamDirectory
from relay.evidence import LiveEvidence
from relay.registry import RelaySettings, StreamRegistry
from relay.signals import RelayListeners
from relay.talkback_push import TalkbackPush
from signaling import (
    alerts,
    api,
    archive,
    auth,
    cases_api,
    catalog,
    cluster,
    commands,
    denials,
    evidence_handover,
    ice,
    materials_api,
    pages,
    proxy,
    remote_sessions,
    review,
    security_headers,
    socket_body,
    talkback,
    uploads,
    whip,
    witnessing,
    ws,
)
from signaling.alerts import DESK, AlertDesk
from signaling.bus import Bus, MemoryBus
from signaling.casedesk import DESK as CASES
from signaling.casedesk import CaseDesk
from signaling.commands import COMMANDS, CommandDesk
from signaling.escalation import EscalationSettings
from signaling.ferrylink import FerryLink
from signaling.hub import EventHub
from signaling.keys import (
    ALERTS_BY_OFFICER,
    CONFIG,
    HUB,
    LIVE_EVIDENCE,
    LOGIN_GATE,
    METRICS,
    REGISTRY,
    TICKETS,
    TOKENS,
    USERS,
)
from signaling.keys import CATALOG as MATERIALS
from signaling.metrics import NodeMetrics
from signaling.middleware import errors_as_json
from signaling.outbox import AlertOutbox
from signaling.portal_uploads import PortalPuller
from signaling.presence import WHEREABOUTS, PresenceSettings, Whereabouts
from signaling.ratelimit import LoginGate, RateLimiter
from signaling.redisbus import RedisBus
from signaling.routing import BusListener
from signaling.tickets import TicketBook
from signaling.uplink_reports import UplinkReports
from signaling.witnessing import WITNESSING, Witnessing

log = logging.getLogger(__name__)


def relay_settings(config: Config) -> RelaySettings:
    """The relay's view of the node config."""
    return RelaySettings(
        ice_servers=config.ice_servers, ice_hosts=config.ice_hosts,
        ice_public_ip=config.ice_public_ip, viewer_queue_packets=config.viewer_queue_packets,
        pli_interval_s=config.pli_interval_s, reconnect_grace_s=config.reconnect_grace_s,
        segment_s=config.segment_s, keyframe_interval_s=config.keyframe_interval_s,
        gop_cache_packets=config.gop_cache_packets, gop_cache_bytes=config.gop_cache_bytes,
        audio_redundancy=not config.plain_audio,
    )


def escalation_settings(config: Config) -> EscalationSettings:
    """When alerts escalate and whom they dispatch."""
    return EscalationSettings(escalate_after_s=config.escalate_after_s,
                              dispatch_count=config.dispatch_count,
                              dispatch_radius_m=config.dispatch_radius_m)


def new_bus(config: Config) -> Bus:
    """Redis when the node has a --redis-url, otherwise the in-process bus with a journal."""
    if config.redis_url:
        return RedisBus(config.redis_url, config.node_id, cluster.bus_seal(config))
    return MemoryBus(journal=config.data_dir / "alerts" / "journal.jsonl")


@dataclass(frozen=True)
class Node:
    """Everything one node runs besides its HTTP routes, and the order it starts in."""

    config: Config
    bus: Bus
    evidence: LiveEvidence
    whereabouts: Whereabouts
    alerts: AlertDesk
    commands: CommandDesk
    listener: BusListener
    registry: StreamRegistry
    node_tokens: cluster.NodeTokens | None
    talkback_push: TalkbackPush | None
    review_desk: review.ReviewDesk
    witnessing: Witnessing
    archive: archive.ArchiveDesk | None
    catalog: catalog.CatalogDesk
    cases: CaseDesk
    uplink: UplinkReports

    async def desks_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """The bus and the desks: up before the relay, down after it."""
        await self.bus.start()
        self.listener.start()
        self.whereabouts.start()
        await self.alerts.start()
        try:
            yield
        finally:
            await self.commands.aclose()
            await self.listener.aclose()
            await self.whereabouts.aclose()
            await self.alerts.aclose()
            await self.bus.aclose()

    async def witnessing_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Checkpoints and witnessing: up after the bus, down after the relay has sealed
        every session, so the last checkpoint covers the seals of shutdown."""
        await self.witnessing.start()
        try:
            yield
        finally:
            await self.witnessing.aclose()

    async def relay_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """The relay: sessions a crash left open are sealed before any new one opens."""
        await aiortc_hooks.verify_internals()
        aiortc_hooks.use_ice_host_addresses(self.config.ice_hosts)
        aiortc_hooks.demux_media_first()
        recovered = await asyncio.to_thread(self.evidence.store.recover)
        if recovered:
            log.warning("sealed %d session(s) left open by a crash: %s", len(recovered),
                        ", ".join(recovered))
        self.uplink.start()
        try:
            yield
        finally:
            await self.uplink.aclose()
            if self.talkback_push is not None:
                await self.talkback_push.aclose()
            await self.registry.aclose()

    async def cases_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """The case desk and its ferry to the portal (the node connects out)."""
        await self.cases.start()
        try:
            yield
        finally:
            await self.cases.aclose()

    async def review_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """The review desk: after the relay, so crash recovery has sealed what it indexes."""
        await self.review_desk.start()
        try:
            yield
        finally:
            await self.review_desk.aclose()


def build_node(config: Config, hub: EventHub, users: UserStore) -> Node:
    """Build the node's parts, each after what it needs (nothing is attached later)."""
    streams = StreamDirectory()
    # With an archive, every seal point of the evidence store queues its copy on disk.
    backlog = Backlog(config.data_dir) if config.archive_url else None
    store = Evidence(config.data_dir, config.node_id, config.key_file, archive=backlog)
    archive_desk = (archive.ArchiveDesk(config, backlog, store.key)
                    if backlog is not None else None)
    evidence = LiveEvidence(store, streams)
    bus = new_bus(config)
    whereabouts = Whereabouts(config, PresenceSettings(), bus, hub, streams, evidence)
    desk = AlertDesk(config, escalation_settings(config), bus, AlertOutbox(config.data_dir),
                     hub, whereabouts, evidence)
    command_desk = CommandDesk(bus, hub, config.node_id, users, whereabouts, evidence)
    listener = BusListener(bus, (desk.deliver, whereabouts.deliver, command_desk.deliver))
    tokens = cluster.node_tokens(config)
    link = cluster.cascade_link(config, whereabouts, tokens) if tokens is not None else None
    listeners = RelayListeners(
        presence=(whereabouts.presence_changed, command_desk.presence_changed),
        floor=(command_desk.floor_changed,))
    registry = StreamRegistry(relay_settings(config), streams, evidence, listeners, link)
    push = (cluster.new_talkback_push(config, registry, whereabouts, tokens)
            if tokens is not None else None)
    witnessing = Witnessing(config, evidence.store, bus, clustered=config.redis_url is not None)
    return Node(config, bus, evidence, whereabouts, desk, command_desk, listener, registry,
                tokens, push, review.ReviewDesk(config.data_dir, evidence.store), witnessing,
                archive_desk,
                catalog.CatalogDesk(config, store,
                                    cluster.cluster_url(config) if tokens is not None else None),
                new_case_desk(config, evidence, hub), UplinkReports(registry, hub))


def new_case_desk(config: Config, evidence: LiveEvidence, hub: EventHub) -> CaseDesk:
    """The case desk, with a ferry to the portal (and the pulls of its uploads) when the
    node has one."""
    link, puller = None, None
    if config.portal_url and config.portal_secret:
        link = FerryLink(config.data_dir, config.node_id, config.portal_url,
                         config.portal_secret, config.ferry_poll_s)
        puller = PortalPuller(link, evidence, config.data_dir)
    return CaseDesk(CaseBook(config.data_dir, evidence.store.key), hub, link, puller)


async def _close_websockets(app: web.Application) -> None:
    """Tell every WebSocket the node is going away, before handlers are cancelled."""
    app[HUB].closing.set()


def build_app(config: Config) -> web.Application:
    """The node's application: API, WHIP/WHEP, WebSocket and pages."""
    app = web.Application(middlewares=[errors_as_json, proxy.forwarded,
                                       denials.log_evidence_denials],
                          client_max_size=max(config.max_sdp_bytes, config.max_json_bytes))
    app.on_response_prepare.append(security_headers.add_headers)
    hub, users = EventHub(), UserStore(config.data_dir, config.password_cost)
    node = build_node(config, hub, users)
    app[CONFIG], app[USERS], app[HUB] = config, users, hub
    app[TOKENS] = TokenIssuer(load_or_create_secret(config.data_dir), config.jwt_issuer,
                              config.jwt_audience, config.token_ttl_s)
    app[LOGIN_GATE] = LoginGate(config.login_free_failures, config.login_backoff_s,
                                config.login_backoff_max_s, config.login_failures_per_address,
                                config.login_concurrency)
    app[TICKETS] = TicketBook(config.ticket_ttl_s)
    # A phone retrying one press reuses its key, but still spends a token: leave room.
    app[ALERTS_BY_OFFICER] = RateLimiter("alerts from this officer", burst=config.alert_burst,
                                         per_minute=config.alerts_per_minute)
    app[WHEREABOUTS], app[DESK], app[COMMANDS] = node.whereabouts, node.alerts, node.commands
    app[REGISTRY], app[LIVE_EVIDENCE] = node.registry, node.evidence
    app[review.REVIEW] = node.review_desk
    app[uploads.UPLOADS] = uploads.new_desk(app)
    app[uploads.RECEIVERS] = socket_body.Receivers(config.upload_receive_threads)
    app[uploads.UPLOADS].on_sealed.append(node.witnessing.material_sealed)
    if node.cases.puller is not None:
        # Portal uploads tell the same listeners as officer uploads (the catalog too).
        node.cases.puller.listeners = app[uploads.UPLOADS].on_sealed
    materials_api.attach(app)
    node.catalog.follow_materials(app[MATERIALS], app[uploads.UPLOADS].on_sealed)
    app[CASES] = node.cases
    app[cases_api.INVITATIONS] = RateLimiter("invitations from this officer", burst=10,
                                             per_minute=config.invitations_per_hour / 60)
    if node.node_tokens is not None:
        app[cluster.NODE_TOKENS] = node.node_tokens
    if node.talkback_push is not None:
        app[cluster.TALKBACK_PUSH] = node.talkback_push
    app[METRICS] = NodeMetrics(node.registry, hub, node.bus,
                               node.archive.archiver.status if node.archive else None)
    if node.archive is not None:
        app[archive.ARCHIVE] = node.archive
        # First up, last down: what the relay seals on its way out is queued by then.
        app.cleanup_ctx.append(node.archive.ctx)
    app[catalog.CATALOG] = node.catalog
    app[remote_sessions.FETCH_LOCKS] = KeyedLocks()
    app.cleanup_ctx.append(node.catalog.ctx)
    app[WITNESSING] = node.witnessing
    app.cleanup_ctx.append(node.desks_ctx)
    app.cleanup_ctx.append(node.witnessing_ctx)
    app.cleanup_ctx.append(node.relay_ctx)
    app.cleanup_ctx.append(node.review_ctx)
    app.cleanup_ctx.append(uploads.uploads_ctx)
    app.cleanup_ctx.append(node.cases_ctx)
    app.on_shutdown.append(_close_websockets)
    app.add_routes([
        web.get("/healthz", api.healthz),
        web.get("/metrics", api.metrics),
        web.post("/api/login", auth.login),
        web.post("/api/token/refresh", auth.refresh),
        web.post("/api/tickets", auth.ticket),
        web.get("/api/config", api.client_config),
        web.get("/api/officers", api.officers),
        web.get("/ws", ws.websocket),
        *whip.routes(),
        *review.routes(),
        *witnessing.routes(),
        *uploads.routes(),
        # Before the case view, whose `{case:.+}` would otherwise swallow `/activity`.
        *cases_api.routes(),
        *materials_api.routes(),
        *cluster.routes(),
        *alerts.routes(),
        *commands.routes(),
        *talkback.routes(),
        *ice.routes(),
        *archive.routes(),
        *catalog.routes(),
        *remote_sessions.routes(),
        *evidence_handover.routes(),
        *pages.routes(config.web_dir),
    ])
    return app
