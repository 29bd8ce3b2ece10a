"""RTP payload for redundant audio (RFC 2198, `red/48000/2`), read and rewritten without decoding.

A RED payload carries the newest Opus frame (the primary) behind copies of one or more
earlier frames. When the packet that carried an earlier frame as its primary is lost, the
copy in a later packet brings that frame back. Pure logic: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

RED = "audio/red"
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


@dataclass(frozen=True)
class Block:
    """One encoded frame inside a RED payload; `ts_offset` is 0 for the primary."""

    payload_type: int
    ts_offset: int
    data: bytes


class BadRed(ValueError):
    """A payload that is not well-formed RFC 2198."""


def parse(payload: bytes) -> list[Block]:
    """The blocks of a RED payload, oldest first; the last one is the primary."""
    headers: list[tuple[int, int, int]] = []
    pos = 0
    n = len(payload)
    while True:
        if pos >= n:
            raise BadRed("RED header runs past the payload")
        first = payload[pos]
        if not first & 0x80:
            headers.append((first & 0x7F, 0, -1))
            pos += 1
            break
        if pos + 4 > n:
            raise BadRed("RED block header runs past the payload")
        word = int.from_bytes(payload[pos + 1:pos + 4], "big")
        headers.append((first & 0x7F, word >> 10, word & 0x3FF))
        pos += 4
    blocks: list[Block] = []
    for pt, offset, length in headers:
        if length < 0:
            length = n - pos
        if pos + length > n:
            raise BadRed("RED block runs past the payload")
        blocks.append(Block(pt, offset, payload[pos:pos + length]))
        pos += length
    return blocks


def with_payload_type(payload: bytes, payload_type: int) -> bytes:
    """The same RED payload with every block's payload type set to `payload_type` (a viewer
    may number Opus differently from the publisher)."""
    out = bytearray(payload)
    pos = 0
    while pos < len(out):
        follows = out[pos] & 0x80
        out[pos] = follows | (payload_type & 0x7F)
        if not follows:
            break
        pos += 4
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    """One plain Opus frame with the RTP sequence number and timestamp it was sent with."""

    seq: int
    timestamp: int
    data: bytes
    recovered: bool = False


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number a comes after b, with wrap-around."""
    return a != b and ((a - b) % SEQ_MOD) < SEQ_MOD // 2


class Unwrapper:
    """Turns a RED stream into plain Opus frames, bringing back frames whose packet was lost.

    The redundant blocks of a packet are the frames of the packets just before it (the
    sender keeps its last few encoded frames), so the k-th block from the end of the
    redundancy belongs to sequence number seq - k. A block is used only for a sequence
    number this unwrapper has not seen pass yet, and only when its timestamp agrees.
    """

    def __init__(self, window: int = 64) -> None:
        self._highest: int | None = None
        self._seen: dict[int, int] = {}  # seq -> timestamp, the last `window` passed on
        self._window = window

    def frames(self, seq: int, timestamp: int, payload: bytes) -> Iterator[Frame]:
        """The plain frames to pass on for one RED packet: recovered ones first, in order."""
        try:
            blocks = parse(payload)
        except BadRed:
            return
        primary = blocks[-1]
        redundant = blocks[:-1]
        for k, block in enumerate(redundant):
            back = len(redundant) - k
            lost_seq = (seq - back) % SEQ_MOD
            if self._highest is None or not block.data or lost_seq in self._seen:
                continue  # nothing before the first packet; or passed on already
            if not seq_newer(lost_seq, (self._highest - self._window) % SEQ_MOD):
                continue  # older than anything still remembered
            self._note(lost_seq, (timestamp - block.ts_offset) % TS_MOD)
            yield Frame(lost_seq, (timestamp - block.ts_offset) % TS_MOD, block.data, True)
        if seq in self._seen:
            return  # a duplicate (or a late primary whose copy was passed on already)
        self._note(seq, timestamp)
        if primary.data:
            yield Frame(seq, timestamp, primary.data)

    def _note(self, seq: int, timestamp: int) -> None:
        self._seen[seq] = timestamp
        if self._highest is None or seq_newer(seq, self._highest):
            self._highest = seq
        while len(self._seen) > self._window:
            del self._seen[next(iter(self._seen))]

