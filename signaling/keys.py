"""Typed application state (aiohttp AppKeys): one place names what the app holds."""

from __future__ import annotations

from aiohttp import web

from fieldrelay.config import Config
from fieldrelay.tokens import TokenIssuer
from fieldrelay.users import UserStore
from relay.evidence import LiveEvidence
from relay.registry import StreamRegistry
from signaling.hub import EventHub
from signaling.metrics import NodeMetrics
from signaling.ratelimit import RateLimiter

CONFIG = web.AppKey("config", Config)
USERS = web.AppKey("users", UserStore)
TOKENS = web.AppKey("tokens", TokenIssuer)
REGISTRY = web.AppKey("registry", StreamRegistry)
# The one way to write into an officer's live evidence session (events, case numbers).
LIVE_EVIDENCE = web.AppKey("live_evidence", LiveEvidence)
HUB = web.AppKey("hub", EventHub)
METRICS = web.AppKey("metrics", NodeMetrics)
# Brute force against one account, or from one address, and alert floods from one phone.
LOGIN_BY_USER = web.AppKey("login_by_user", RateLimiter)
LOGIN_BY_ADDRESS = web.AppKey("login_by_address", RateLimiter)
ALERTS_BY_OFFICER = web.AppKey("alerts_by_officer", RateLimiter)
