"""Negotiation of publisher and viewer peer connections from WHIP/WHEP offers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters
from aiortc.sdp import SessionDescription

from relay import aiortc_hooks as hooks
from relay import sdp_limits
from relay.codecs import H264, OPUS, VP8
from relay.errors import BadSdp, CodecMismatch

log = logging.getLogger(__name__)

# A peer connection that has not connected by then is closed (and its slot freed).
CONNECT_DEADLINE_S = 30.0


class Spawner(Protocol):
    """Whoever owns the deadline task (a TaskGroupOwner)."""

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]: ...


def connect_deadline(pc: RTCPeerConnection, what: str, tasks: Spawner) -> None:
    """Close `pc` if it has not connected within CONNECT_DEADLINE_S.

    The task ends as soon as the connection settles, so no task (and no reference to the
    peer) outlives a short-lived connection by the whole deadline. Closing fires the peer's
    state handlers, which clean up as for a drop.
    """
    settled = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_settled() -> None:
        if pc.connectionState in ("connected", "closed", "failed"):
            settled.set()

    on_settled()

    async def close_unless_connected() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(settled.wait(), CONNECT_DEADLINE_S)
        if pc.connectionState not in ("connected", "closed"):
            log.info("%s did not connect within %.0f s: closing it", what, CONNECT_DEADLINE_S)
            await close(pc)

    tasks.spawn(close_unless_connected(), name=f"deadline-{what}")

MAX_MEDIA_SECTIONS = 2


@dataclass(frozen=True)
class MediaCodec:
    """The codec one kind of a stream is carried in, as negotiated with its publisher."""

    kind: str
    capability: RTCRtpCodecCapability

    @property
    def mime(self) -> str:
        return self.capability.mimeType.lower()

    @property
    def clock_rate(self) -> int:
        return int(self.capability.clockRate)


class SilentTrack(MediaStreamTrack):
    """A track that never yields: its sender negotiates SSRC, RTX and RTCP but never encodes."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def recv(self) -> None:  # type: ignore[override]
        await self._never


def add_forwarding_transceiver(pc: RTCPeerConnection, kind: str) -> RTCRtpTransceiver:
    """A send-only transceiver that carries forwarded packets: a silent track (no encoder),
    and a receiver that will never receive, so it keeps nothing (hooks.idle_receiver)."""
    transceiver = pc.addTransceiver(SilentTrack(kind), direction="sendonly")
    hooks.idle_receiver(transceiver.receiver)
    return transceiver


def new_peer_connection(ice_servers: tuple[str, ...], accept_rsa: bool = True) -> RTCPeerConnection:
    """A peer connection that only uses the configured ICE servers (never a public default),
    with the node's DTLS certificate (`accept_rsa`: it also takes peers with RSA certificates)."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(urls=u) for u in ice_servers]))
    hooks.share_node_certificate(pc, accept_rsa)
    return pc


def parse_offer(sdp: str) -> SessionDescription:
    """Parse an SDP offer, raising BadSdp with a reason a client developer understands."""
    if "v=0" not in sdp[:64]:
        raise BadSdp("the body is not an SDP offer (it must start with v=0)")
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises many kinds on malformed input
        raise BadSdp(f"the SDP offer could not be parsed: {exc!r}") from None
    media = [m for m in description.media if m.kind in ("audio", "video")]
    if not media:
        raise BadSdp("the SDP offer has no audio or video section")
    kinds = [m.kind for m in media]
    if len(media) > MAX_MEDIA_SECTIONS or len(set(kinds)) != len(kinds):
        raise BadSdp("the SDP offer may hold one audio and one video section at most")
    for m in media:
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise BadSdp(f"the {m.kind} section has no ICE credentials")
        # A fingerprint DTLS cannot check would hold the peer until the connect deadline.
        sdp_limits.check_fingerprints(
            m.kind, [(f.algorithm, f.value) for f in (m.dtls.fingerprints if m.dtls else [])])
    check_mids(description)
    return description


def check_mids(description: SessionDescription) -> None:
    """Media ids are unique, and a BUNDLE group names only sections that exist: aiortc
    builds its answer on the first bundled section and fails inside if that one is missing."""
    mids = [m.rtp.muxId for m in description.media if m.rtp.muxId]
    if len(mids) != len(set(mids)):
        raise BadSdp("two media sections share one a=mid")
    for group in description.group:
        if group.semantic == "BUNDLE":
            unknown = [m for m in group.items if m not in mids]
            if unknown or not group.items:
                raise BadSdp(f"the BUNDLE group names unknown media ids: {unknown}")


def _capabilities(kind: str) -> list[RTCRtpCodecCapability]:
    caps = RTCRtpReceiver.getCapabilities(kind)
    assert caps is not None
    return list(caps.codecs)


def capability(kind: str, mime: str) -> RTCRtpCodecCapability:
    """aiortc's own capability for a codec it supports (by lower-case MIME type)."""
    for cap in _capabilities(kind):
        if cap.mimeType.lower() == mime:
            return cap
    raise ValueError(f"aiortc does not support {mime}")


