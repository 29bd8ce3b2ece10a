"""Starts `fieldrelay` the way a benchmark needs it: traced by tracemalloc, or on uvloop.

    python bench/launch_node.py [--tracemalloc DUMP_DIR FRAMES] [--mallinfo DIR] [--uvloop] \
        -- serve ...

`--tracemalloc`: tracing starts before fieldrelay is imported, keeping FRAMES frames per
allocation; each SIGUSR1 then writes `DUMP_DIR/<n>.snap` (n = 1, 2, ...; renamed into place
once complete, so a reader never sees half a file). `bench/memory_profile.py --tracemalloc`
compares them. Tracing costs CPU and memory of its own, so RSS from a traced node is not
comparable with an untraced one.

`--mallinfo`: each SIGUSR2 writes glibc's `mallinfo2()` (all arenas: bytes in use, bytes free
but kept, bytes in mmap'd blocks) to `DIR/<n>.json`, which tells how much of the heap is
fragmentation rather than live data.

`--trim SECONDS`: a thread calls glibc's `malloc_trim(0)` that often (an experiment: how much
of the heap is free pages malloc keeps, and does it come back).

`--uvloop`: the node's loop is uvloop's (`bench/relay_cpu.py --systems fieldrelay-uvloop`),
set as the event loop policy before `asyncio.run` makes the loop.

Started by path, it puts the working directory first on sys.path, so a node started from
another checkout's folder (`--compare`, `--node-cwd`) runs that checkout's code, as
`python -m` would.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import ctypes.util
import importlib
import itertools
import json
import os
import signal
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from types import FrameType


def trace_on_signal(dump_dir: Path, frames: int) -> None:
    """Start tracemalloc; every SIGUSR1 writes a snapshot into dump_dir."""
    dump_dir.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count(1)
    tracemalloc.start(frames)

    def dump(signum: int, frame: FrameType | None) -> None:
        # Runs on the main thread between bytecodes, so the loop is paused while it writes.
        n = next(numbers)
        partial = dump_dir / f"{n}.snap.part"
        tracemalloc.take_snapshot().dump(str(partial))
        os.replace(partial, dump_dir / f"{n}.snap")

    signal.signal(signal.SIGUSR1, dump)


_MALLINFO2 = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
              "uordblks", "fordblks", "keepcost")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2]


def mallinfo_on_signal(dump_dir: Path) -> None:
    """Every SIGUSR2 writes glibc's mallinfo2() as JSON into dump_dir."""
    dump_dir.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count(1)
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = _MallInfo2

    def dump(signum: int, frame: FrameType | None) -> None:
        info = libc.mallinfo2()
        fields = {name: int(getattr(info, name)) for name in _MALLINFO2}
        n = next(numbers)
        partial = dump_dir / f"{n}.json.part"
        partial.write_text(json.dumps(fields))
        os.replace(partial, dump_dir / f"{n}.json")

    signal.signal(signal.SIGUSR2, dump)


def trim_every(seconds: float) -> None:
    """A daemon thread that hands malloc's free pages back to the kernel every `seconds`."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.malloc_trim.argtypes = [ctypes.c_size_t]

    def run() -> None:
        while True:
            time.sleep(seconds)
            libc.malloc_trim(0)

    threading.Thread(target=run, name="malloc-trim", daemon=True).start()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracemalloc", nargs=2, metavar=("DUMP_DIR", "FRAMES"))
    parser.add_argument("--mallinfo", metavar="DIR")
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--trim", type=float, metavar="SECONDS")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- then fieldrelay's arguments")
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if args.tracemalloc:
        trace_on_signal(Path(args.tracemalloc[0]), int(args.tracemalloc[1]))
    if args.mallinfo:
        mallinfo_on_signal(Path(args.mallinfo))
    if args.trim:
        trim_every(args.trim)
    if args.uvloop:
        # Imported by name: uvloop is not a dependency of the project (pip install uvloop).
        uvloop = importlib.import_module("uvloop")
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # sys.path[0] is this script's folder (bench/): the node's own folder takes its place.
    sys.path[0] = os.getcwd()
    from fieldrelay.program.cli import main as fieldrelay_main

    return fieldrelay_main(argv)


if __name__ == "__main__":
    sys.exit(main())
