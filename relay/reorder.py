"""Puts one audio stream's frames back in sequence order for the recorder. Pure logic.

aiortc's jitter buffer, used for audio before, released a frame only once the packet
after it had come, and after a lost packet it threw away the frame before the hole as well
(and then stayed a whole buffer behind), so the recording lost about twice what the
network did. Here every frame that arrives is kept; a hole is waited for only while it can
still be filled (a late packet, a retransmission, or a RED copy in a later packet), and
never for more than `window` packets.
"""

from __future__ import annotations

from relay.red import SEQ_MOD, Frame, seq_newer


class InOrder:
    """Frames in, the same frames out in sequence order, each exactly once."""

    def __init__(self, window: int = 8) -> None:
        self._window = window
        self._next: int | None = None
        self._pending: dict[int, Frame] = {}
        self.skipped = 0

    def push(self, frame: Frame) -> list[Frame]:
        """Take one frame; returns every frame that is now due, oldest first."""
        if self._next is None:
            self._next = frame.seq
        elif frame.seq != self._next and not seq_newer(frame.seq, self._next):
            return []  # too late: its place has been passed (or a duplicate)
        self._pending.setdefault(frame.seq, frame)
        out = self._drain()
        while self._pending and self._span() > self._window:
            # The hole has waited long enough: go on from the oldest frame held.
            oldest = min(self._pending, key=lambda s: (s - self._next_seq()) % SEQ_MOD)
            self.skipped += (oldest - self._next_seq()) % SEQ_MOD
            self._next = oldest
            out += self._drain()
        return out

    def flush(self) -> list[Frame]:
        """Everything still held, in order (the source is going away)."""
        base = self._next_seq()
        out = [self._pending[s] for s in sorted(self._pending, key=lambda s: (s - base) % SEQ_MOD)]
        self._pending.clear()
        self._next = None
        return out

    def _next_seq(self) -> int:
        assert self._next is not None
        return self._next

    def _span(self) -> int:
        base = self._next_seq()
        return max((s - base) % SEQ_MOD for s in self._pending) + 1

    def _drain(self) -> list[Frame]:
        out: list[Frame] = []
        seq = self._next_seq()
        while seq in self._pending:
            out.append(self._pending.pop(seq))
            seq = (seq + 1) % SEQ_MOD
        self._next = seq
        return out
