"""Logging set-up for the CLI: one line per event, key facts first."""

from __future__ import annotations

import logging
import sys
import time


def configure(level: str = "INFO") -> None:
    """Send logs to stderr with UTC timestamps."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s",
                                  "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aioice and aiortc log every candidate pair at INFO.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
