"""The single-file remux: an H.264 session as MP4, reconnect gaps kept in place, and
talkback segments as extra streams, all decoded by PyAV."""

from __future__ import annotations

import asyncio
import hashlib
import io
import itertools
import os
import threading
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import RTCRtpSender

from recordings.credentials import read_credentials
from recordings.media import RemuxCancelled, plan_media, remux, session_media
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries
from signaling.keys import CONFIG
from tests.live import LiveNode
from tests.media import publish
from tests.recordings.test_verify import webm_segment
from tests.signaling.test_review_api import bearer, decode, record


def force_h264(pc: Any) -> None:
    caps = RTCRtpSender.getCapabilities("video")
    for t in pc.getTransceivers():
        if t.kind == "video":
            t.setCodecPreferences([c for c in caps.codecs if c.mimeType == "video/H264"])


@pytest.mark.media
async def test_h264_session_plays_as_one_mp4(
        node_factory: Callable[..., Awaitable[LiveNode]]) -> None:
    node = await node_factory(segment_s=1.0, keyframe_interval_s=0.5)
    sid = await record(node, "o1", 3.0, before_offer=force_h264)
    reviewer = await node.login("r1")
    async with node.http.get(f"{node.base}/api/sessions/{sid}/media",
                             headers=bearer(reviewer)) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
        data = await resp.read()
    assert data[4:8] == b"ftyp"
    video, audio, last = decode(data)
    assert video > 45 and audio > 50 and last > 2.0
    folder = node.server.app[CONFIG].data_dir / "sessions" / sid
    segments = [e for e in read_entries(folder / "ledger.jsonl") if e.get("kind") == "segment"]
    assert len(segments) >= 2 and all(e["file"].endswith(".ts") for e in segments)
    # The cached file is reused for the next request (no second remux).
    cache = node.server.app[CONFIG].data_dir / "cache" / "media" / sid
    (cached,) = list(cache.iterdir())
    inode = cached.stat().st_ino  # a remux would replace the file
    async with node.http.get(f"{node.base}/api/sessions/{sid}/media",
                             headers={**bearer(reviewer), "Range": "bytes=10-"}) as resp:
        assert resp.status == 206 and await resp.read() == data[10:]
    assert cached.stat().st_ino == inode

    # Its export bundle carries the same file as MP4 with the C2PA manifest inside.
    async with node.http.post(f"{node.base}/api/sessions/{sid}/export",
                              headers=bearer(reviewer)) as resp:
        assert resp.status == 200
        bundle = zipfile.ZipFile(io.BytesIO(await resp.read()))
    assert [n for n in bundle.namelist() if n.startswith("playable/")] == [f"playable/{sid}.mp4"]
    signed = bundle.read(f"playable/{sid}.mp4")
    store = read_credentials(signed, "video/mp4")
    assert store["validation_state"] == "Valid", store.get("validation_results")
    assert decode(signed)[0] == video


