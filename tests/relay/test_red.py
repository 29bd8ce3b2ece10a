"""Redundant audio (RFC 2198) and the recorder's audio path: frames in order, each once,
with frames whose own packet was lost brought back from the redundancy."""

from __future__ import annotations

import random
from typing import Any, cast

from aiortc.rtp import RtpPacket

from recordings.recorder import SessionRecorder
from relay import red
from relay.recorder_tap import RecorderTap
from relay.reorder import InOrder

OPUS_PT, RED_PT = 111, 63
FRAME_TICKS = 960  # 20 ms at 48 kHz


def red_payload(blocks: list[tuple[int, bytes]], pt: int = OPUS_PT) -> bytes:
    """A RED payload: (ts_offset, data) blocks oldest first, the last one the primary."""
    header = b""
    for offset, data in blocks[:-1]:
        header += bytes([0x80 | pt]) + ((offset << 10) | len(data)).to_bytes(3, "big")
    header += bytes([pt])
    return header + b"".join(d for _, d in blocks)


def frame_bytes(seq: int) -> bytes:
    return b"opus-" + seq.to_bytes(2, "big") * 7


def chromium_like(seq: int, distance: int = 1) -> bytes:
    """What a browser sends with RED distance `distance`: the frames before seq, then seq's."""
    blocks = [(k * FRAME_TICKS, frame_bytes((seq - k) % 65536))
              for k in range(distance, 0, -1) if seq - k >= 0]
    return red_payload([*blocks, (0, frame_bytes(seq))])


def test_parse_reads_redundant_blocks_then_the_primary() -> None:
    payload = red_payload([(1920, b"aa"), (960, b"bbb"), (0, b"cccc")])
    blocks = red.parse(payload)
    assert [(b.payload_type, b.ts_offset, b.data) for b in blocks] == [
        (OPUS_PT, 1920, b"aa"), (OPUS_PT, 960, b"bbb"), (OPUS_PT, 0, b"cccc")]


def test_a_truncated_payload_is_refused_not_misread() -> None:
    payload = red_payload([(960, b"bbbbbb"), (0, b"c")])
    for cut in range(1, 6):
        try:
            red.parse(payload[:cut])
        except red.BadRed:
            continue
        raise AssertionError(f"a payload cut at {cut} bytes was accepted")


def test_payload_types_are_renumbered_for_a_viewer() -> None:
    payload = red_payload([(960, b"bb"), (0, b"cc")])
    renumbered = red.with_payload_type(payload, 100)
    assert [b.payload_type for b in red.parse(renumbered)] == [100, 100]
    assert [b.data for b in red.parse(renumbered)] == [b"bb", b"cc"]


def test_unwrapper_recovers_exactly_the_lost_frames() -> None:
    rng = random.Random(7)
    unwrapper = red.Unwrapper()
    out: list[red.Frame] = []
    sent = range(1000, 3000)
    lost = {s for s in sent if rng.random() < 0.05} - {sent[0], sent[-1]}
    for seq in sent:
        if seq not in lost:
            out += unwrapper.frames(seq, seq * FRAME_TICKS, chromium_like(seq))
    seqs = [f.seq for f in out]
    assert len(seqs) == len(set(seqs)), "a frame was passed on twice"
    for f in out:
        assert f.data == frame_bytes(f.seq) and f.timestamp == f.seq * FRAME_TICKS
    # Only a loss of two packets in a row loses a frame with distance 1.
    unrecoverable = {s for s in lost if s + 1 in lost}
    assert set(seqs) == set(sent) - unrecoverable
    assert {f.seq for f in out if f.recovered} == lost - unrecoverable


def test_unwrapper_does_not_repeat_a_frame_whose_packet_came_late() -> None:
    unwrapper = red.Unwrapper()
    out = list(unwrapper.frames(10, 10 * FRAME_TICKS, chromium_like(10)))
    out += unwrapper.frames(12, 12 * FRAME_TICKS, chromium_like(12))  # 11 recovered
    out += unwrapper.frames(11, 11 * FRAME_TICKS, chromium_like(11))  # late: already there
    assert [(f.seq, f.recovered) for f in out] == [(10, False), (11, True), (12, False)]


def test_in_order_holds_a_hole_for_a_few_packets_only() -> None:
    order = InOrder(window=4)

    def push(seq: int) -> list[int]:
        return [f.seq for f in order.push(red.Frame(seq, seq * FRAME_TICKS, b"x"))]

    assert push(65534) == [65534]
    assert push(0) == []  # 65535 missing: wait
    assert push(65535) == [65535, 0]  # it came late, across the wrap
    assert push(2) == []
    assert push(3) == [] and push(4) == []
    assert push(5) == [2, 3, 4, 5]  # waited long enough for 1
    assert push(1) == []  # too late now
    assert order.skipped == 1


class _Recorder:
    """Stands in for SessionRecorder: only what the tap calls (the segment writer has its
    own tests); it keeps the frames it is given."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, bytes, int]] = []
        self.sources = 0

    def on_frame(self, kind: str, data: bytes, rtp_ts: int, source: int) -> None:
        self.frames.append((kind, data, rtp_ts))

    def source_changed(self) -> None:
        self.sources += 1


def _tap() -> tuple[RecorderTap, _Recorder]:
    recorder = _Recorder()
    return RecorderTap(cast(SessionRecorder, cast(Any, recorder))), recorder


def _packet(seq: int, payload: bytes, pt: int) -> RtpPacket:
    return RtpPacket(payload_type=pt, sequence_number=seq % 65536,
                     timestamp=(seq * FRAME_TICKS) % (1 << 32), ssrc=1234, payload=payload)


def test_recorder_keeps_every_audio_frame_the_network_delivered() -> None:
    """The old path (aiortc's jitter buffer) lost the frame before every hole as well."""
    rng = random.Random(3)
    tap, recorder = _tap()
    sent = list(range(65000, 65000 + 1500))  # across the sequence wrap
    delivered = [s for s in sent if s == sent[0] or rng.random() >= 0.05]
    rng.shuffle(delivered[10:20])  # a little reordering too
    for seq in delivered:
        tap.on_packet("audio", _packet(seq, frame_bytes(seq % 65536), OPUS_PT))
    tap.on_packet("audio", _packet(sent[-1] + 20, b"end", OPUS_PT))  # flushes the tail
    recorded = [data for kind, data, _ in recorder.frames if kind == "audio"]
    expected = [frame_bytes(s % 65536) for s in sorted(set(delivered))]
    assert recorded[:len(expected)] == expected


def test_recorder_stores_plain_opus_from_red_and_fills_single_losses() -> None:
    rng = random.Random(5)
    tap, recorder = _tap()
    sent = list(range(100, 1600))
    lost = {s for s in sent[1:] if rng.random() < 0.05}
    for seq in sent:
        if seq not in lost:
            tap.on_packet("audio", _packet(seq, chromium_like(seq, distance=2), RED_PT), red=True)
    recorded = [data for _, data, _ in recorder.frames]
    expected = [frame_bytes(s) for s in sent
                if not (s in lost and s + 1 in lost and s + 2 in lost)]
    # The last few frames are still held by the reorder window.
    assert recorded == expected[:len(recorded)] and len(recorded) >= len(expected) - 8
    assert tap.audio_recovered >= len(lost) - 8 and tap.audio_recovered > 0
    assert all(not d.startswith(bytes([0x80 | OPUS_PT])) for d in recorded)
