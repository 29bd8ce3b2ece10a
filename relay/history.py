"""What a viewer was sent, so a NACK can be answered (pure logic)."""

from __future__ import annotations

from array import array
from typing import NamedTuple

from aiortc.rtp import RtpPacket

# Packets a viewer can ask again for (NACK), per viewer: about 5 s of video at 1 Mbps, 2 s
# at 2.5 Mbps. libwebrtc's own senders keep about a second (at least three round trips);
# what is older would reach the viewer's jitter buffer after it gave the packet up.
HISTORY_SIZE = 512
_EMPTY = -1


class Sent(NamedTuple):
    """One packet as a viewer got it, all a retransmission needs to rebuild it."""

    seq: int
    timestamp: int
    payload: bytes
    marker: int
    padding_size: int


class SentHistory:
    """The last `size` video packets sent on one track: the outgoing sequence number and
    timestamp, and what of the publisher's packet a copy needs (its payload, shared with
    every viewer, its marker bit and padding).

    Flat arrays instead of a tuple per packet, and the payload instead of the whole packet:
    a viewer's history costs about 8 KiB plus the pointers to the shared payloads, where a
    list of (int, int, packet) tuples cost about 60 KiB, and a packet's other objects
    (about 350 bytes: its header extensions, CSRC list) go once the GOP cache and the
    queues let go of it, instead of living as long as the history (BENCHMARKS.md).
    """

    __slots__ = ("_flags", "_payloads", "_seqs", "_size", "_timestamps")

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._size = size
        self._seqs = array("i", [_EMPTY]) * size
        self._timestamps = array("I", [0]) * size
        # padding size << 1 | marker
        self._flags = array("H", [0]) * size
        self._payloads: list[bytes | None] = [None] * size

    def add(self, seq: int, timestamp: int, packet: RtpPacket) -> None:
        """Remember one sent packet (outgoing seq and timestamp), replacing the oldest."""
        slot = seq % self._size
        self._seqs[slot] = seq
        self._timestamps[slot] = timestamp
        self._flags[slot] = packet.padding_size << 1 | packet.marker
        self._payloads[slot] = packet.payload

    def get(self, seq: int) -> Sent | None:
        """The packet sent as `seq`, if still held."""
        slot = seq % self._size
        payload = self._payloads[slot]
        if payload is None or self._seqs[slot] != seq:
            return None
        flags = self._flags[slot]
        return Sent(seq, self._timestamps[slot], payload, flags & 1, flags >> 1)
