"""The officer page on a weak uplink, in real Chromium: its own namespace, its uplink
rate-limited with `tc tbf` and losing 5 % of its UDP silently on arrival, through the profile
1 Mbit/s → 150 kbit/s → 64 kbit/s → back. At every step the SOS reaches a console within a
second and a viewer gets at least 98 % of the officer's 20 ms audio frames (by RTP sequence
number, RED recoveries included); the page reaches "audio only" at 64 kbit/s and brings
video back within 10 s of the link; the recording holds the audio as plain Opus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import av
import pytest

from bench.weak_link import (
    COMMANDER,
    OFFICER,
    RunResult,
    gaps,
    link_samples,
    page_timeline,
    run_profile,
    summary,
    table,
)
from tests.conftest import NodeProcess
from tests.shaped import ShapedLink, Step, shaped_namespace

pytestmark = [pytest.mark.media, pytest.mark.browser]

# The profile, with shorter steps than the benchmark's.
STEPS = (
    Step("1 Mbit/s + 5 % loss", 1000, 0.05, 12),
    Step("150 kbit/s + 5 % loss", 150, 0.05, 15),
    Step("64 kbit/s + 5 % loss", 64, 0.05, 18),
    Step("back to 1 Mbit/s + 5 % loss", 1000, 0.05, 14),
)


@pytest.fixture
def link(loopback_only: None) -> Iterator[ShapedLink]:
    with shaped_namespace() as made:
        yield made


def sealed_stills(data_dir: Path) -> list[dict[str, object]]:
    """The stills the phone sent while audio only, as sealed in a session's chain."""
    found = []
    for ledger in data_dir.glob("sessions/*/ledger.jsonl"):
        for line in ledger.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("kind") == "material" and str(entry.get("filename")).startswith("still-"):
                found.append(entry)
    return found


def decoded_audio_frames(data_dir: Path) -> int:
    """Opus frames of the recording that decode (plain Opus, not RED payloads)."""
    frames = 0
    for folder in (data_dir / "sessions").iterdir():
        for seg in sorted(folder.glob("seg-*")):
            with av.open(str(seg)) as container:
                assert container.streams.audio[0].codec_context.name == "opus"
                frames += sum(1 for _ in container.decode(audio=0))
    return frames


async def test_sos_voice_and_steps_survive_the_weak_link_profile(
        node_process: NodeProcess, link: ShapedLink) -> None:
    node_process.add_user(OFFICER, "officer")
    node_process.add_user(COMMANDER, "commander")
    result: RunResult | None = None
    try:
        # The stills wait on the phone while the link is weak: the page stays open after the
        # profile until they are sealed (or 40 s pass, and the assertion below says so).
        result = await run_profile(node_process, link, STEPS, adapt=True,
                                   settle=lambda: bool(sealed_stills(node_process.data_dir)),
                                   settle_s=40)
    finally:
        if result is not None:
            print("\n" + summary(result) + "\n" + table([result]) + "\n" + gaps(result)
                  + "\n" + page_timeline(result) + "\n"
                  + "\n".join(link_samples(result, i, 6) for i in range(1, 4)))
        else:
            print(node_process.log()[-4000:])
    assert result.errors == []
    # Chromium's offer had RED: the answer takes it (first, so that Chromium sends it) and
    # asks for Opus in-band FEC.
    codecs = result.answer_audio[0].split(" ")[3:]
    assert "a=rtpmap:" + codecs[0] + " red/48000/2" in result.answer_audio, result.answer_audio
    assert any("useinbandfec=1" in line for line in result.answer_audio)
    for step in result.steps:
        assert step.sos_ms is not None and step.sos_ms <= 1000, (step.step.label, step.sos_ms)
        assert step.audio_ratio >= 0.98, (step.step.label, step.audio_ratio)
    assert result.reached_audio_only_after_s is not None, "never audio only at 64 kbit/s"
    assert result.back_to_video_after_s is not None and result.back_to_video_after_s <= 10
    assert result.stills > 0  # a still every few seconds while audio only
    # The node told the phone of its queue when the link shrank (relay/uplink.py).
    assert result.uplink_reports > 0
    # ...each one a photo through the upload queue (sent once the link steps up again), sealed
    # into the live session's chain.
    stills = sealed_stills(node_process.data_dir)
    assert stills, "no still reached the node as a sealed material"
    assert all(e["material_kind"] == "photo" and e["session"] for e in stills), stills
    # 5 % loss: RED brought frames back, and the recording holds at least what the viewer got.
    assert result.audio_recovered > 0
    assert result.recorded_audio_frames >= 0.98 * result.viewer_audio_frames
    assert decoded_audio_frames(node_process.data_dir) >= 0.98 * result.recorded_audio_frames
