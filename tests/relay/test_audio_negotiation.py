"""The node's answers: Opus in-band FEC always, RED (RFC 2198) when the offer has it, and
neither with --plain-audio. These reach into aiortc's negotiated codec list (through
relay/aiortc_hooks.py only), so they fail loudly if an aiortc upgrade moves it."""

from __future__ import annotations

import re

from aiortc.sdp import SessionDescription

from bench.media import local_pc, offer_sdp
from relay import aiortc_hooks, peers

# Chromium 12x's audio section: RED (63) first, naming Opus (111) twice (distance 1).
CHROMIUM_AUDIO = [
    "a=rtpmap:111 opus/48000/2",
    "a=rtcp-fb:111 transport-cc",
    "a=fmtp:111 minptime=10;useinbandfec=1",
    "a=rtpmap:63 red/48000/2",
    "a=fmtp:63 111/111",
]


def chromium_like_offer(sdp: str) -> str:
    """aiortc's offer with its audio section's codecs replaced by Chromium's (Opus + RED)."""
    out: list[str] = []
    audio = False
    for line in sdp.split("\r\n"):
        if line.startswith("m="):
            audio = line.startswith("m=audio")
            if audio:
                head = line.split(" ")[:3]
                line = " ".join([*head, "111", "63"])
        if audio and re.match(r"a=(rtpmap|fmtp|rtcp-fb):", line):
            continue
        out.append(line)
        if audio and line.startswith("m=audio"):
            out += CHROMIUM_AUDIO
    return "\r\n".join(out)


def audio_section(answer: str) -> list[str]:
    lines = answer.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("m=audio"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    return lines[start:end]


async def answer_for(offer: str, fec: bool, red: bool) -> list[str]:
    description = peers.parse_offer(offer)
    pc = local_pc()
    try:
        for media in description.media:
            transceiver = pc.addTransceiver(media.kind, direction="recvonly")
            peers.prefer(transceiver, peers.choose_codec(media.kind, list(media.rtp.codecs)))
        return audio_section(await peers.answer(pc, offer, fec=fec, red=red))
    finally:
        await pc.close()


async def test_a_chromium_offer_gets_fec_and_red_before_opus() -> None:
    offer = chromium_like_offer(await offer_sdp("sendonly"))
    section = await answer_for(offer, fec=True, red=True)
    assert section[0].split(" ")[3:5] == ["63", "111"], section[0]  # RED listed first
    assert "a=rtpmap:63 red/48000/2" in section
    assert "a=fmtp:63 111/111" in section
    fmtp = next(line for line in section if line.startswith("a=fmtp:111 "))
    assert "useinbandfec=1" in fmtp.split(" ", 1)[1].split(";")


async def test_an_offer_without_red_gets_fec_only() -> None:
    section = await answer_for(await offer_sdp("sendonly"), fec=True, red=True)
    assert not [line for line in section if "red/48000" in line]
    assert any("useinbandfec=1" in line for line in section if line.startswith("a=fmtp:"))


async def test_plain_audio_answers_as_before() -> None:
    offer = chromium_like_offer(await offer_sdp("sendonly"))
    section = await answer_for(offer, fec=False, red=False)
    assert not [line for line in section if "red/48000" in line or "useinbandfec" in line]


async def test_red_must_carry_the_negotiated_opus() -> None:
    offer = chromium_like_offer(await offer_sdp("sendonly")).replace(
        "a=fmtp:63 111/111", "a=fmtp:63 0/0")
    description = SessionDescription.parse(offer)
    mid = next(m.rtp.muxId for m in description.media if m.kind == "audio")
    assert aiortc_hooks.red_offered(description, mid, 111) is None
    section = await answer_for(offer, fec=True, red=True)
    assert not [line for line in section if "red/48000" in line]
