"""Hostile input against a node that is relaying a live stream: mutated SDP to /whip and
/whep, malformed JSON to every JSON endpoint, garbage and oversized frames to /ws, slow
clients to the listener. Every answer is a clear 4xx or WebSocket close (or a cut for a slow
client), never a 5xx or silence, and the stream flows on.

The node and the live stream run in processes of their own; this one only draws inputs
(hypothesis) and sends them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import aiohttp
import pytest

from bench import hostile
from bench.hostile import USERS
from bench.media import offer_sdp
from bench.slow_clients import CUT
from bench.stream_probe import start_probe, stop_probe
from relay import aiortc_hooks
from tests.conftest import NodeProcess

pytestmark = pytest.mark.media

@pytest.fixture
def fuzz_node(node_process: NodeProcess, loopback_only: None) -> Iterator[NodeProcess]:
    for name, role in USERS:
        node_process.add_user(name, role)
    # Alert floods are limited per officer; lift that so inputs reach the JSON parser.
    # Short slow-client timeouts keep the slow batch to seconds.
    node_process.start("--alerts-per-minute", "10000000", "--header-timeout", "1",
                       "--body-timeout", "2")
    yield node_process


def test_hostile_input_gets_clear_answers_while_the_stream_flows(
        fuzz_node: NodeProcess) -> None:
    aiortc_hooks.use_ice_host_addresses(("127.0.0.1",))
    probe = start_probe(fuzz_node, "o1", "c1")
    loop = asyncio.new_event_loop()
    http = loop.run_until_complete(_session())
    tally: hostile.Tally = {}
    try:
        target = hostile.Target(
            fuzz_node.url, fuzz_node.login("o2"), fuzz_node.login("c2"), "o1",
            loop.run_until_complete(offer_sdp("sendonly")),
            loop.run_until_complete(offer_sdp("recvonly")))
        mark = [probe.read()]
        publication = mark[0][2]

        def still_flowing() -> None:
            fps = probe.fps_since(mark[0])
            print(f"viewer: {fps:.1f} fps during the batch")
            # 30 fps are sent; two shared cores run the node, the probe and this process.
            assert fps >= 10, f"the viewer got {fps:.1f} fps during the barrage"
            mark[0] = probe.samples[-1]

        hostile.run_barrage(loop, http, target, examples=100, strict=True, tally=tally,
                            between=still_flowing, slow_limit_s=2.0)
        print(json.dumps(tally, sort_keys=True))
        # The barrage itself was hostile: most offers and frames were refused.
        assert tally["POST /whip"].get(400, 0) > 20
        assert tally["POST /whep"].get(400, 0) > 20
        assert sum(n for code, n in tally["/ws"].items() if code != 1000) > 20
        # Hostile uploads were refused whole; the right ones sealed and could not be deleted.
        assert tally["POST /api/uploads"].get(400, 0) > 20, tally
        assert tally["DELETE /api/uploads"].get(409, 0) >= 1, tally
        # Slow clients were cut off (headers) or timed out (bodies), none held.
        assert tally["slow headers"].get(CUT, 0) > 10, tally
        assert tally["slow body"].get(408, 0) > 10, tally
        # The live stream is still the same publication, and the node answers.
        assert probe.read()[2] == publication
        status, _ = loop.run_until_complete(hostile.send_http(
            http, "GET", f"{fuzz_node.url}/healthz", b"", {}))
        assert status == 200
        assert "Traceback" not in fuzz_node.log(), fuzz_node.log()[-3000:]
        # Nothing was written outside the data dir, and no name inside it came from input.
        beside = {p.name for p in fuzz_node.data_dir.parent.iterdir()}
        assert {n for n in beside if n != "data" and not n.startswith("node-")} == set(), beside
        names = [p.name for p in fuzz_node.data_dir.rglob("*")]
        assert not [n for n in names if "passwd" in n or ".." in n or "\\" in n], names
    finally:
        loop.run_until_complete(http.close())
        loop.close()
        stop_probe(probe)


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession()
