"""Talkback: a commander's voice and picture reach the phone and the officer's evidence."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import MediaStreamTrack, RTCSessionDescription

from recordings.verify import check
from tests.live import LiveNode
from tests.media import PatternVideoTrack, ToneAudioTrack, ViewerClient, local_pc, publish

pytestmark = pytest.mark.media


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def listen(node: LiveNode, officer_token: str) -> ViewerClient:
    """The officer's phone side: receive talkback, decode it and count frames."""
    client = ViewerClient(local_pc())

    @client.pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        client.tasks.append(asyncio.get_running_loop().create_task(client._consume(track)))

    for kind in ("audio", "video"):
        client.pc.addTransceiver(kind, direction="recvonly")
    await client.pc.setLocalDescription(await client.pc.createOffer())
    async with node.http.post(f"{node.base}/talkback-listen", data=client.pc.localDescription.sdp,
                              headers={**bearer(officer_token),
                                       "Content-Type": "application/sdp"}) as resp:
        body = await resp.text()
        assert resp.status == 201, (resp.status, body)
        client.location = resp.headers["Location"]
    await client.pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    return client


async def talk(node: LiveNode, token: str, officer: str, video: bool
               ) -> tuple[int, Any, Any]:
    """A commander takes the floor; returns (status, body or location, peer connection)."""
    pc = local_pc()
    pc.addTransceiver(ToneAudioTrack(), direction="sendonly")
    if video:
        pc.addTransceiver(PatternVideoTrack(320, 240), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    async with node.http.post(f"{node.base}/talkback/{officer}", data=pc.localDescription.sdp,
                              headers={**bearer(token), "Content-Type": "application/sdp"}) as r:
        if r.status != 201:
            await pc.close()
            return r.status, await r.json(), None
        answer, location = await r.text(), r.headers["Location"]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    return 201, location, pc


async def next_event(ws: aiohttp.ClientWebSocketResponse, kind: str,
                     timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            event: dict[str, Any] = json.loads((await ws.receive()).data)
            if event["type"] == kind:
                return event


async def test_talkback_reaches_the_phone_holds_one_floor_and_is_recorded(
        live_node: LiveNode, tmp_path: Path) -> None:
    officer, c1, c2 = [await live_node.login(n) for n in ("o1", "c1", "c2")]
    pub = await publish(live_node.http, live_node.base, officer)
    phone = await listen(live_node, officer)
    console = await live_node.http.ws_connect(f"{live_node.base}/ws?token={c2}")
    phone_ws = await live_node.http.ws_connect(f"{live_node.base}/ws?token={officer}")
    talkers = []
    try:
        status, location, pc = await talk(live_node, c1, "o1", video=True)
        assert status == 201, location
        talkers.append(pc)
        floor = await next_event(console, "talkback")
        assert (floor["officer"], floor["by"], floor["video"]) == ("o1", "c1", True)
        assert (await next_event(phone_ws, "talkback"))["by"] == "c1"
        await phone.wait_frames(30, timeout=15)
        assert phone.audio_frames > 20
        assert phone.sizes == {(320, 240)}

        # While c1 holds the floor, c2 is told who has it.
        status, body, _ = await talk(live_node, c2, "o1", video=False)
        assert status == 409
        assert body["error"] == "floor_taken" and "c1" in body["detail"]

        await asyncio.sleep(1.0)
        async with live_node.http.delete(f"{live_node.base}{location}", headers=bearer(c1)) as r:
            assert r.status == 200
        assert (await next_event(console, "talkback"))["by"] is None

        # The floor is free: c2 talks, voice only, and the phone hears it on the same tracks.
        heard = phone.audio_frames
        status, location2, pc2 = await talk(live_node, c2, "o1", video=False)
        assert status == 201, location2
        talkers.append(pc2)
        async with asyncio.timeout(10):
            while phone.audio_frames < heard + 50:
                await asyncio.sleep(0.05)
        async with live_node.http.delete(f"{live_node.base}{location2}", headers=bearer(c2)) as r:
            assert r.status == 200
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        for pc in talkers:
            await pc.close()
        await phone.close()
        await console.close()
        await phone_ws.close()
        await pub.pc.close()

    (folder,) = (live_node.registry.evidence.sessions_dir).iterdir()
    entries = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    events = [(e["event"], e.get("by"), e.get("video")) for e in entries if e["kind"] == "event"
              and e["event"].startswith("talkback.")]
    assert events == [("talkback.started", "c1", True), ("talkback.stopped", "c1", None),
                      ("talkback.started", "c2", False), ("talkback.stopped", "c2", None)]
    talkback = [e for e in entries if e["kind"] == "segment" and e.get("track") == "talkback"]
    assert [e["file"] for e in talkback] == ["tb-000001.webm", "tb-000002.webm"]
    main = [e for e in entries if e["kind"] == "segment" and "track" not in e]
    assert main and all(e["file"].startswith("seg-") for e in main)
    # On the session's own timeline: the first talk started after the phone's media did.
    assert talkback[0]["media_start_ms"] >= main[0]["media_start_ms"]
    assert talkback[1]["media_start_ms"] > talkback[0]["media_end_ms"]

    with av.open(str(folder / "tb-000001.webm")) as container:
        kinds = sorted(s.type for s in container.streams)
        assert kinds == ["audio", "video"]
        video = container.streams.video[0]
        assert video.codec_context.name == "vp8"
        decoded = sum(1 for _ in container.decode(video=0))
        assert decoded >= 20
    with av.open(str(folder / "tb-000002.webm")) as container:
        assert [s.type for s in container.streams] == ["audio"]
        assert container.streams.audio[0].codec_context.name == "opus"
        assert sum(1 for _ in container.demux(audio=0)) > 20

    report = check(folder)
    assert report.ok, report.first_break
    bundle = check(live_node.registry.evidence.data_dir)
    assert bundle.ok, bundle.first_break

    # A reviewer's player gets the talkback as its own file, on the whole file's timeline.
    reviewer = await live_node.login("r1")
    url = f"{live_node.base}/api/sessions/{folder.name}/media"
    async with live_node.http.get(f"{url}?track=talkback", headers=bearer(reviewer)) as r:
        assert r.status == 200, await r.text()
        (tmp_path / "talkback.webm").write_bytes(await r.read())
    async with live_node.http.get(f"{url}?track=teleport", headers=bearer(reviewer)) as r:
        assert r.status == 400
    base = min(e["media_start_ms"] for e in main)
    with av.open(str(tmp_path / "talkback.webm")) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
        first = next(p for p in container.demux(audio=0) if p.pts is not None)
        assert first.pts is not None and first.time_base is not None
        first_ms = float(first.pts * first.time_base * 1000)
        assert abs(first_ms - (talkback[0]["media_start_ms"] - base)) < 150, first_ms


async def test_talkback_needs_a_live_officer_and_the_right_people(live_node: LiveNode) -> None:
    officer, c1 = await live_node.login("o1"), await live_node.login("c1")
    status, body, _ = await talk(live_node, c1, "o1", video=False)
    assert status == 404 and body["error"] == "not_live"
    status, body, _ = await talk(live_node, officer, "o2", video=False)
    assert status == 403
    pub = await publish(live_node.http, live_node.base, officer)
    try:
        # A commander cannot listen in as if it were the phone.
        async with live_node.http.post(f"{live_node.base}/talkback-listen", data="v=0\r\n",
                                       headers={**bearer(c1),
                                                "Content-Type": "application/sdp"}) as r:
            assert r.status == 403
        # Talkback without a voice is refused with a reason.
        pc = local_pc()
        pc.addTransceiver(PatternVideoTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with live_node.http.post(f"{live_node.base}/talkback/o1",
                                       data=pc.localDescription.sdp,
                                       headers={**bearer(c1),
                                                "Content-Type": "application/sdp"}) as r:
            assert r.status == 400
            assert "audio" in (await r.json())["detail"]
        await pc.close()
    finally:
        await pub.pc.close()


async def test_the_officers_stream_ending_ends_talkback_before_the_seal(
        live_node: LiveNode) -> None:
    officer, c1 = await live_node.login("o1"), await live_node.login("c1")
    pub = await publish(live_node.http, live_node.base, officer)
    phone = await listen(live_node, officer)
    status, _location, pc = await talk(live_node, c1, "o1", video=False)
    assert status == 201
    try:
        async with asyncio.timeout(10):
            while phone.audio_frames < 30:
                await asyncio.sleep(0.05)
        async with live_node.http.delete(f"{live_node.base}{pub.location}",
                                         headers=bearer(officer)) as r:
            assert r.status == 200
        assert live_node.registry.talkback.floors() == []
    finally:
        await pc.close()
        await phone.close()
        await pub.pc.close()
    (folder,) = live_node.registry.evidence.sessions_dir.iterdir()
    entries = [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]
    kinds = [e.get("event") or e["kind"] for e in entries]
    assert kinds.index("talkback.stopped") < kinds.index("session.seal")
    assert any(e.get("track") == "talkback" for e in entries)
    assert check(folder).ok
