"""Prometheus metrics, read from the relay's counters at scrape time (nothing per packet)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from recordings.archive.drain import ArchiveStatus
from relay.forward import LATENCY_BUCKETS
from relay.registry import StreamRegistry
from signaling.bus import Bus
from signaling.hub import EventHub


class _RelayCollector(Collector):
    def __init__(self, relay: StreamRegistry, hub: EventHub, bus: Bus | None) -> None:
        self._relay = relay
        self._hub = hub
        self._bus = bus

    def collect(self) -> Iterator[Metric]:
        relay, streams = self._relay, self._relay.directory
        ws = GaugeMetricFamily("fieldrelay_ws_clients", "Connected WebSocket clients")
        ws.add_metric([], len(self._hub))
        yield ws
        c = relay.counters
        live = GaugeMetricFamily("fieldrelay_publishers_live", "Officers publishing on this node")
        live.add_metric([], streams.publishing())
        yield live
        recording = GaugeMetricFamily("fieldrelay_sessions_recording",
                                      "Live evidence sessions whose media is being written")
        recording.add_metric([], streams.recording())
        yield recording
        not_recording = GaugeMetricFamily(
            "fieldrelay_sessions_not_recording",
            "Live evidence sessions that cannot write their media (disk full or failing)")
        not_recording.add_metric([], streams.not_recording())
        yield not_recording
        viewers = GaugeMetricFamily("fieldrelay_viewers", "Viewers attached on this node")
        viewers.add_metric([], streams.viewers())
        yield viewers
        for name, doc, value in (
            ("fieldrelay_packets_in", "RTP packets received from publishers", c.packets_in),
            ("fieldrelay_packets_forwarded", "RTP packets forwarded to viewers", c.packets_out),
            ("fieldrelay_bytes_forwarded", "RTP payload bytes forwarded", c.bytes_out),
            ("fieldrelay_viewer_drops", "Packets a slow viewer dropped from its own queue",
             c.dropped),
            ("fieldrelay_retransmissions", "Packets resent to viewers after a NACK",
             c.retransmitted),
            ("fieldrelay_keyframe_requests", "PLIs sent to publishers", c.keyframe_requests),
            ("fieldrelay_recording_failures", "Times an evidence session could not write",
             c.recording_failures),
            ("fieldrelay_audio_recorded", "Opus frames recorded", c.audio_recorded),
            ("fieldrelay_audio_recovered", "Opus frames recorded from RED redundancy because "
             "their own packet was lost", c.audio_recovered),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], value)
            yield counter
        yield from _capacity_metrics(relay)
        if self._bus is not None:
            rejected = CounterMetricFamily(
                "fieldrelay_bus_rejected_messages",
                "Bus records and messages dropped because their cluster-secret seal failed")
            rejected.add_metric([], self._bus.rejected_messages)
            yield rejected


def _capacity_metrics(relay: StreamRegistry) -> Iterator[Metric]:
    """Forwarding latency, GOP-cache starts and cascade pulls."""
    c = relay.counters
    hist = c.forward_latency
    buckets, running = [], 0
    for bound, count in zip(LATENCY_BUCKETS, hist.counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
    latency = HistogramMetricFamily(
        "fieldrelay_forward_latency_seconds",
        "Packet reaching the relay to its copy leaving for a viewer (live packets)")
    latency.add_metric([], buckets, sum_value=hist.total_s)
    yield latency
    starts = CounterMetricFamily("fieldrelay_gop_cache_starts",
                                 "Viewers started from the stream's cached keyframe")
    starts.add_metric([], c.gop_cache_starts)
    yield starts
    pulls = GaugeMetricFamily("fieldrelay_cascade_pulls",
                              "Streams this node pulls from other nodes")
    pulls.add_metric([], relay.pull_count())
    yield pulls


class _ArchiveCollector(Collector):
    """The archive backlog: how much waits and for how long."""

    def __init__(self, status: ArchiveStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        s = self._status
        for name, doc, value in (
            ("fieldrelay_archive_backlog_items", "Items queued on disk for the archive",
             s.backlog),
            ("fieldrelay_archive_oldest_age_seconds",
             "Seconds the oldest queued item has waited for the archive",
             s.oldest_age_s(time.time())),
            ("fieldrelay_archive_store_up", "1 while the archive store takes copies",
             int(s.store_up)),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge
        for name, doc, value in (
            ("fieldrelay_archive_copied", "Copies the archive store confirmed", s.copied),
            ("fieldrelay_archive_failures", "Copies the archive store did not take (retried)",
             s.failures),
            ("fieldrelay_archive_refused",
             "Items set aside because their file vanished or changed", s.refused),
        ):
            counter = CounterMetricFamily(name, doc)
            counter.add_metric([], value)
            yield counter


class _RuntimeCollector(Collector):
    """Leaks show here first: tasks that outlive their work, and the process's own usage."""

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("fieldrelay_asyncio_tasks",
                                  "asyncio tasks alive in the node's event loop")
        try:
            tasks.add_metric([], len(asyncio.all_tasks()))
        except RuntimeError:  # scraped outside the loop (tests): nothing to count
            return
        yield tasks


class NodeMetrics:
    """The node's own Prometheus registry (no process-global state)."""

    def __init__(self, relay: StreamRegistry, hub: EventHub, bus: Bus | None = None,
                 archive: ArchiveStatus | None = None) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_RelayCollector(relay, hub, bus))
        if archive is not None:
            self.registry.register(_ArchiveCollector(archive))
        self.registry.register(_RuntimeCollector())
        # RSS, open file descriptors and CPU seconds of this process (process_* metrics).
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
