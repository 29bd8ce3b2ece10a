"""Runs `fieldrelay` with tracemalloc on; each SIGUSR1 writes a snapshot (benchmarks only).

    python bench/traced_node.py DUMP_DIR FRAMES serve --ice-host 127.0.0.1 ...

tracemalloc is started before fieldrelay is imported, keeping FRAMES frames per allocation.
On SIGUSR1 the node writes `DUMP_DIR/<n>.snap` (n = 1, 2, ...; renamed into place once
complete, so a reader never sees half a file). `bench/memory_profile.py --tracemalloc`
starts the node through this file and compares the snapshots. Tracing costs CPU and memory
of its own, so RSS from a traced node is not comparable with an untraced one.

Started by path, it puts the working directory first on sys.path, so a node started from
another checkout's folder (`--compare`) runs that checkout's code, as `python -m` would.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


def main() -> int:
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    dump_dir, frames, argv = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
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
    # sys.path[0] is this script's folder (bench/): the node's own folder takes its place.
    sys.path[0] = os.getcwd()
    from fieldrelay.program.cli import main as fieldrelay_main

    return fieldrelay_main(argv)


if __name__ == "__main__":
    sys.exit(main())