def codec_matches(cap: RTCRtpCodecCapability, offered: RTCRtpCodecParameters) -> bool:
    if cap.mimeType.lower() != offered.mimeType.lower() or cap.clockRate != offered.clockRate:
        return False
    if cap.mimeType.lower() == H264:
        offered_profile = str(offered.parameters.get("profile-level-id", "")).lower()
        own_profile = str(cap.parameters.get("profile-level-id", "")).lower()
        return (str(offered.parameters.get("packetization-mode", "0")) == "1"
                and offered_profile[:4] == own_profile[:4])
    return True


def choose_codec(kind: str, offered: list[RTCRtpCodecParameters]) -> MediaCodec:
    """The first offered codec the relay can forward: VP8 or H.264 for video, Opus for audio."""
    wanted = (VP8, H264) if kind == "video" else (OPUS,)
    for codec in offered:
        if codec.mimeType.lower() not in wanted:
            continue
        for cap in _capabilities(kind):
            if codec_matches(cap, codec):
                return MediaCodec(kind, cap)
    names = " or ".join(w.split("/")[1].upper() for w in wanted)
    raise CodecMismatch(f"the {kind} section offers no {names} this relay can forward")


def prefer(transceiver: RTCRtpTransceiver, codec: MediaCodec) -> None:
    """Restrict a transceiver to one codec (plus its RTX for video)."""
    prefs = [codec.capability]
    if codec.kind == "video":
        prefs += [c for c in _capabilities("video") if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(prefs)


async def answer(pc: RTCPeerConnection, offer_sdp: str, fec: bool = True,
                 red: bool = False) -> str:
    """Apply the offer and return the complete answer (ICE gathered, no trickle needed).

    `fec`: audio asks for Opus in-band FEC; `red`: take RED (RFC 2198) when offered.
    """
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    except CodecMismatch:
        raise
    except Exception as exc:  # aiortc raises ValueError/OperationError/InvalidAccessError
        raise BadSdp(f"the SDP offer was refused: {exc}") from None
    remote = pc.remoteDescription
    assert remote is not None
    hooks.negotiate_audio_resilience(pc, SessionDescription.parse(remote.sdp), fec, red)
    try:
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:  # an offer aiortc accepted but cannot answer is still bad input
        raise BadSdp(f"the SDP offer cannot be answered: {exc!r}") from None
    local = pc.localDescription
    assert local is not None
    return str(local.sdp)


async def close(pc: RTCPeerConnection) -> None:
    """Close a peer connection of the node: every close of one goes through here.

    It ends even when another close of the same peer was cancelled or failed half-way (a
    refused offer, the close aiortc starts itself when the remote peer ends DTLS), and a
    caller's cancellation never stops it half-way (see hooks.close_peer)."""
    await hooks.close_peer(pc)


def advertise_public_ip(sdp: str, hosts: tuple[str, ...], public_ip: str) -> str:
    """Add a host candidate on the 1:1 NAT address beside each candidate on a local host."""
    out: list[str] = []
    for line in sdp.split("\r\n"):
        out.append(line)
        if line.startswith("a=candidate:") and " typ host" in line:
            parts = line.split(" ")
            if len(parts) > 5 and (not hosts or parts[4] in hosts) and parts[4] != public_ip:
                parts[0] = parts[0] + "n"  # a distinct foundation for the NAT address
                parts[4] = public_ip
                out.append(" ".join(parts))
    return "\r\n".join(out)