def opus_only_webm(seconds: float) -> bytes:
    """A talkback-like WebM: Opus audio only, starting at 0."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        audio = out.add_stream("libopus", rate=48000)
        audio.layout = "stereo"
        t, samples = 0, 960
        while t < 48000 * seconds:
            wave = np.sin(2 * np.pi * 600 * (np.arange(samples) + t) / 48000)
            pcm = (wave * 0.3).astype(np.float32)
            chunk = av.AudioFrame.from_ndarray(np.stack([pcm, pcm]).reshape(1, -1),
                                               format="flt", layout="stereo")
            chunk.sample_rate, chunk.pts = 48000, t
            for packet in audio.encode(chunk):
                out.mux(packet)
            t += samples
        for packet in audio.encode():
            out.mux(packet)
    return buf.getvalue()


def write_session(data: Path, pieces: list[tuple[str, bytes, int, str | None]]) -> str:
    """A sealed-format session chain of the given (file, bytes, media_start_ms, track)."""
    key = NodeKey.load_or_create(data)
    sid = "20261127T101500Z-o1-0000abcd"
    folder = data / "sessions" / sid
    folder.mkdir(parents=True)
    ledger = LedgerFile(folder, key)
    ledger.append({"kind": "session.start", "session": sid, "officer": "o1", "node": "n",
                   "at": "2026-11-27T10:15:00.000Z", "case": None,
                   "media": {"video": "video/vp8", "audio": "audio/opus"},
                   "container": "webm"})
    for index, (name, blob, start_ms, track) in enumerate(pieces, start=1):
        (folder / name).write_bytes(blob)
        entry: dict[str, Any] = {
            "kind": "segment", "session": sid, "officer": "o1", "case": None, "index": index,
            "file": name, "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest(),
            "start": "2026-11-27T10:15:00.000Z", "end": "2026-11-27T10:15:01.000Z",
            "media_start_ms": start_ms, "media_end_ms": start_ms + 990, "partial": False}
        if track:
            entry["track"] = track
        ledger.append(entry)
    ledger.append({"kind": "session.seal", "session": sid, "at": "2026-11-27T10:16:00.000Z",
                   "state": "sealed", "segments": len(pieces), "reason": "stopped"})
    return sid


def test_gaps_stay_in_place_and_talkback_is_an_extra_stream(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # Two seconds, a four-second gap (a reconnect), one more second; talkback at 1.5 s.
    sid = write_session(data, [("seg-000001.webm", webm_segment(1), 0, None),
                               ("seg-000002.webm", webm_segment(2), 1000, None),
                               ("tb-000001.webm", opus_only_webm(1.0), 1500, "talkback"),
                               ("seg-000003.webm", webm_segment(3), 6000, None)])
    path, plan = session_media(data, sid)
    assert plan.container == "webm" and len(plan.pieces) == 4
    with av.open(str(path)) as c:
        kinds = [s.type for s in c.streams]
        assert kinds == ["video", "audio", "audio"]
        times: dict[int, list[float]] = {s.index: [] for s in c.streams}
        for packet in c.demux():
            if packet.pts is not None:
                times[packet.stream.index].append(float(packet.pts * packet.time_base))
    video_t, main_audio_t, talkback_t = times[0], times[1], times[2]
    assert video_t == sorted(video_t) and main_audio_t == sorted(main_audio_t)
    assert 0.0 <= video_t[0] < 0.1 and 6.8 < video_t[-1] < 7.1
    # Nothing plays inside the gap, and the third segment sits at 6 s.
    assert not [t for t in video_t if 2.05 < t < 5.95]
    assert min(t for t in video_t if t > 3) == pytest.approx(6.0, abs=0.07)
    assert talkback_t[0] == pytest.approx(1.5, abs=0.03) and talkback_t[-1] < 2.6
    video, audio, _ = decode(path.read_bytes())
    assert video == 45 and audio > 150


def test_a_session_without_segments_has_no_media(tmp_path: Path) -> None:
    sid = write_session(tmp_path / "data", [])
    folder = tmp_path / "data" / "sessions" / sid
    assert plan_media(sid, folder, list(read_entries(folder / "ledger.jsonl"))) is None


def test_remux_is_whole_or_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sid = write_session(data, [("seg-000001.webm", webm_segment(1), 0, None)])
    folder = data / "sessions" / sid
    plan = plan_media(sid, folder, list(read_entries(folder / "ledger.jsonl")))
    assert plan is not None
    stop = threading.Event()
    stop.set()
    out = tmp_path / "out" / "x.webm"
    with pytest.raises(RemuxCancelled):
        remux(plan, out, stop)
    assert list(out.parent.iterdir()) == []


def test_a_segment_cut_short_by_a_crash_still_plays_up_to_the_cut(tmp_path: Path) -> None:
    data = tmp_path / "data"
    whole = webm_segment(2)
    sid = write_session(data, [("seg-000001.webm", webm_segment(1), 0, None),
                               ("seg-000002.webm", whole[: len(whole) * 2 // 3], 1000, None),
                               ("seg-000003.webm", webm_segment(3), 2000, None)])
    path, _ = session_media(data, sid)
    video, audio, last = decode(path.read_bytes())
    assert 30 < video < 45 and audio > 100 and 2.9 < last < 3.1


@pytest.mark.media
async def test_a_reconnect_gap_keeps_its_length_in_the_single_file(live_node: LiveNode) -> None:
    node = live_node
    officer = await node.login("o1")
    first = await publish(node.http, node.base, officer)
    stream = node.registry.streams["o1"]
    session = stream.session
    assert session is not None
    await asyncio.sleep(2.0)
    await first.pc.close()  # the phone drops without DELETE
    for _ in range(400):
        if stream.state == "reconnecting":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    second = await publish(node.http, node.base, officer)
    try:
        assert node.registry.streams["o1"].session is session
        await asyncio.sleep(2.0)
        async with node.http.delete(f"{node.base}{second.location}",
                                    headers=bearer(officer)) as r:
            assert r.status == 200
    finally:
        await second.pc.close()
    reviewer = await node.login("r1")
    async with node.http.get(f"{node.base}/api/sessions/{session.id}",
                             headers=bearer(reviewer)) as resp:
        detail = await resp.json()
    gap_event = next(e for e in detail["events"] if e["event"] == "publisher.reconnected")
    async with node.http.get(f"{node.base}/api/sessions/{session.id}/media",
                             headers=bearer(reviewer)) as resp:
        data = await resp.read()
    times = []
    with av.open(io.BytesIO(data), "r") as c:
        for frame in c.decode(video=0):
            times.append(float(frame.time or 0))
    assert times == sorted(times)
    jumps = [(b - a, a) for a, b in itertools.pairwise(times)]
    gap_s, gap_at = max(jumps)
    # One hole where the phone was away, as long as the ledger says, and where it says.
    assert abs(gap_s * 1000 - gap_event["gap_ms"]) < 600, (gap_s, gap_event)
    assert abs(gap_at * 1000 + gap_s * 1000 - gap_event["t_ms"]) < 600, (gap_at, gap_event)
    assert sorted(j for j, _ in jumps)[-2] < 0.3  # nowhere else
    assert abs(times[-1] * 1000 - detail["duration_ms"]) < 300


def test_the_cache_gives_way_least_recently_played_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = NodeKey.load_or_create(data)
    ids = []
    for n in range(3):
        sid = f"20261127T10150{n}Z-o1-0000abc{n}"
        folder = data / "sessions" / sid
        ledger = LedgerFile(folder, key)
        ledger.append({"kind": "session.start", "session": sid, "officer": "o1", "node": "n",
                       "at": "2026-11-27T10:15:00.000Z", "case": None,
                       "media": {"video": "video/vp8", "audio": "audio/opus"},
                       "container": "webm"})
        blob = webm_segment(n)
        (folder / "seg-000001.webm").write_bytes(blob)
        ledger.append({"kind": "segment", "session": sid, "officer": "o1", "case": None,
                       "index": 1, "file": "seg-000001.webm", "size": len(blob),
                       "sha256": hashlib.sha256(blob).hexdigest(),
                       "start": "2026-11-27T10:15:00.000Z", "end": "2026-11-27T10:15:01.000Z",
                       "media_start_ms": 0, "media_end_ms": 990, "partial": False})
        ids.append(sid)
    first, _ = session_media(data, ids[0])
    second, _ = session_media(data, ids[1])
    limit = first.stat().st_size + second.stat().st_size + 3000  # room for two, not three
    os.utime(second, (1, 1))  # played long ago
    session_media(data, ids[0], cache_bytes=limit)  # a hit: first is fresh again
    third, _ = session_media(data, ids[2], cache_bytes=limit)
    assert first.is_file() and third.is_file() and not second.exists()
