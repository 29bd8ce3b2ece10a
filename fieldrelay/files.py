"""Durable little files: private secrets, appended lines, and JSON lines read back."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_private(path: Path, data: bytes) -> None:
    """Create a file only the owner can read (0600) and fsync it; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_durably(path: Path, line: bytes, mode: int = 0o644) -> None:
    """Append a whole line and fsync it, or leave the file exactly as it was and raise.

    A full disk can accept part of a write; a torn line in the middle of a file would
    read as damage, so a failed append is cut back off before the error goes up.
    """
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, mode)
    try:
        before = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError:
            try:
                os.ftruncate(fd, before)
                os.fsync(fd)
            except OSError:
                pass  # the torn tail is cut when the file is next opened
            raise
    finally:
        os.close(fd)


def read_json_lines(path: Path) -> list[Any]:
    """Every line of a JSON-lines file that parses; a line torn by a crash is skipped."""
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # empty, or torn before its fsync returned (so never acknowledged)
    return rows
