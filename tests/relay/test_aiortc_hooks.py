"""The aiortc hooks: fail loudly when an upgrade moves what they reach into."""

from __future__ import annotations

from typing import Any

import aiortc
import pytest
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from relay import aiortc_hooks


async def test_pinned_aiortc_has_every_hooked_internal() -> None:
    assert aiortc.__version__ == aiortc_hooks.PINNED_AIORTC
    await aiortc_hooks.verify_internals()


async def test_a_different_aiortc_version_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(aiortc_hooks.HookError, match=r"written for aiortc 1\.16\.0"):
        await aiortc_hooks.verify_internals()


async def test_a_missing_internal_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiortc.RTCRtpSender, "_retransmit")
    with pytest.raises(aiortc_hooks.HookError, match="_retransmit"):
        await aiortc_hooks.verify_internals()


def _packet(seq: int, timestamp: int, data: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp,
                       payload=b"\x10" + data)
    packet._data = data  # type: ignore[attr-defined]  # as aiortc's receiver sets it
    return packet


def test_frames_are_assembled_and_the_depayloaded_copies_dropped() -> None:
    assembler = aiortc_hooks.frame_assembler("video")
    first = [_packet(100, 3000, b"ab"), _packet(101, 3000, b"cd")]
    # Out of order: the second frame's last packet before its first.
    second = [_packet(103, 6000, b"gh"), _packet(102, 6000, b"ef")]
    assert [assembler.add(p) for p in [*first, second[0]]] == [None, None, None]
    assert all(hasattr(p, "_data") for p in first)  # nothing complete yet: all kept
    frame = assembler.add(second[1])
    assert frame is not None and (frame.data, frame.timestamp) == (b"abcd", 3000)
    assert [hasattr(p, "_data") for p in first] == [False, False]
    assert [hasattr(p, "_data") for p in second] == [True, True]  # still in the buffer
    frame = assembler.add(_packet(104, 9000, b"ij"))
    assert frame is not None and (frame.data, frame.timestamp) == (b"efgh", 6000)
    assert not any(hasattr(p, "_data") for p in second)


async def test_a_jitter_buffer_without_its_packet_slots_is_named(
        monkeypatch: pytest.MonkeyPatch) -> None:
    original = JitterBuffer.__init__

    def without_slots(self: JitterBuffer, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        del self._packets

    monkeypatch.setattr(JitterBuffer, "__init__", without_slots)
    with pytest.raises(aiortc_hooks.HookError, match="_packets"):
        await aiortc_hooks.verify_internals()
