"""A publisher with an RSA DTLS certificate (like GStreamer's webrtcbin) can publish."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCCertificate, SRTPProtectionProfile
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from OpenSSL import SSL

from relay import peers
from tests.live import LiveNode
from tests.media import PatternVideoTrack, local_pc, publish, view

pytestmark = pytest.mark.media

RSA_ONLY = b"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-SHA"


def rsa_peer() -> RTCPeerConnection:
    """A client peer whose DTLS presents an RSA certificate and offers only RSA suites."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gst-webrtcbin-like")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    certificate = RTCCertificate(key=key, cert=cert)  # type: ignore[arg-type]
    original = certificate._create_ssl_context

    def create(srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        ctx = original(srtp_profiles)
        ctx.set_cipher_list(RSA_ONLY)
        return ctx

    certificate._create_ssl_context = create  # type: ignore[method-assign]
    pc = local_pc()
    pc._RTCPeerConnection__certificates = [certificate]  # type: ignore[attr-defined]
    return pc


async def test_rsa_publisher_streams_through_the_node(live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer, pc=rsa_peer())
    viewer = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await viewer.wait_frames(30, timeout=10)
        assert pub.pc.connectionState == "connected"
    finally:
        await viewer.close()
        await pub.pc.close()


async def test_stock_aiortc_dtls_refuses_the_rsa_peer() -> None:
    """The control: without the node's hook the same peer fails the handshake."""
    client = rsa_peer()
    stock = peers.new_peer_connection((), accept_rsa=False)
    states: list[str] = []
    stock.on("connectionstatechange", lambda: states.append(stock.connectionState))
    try:
        client.addTransceiver(PatternVideoTrack(), direction="sendonly")
        await client.setLocalDescription(await client.createOffer())
        await stock.setRemoteDescription(client.localDescription)
        await stock.setLocalDescription(await stock.createAnswer())
        await client.setRemoteDescription(RTCSessionDescription(
            sdp=stock.localDescription.sdp, type="answer"))
        for _ in range(200):
            if "failed" in states or "connected" in states:
                break
            await asyncio.sleep(0.05)
        assert "failed" in states and "connected" not in states, states
    finally:
        await client.close()
        await stock.close()
