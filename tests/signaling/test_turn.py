"""TURN: short-lived REST credentials from the node, refused by coturn once expired, and
media that flows through coturn with relay-only peers (aiortc and the officer page)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aioice.stun
import aioice.turn
import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection

from fieldrelay import turn
from fieldrelay.config import Config
from signaling.ice import ice_servers_for
from tests.live import LiveNode
from tests.media import publish, view
from tests.turn_server import TurnServer, running_turn_server


@pytest.fixture
def turn_server(tmp_path: Path, loopback_only: None) -> Iterator[TurnServer]:
    """A coturn of this test's own on loopback."""
    with running_turn_server(tmp_path) as server:
        yield server


def test_credential_matches_the_turn_rest_golden_vector() -> None:
    # The TURN REST draft's construction, checked against openssl:
    # printf '1700000000:o1' | openssl dgst -sha1 -hmac s3cret -binary | base64
    assert turn.credential_for("s3cret", "1700000000:o1") == "j4REBvOoBR2kAH9VLbKWR6pC6u4="
    cred = turn.issue("s3cret", "o1", ttl_s=600, now=1699999400.7)
    assert cred.username == "1700000000:o1"
    assert cred.expires_at == 1700000000
    assert cred.credential == "j4REBvOoBR2kAH9VLbKWR6pC6u4="
    with pytest.raises(ValueError):
        turn.issue("s3cret", "a:b", 600, 0)
    with pytest.raises(ValueError):
        turn.issue("", "o1", 600, 0)


def test_ice_servers_hold_stun_urls_and_a_turn_entry() -> None:
    config = Config(ice_servers=("stun:stun.example:3478", "turn:ignored.example"),
                    turn_urls=("turn:turn.example:3478", "turns:turn.example:5349"),
                    turn_secret="k", turn_ttl_s=300)
    body = ice_servers_for(config, "o1", now=1000.0)
    assert body["expires_at"] == 1300
    # A turn: URL among --ice-server has no credentials: it is not handed out.
    assert body["ice_servers"][0] == {"urls": "stun:stun.example:3478"}
    entry = body["ice_servers"][1]
    assert entry["urls"] == ["turn:turn.example:3478", "turns:turn.example:5349"]
    assert entry["username"] == "1300:o1"
    assert entry["credential"] == turn.credential_for("k", "1300:o1")
    assert ice_servers_for(Config(), "o1", 0) == {"ice_servers": [], "expires_at": None}


async def fetch_ice_servers(node: LiveNode, token: str | None) -> tuple[int, dict[str, Any]]:
    """GET /api/ice-servers as `token` (or with none): status and body."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with node.http.get(f"{node.base}/api/ice-servers", headers=headers) as resp:
        return resp.status, await resp.json()


def turn_entry(body: dict[str, Any]) -> dict[str, Any]:
    """The one entry with TURN credentials."""
    entries: list[dict[str, Any]] = [s for s in body["ice_servers"] if "username" in s]
    assert len(entries) == 1, body
    return entries[0]


class _Sink(asyncio.DatagramProtocol):
    """A datagram protocol that keeps what reaches it through the relay."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    def connection_made(self, transport: Any) -> None:
        pass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


async def _allocate(server: TurnServer, username: str, password: str) -> None:
    transport, _ = await aioice.turn.create_turn_endpoint(
        _Sink, ("127.0.0.1", server.port), username, password, lifetime=60)
    transport.close()
    await asyncio.sleep(0)


async def test_logged_in_users_get_credentials_coturn_accepts_until_they_expire(
        node_factory: Callable[..., Awaitable[LiveNode]], turn_server: TurnServer) -> None:
    node = await node_factory(turn_urls=(turn_server.url,), turn_secret=turn_server.secret,
                              turn_ttl_s=120)
    status, body = await fetch_ice_servers(node, None)
    assert status == 401 and body["error"] == "unauthorized"

    before = time.time()
    for user in ("o1", "c1", "r1"):
        status, body = await fetch_ice_servers(node, await node.login(user))
        assert status == 200, body
        entry = turn_entry(body)
        expiry, name = entry["username"].split(":", 1)
        assert name == user
        assert before + 120 - 2 <= int(expiry) == body["expires_at"] <= time.time() + 120
        # coturn accepts what the node handed out.
        await _allocate(turn_server, entry["username"], entry["credential"])

    # The same construction with an expiry in the past: coturn refuses it.
    expired = turn.issue(turn_server.secret, "o1", ttl_s=-5, now=time.time())
    with pytest.raises(aioice.stun.TransactionFailed) as refused:
        await _allocate(turn_server, expired.username, expired.credential)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
    # And a credential made with another secret.
    forged = turn.issue("not-the-secret", "o1", ttl_s=600, now=time.time())
    with pytest.raises(aioice.stun.TransactionFailed):
        await _allocate(turn_server, forged.username, forged.credential)


