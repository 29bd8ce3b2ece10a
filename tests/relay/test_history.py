"""A viewer's sent-packet history: what a NACK can still get back (pure logic)."""

from __future__ import annotations

from aiortc.rtp import RtpPacket

from relay.history import Sent, SentHistory


def packet(seq: int, marker: int = 0, padding: int = 0) -> RtpPacket:
    src = RtpPacket(payload_type=96, marker=marker, sequence_number=seq, timestamp=seq * 10,
                    payload=bytes([seq % 256]) * 3)
    src.padding_size = padding
    return src


def test_a_sent_packet_comes_back_as_the_viewer_got_it() -> None:
    history = SentHistory(8)
    src = packet(1000, marker=1, padding=255)
    history.add(5, 0xFFFF_FFF0, src)  # a timestamp near the top of the 32-bit range
    got = history.get(5)
    assert got == Sent(5, 0xFFFF_FFF0, src.payload, 1, 255)
    assert got is not None and got.payload is src.payload  # shared, not copied
    history.add(6, 7, packet(1001))
    assert history.get(6) == Sent(6, 7, packet(1001).payload, 0, 0)
    assert history.get(4) is None  # never sent
    assert history.get(13) is None  # the same slot, another sequence number


def test_the_oldest_packet_gives_way_and_sequence_numbers_wrap() -> None:
    history = SentHistory(8)
    sent = {seq % 65536: packet(seq) for seq in range(65530, 65546)}
    for seq, src in sent.items():
        history.add(seq, seq * 3, src)
    held = [seq for seq in sent if history.get(seq) is not None]
    assert held == [2, 3, 4, 5, 6, 7, 8, 9]  # the last eight, across the wrap
    assert history.get(9) == Sent(9, 27, sent[9].payload, 0, 0)
    assert history.get(65535) is None


def test_an_empty_history_answers_nothing() -> None:
    history = SentHistory(4)
    assert [history.get(seq) for seq in (0, 1, 2, 3, 4)] == [None] * 5
