"""`fieldrelay verify PATH`: find out what PATH is, check it, print the verdict.

The checking itself is the rest of this package, which every export bundle ships joined into
its standalone `verify.py` (see `standalone`), so the CLI and a court's clerk run the very same
code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from recordings.verify.output import TextProgress, print_verdict
from recordings.verify.paths import verify_path
from recordings.verify.verdict import NotEvidence, Report
from recordings.verify.witnesses import load_witness

EXIT_INTACT, EXIT_BROKEN, EXIT_USAGE = 0, 1, 2


def check(path: Path, *, public_key: Path | None = None,
          progress_to: TextIO | None = None, witnesses: Sequence[str] = ()) -> Report:
    """Check a session folder, a data dir or an export bundle (.zip or extracted), against
    the checkpoints it holds and those of each witness (a data dir, export file or URL).

    A progress bar goes to `progress_to` when it is a terminal or the work is over 50 MB.
    Raises NotEvidence when PATH is none of these, OSError when the key cannot be read.
    """
    pem = public_key.read_bytes() if public_key is not None else None
    copies = [load_witness(w) for w in witnesses]
    bar = TextProgress(progress_to) if progress_to is not None else None
    try:
        return verify_path(path, bar, pem, copies)
    finally:
        if bar is not None:
            bar.close()


def run(path: Path, *, public_key: Path | None = None, out: TextIO | None = None,
        err: TextIO | None = None, witnesses: Sequence[str] = ()) -> int:
    """The CLI command: print the verdict (and on success the counts); return the exit code."""
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        report = check(path, public_key=public_key, progress_to=err, witnesses=witnesses)
    except NotEvidence as exc:
        print(f"fieldrelay verify: {exc}", file=err)
        return EXIT_USAGE
    except OSError as exc:
        print(f"fieldrelay verify: cannot read {exc.filename}: {exc.strerror}", file=err)
        return EXIT_USAGE
    print_verdict(report, out)
    return EXIT_INTACT if report.ok else EXIT_BROKEN
