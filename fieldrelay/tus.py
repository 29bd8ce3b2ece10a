"""The tus 1.0.0 resumable upload protocol's headers (core, creation, termination,
creation-with-upload, expiration, checksum).

Pure: parses and checks header values, builds the headers the node answers with. No I/O;
`signaling.uploads` and `portal.uploads` do the requests and the disk. See https://tus.io/protocols/resumable-upload.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import re

from fieldrelay.errors import BadRequest, FieldRelayError

VERSION = "1.0.0"
EXTENSIONS = ("creation", "termination", "creation-with-upload", "expiration", "checksum")
CHECKSUM_ALGORITHMS = ("sha1", "sha256", "md5")
OFFSET_TYPE = "application/offset+octet-stream"
# Upload-Metadata: at most this many pairs and bytes (aiohttp caps a header line at 8190).
MAX_METADATA_PAIRS = 32
MAX_METADATA_BYTES = 8000
KEY_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DIGITS_RE = re.compile(r"[0-9]{1,20}")


class VersionUnsupported(FieldRelayError):
    """The client speaks another tus version (tus: 412 with Tus-Version)."""

    code = "tus_version_unsupported"
    status = 412


class OffsetMismatch(FieldRelayError):
    """Upload-Offset is not the node's offset (tus: 409)."""

    code = "offset_mismatch"
    status = 409


class WrongContentType(FieldRelayError):
    """A PATCH body that is not application/offset+octet-stream (tus: 415)."""

    code = "unsupported_media_type"
    status = 415


def check_version(value: str | None) -> None:
    """Every request but OPTIONS names the protocol version it speaks."""
    if value != VERSION:
        raise VersionUnsupported(f"send Tus-Resumable: {VERSION} (the only version served)")


def parse_count(name: str, value: str | None, limit: int | None = None) -> int:
    """A non-negative integer header (Upload-Length, Upload-Offset)."""
    if value is None:
        raise BadRequest(f"{name} is missing")
    text = value.strip()
    if not DIGITS_RE.fullmatch(text):
        raise BadRequest(f"{name} must be a non-negative integer")
    number = int(text)
    if limit is not None and number > limit:
        raise BadRequest(f"{name} must be at most {limit}")
    return number


def parse_metadata(value: str | None) -> dict[str, str]:
    """Upload-Metadata: comma-separated `key base64(value)` pairs (a key alone is empty).

    BadRequest for a header that is too big, a malformed key, a key given twice, a value
    that is not base64 or does not decode to UTF-8 text.
    """
    if value is None or not value.strip():
        return {}
    if len(value) > MAX_METADATA_BYTES:
        raise BadRequest(f"Upload-Metadata is longer than {MAX_METADATA_BYTES} bytes")
    pairs = value.split(",")
    if len(pairs) > MAX_METADATA_PAIRS:
        raise BadRequest(f"Upload-Metadata holds more than {MAX_METADATA_PAIRS} pairs")
    out: dict[str, str] = {}
    for pair in pairs:
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not KEY_RE.fullmatch(parts[0]):
            raise BadRequest("Upload-Metadata pairs are `key base64value`, keys of letters, "
                             "digits, _ . and -")
        key = parts[0]
        if key in out:
            raise BadRequest(f"Upload-Metadata names {key} twice")
        raw = parts[1] if len(parts) == 2 else ""
        try:
            decoded = base64.b64decode(raw, validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise BadRequest(f"Upload-Metadata value of {key} is not base64 of UTF-8 "
                             "text") from None
        out[key] = decoded
    return out


def parse_checksum(value: str | None) -> tuple[str, bytes] | None:
    """Upload-Checksum: `algorithm base64(digest)` of one PATCH body; None without one."""
    if value is None:
        return None
    parts = value.strip().split(" ")
    if len(parts) != 2 or parts[0] not in CHECKSUM_ALGORITHMS:
        raise BadRequest("Upload-Checksum is `ALGORITHM BASE64`, with ALGORITHM one of "
                         + ", ".join(CHECKSUM_ALGORITHMS))
    try:
        digest = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("Upload-Checksum's digest is not base64") from None
    if len(digest) != hashlib.new(parts[0]).digest_size:
        raise BadRequest(f"Upload-Checksum's digest is not the length of a {parts[0]} digest")
    return parts[0], digest


def encode_metadata(meta: dict[str, str]) -> str:
    """The Upload-Metadata header for `meta` (clients and tests)."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k
                    for k, v in meta.items())


def expires_header(t: float) -> str:
    """Upload-Expires: an RFC 9110 date."""
    moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return moment.strftime("%a, %d %b %Y %H:%M:%S GMT")


def discovery_headers(max_size: int) -> dict[str, str]:
    """The OPTIONS answer: what this server speaks."""
    return {"Tus-Resumable": VERSION, "Tus-Version": VERSION,
            "Tus-Extension": ",".join(EXTENSIONS), "Tus-Max-Size": str(max_size),
            "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS)}


def offset_headers(offset: int, length: int | None = None) -> dict[str, str]:
    """The headers of a HEAD or PATCH answer."""
    headers = {"Tus-Resumable": VERSION, "Upload-Offset": str(offset),
               "Cache-Control": "no-store"}
    if length is not None:
        headers["Upload-Length"] = str(length)
    return headers
