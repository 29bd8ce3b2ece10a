"""DTLS fingerprints in WHIP, WHEP and talkback offers: RFC 8122 syntax and a hash function
aiortc's DTLS can check, or 400 at once (no peer left waiting for the connect deadline)."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCCertificate

from bench.media import offer_sdp
from relay import sdp_limits
from relay.errors import BadSdp
from tests.live import LiveNode
from tests.media import publish

pytestmark = pytest.mark.media

GOOD = "sha-256 " + ":".join(["AB"] * 32)
BAD_LINES = {
    "not hex": "sha-256 ZZ",
    "too short": "sha-256 AB:CD",
    "too long": "sha-256 " + ":".join(["AB"] * 33),
    "no colons": "sha-256 " + "AB" * 32,
    "odd digits": "sha-256 " + ":".join(["ABC"] * 32),
    "trailing colon": "sha-256 " + ":".join(["AB"] * 32) + ":",
    "uncheckable only": "sha-1 " + ":".join(["AB"] * 20),
    "not a token": 'sha"256 AB:CD',
}


def test_the_checkable_hashes_are_aiortcs() -> None:
    # aiortc offers one fingerprint per hash function its DTLS checks; an upgrade that adds
    # or drops one must change CHECKABLE_HASHES with it.
    fingerprints = RTCCertificate.generateCertificate().getFingerprints()
    assert {f.algorithm: (len(f.value) + 1) // 3 for f in fingerprints} == \
        sdp_limits.CHECKABLE_HASHES


@pytest.mark.parametrize("line", BAD_LINES.values(), ids=list(BAD_LINES))
def test_malformed_fingerprints_are_refused(line: str) -> None:
    with pytest.raises(BadSdp):
        sdp_limits.check_fingerprints("video", [tuple(line.split(" ", 1))])  # type: ignore[list-item]


def test_wellformed_fingerprints_pass() -> None:
    sdp_limits.check_fingerprints("video", [("sha-256", ":".join(["ab"] * 32))])
    sdp_limits.check_fingerprints("video", [("SHA-512", ":".join(["0F"] * 64))])
    # An unknown hash function beside a checkable one is ignored by DTLS (RFC 8122 §5).
    sdp_limits.check_fingerprints("audio", [("sha-1", ":".join(["AB"] * 20)),
                                            tuple(GOOD.split(" "))])  # type: ignore[list-item]


def with_fingerprint(sdp: str, line: str) -> str:
    return re.sub(r"a=fingerprint:[^\r\n]*", f"a=fingerprint:{line}", sdp)


async def test_offers_with_bad_fingerprints_get_400(live_node: LiveNode) -> None:
    o1, o2, c1 = [await live_node.login(n) for n in ("o1", "o2", "c1")]
    live = await publish(live_node.http, live_node.base, o1)
    try:
        send, recv = await offer_sdp("sendonly"), await offer_sdp("recvonly")
        targets = [("/whip", o2, send), ("/whep/o1", c1, recv), ("/talkback/o1", c1, send),
                   ("/talkback-listen", o1, recv)]
        for path, token, offer in targets:
            for name, line in BAD_LINES.items():
                async with live_node.http.post(
                        f"{live_node.base}{path}", data=with_fingerprint(offer, line),
                        headers={"Authorization": f"Bearer {token}",
                                 "Content-Type": "application/sdp"}) as resp:
                    body = await resp.json()
                    assert resp.status == 400, (path, name, body)
                    assert "fingerprint" in body["detail"], (path, name, body)
        assert set(live_node.registry.streams) == {"o1"}
        # The same offers with a good fingerprint are taken.
        async with live_node.http.post(
                f"{live_node.base}/whip", data=with_fingerprint(send, GOOD),
                headers={"Authorization": f"Bearer {o2}",
                         "Content-Type": "application/sdp"}) as resp:
            assert resp.status == 201, await resp.text()
            location = resp.headers["Location"]
        async with live_node.http.delete(f"{live_node.base}{location}",
                                         headers={"Authorization": f"Bearer {o2}"}) as resp:
            assert resp.status == 200
    finally:
        await live.pc.close()
