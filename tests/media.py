"""Real aiortc peers for tests: they live in bench/media.py, which the benchmarks share (bench/
never imports tests/)."""

from bench.media import PatternVideoTrack as PatternVideoTrack
from bench.media import Publisher as Publisher
from bench.media import ToneAudioTrack as ToneAudioTrack
from bench.media import ViewerClient as ViewerClient
from bench.media import local_pc as local_pc
from bench.media import publish as publish
from bench.media import view as view
