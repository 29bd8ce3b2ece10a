"""Limits on SDP offers and trickle fragments: counts, checked before any parser sees them,
and the syntax of DTLS fingerprints, checked on the parsed offer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from relay.errors import BadSdp


@dataclass(frozen=True)
class SdpLimits:
    """How much one offer or fragment may hold."""

    media: int = 4
    candidates: int = 64
    lines: int = 1000


def check(sdp: str, limits: SdpLimits) -> None:
    """Raise BadSdp when the text holds more lines, m-lines or candidates than allowed, or
    characters no SDP has (NUL and other control characters besides CR, LF and tab)."""
    lines = sdp.splitlines()
    if len(lines) > limits.lines:
        raise BadSdp(f"the SDP has {len(lines)} lines; at most {limits.lines} are accepted")
    media = sum(1 for line in lines if line.startswith("m="))
    if media > limits.media:
        raise BadSdp(f"the SDP has {media} media sections; at most {limits.media} are accepted")
    candidates = sum(1 for line in lines if line.startswith("a=candidate:"))
    if candidates > limits.candidates:
        raise BadSdp(f"the SDP has {candidates} candidates; at most {limits.candidates} "
                     "are accepted")
    if any(ord(c) < 32 and c not in "\r\n\t" for c in sdp):
        raise BadSdp("the SDP holds control characters")


# The hash functions aiortc's DTLS checks a peer's certificate with (RFC 8122 §5), and the
# length of each digest in bytes. An offer that names only others can never finish DTLS.
# tests/relay/test_fingerprints.py fails when aiortc's own list changes.
CHECKABLE_HASHES = {"sha-256": 32, "sha-384": 48, "sha-512": 64}
# RFC 8122 §5: hash-func is a token (RFC 4566); the fingerprint is 2UHEX *(":" 2UHEX).
# Lower-case hex is taken too: aiortc compares without case, and some stacks write it so.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2})*")


def check_fingerprint(algorithm: str, value: str) -> None:
    """Raise BadSdp unless `a=fingerprint:<algorithm> <value>` is RFC 8122 syntax and, for a
    hash function in CHECKABLE_HASHES, holds a digest of that function's length."""
    if not _TOKEN.fullmatch(algorithm):
        raise BadSdp(f"a=fingerprint names no hash function: {algorithm[:40]!r}")
    if not _FINGERPRINT.fullmatch(value):
        raise BadSdp(f"the {algorithm[:40]} fingerprint is not colon-separated hex bytes")
    expected = CHECKABLE_HASHES.get(algorithm.lower())
    octets = (len(value) + 1) // 3
    if expected is not None and octets != expected:
        raise BadSdp(f"a {algorithm} fingerprint has {expected} bytes, not {octets}")


def check_fingerprints(kind: str, fingerprints: list[tuple[str, str]]) -> None:
    """Raise BadSdp unless every (algorithm, value) of one media section is well formed and
    at least one uses a hash function the relay's DTLS can check."""
    if not fingerprints:
        raise BadSdp(f"the {kind} section has no DTLS fingerprint")
    for algorithm, value in fingerprints:
        check_fingerprint(algorithm, value)
    if not any(algorithm.lower() in CHECKABLE_HASHES for algorithm, _ in fingerprints):
        raise BadSdp(f"the {kind} section's DTLS fingerprints use no hash function this relay "
                     f"can check ({', '.join(CHECKABLE_HASHES)})")
