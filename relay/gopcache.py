"""The packets since a stream's last keyframe, so a new viewer starts at once (pure logic).

A keyframe is recognised from the RTP payload alone (relay/codecs.py: the VP8 payload
descriptor's start bit on partition 0 plus the frame tag's inverse key bit; for H.264 an
SPS or IDR NAL unit, alone, in a STAP-A or at the start of an FU-A). Only the packet that
starts a keyframe is flagged, so the cache restarts there and keeps every video packet
after it, in arrival order, until the next keyframe of a new picture (a new timestamp).
"""

from __future__ import annotations

import dataclasses

from relay.forward import Incoming


class GopCache:
    """Video packets from the last keyframe start on, bounded in packets and bytes.

    A group of pictures that outgrows either bound is dropped whole: a partial group
    cannot be decoded, so a viewer joining then waits for the next keyframe instead.
    """

    def __init__(self, max_packets: int, max_bytes: int) -> None:
        self.max_packets = max_packets
        self.max_bytes = max_bytes
        self._items: list[Incoming] = []
        self._bytes = 0
        self._key_ssrc: int | None = None
        self._key_ts: int | None = None
        self.resets = 0
        self.overflows = 0

    @property
    def enabled(self) -> bool:
        return self.max_packets > 0 and self.max_bytes > 0

    @property
    def packets(self) -> int:
        return len(self._items)

    @property
    def bytes(self) -> int:
        return self._bytes

    def add(self, item: Incoming) -> None:
        """Keep one video packet (called for every video packet of the stream)."""
        if not self.enabled:
            return
        packet = item.packet
        if item.keyframe_start and (packet.ssrc != self._key_ssrc
                                    or packet.timestamp != self._key_ts):
            # H.264 may flag several packets of one IDR picture (SPS, then the IDR
            # slice): only a new picture restarts the group.
            self._items = []
            self._bytes = 0
            self._key_ssrc, self._key_ts = packet.ssrc, packet.timestamp
            self.resets += 1
        elif packet.ssrc != self._key_ssrc:
            # No keyframe of this source yet (or the phone reconnected with a new
            # SSRC): nothing cached would splice onto what comes next.
            if self._key_ssrc is not None:
                self.clear()
            return
        size = len(packet.payload)
        if len(self._items) >= self.max_packets or self._bytes + size > self.max_bytes:
            self.clear()
            self.overflows += 1
            return
        self._items.append(item)
        self._bytes += size

    def snapshot(self) -> list[Incoming]:
        """The cached packets, oldest first, marked as replayed; empty without a whole group."""
        return [dataclasses.replace(item, live=False) for item in self._items]

    def clear(self) -> None:
        """Forget the group (a new source, an overflow, or the stream ends)."""
        self._items = []
        self._bytes = 0
        self._key_ssrc = self._key_ts = None
