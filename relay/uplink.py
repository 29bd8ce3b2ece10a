"""How long the officer's packets now wait in a queue on their way up, seen from the node.

A phone learns that its uplink queues from RTCP: its own sender report must first get through
the queue, then the node's receiver report answers it, a second or two after the queue began.
By then a 64 kbit/s link has dropped a burst of the voice. The node sees the queue at once: the
voice is packetized at a steady pace (a 20 ms frame per packet, RTP timestamps at 48 kHz), so
each packet's arrival minus its RTP time is the one-way delay plus a constant, and its rise over
the lowest seen lately is the time the packet spent queued. Clocks of phone and node drift by
parts per million: the lowest is taken over a sliding window, which follows the drift.

Pure: the caller gives the arrival times.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

AUDIO_CLOCK_HZ = 48_000
# The baseline is the lowest delay over this long: long enough to have seen the queue empty,
# short enough that a path that really grew longer (a handover) becomes the new baseline.
BASELINE_WINDOW_S = 10.0
BUCKET_S = 1.0
# The current delay is the lowest of the packets of this long: jitter spreads single packets
# upwards, a queue lifts all of them.
RECENT_S = 0.2
# A jump this large is a new timeline (the encoder restarted), not a queue: start again.
RESET_JUMP_S = 5.0


@dataclass(frozen=True)
class UplinkReport:
    """The uplink as the node sees it now."""

    queue_s: float
    # Seconds since the last voice packet: a dead link queues everything.
    silent_s: float


class UplinkDelay:
    """Queueing delay of one publication's voice, from packet arrivals."""

    def __init__(self, clock_hz: int = AUDIO_CLOCK_HZ) -> None:
        self._clock_hz = clock_hz
        self._last_ts: int | None = None
        self._media_s = 0.0  # unwrapped RTP time of the last packet, seconds
        self._last_arrival: float | None = None
        # (bucket start, lowest offset in it), oldest first.
        self._buckets: deque[tuple[float, float]] = deque()
        self._recent: deque[tuple[float, float]] = deque()

    def arrive(self, arrival_s: float, rtp_timestamp: int) -> None:
        """One voice packet arrived at `arrival_s` (a monotonic clock) with this RTP time."""
        if self._last_ts is None:
            self._media_s = 0.0
        else:
            # 32-bit RTP time, wrapping; a packet reordered late counts backwards.
            step = (rtp_timestamp - self._last_ts + 2**31) % 2**32 - 2**31
            self._media_s += step / self._clock_hz
        self._last_ts = rtp_timestamp
        offset = arrival_s - self._media_s
        if self._buckets and abs(offset - self._baseline()) > RESET_JUMP_S:
            self._buckets.clear()
            self._recent.clear()
        self._last_arrival = max(arrival_s, self._last_arrival or arrival_s)
        bucket = arrival_s - arrival_s % BUCKET_S
        if self._buckets and self._buckets[-1][0] == bucket:
            self._buckets[-1] = (bucket, min(self._buckets[-1][1], offset))
        else:
            self._buckets.append((bucket, offset))
        while self._buckets and self._buckets[0][0] <= arrival_s - BASELINE_WINDOW_S:
            self._buckets.popleft()
        self._recent.append((arrival_s, offset))
        while self._recent and self._recent[0][0] < arrival_s - RECENT_S:
            self._recent.popleft()

    def _baseline(self) -> float:
        return min(low for _, low in self._buckets)

    def report(self, now_s: float) -> UplinkReport | None:
        """The queue now; None before the first packet."""
        if self._last_arrival is None or not self._recent:
            return None
        queue = min(offset for _, offset in self._recent) - self._baseline()
        return UplinkReport(queue_s=max(0.0, queue), silent_s=max(0.0, now_s - self._last_arrival))
