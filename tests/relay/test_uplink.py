"""The node's view of an officer's uplink queue (relay/uplink.py), from voice packet arrivals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from relay.uplink import BASELINE_WINDOW_S, UplinkDelay

FRAME = 960  # 20 ms at 48 kHz


def feed(delay: UplinkDelay, start_s: float, seconds: float,
         queue_of: float | Callable[[float], float],
         ts0: int = 0, jitter: tuple[float, ...] = (0.0,)) -> tuple[float, int]:
    """Packets every 20 ms from `start_s`; `queue_of(t)` is the queue each one waits in."""
    t, ts, n = start_s, ts0, 0
    while t < start_s + seconds:
        wait = queue_of(t) if callable(queue_of) else queue_of
        delay.arrive(t + 0.05 + wait + jitter[n % len(jitter)], ts % 2**32)
        t, ts, n = t + 0.02, ts + FRAME, n + 1
    return t, ts


def test_no_report_before_the_first_packet() -> None:
    assert UplinkDelay().report(1.0) is None


def test_a_steady_link_has_no_queue_whatever_its_own_delay_and_jitter() -> None:
    delay = UplinkDelay()
    # 30 ms of jitter on single packets: the lowest of each 200 ms stays on the floor.
    end, _ = feed(delay, 100.0, 5.0, 0.0, jitter=(0.0, 0.03, 0.01, 0.0, 0.02))
    report = delay.report(end)
    assert report is not None
    assert report.queue_s == pytest.approx(0.0, abs=1e-6)
    assert report.silent_s < 0.03


def test_a_growing_queue_shows_within_a_few_packets() -> None:
    delay = UplinkDelay()
    t, ts = feed(delay, 0.0, 3.0, 0.0)
    # The link shrinks at t = 3 s: each packet waits 0.5 s longer per second.
    t, ts = feed(delay, t, 0.4, lambda now: (now - 3.0) * 0.5, ts0=ts)
    report = delay.report(t)
    assert report is not None
    # 0.4 s in, the last 200 ms waited 0.1-0.2 s: reported as at least the least of them.
    assert 0.09 <= report.queue_s <= 0.2
    # Drained: gone again.
    t, _ = feed(delay, t, 1.0, 0.0, ts0=ts)
    report = delay.report(t)
    assert report is not None and report.queue_s == pytest.approx(0.0, abs=1e-6)


def test_silence_counts_from_the_last_packet() -> None:
    delay = UplinkDelay()
    end, _ = feed(delay, 0.0, 1.0, 0.0)
    # `end` is 20 ms after the last packet was sent; it arrived 50 ms after that.
    report = delay.report(end + 0.7)
    assert report is not None and report.silent_s == pytest.approx(0.67, abs=1e-6)


def test_the_rtp_clock_wraps_and_the_baseline_follows_drift() -> None:
    delay = UplinkDelay()
    # Starting 2 s of audio before the 32-bit wrap; the phone's clock runs 200 ppm slow, so
    # the delay creeps up 2 ms every 10 s: the sliding baseline follows it, no queue appears.
    t, ts = 0.0, 2**32 - 2 * 48_000
    for _ in range(int(3 * BASELINE_WINDOW_S)):
        t, ts = feed(delay, t, 1.0, lambda now: now * 0.0002, ts0=ts)
    report = delay.report(t)
    assert report is not None and report.queue_s < 0.003


def test_a_new_timeline_starts_again_instead_of_reading_as_a_queue() -> None:
    delay = UplinkDelay()
    t, _ = feed(delay, 0.0, 2.0, 0.0)
    # The encoder restarted with a random timestamp: a jump of hours on the RTP clock.
    t, _ = feed(delay, t, 1.0, 0.0, ts0=123_456_789)
    report = delay.report(t)
    assert report is not None and report.queue_s == pytest.approx(0.0, abs=1e-6)