def relay_pc(body: dict[str, Any]) -> RTCPeerConnection:
    """An aiortc peer that may only use the relay candidates of those TURN servers."""
    entry = turn_entry(body)
    servers = [RTCIceServer(urls=u, username=entry["username"], credential=entry["credential"])
               for u in entry["urls"]]
    return RTCPeerConnection(RTCConfiguration(iceServers=servers,
                                              iceTransportPolicy=RTCIceTransportPolicy.RELAY))


def _candidate_types(sdp: str) -> set[str]:
    return {line.split(" typ ")[1].split()[0] for line in sdp.splitlines()
            if line.startswith("a=candidate:")}


@pytest.mark.media
async def test_aiortc_publisher_and_viewer_through_coturn_only(
        node_factory: Callable[..., Awaitable[LiveNode]], turn_server: TurnServer) -> None:
    node = await node_factory(turn_urls=(turn_server.url,), turn_secret=turn_server.secret)
    officer, commander = await node.login("o1"), await node.login("c1")
    pub_pc = relay_pc((await fetch_ice_servers(node, officer))[1])
    pub = await publish(node.http, node.base, officer, pc=pub_pc)
    viewer_pc = relay_pc((await fetch_ice_servers(node, commander))[1])
    viewer = await view(node.http, node.base, commander, "o1", pc=viewer_pc)
    try:
        for pc in (pub_pc, viewer_pc):
            assert pc.localDescription is not None
            assert _candidate_types(pc.localDescription.sdp) == {"relay"}
        await viewer.wait_frames(60, timeout=15)
        assert viewer.sizes == {(640, 480)}
        assert len(set(viewer.shades[-30:])) > 10, "frames must move forward"
    finally:
        await viewer.close()
        await pub.pc.close()


async def test_turn_credentials_last_an_hour_and_every_fetch_is_fresh(
        node_factory: Callable[..., Awaitable[LiveNode]], turn_server: TurnServer) -> None:
    # A leaked credential (a phone's, a proxy log's) stops working within the hour; pages
    # ask again before every publish, view and reconnect, so a long shift keeps working.
    node = await node_factory(turn_urls=(turn_server.url,), turn_secret=turn_server.secret)
    token = await node.login("o1")
    before = time.time()
    status, first = await fetch_ice_servers(node, token)
    assert status == 200
    assert before + 3600 - 2 <= first["expires_at"] <= time.time() + 3600
    await asyncio.sleep(1.1)
    async with node.http.get(f"{node.base}/api/ice-servers",
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.headers["Cache-Control"] == "no-store"
        second = await resp.json()
    assert second["expires_at"] > first["expires_at"]
    assert turn_entry(second)["username"] != turn_entry(first)["username"]
    await _allocate(turn_server, turn_entry(second)["username"],
                    turn_entry(second)["credential"])


async def test_an_allocation_outlives_its_credential_so_a_long_session_keeps_its_relay(
        turn_server: TurnServer) -> None:
    # With credentials of an hour, a phone streaming longer keeps its relay: coturn refreshes
    # an allocation made before the expiry (and a reconnect fetches fresh credentials).
    cred = turn.issue(turn_server.secret, "o1", ttl_s=2, now=time.time())
    transport, _ = await aioice.turn.create_turn_endpoint(
        _Sink, ("127.0.0.1", turn_server.port), cred.username, cred.credential, lifetime=600)
    try:
        await asyncio.sleep(3.0)  # the credential has expired
        # aioice refreshes only every 5/6 of the lifetime: send the REFRESH it would send.
        client = vars(transport)["_TurnTransport__inner_protocol"]
        assert isinstance(client, aioice.turn.TurnClientProtocol)
        request = aioice.stun.Message(message_method=aioice.stun.Method.REFRESH,
                                      message_class=aioice.stun.Class.REQUEST)
        request.attributes["LIFETIME"] = 600
        response, _ = await client.request_with_retry(request)
        assert response.attributes["LIFETIME"] > 0
        # A new allocation with the expired credential is refused.
        with pytest.raises(aioice.stun.TransactionFailed):
            await _allocate(turn_server, cred.username, cred.credential)
    finally:
        transport.close()
        await asyncio.sleep(0.1)
