"""A viewer's outgoing packets: the bytes aiortc's RtpPacket.serialize writes (pure logic)."""

from __future__ import annotations

import random
import time

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpSendParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from relay.outgoing import (
    ABS_SEND_TIME_URI,
    AUDIO_LEVEL_URI,
    MID_URI,
    PacketWriter,
    abs_send_time,
)

OTHER_URIS = ("urn:ietf:params:rtp-hdrext:toffset",
              "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
              "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")


def negotiated(rng: random.Random) -> RTCRtpSendParameters:
    """Header extensions as a viewer may negotiate them: any subset, ids in both RFC 8285
    forms (1-14 one-byte, up to 255 two-byte), the same URI twice, unrelated ones."""
    exts = []
    for uri in (MID_URI, ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, *OTHER_URIS):
        for _ in range(rng.choice((0, 1, 1, 1, 2))):
            one_byte, two_byte = rng.randrange(1, 15), rng.randrange(15, 256)
            ext_id = rng.choice((one_byte, one_byte, two_byte))
            exts.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri))
    rng.shuffle(exts)
    return RTCRtpSendParameters(headerExtensions=exts)


def aiortcs_bytes(params: RTCRtpSendParameters, ssrc: int, mid: str | None, payload_type: int,
                  marker: int, seq: int, timestamp: int, payload: bytes, padding: int,
                  send_time: int, level: tuple[bool, int] | None) -> bytes:
    """The packet as forward.py built it before: an RtpPacket, serialized by aiortc."""
    extensions = HeaderExtensionsMap()
    extensions.configure(params)
    out = RtpPacket(payload_type=payload_type, marker=marker, sequence_number=seq,
                    timestamp=timestamp, ssrc=ssrc, payload=payload)
    out.padding_size = padding
    out.extensions.mid = mid
    out.extensions.abs_send_time = send_time
    out.extensions.audio_level = level
    return out.serialize(extensions)


def test_the_bytes_are_aiortcs_for_any_negotiation_and_packet() -> None:
    rng = random.Random(18)
    forms = set()
    for _ in range(3000):
        params = negotiated(rng)
        ssrc = rng.randrange(1 << 32)
        mid = rng.choice((None, "0", "1", "video", "a" * rng.randrange(1, 24)))
        writer = PacketWriter(ssrc, mid, params)
        for _ in range(4):
            payload_type, marker = rng.choice((96, 97, 111, 0, 127)), rng.randrange(2)
            seq, timestamp = rng.randrange(1 << 16), rng.randrange(1 << 32)
            payload = rng.randbytes(rng.choice((0, 1, 3, 160, 1100)))
            padding = rng.choice((0, 0, 0, 1, 7, 255))
            send_time = rng.randrange(1 << 24)
            level = rng.choice((None, (True, rng.randrange(128)), (False, rng.randrange(256))))
            ours = writer.packet(payload_type, marker, seq, timestamp, payload, padding,
                                 send_time, level)
            theirs = aiortcs_bytes(params, ssrc, mid, payload_type, marker, seq, timestamp,
                                   payload, padding, send_time, level)
            # Padding is random bytes ending in its length: all but those must match.
            assert len(ours) == len(theirs)
            if padding:
                assert ours[:-padding] == theirs[:-padding]
                assert ours[-1] == theirs[-1] == padding
            else:
                assert ours == theirs
            parsed = RtpPacket.parse(ours)
            assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc) == (seq, timestamp,
                                                                              ssrc)
            forms.add(ours[12:14] if ours[0] & 0x10 else b"none")
    # Both RFC 8285 forms, and packets without extensions, were exercised.
    assert forms == {b"\xbe\xde", b"\x10\x00", b"none"}


def test_abs_send_time_is_aiortcs_from_the_ntp_timestamp() -> None:
    rng = random.Random(5)
    now = time.time()
    nearby = (now + rng.uniform(-1e6, 1e6) for _ in range(10000))
    for t in [now, 0.0, 1.5, 2**31 + 0.999999, *nearby]:
        ntp_s = t + 2208988800
        ntp = (int(ntp_s) << 32) | int((ntp_s % 1) * (1 << 32))
        assert abs_send_time(t) == (ntp >> 14) & 0xFFFFFF
