"""GET /api/sessions and /api/sessions/<id>: reviewers only, states, segments and events."""

from __future__ import annotations

import asyncio

import pytest

from tests.live import LiveNode
from tests.media import publish, view

pytestmark = pytest.mark.media


async def test_reviewer_lists_live_then_sealed_session_with_segments_and_events(
        live_node: LiveNode) -> None:
    officer, commander = await live_node.login("o1"), await live_node.login("c1")
    reviewer = await live_node.login("r1")
    auth = {"Authorization": f"Bearer {reviewer}"}
    pub = await publish(live_node.http, live_node.base, officer)
    watcher = await view(live_node.http, live_node.base, commander, "o1")
    try:
        await watcher.wait_frames(30, timeout=10)
        async with live_node.http.get(f"{live_node.base}/api/sessions", headers=auth) as resp:
            assert resp.status == 200
            (row,) = (await resp.json())["sessions"]
        assert (row["officer"], row["state"]) == ("o1", "live")
        for who in (officer, commander):
            async with live_node.http.get(f"{live_node.base}/api/sessions",
                                          headers={"Authorization": f"Bearer {who}"}) as resp:
                assert resp.status == 403
        await asyncio.sleep(1)
        await watcher.close()
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers={"Authorization": f"Bearer {officer}"}) as r:
            assert r.status == 200
    finally:
        await watcher.close()
        await pub.pc.close()
    async with live_node.http.get(f"{live_node.base}/api/sessions?officer=o1",
                                  headers=auth) as resp:
        (row,) = (await resp.json())["sessions"]
    assert row["state"] == "sealed" and row["duration_s"] > 1 and row["segments"] >= 1
    async with live_node.http.get(f"{live_node.base}/api/sessions?officer=o2",
                                  headers=auth) as resp:
        assert (await resp.json())["sessions"] == []
    async with live_node.http.get(f"{live_node.base}/api/sessions/{row['id']}",
                                  headers=auth) as resp:
        detail = await resp.json()
    assert detail["segments"][0]["file"].startswith("seg-000001")
    # Integrity is the last background verify; none has run yet.
    assert detail["integrity"]["state"] == "idle"
    assert [e["event"] for e in detail["events"]][:1] == ["viewer.joined"]
    for bad in ("nope", "..%2F..%2Fkeys", "20261127T101500Z-o1-00000000"):
        async with live_node.http.get(f"{live_node.base}/api/sessions/{bad}",
                                      headers=auth) as resp:
            assert resp.status == 404
    async with live_node.http.get(f"{live_node.base}/api/sessions?from=yesterday",
                                  headers=auth) as resp:
        assert resp.status == 400
