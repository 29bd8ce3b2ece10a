"""The root of fieldrelay's errors; each package adds its own under it."""

from __future__ import annotations


class FieldRelayError(Exception):
    """A failure the caller can act on; `code` and `status` map it to HTTP."""

    code = "error"
    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(FieldRelayError):
    code = "bad_request"
    status = 400


class Unauthorized(FieldRelayError):
    code = "unauthorized"
    status = 401


class Forbidden(FieldRelayError):
    code = "forbidden"
    status = 403


class NotFound(FieldRelayError):
    code = "not_found"
    status = 404


class Conflict(FieldRelayError):
    code = "conflict"
    status = 409


class UnsupportedMediaType(BadRequest):
    """A body in the wrong content type: 400, as the live-path issue asks of WHIP/WHEP."""

    code = "unsupported_media_type"


class PayloadTooLarge(FieldRelayError):
    code = "payload_too_large"
    status = 413
