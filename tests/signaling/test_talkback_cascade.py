"""Talkback across nodes: a commander on node B talks to an officer live on node A."""

from __future__ import annotations

import asyncio
import json
import time

import av
import pytest

from fieldrelay.errors import Forbidden, Unauthorized
from recordings.verify import check
from relay.talkback_push import refusal
from signaling.cluster import TALKBACK_PUSH, NodeTokens
from tests.conftest import RedisProcess
from tests.media import publish
from tests.relay.test_talkback import bearer, listen, next_event, talk
from tests.signaling.test_cascade import SECRET, NodeFactory, cluster_node, wait_until

pytestmark = pytest.mark.media


async def test_a_commander_on_b_talks_to_an_officer_live_on_a(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await cluster_node(node_factory, redis_server, "node-a")
    b = await cluster_node(node_factory, redis_server, "node-b")
    officer, c1_b, c2_a = await a.login("o1"), await b.login("c1"), await a.login("c2")
    pub = await publish(a.http, a.base, officer)
    phone = console_a = console_b = None
    talkers = []
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].state == "live", 10, "o1 live on A")
        await asyncio.sleep(0.3)  # presence reaches Redis
        phone = await listen(a, officer)
        console_a = await a.http.ws_connect(f"{a.base}/ws?token={c2_a}")
        console_b = await b.http.ws_connect(f"{b.base}/ws?token={c1_b}")

        asked = time.monotonic()
        status, location, pc = await talk(b, c1_b, "o1", video=True)
        assert status == 201, location
        talkers.append(pc)
        assert location.startswith("/talkback/o1/")
        # A holds the floor in c1's name, and every console on every node hears of it.
        for console in (console_a, console_b):
            floor = await next_event(console, "talkback")
            assert (floor["officer"], floor["by"], floor["video"]) == ("o1", "c1", True)
        assert a.registry.talkback.floor("o1").by == "c1"
        assert "o1" not in b.registry.streams
        await phone.wait_frames(30, timeout=15)
        await wait_until(lambda: phone.audio_frames > 20, 10, "the commander's voice on A")
        assert phone.sizes == {(320, 240)}
        assert phone.first_frame_at is not None
        print(f"\nCASCADE_TALKBACK first frame on the phone on A "
              f"{(phone.first_frame_at - asked) * 1e3:.0f} ms after the POST on B")
        carried = b.server.app[TALKBACK_PUSH].pushes["o1"].viewer
        latency = b.registry.counters.forward_latency
        assert carried.sent > 30 and latency.samples >= carried.sent
        print(f"CASCADE_TALKBACK forwarded by B {carried.sent} packets, dropped "
              f"{carried.dropped}, mean forwarding {latency.total_s / latency.samples * 1e3:.3f}"
              f" ms; phone on A decoded {phone.frames}"
              f" video, {phone.audio_frames} audio frames")

        # A is the authority: a commander on A is refused, naming c1.
        status, body, _ = await talk(a, c2_a, "o1", video=False)
        assert status == 409 and body["error"] == "floor_taken" and "c1" in body["detail"]

        await asyncio.sleep(0.5)
        async with b.http.delete(f"{b.base}{location}", headers=bearer(c1_b)) as r:
            assert r.status == 200, await r.text()
        assert a.registry.talkback.floor("o1").by is None
        assert (await next_event(console_a, "talkback"))["by"] is None

        # The floor is free on A: c2 talks there, and now c1 on B is refused, naming c2.
        status, location2, pc2 = await talk(a, c2_a, "o1", video=False)
        assert status == 201, location2
        talkers.append(pc2)
        status, body, _ = await talk(b, c1_b, "o1", video=False)
        assert status == 409 and body["error"] == "floor_taken" and "c2" in body["detail"]
        async with a.http.delete(f"{a.base}{location2}", headers=bearer(c2_a)) as r:
            assert r.status == 200
        async with a.http.delete(f"{a.base}{pub.location}", headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        for pc in talkers:
            await pc.close()
        for ws in (console_a, console_b):
            if ws is not None:
                await ws.close()
        if phone is not None:
            await phone.close()
        await pub.pc.close()

    (folder,) = a.registry.evidence.sessions_dir.iterdir()
    entries = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    events = [(e["event"], e.get("by"), e.get("video"), e.get("via")) for e in entries
              if e["kind"] == "event" and e["event"].startswith("talkback.")]
    assert events == [("talkback.started", "c1", True, "node-b"),
                      ("talkback.stopped", "c1", None, None),
                      ("talkback.started", "c2", False, None),
                      ("talkback.stopped", "c2", None, None)]
    first = next(e for e in entries if e["kind"] == "segment" and e.get("track") == "talkback")
    assert first["file"] == "tb-000001.webm"
    with av.open(str(folder / first["file"])) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        assert sum(1 for _ in container.decode(video=0)) >= 10
    with av.open(str(folder / first["file"])) as container:
        assert sum(1 for _ in container.decode(audio=0)) > 20
    report = check(folder)
    assert report.ok, report.first_break
    assert not b.registry.evidence.sessions_dir.exists() or not any(
        b.registry.evidence.sessions_dir.iterdir()), "B records nothing of A's officer"


async def test_either_leg_dropping_frees_the_floor_on_both_nodes(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await cluster_node(node_factory, redis_server, "node-a")
    b = await cluster_node(node_factory, redis_server, "node-b")
    officer, c1_b = await a.login("o1"), await b.login("c1")
    pub = await publish(a.http, a.base, officer)
    phone = None
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].state == "live", 10, "o1 live on A")
        await asyncio.sleep(0.3)
        phone = await listen(a, officer)
        push = b.server.app[TALKBACK_PUSH]

        # The commander's connection to B drops: B releases A's floor.
        status, _location, pc = await talk(b, c1_b, "o1", video=False)
        assert status == 201
        await wait_until(lambda: phone.audio_frames > 20, 10, "talkback on A")
        await pc.close()
        await wait_until(lambda: a.registry.talkback.floor("o1").by is None, 10,
                         "A's floor released after the commander left B")
        assert not push.pushes

        # The push to A drops: the commander's connection to B ends too.
        status, _location, pc = await talk(b, c1_b, "o1", video=False)
        assert status == 201
        await wait_until(lambda: a.registry.talkback.floor("o1").by == "c1", 10, "floor on A")
        await wait_until(lambda: pc.connectionState == "connected", 10, "the commander on B")
        await push.pushes["o1"].push_pc.close()
        await wait_until(lambda: a.registry.talkback.floor("o1").by is None, 10,
                         "A's floor released after the push dropped")
        await wait_until(lambda: pc.connectionState == "closed" or not push.pushes, 10,
                         "B's commander leg to end")
        assert not push.pushes
        await pc.close()

        # The officer stops on A: the talk ends there, and B ends the commander's leg.
        status, _location, pc = await talk(b, c1_b, "o1", video=False)
        assert status == 201
        await wait_until(lambda: pc.connectionState == "connected", 10, "the commander on B")
        async with a.http.delete(f"{a.base}{pub.location}", headers=bearer(officer)) as r:
            assert r.status == 200
        await wait_until(lambda: not push.pushes, 15, "B to end the talk")
        await wait_until(lambda: pc.connectionState == "closed", 15,
                         "the commander's connection to B to close")
    finally:
        if phone is not None:
            await phone.close()
        await pub.pc.close()


