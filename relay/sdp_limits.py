"""Count limits on SDP offers and trickle fragments, checked before any parser sees them."""

from __future__ import annotations

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
