"""Per-viewer RTP rewriting: one continuous SSRC timeline across keyframe starts and reconnects."""

from __future__ import annotations

import random
from typing import NamedTuple

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number a comes after b, with wrap-around."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class Mapped(NamedTuple):
    """Where an incoming packet lands on the viewer's timeline (a tuple: one is made per
    packet per viewer, and a frozen dataclass cost three times as much to make)."""

    seq: int
    timestamp: int


class SequenceRewriter:
    """Maps a publisher's (SSRC, seq, timestamp) onto one viewer's outgoing stream.

    Video waits for a keyframe start before it forwards anything, and again after
    `require_keyframe()`. On every resync the offsets are re-based so the viewer sees
    contiguous sequence numbers and timestamps that keep moving forward; between
    resyncs the mapping is a fixed offset, so publisher loss stays visible as a gap
    and late retransmissions land exactly where they belong.
    """

    def __init__(self, clock_rate: int, video: bool, rng: random.Random | None = None) -> None:
        rng = rng or random.Random()
        self.clock_rate = clock_rate
        self.video = video
        self.waiting = video
        self._ssrc: int | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._next_seq = rng.randrange(SEQ_MOD)
        self._last_ts = rng.randrange(TS_MOD)
        self._last_arrival: float | None = None
        self._started = False
        self._replay_src_ts: int | None = None
        self._replay_out_ts = 0

    def require_keyframe(self) -> None:
        """Drop video until the next keyframe start (after this viewer lost packets)."""
        if self.video:
            self.waiting = True

    def map(self, ssrc: int, seq: int, timestamp: int, keyframe_start: bool,
            arrival: float, replay: bool = False) -> Mapped | None:
        """The outgoing seq/timestamp for a packet, or None when it must be dropped.

        `replay` marks packets replayed from the GOP cache: each of their pictures is
        placed one tick after the previous one, so the viewer decodes the whole burst at
        once instead of playing it out in real time behind the live edge, and live
        pictures then continue from the last replayed one at their real spacing.
        """
        if ssrc != self._ssrc:
            self.waiting = self.video
            if not self.video or keyframe_start:
                self._resync(ssrc, seq, timestamp, arrival)
        elif self.waiting:
            if not keyframe_start:
                return None
            self._resync(ssrc, seq, timestamp, arrival)
        if self.waiting or not self._started:
            return None
        out_seq = (seq + self._seq_offset) % SEQ_MOD
        out_ts = (timestamp + self._ts_offset) % TS_MOD
        if replay:
            if timestamp != self._replay_src_ts:
                if self._replay_src_ts is not None:
                    out_ts = (self._replay_out_ts + 1) % TS_MOD
                self._replay_src_ts, self._replay_out_ts = timestamp, out_ts
            else:
                out_ts = self._replay_out_ts
            self._ts_offset = (out_ts - timestamp) % TS_MOD
        if seq_newer((out_seq + 1) % SEQ_MOD, self._next_seq) or out_seq == self._next_seq:
            self._next_seq = (out_seq + 1) % SEQ_MOD
            if ((out_ts - self._last_ts) % TS_MOD) < TS_MOD // 2:
                self._last_ts = out_ts
                self._last_arrival = arrival
        return Mapped(out_seq, out_ts)

    def out_timestamp(self, timestamp: int) -> int | None:
        """Where a publisher timestamp lands on this viewer's clock, once synced."""
        if not self._started:
            return None
        return (timestamp + self._ts_offset) % TS_MOD

    def _resync(self, ssrc: int, seq: int, timestamp: int, arrival: float) -> None:
        if self._started and self._last_arrival is not None:
            # Advance the clock by the wall time that passed, at least one tick, so the
            # viewer's jitter buffer sees time move forward across the splice.
            ticks = max(1, int((arrival - self._last_arrival) * self.clock_rate))
            target_ts = (self._last_ts + ticks) % TS_MOD
        else:
            target_ts = self._last_ts
        self._ssrc = ssrc
        self._seq_offset = (self._next_seq - seq) % SEQ_MOD
        self._ts_offset = (target_ts - timestamp) % TS_MOD
        self.waiting = False
        self._started = True