async def test_cross_node_talkback_needs_the_cluster_secret_and_a_matching_token(
        node_factory: NodeFactory, redis_server: RedisProcess) -> None:
    a = await cluster_node(node_factory, redis_server, "node-a")
    b = await cluster_node(node_factory, redis_server, "node-b", cluster_secret=None)
    officer, c1_b = await a.login("o1"), await b.login("c1")
    pub = await publish(a.http, a.base, officer)
    try:
        await wait_until(lambda: "o1" in a.registry.streams
                         and a.registry.streams["o1"].state == "live", 10, "o1 live on A")
        await asyncio.sleep(0.3)
        status, body, _ = await talk(b, c1_b, "o1", video=False)
        assert status == 404 and body["error"] == "not_live"
        assert "node-a" in body["detail"] and "--cluster-secret" in body["detail"]
        status, body, _ = await talk(b, c1_b, "o3", video=False)
        assert status == 404 and body["detail"] == "officer 'o3' is not live"

        async def talk_with(token: str, officer: str = "o1") -> int:
            from tests.media import ToneAudioTrack, local_pc

            pc = local_pc()
            pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            try:
                async with a.http.post(f"{a.base}/talkback/{officer}",
                                       data=pc.localDescription.sdp,
                                       headers={**bearer(token),
                                                "Content-Type": "application/sdp"}) as r:
                    return r.status
            finally:
                await pc.close()

        node_b = NodeTokens(SECRET, "node-b")
        # A token for another officer, another secret, or a pull token is refused.
        assert await talk_with(node_b.issue_talk("o2", "c1", "node-a")) == 403
        other_secret = NodeTokens("y" * 40, "node-b")
        assert await talk_with(other_secret.issue_talk("o1", "c1", "node-a")) == 401
        assert await talk_with(node_b.issue("o1", "node-a")) == 401
        # A talkback token does not pull the officer's stream either.
        async with a.http.post(f"{a.base}/whep/o1", data="v=0\r\n",
                               headers={**bearer(node_b.issue_talk("o1", "c1", "node-a")),
                                        "Content-Type": "application/sdp"}) as r:
            assert r.status == 401
        assert a.registry.talkback.floor("o1").by is None
    finally:
        await pub.pc.close()


def test_a_refusal_from_the_officers_node_reaches_the_commander_unchanged() -> None:
    taken = refusal(409, json.dumps({"error": "floor_taken", "detail": "c2 is talking to o1"}),
                    "node-a")
    assert (taken.status, taken.code, taken.detail) == (409, "floor_taken", "c2 is talking to o1")
    gone = refusal(404, json.dumps({"error": "not_live", "detail": "o1 is gone"}), "node-a")
    assert (gone.status, gone.code, gone.detail) == (404, "not_live", "o1 is gone")
    trust = refusal(401, "not json", "node-a")
    assert trust.status == 403 and "node-a" in trust.detail and "401" in trust.detail
    assert refusal(400, "{}", "node-a").status == 400


def test_talkback_tokens_name_the_commander_and_are_their_own_kind() -> None:
    node_b, node_a = NodeTokens(SECRET, "node-b"), NodeTokens(SECRET, "node-a")
    assert node_a.verify_talk(node_b.issue_talk("o1", "c1", "node-a"), "o1") == ("node-b", "c1")
    with pytest.raises(Forbidden):
        node_a.verify_talk(node_b.issue_talk("o1", "c1", "node-a"), "o2")
    with pytest.raises(Unauthorized):
        node_a.verify(node_b.issue_talk("o1", "c1", "node-a"), "o1")  # not a pull token
    with pytest.raises(Unauthorized):
        node_a.verify_talk(node_b.issue("o1", "node-a"), "o1")  # not a talkback token
    with pytest.raises(Unauthorized):
        node_b.verify_talk(node_b.issue_talk("o1", "c1", "node-b"), "o1")  # a node's own token
    with pytest.raises(Unauthorized):
        node_a.verify_talk(node_b.issue_talk("o1", "../etc", "node-a"), "o1")
