"""The per-viewer sequence/timestamp rewriter (pure logic)."""

from __future__ import annotations

import itertools
import random

from relay.rewrite import SequenceRewriter


def feed(r: SequenceRewriter, ssrc: int, seqs: range | list[int], ts0: int, key_at: set[int],
         t0: float = 0.0) -> list[tuple[int, int] | None]:
    out = []
    for i, seq in enumerate(seqs):
        m = r.map(ssrc, seq & 0xFFFF, ts0 + (i // 3) * 3000, seq in key_at, t0 + i * 0.011)
        out.append(None if m is None else (m.seq, m.timestamp))
    return out


def test_video_waits_for_keyframe_then_is_contiguous() -> None:
    r = SequenceRewriter(90000, video=True, rng=random.Random(1))
    out = feed(r, 1, range(100, 130), 5000, key_at={110})
    assert out[:10] == [None] * 10
    seqs = [m[0] for m in out[10:] if m]
    assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(seqs))


def test_publisher_loss_stays_a_gap_and_late_packets_fill_it() -> None:
    r = SequenceRewriter(48000, video=False, rng=random.Random(2))
    a = r.map(7, 10, 0, False, 0.0)
    c = r.map(7, 12, 960, False, 0.02)
    b = r.map(7, 11, 480, False, 0.03)  # a retransmission arriving late
    assert a and b and c
    assert ((b.seq - a.seq) & 0xFFFF, (c.seq - a.seq) & 0xFFFF) == (1, 2)


def test_new_publisher_ssrc_continues_the_viewers_timeline() -> None:
    r = SequenceRewriter(90000, video=True, rng=random.Random(3))
    first = [m for m in feed(r, 1, range(65530, 65545), 4_294_960_000, key_at={65530}) if m]
    # The phone reconnects: new SSRC, new random seq and timestamp bases.
    second = feed(r, 2, range(500, 520), 77, key_at={503}, t0=2.0)
    assert second[:3] == [None] * 3
    cont = [m for m in second if m]
    assert (cont[0][0] - first[-1][0]) & 0xFFFF == 1
    advance = (cont[0][1] - first[-1][1]) & 0xFFFFFFFF
    assert 0 < advance < 90000 * 3  # moved forward by about the wall-clock gap


def test_require_keyframe_drops_until_the_next_keyframe() -> None:
    r = SequenceRewriter(90000, video=True, rng=random.Random(4))
    feed(r, 1, range(0, 10), 0, key_at={0})
    r.require_keyframe()
    out = feed(r, 1, range(10, 20), 10_000, key_at={15})
    assert out[:5] == [None] * 5 and all(out[5:])


def test_replayed_pictures_are_squeezed_and_live_ones_follow_at_their_spacing() -> None:
    r = SequenceRewriter(90000, video=True, rng=random.Random(5))
    replayed = [r.map(1, seq, 3000 * (seq // 2), seq == 0, 0.0, replay=True)
                for seq in range(6)]  # three pictures of two packets each
    live = [r.map(1, seq, 3000 * (seq // 2), False, 1.0) for seq in range(6, 10)]
    out = [m for m in replayed + live if m]
    assert len(out) == 10
    assert all((b.seq - a.seq) & 0xFFFF == 1 for a, b in itertools.pairwise(out))
    ts = [m.timestamp for m in out]
    base = ts[0]
    assert [(t - base) & 0xFFFFFFFF for t in ts] == [0, 0, 1, 1, 2, 2, 3002, 3002, 6002, 6002]
