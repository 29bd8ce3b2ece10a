"""The evidence writer thread takes frames and events in batches: it wakes a few dozen times a
second instead of once per frame, and order, the queue bound, the reserve for events and the
seal's flush are what they were with one hand-off per frame.

Sessions run on a real data dir with the real writer thread and real VP8 frames from libvpx.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from pathlib import Path

import av
import numpy as np

from recordings.session import (
    BATCH_S,
    QUEUE_FRAMES,
    QUEUE_RESERVE,
    Evidence,
    EvidenceSession,
    SessionMedia,
)
from recordings.store import read_entries

SIZE = (64, 48)
MEDIA = SessionMedia(video="video/vp8", audio=False)


@functools.cache
def vp8_gop() -> tuple[tuple[bytes, bool], ...]:
    """One second of 64x48 VP8 at 30 fps that opens with a keyframe: (data, keyframe) each."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height, codec.pix_fmt = *SIZE, "yuv420p"
    codec.gop_size = 300
    packets: list[tuple[bytes, bool]] = []
    for i in range(30):
        img = np.full((SIZE[1], SIZE[0], 3), (i * 9) % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = i
        packets += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(frame)]
    packets += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(None)]
    assert packets[0][1] and len(packets) == 30
    return tuple(packets)


def feed(session: EvidenceSession, n: int, start: int = 0, cut_at: int | None = None) -> int:
    """Offer frames start..start+n-1 of the repeated GOP; returns how many were taken."""
    gop = vp8_gop()
    taken = 0
    for i in range(start, start + n):
        data, keyframe = gop[i % len(gop)]
        cut = i == cut_at
        assert not cut or keyframe
        taken += session.frame("video", data, i * 33, keyframe, cut, SIZE)
    return taken


def decoded_frames(folder: Path) -> int:
    """Video frames decoded from every segment file of a session folder."""
    count = 0
    for path in sorted(folder.glob("seg-*.webm")):
        with av.open(str(path)) as container:
            count += sum(1 for _ in container.decode(video=0))
    return count


def writer_thread(session: EvidenceSession) -> threading.Thread:
    """The session's writer thread, found by its name like any other thread."""
    (thread,) = [t for t in threading.enumerate() if t.name == f"evidence-{session.id}"]
    return thread


def voluntary_switches(thread: threading.Thread) -> int:
    """How many times the thread gave up the core to wait (from /proc)."""
    status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("voluntary_ctxt_switches"))
    return int(line.split()[1])


async def test_frames_and_events_keep_their_order_and_the_writer_wakes_per_batch(
        tmp_path: Path) -> None:
    evidence = Evidence(tmp_path / "data", "node-a")
    session = evidence.open_session("o1", MEDIA, lambda recording, reason: None,
                                    asyncio.get_running_loop())
    await asyncio.sleep(0.2)  # the session's first entries are written
    thread = writer_thread(session)
    before = voluntary_switches(thread)
    # Two seconds at 80 frames a second, as a stream's video and audio give, with events between.
    for i in range(160):
        feed(session, 1, start=i, cut_at=30)
        if i == 20:
            session.event("before.cut", n=i)
        if i == 40:
            session.event("after.cut", n=i)
        await asyncio.sleep(1 / 80)
    feed(session, 5, start=160)  # handed over by the seal, not by the timer
    woke = voluntary_switches(thread) - before
    await session.seal("stopped")
    assert not thread.is_alive()
    # One wake per frame would be 160 or more; batches every BATCH_S give about 2 / BATCH_S,
    # and waits for the GIL count too.
    assert woke <= 2 / BATCH_S + 50, woke
    folder = tmp_path / "data" / "sessions" / session.id
    entries = list(read_entries(folder / "ledger.jsonl"))
    order = [e.get("event") or e["kind"] for e in entries]
    assert order == ["session.start", "before.cut", "segment", "after.cut", "segment",
                     "session.seal"], order
    assert [e["file"] for e in entries if e["kind"] == "segment"] == ["seg-000001.webm",
                                                                      "seg-000002.webm"]
    assert entries[-1]["state"] == "sealed"
    assert decoded_frames(folder) == 165  # the five frames still gathered at the seal too
    assert not (folder / "OPEN").exists()


async def test_the_bound_counts_frames_not_batches_and_events_keep_their_reserve(
        tmp_path: Path) -> None:
    evidence = Evidence(tmp_path / "data", "node-a")
    release = threading.Event()
    # An observer runs on the writer thread: one that waits holds the writer, as a stuck disk does.

    def hold(session_id: str, entry: dict[str, object]) -> None:
        release.wait(30)

    evidence.observers.append(hold)
    loop = asyncio.get_running_loop()
    session = evidence.open_session("o1", MEDIA, lambda recording, reason: None, loop)
    try:
        taken = feed(session, QUEUE_FRAMES + 200)
        await asyncio.sleep(3 * BATCH_S)  # the timer hands the last batch over
        assert taken == QUEUE_FRAMES and session.dropped_frames == 200
        assert feed(session, 10, start=QUEUE_FRAMES + 200) == 0
        for i in range(QUEUE_RESERVE):
            session.event("note", n=i)
        # Two slots stay free for the seal.
        assert session.dropped_events == 2
    finally:
        release.set()
    await asyncio.wait_for(session.seal("stopped"), 60)
    folder = tmp_path / "data" / "sessions" / session.id
    entries = list(read_entries(folder / "ledger.jsonl"))
    notes = [e["n"] for e in entries if e.get("event") == "note"]
    assert notes == list(range(QUEUE_RESERVE - 2))
    assert entries[-1]["kind"] == "session.seal" and entries[-1]["state"] == "sealed"
    assert decoded_frames(folder) == QUEUE_FRAMES
