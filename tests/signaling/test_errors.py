"""Bad requests get clear JSON 4xx answers, and the node keeps serving a live stream."""

from __future__ import annotations

import pytest

from tests.live import LiveNode
from tests.media import publish, view

pytestmark = pytest.mark.media

SDP = {"Content-Type": "application/sdp"}


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


async def expect(node: LiveNode, method: str, path: str, status: int, code: str | None = None,
                 **kw: object) -> dict[str, str]:
    async with node.http.request(method, f"{node.base}{path}", **kw) as resp:  # type: ignore[arg-type]
        body = await resp.json()
        assert resp.status == status, (method, path, resp.status, body)
        assert set(body) == {"error", "detail"} and body["detail"]
        if code is not None:
            assert body["error"] == code, body
        return body  # type: ignore[no-any-return]


async def test_bad_requests_get_json_errors_while_a_stream_keeps_flowing(
        live_node: LiveNode) -> None:
    officer = await live_node.login("o1")
    commander = await live_node.login("c1")
    reviewer = await live_node.login("r1")
    pub = await publish(live_node.http, live_node.base, officer)
    watcher = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await watcher.wait_frames(10, timeout=10)
        offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        cases: list[tuple[str, str, int, str | None, dict[str, object]]] = [
            ("POST", "/whip", 401, "unauthorized", {"data": offer, "headers": SDP}),
            ("POST", "/whip", 401, "unauthorized",
             {"data": offer, "headers": bearer("not-a-jwt", **SDP)}),
            ("POST", "/whip", 403, "forbidden",
             {"data": offer, "headers": bearer(commander, **SDP)}),
            ("POST", "/whip", 403, "forbidden",
             {"data": offer, "headers": bearer(reviewer, **SDP)}),
            ("POST", "/whep/o1", 403, "forbidden",
             {"data": offer, "headers": bearer(officer, **SDP)}),
            ("POST", "/whep/o1", 401, "unauthorized", {"data": offer, "headers": SDP}),
            ("POST", "/whip", 400, "bad_sdp", {"data": "hello", "headers": bearer(officer, **SDP)}),
            ("POST", "/whip", 400, "bad_sdp", {"data": offer, "headers": bearer(officer, **SDP)}),
            ("POST", "/whip", 400, "bad_sdp",
             {"data": offer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96\r\n",
              "headers": bearer(officer, **SDP)}),
            ("POST", "/whip", 400, "bad_sdp",
             {"data": b"v=0\r\n\xff\xfe", "headers": bearer(officer, **SDP)}),
            ("POST", "/whip", 400, "unsupported_media_type",
             {"data": offer, "headers": bearer(officer, **{"Content-Type": "text/plain"})}),
            ("POST", "/whip", 413, "payload_too_large",
             {"data": "v=0\r\n" + "a=x\r\n" * 20000, "headers": bearer(officer, **SDP)}),
            ("POST", "/whep/o2", 404, "not_live",
             {"data": offer, "headers": bearer(commander, **SDP)}),
            ("POST", "/whep/nobody", 404, "not_live",
             {"data": offer, "headers": bearer(commander, **SDP)}),
            ("DELETE", "/whip/unknown", 404, "unknown_resource", {"headers": bearer(officer)}),
            ("DELETE", watcher.location, 403, "forbidden", {"headers": bearer(officer)}),
            ("PATCH", pub.location, 400, "unsupported_media_type",
             {"data": "a=candidate:x", "headers": bearer(officer, **SDP)}),
            ("POST", "/api/login", 400, "bad_request",
             {"data": "{not json", "headers": {"Content-Type": "application/json"}}),
            ("POST", "/api/login", 415, "unsupported_media_type", {"data": "{not json"}),
            ("POST", "/api/login", 401, "unauthorized",
             {"json": {"username": "o1", "password": "wrong-password"}}),
            ("GET", "/api/officers", 403, "forbidden", {"headers": bearer(officer)}),
            ("GET", "/nowhere", 404, None, {}),
        ]
        for method, path, status, code, kw in cases:
            await expect(live_node, method, path, status, code, **kw)
            async with live_node.http.get(f"{live_node.base}/healthz") as resp:
                assert resp.status == 200
        # Another officer's publication cannot be ended by o1, nor a viewer by another commander.
        other = await live_node.login("c2")
        await expect(live_node, "DELETE", watcher.location, 404, "unknown_resource",
                     headers=bearer(other))
        before = watcher.frames
        await watcher.wait_frames(before + 30, timeout=5)
    finally:
        await watcher.close()
        await pub.pc.close()
