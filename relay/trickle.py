"""Trickle ICE (RFC 8840): remote candidates from an SDP fragment, bounded per request."""

from __future__ import annotations

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from relay.errors import BadSdp

MAX_TRICKLE_CANDIDATES = 32


async def add_candidates(pc: RTCPeerConnection, sdpfrag: str) -> None:
    """Add the remote candidates of an RFC 8840 SDP fragment to a peer connection."""
    added = 0
    mid: str | None = None
    for line in sdpfrag.splitlines():
        line = line.strip()
        if line.startswith("a=mid:"):
            mid = line[6:]
        elif line == "a=end-of-candidates":
            await pc.addIceCandidate(None)
        elif line.startswith("a=candidate:"):
            added += 1
            if added > MAX_TRICKLE_CANDIDATES:
                raise BadSdp(f"at most {MAX_TRICKLE_CANDIDATES} candidates per request")
            try:
                candidate = candidate_from_sdp(line[12:])
            except Exception as exc:
                raise BadSdp(f"a candidate line could not be parsed: {exc!r}") from None
            candidate.sdpMid = mid
            candidate.sdpMLineIndex = None if mid else 0
            await pc.addIceCandidate(candidate)
