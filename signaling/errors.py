"""Errors raised at the HTTP/WebSocket edge."""

from __future__ import annotations

from fieldrelay.errors import FieldRelayError


class TooManyRequests(FieldRelayError):
    code = "rate_limited"
    status = 429
    retry_after = 1


class NotJson(FieldRelayError):
    """A body that must be JSON came in another content type."""

    code = "unsupported_media_type"
    status = 415


# WebSocket close codes (4000-4999 are the application's own).
WS_UNAUTHORIZED = 4401
WS_FORBIDDEN = 4403
WS_BAD_MESSAGE = 4400
WS_TOO_SLOW = 4408
WS_RATE_LIMITED = 4429
