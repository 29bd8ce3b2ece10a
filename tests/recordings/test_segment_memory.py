"""An open segment costs no codec: remuxing encoded frames never opens an encoder, whose
buffers (libvpx about 8 MiB at 640x480, libx264 about 3 MiB) would come with every stream."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from recordings.segments import SegmentWriter

SIZE = (640, 480)


def rss_mib() -> float:
    """This process's resident memory."""
    status = Path("/proc/self/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def encoded(codec_name: str) -> list[tuple[bytes, bool]]:
    """Ten 640x480 frames from a real encoder: (data, keyframe) each."""
    codec = av.CodecContext.create(codec_name, "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height, codec.pix_fmt = *SIZE, "yuv420p"
    frames: list[tuple[bytes, bool]] = []
    for i in range(10):
        frame = av.VideoFrame.from_ndarray(np.full((SIZE[1], SIZE[0], 3), i * 20, np.uint8),
                                           format="rgb24")
        frame.pts = i
        frames += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(frame)]
    frames += [(bytes(p), bool(p.is_keyframe)) for p in codec.encode(None)]
    return frames


@pytest.mark.parametrize(("mime", "codec", "ext"), [("video/vp8", "libvpx", "webm"),
                                                    ("video/h264", "libx264", "ts")])
def test_open_segments_cost_well_under_a_mebibyte_and_play(tmp_path: Path, mime: str,
                                                           codec: str, ext: str) -> None:
    frames = encoded(codec)
    # One writer first, so the libraries' one-off costs are not counted.
    first = SegmentWriter(tmp_path / f"first.{ext}", mime, True, SIZE)
    first.write("video", frames[0][0], 0, True)
    first.close()
    before = rss_mib()
    writers = [SegmentWriter(tmp_path / f"s{i}.{ext}", mime, True, SIZE) for i in range(10)]
    for writer in writers:
        for n, (data, keyframe) in enumerate(frames):
            writer.write("video", data, n * 33, keyframe)
    per_writer = (rss_mib() - before) / len(writers)
    closed = [writer.close() for writer in writers]
    assert per_writer < 1.0, f"{per_writer:.2f} MiB per open segment"
    with av.open(str(closed[-1].path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == SIZE
        assert sum(1 for _ in container.decode(video=0)) == len(frames)
