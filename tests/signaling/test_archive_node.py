"""A node with an archive: a live session's segments and chain reach the store as they seal,
and /metrics and GET /api/archive show the backlog while the store is down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from bench.s3server import MotoServer
from fieldrelay.config import Config
from signaling.keys import CONFIG
from tests.archive_tools import URL, all_keys, make_bucket
from tests.archive_tools import moto as moto
from tests.live import LiveNode
from tests.media import publish

NodeFactory = Callable[..., Awaitable[LiveNode]]


@pytest.mark.media
async def test_a_live_session_is_archived_as_it_seals(node_factory: NodeFactory,
                                                      moto: MotoServer) -> None:
    await make_bucket(moto.endpoint, lock=True)
    node = await node_factory(archive_url=URL, archive_endpoint=moto.endpoint, segment_s=1.0,
                              keyframe_interval_s=0.5, node_id="node-a")
    token = await node.login("o1")
    pub = await publish(node.http, node.base, token)
    stream = node.registry.streams["o1"]
    assert stream.session is not None
    folder = stream.session.folder
    prefix = f"fieldrelay/node-a/sessions/{folder.name}/"
    # While live: closed segments are in the store before the session ends.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        keys = await all_keys(moto.endpoint)
        if any(k.startswith(prefix + "seg-") for k in keys):
            break
        await asyncio.sleep(0.3)
    else:
        pytest.fail("no segment reached the archive while the session was live")
    async with node.http.delete(f"{node.base}{pub.location}",
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
    await pub.pc.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        keys = await all_keys(moto.endpoint)
        if prefix + "ledger.jsonl" in keys:
            break
        await asyncio.sleep(0.3)
    assert keys[prefix + "ledger.jsonl"] == (folder / "ledger.jsonl").read_bytes()
    for seg in folder.glob("seg-*"):
        assert keys[prefix + seg.name] == seg.read_bytes()


async def test_metrics_and_the_wall_show_an_archive_that_is_behind(
        node_factory: NodeFactory, moto: MotoServer) -> None:
    moto.stop()  # the store is down from the start
    node = await node_factory(archive_url=URL, archive_endpoint=moto.endpoint,
                              archive_behind_s=1.0, archive_max_backoff_s=0.5)
    config: Config = node.server.app[CONFIG]
    assert config.archive_url == URL
    commander = await node.login("c1")
    await asyncio.sleep(1.5)  # the public key, queued at start, has waited past 1 s
    async with node.http.get(f"{node.base}/api/archive",
                             headers={"Authorization": f"Bearer {commander}"}) as resp:
        assert resp.status == 200
        state = await resp.json()
    assert state["enabled"] and state["behind"] and not state["store_up"]
    assert state["backlog"] >= 1 and state["oldest_age_s"] >= 1.0
    async with node.http.get(f"{node.base}/metrics") as resp:
        text = await resp.text()
    backlog = [line for line in text.splitlines()
               if line.startswith("fieldrelay_archive_backlog_items ")]
    age = [line for line in text.splitlines()
           if line.startswith("fieldrelay_archive_oldest_age_seconds ")]
    assert backlog and float(backlog[0].split()[1]) >= 1
    assert age and float(age[0].split()[1]) >= 1.0
    officer = await node.login("o1")
    async with node.http.get(f"{node.base}/api/archive",
                             headers={"Authorization": f"Bearer {officer}"}) as resp:
        assert resp.status == 403
    # The store comes back: the backlog drains and the wall stops saying so.
    moto.start()
    await make_bucket(moto.endpoint, lock=False)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async with node.http.get(f"{node.base}/api/archive",
                                 headers={"Authorization": f"Bearer {commander}"}) as resp:
            state = await resp.json()
        if state["backlog"] == 0 and not state["behind"]:
            break
        await asyncio.sleep(0.3)
    assert state["backlog"] == 0 and not state["behind"] and state["store_up"]


async def test_a_node_without_an_archive_says_so(live_node: LiveNode) -> None:
    token = await live_node.login("c1")
    async with live_node.http.get(f"{live_node.base}/api/archive",
                                  headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200
        assert await resp.json() == {"enabled": False, "behind": False}
