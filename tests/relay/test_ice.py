"""Which addresses the node offers: --ice-host, and --ice-public-ip for a 1:1 NAT."""

from __future__ import annotations

import pytest

from relay.peers import advertise_public_ip
from tests.live import LiveNode
from tests.media import local_pc

ANSWER = (
    "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
    "a=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    "a=candidate:def 1 udp 2130706431 192.168.1.9 40002 typ host\r\n"
    "a=candidate:ghi 1 udp 1694498815 203.0.113.1 40000 typ srflx raddr 10.0.0.5 rport 40000\r\n"
)


def test_public_ip_is_advertised_beside_each_chosen_host_candidate() -> None:
    out = advertise_public_ip(ANSWER, ("10.0.0.5",), "198.51.100.7").split("\r\n")
    assert "a=candidate:abcn 1 udp 2130706431 198.51.100.7 40000 typ host" in out
    assert not any("198.51.100.7 40002" in line for line in out)  # not an --ice-host address
    assert sum("198.51.100.7" in line for line in out) == 1
    assert advertise_public_ip(ANSWER, (), "198.51.100.7").count("198.51.100.7") == 2


@pytest.mark.media
async def test_node_offers_only_its_ice_host_addresses(live_node: LiveNode) -> None:
    token = await live_node.login("o1")
    pc = local_pc()
    try:
        pc.addTransceiver("video", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with live_node.http.post(
                f"{live_node.base}/whip", data=pc.localDescription.sdp,
                headers={"Authorization": f"Bearer {token}",
                         "Content-Type": "application/sdp"}) as resp:
            answer = await resp.text()
            assert resp.status == 201, answer
        candidates = [line for line in answer.splitlines() if line.startswith("a=candidate:")]
        assert candidates
        assert all(line.split()[4] == "127.0.0.1" for line in candidates), candidates
    finally:
        await pc.close()
