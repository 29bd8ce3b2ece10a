"""Errors raised by the media relay."""

from __future__ import annotations

from fieldrelay.errors import BadRequest, FieldRelayError, NotFound


class NotLive(NotFound):
    code = "not_live"


class BadSdp(BadRequest):
    code = "bad_sdp"


class CodecMismatch(FieldRelayError):
    code = "codec_mismatch"
    status = 406


class UnknownResource(NotFound):
    code = "unknown_resource"


class TooManyViewers(FieldRelayError):
    code = "too_many_viewers"
    status = 429
