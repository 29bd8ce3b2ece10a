"""With real peers: an officer publishes only as itself and touches no one else's stream;
a commander cannot stop another commander's view; only reviewers read recordings."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.live import LiveNode
from tests.media import publish, view

pytestmark = pytest.mark.media

FRAG = "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuv\r\na=mid:0\r\n" \
       "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"


async def _status(node: LiveNode, method: str, path: str, token: str, body: str = "",
                  content_type: str = "application/trickle-ice-sdpfrag") -> int:
    async with node.http.request(method, node.base + path, data=body or None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": content_type}) as resp:
        return resp.status


async def test_officers_touch_only_their_own_streams(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory()
    o1, o2, c1, c2, r1 = [await node.login(n) for n in ("o1", "o2", "c1", "c2", "r1")]
    pub2 = await publish(node.http, node.base, o2)
    viewer = await view(node.http, node.base, c1, "o2")
    pub1 = None
    try:
        await viewer.wait_frames(10, timeout=10)
        # o1 can neither trickle into nor end o2's publication.
        assert await _status(node, "PATCH", pub2.location, o1, FRAG) == 404
        assert await _status(node, "DELETE", pub2.location, o1) == 404
        # o1 cannot watch anyone, itself included.
        for target in ("o2", "o1"):
            assert await _status(node, "POST", f"/whep/{target}", o1, "v=0\r\n",
                                 "application/sdp") == 403
        # o1's publish is o1's stream, whatever it says inside: o2's stream is untouched.
        pub1 = await publish(node.http, node.base, o1)
        assert set(node.registry.streams) == {"o1", "o2"}
        assert node.registry.streams["o2"].publication is not None
        assert node.registry.streams["o2"].publication.id == pub2.location.rsplit("/", 1)[1]
        # c2 cannot stop or trickle into c1's view.
        assert await _status(node, "DELETE", viewer.location, c2) == 404
        assert await _status(node, "PATCH", viewer.location, c2, FRAG) == 404
        before = viewer.frames
        await viewer.wait_frames(before + 15, timeout=5)
        # Recordings are for reviewers only.
        for token in (o1, o2, c1):
            assert await _status(node, "GET", "/api/sessions", token) == 403
        assert await _status(node, "GET", "/api/sessions", r1) == 200
    finally:
        await viewer.close()
        await pub2.pc.close()
        if pub1 is not None:
            await pub1.pc.close()
