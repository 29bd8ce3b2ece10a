"""Typed application state (aiohttp AppKeys): one place names what the app holds."""

from __future__ import annotations

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.tokens import TokenIssuer
from fieldrelay.users import UserStore
from recordings.material_catalog import MaterialCatalog
from relay.evidence import LiveEvidence
from relay.registry import StreamRegistry
from signaling.hub import EventHub
from signaling.metrics import NodeMetrics
from signaling.ratelimit import LoginGate, RateLimiter
from signaling.tickets import TicketBook

CONFIG = web.AppKey("config", Config)
USERS = web.AppKey("users", UserStore)
TOKENS = web.AppKey("tokens", TokenIssuer)
REGISTRY = web.AppKey("registry", StreamRegistry)
# The one way to write into an officer's live evidence session (events, case numbers).
LIVE_EVIDENCE = web.AppKey("live_evidence", LiveEvidence)
HUB = web.AppKey("hub", EventHub)
METRICS = web.AppKey("metrics", NodeMetrics)
# Wrong passwords per user and address (and password hashes at once), alert floods per phone.
LOGIN_GATE = web.AppKey("login_gate", LoginGate)
TICKETS = web.AppKey("tickets", TicketBook)
ALERTS_BY_OFFICER = web.AppKey("alerts_by_officer", RateLimiter)
# Every material of the data dir (the review API's and the case view's catalog).
CATALOG = web.AppKey("material_catalog", MaterialCatalog)
