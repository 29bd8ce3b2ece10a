"""Reading evidence files: JSON-lines files as far as they are readable, and hashing with progress.

A line is one JSON object with no duplicate keys (FORMAT.md rule "entries").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHUNK = 1 << 20  # files are hashed 1 MiB at a time, so memory stays flat for any segment size

Progress = Callable[[int, int], None]
"""Called as progress(done_bytes, total_bytes) while files are read."""


@dataclass
class Lines:
    """A JSON-lines file read as far as it is readable."""

    exists: bool
    items: list[dict[str, Any]] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)  # the file line of each item
    torn: int | None = None  # a last line without its newline that is not JSON: cut mid-write
    bad: str | None = None  # what is unreadable, e.g. "line 3 is not a readable entry"
    bad_line: int | None = None  # the line that is unreadable, when it is one line


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Readers disagree on which copy wins, so a second copy could hide a changed value.
        raise ValueError("a field appears twice")
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                          parse_constant=_no_constants)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def read_lines(path: Path) -> Lines:
    """Every entry of a JSON-lines file up to the first unreadable line."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Lines(exists=False)
    except OSError as exc:
        return Lines(exists=True, bad=f"could not be read ({exc.strerror})")
    rows = data.split(b"\n")
    ended = data.endswith(b"\n")
    if ended or not data:
        rows.pop()  # the empty piece after the final newline
    out = Lines(exists=True)
    for number, raw in enumerate(rows, start=1):
        obj = _entry(raw, number, last=number == len(rows) and not ended)
        if obj == "torn":
            out.torn = number
            break
        if isinstance(obj, str):
            out.bad, out.bad_line = obj, number
            break
        out.items.append(obj)
        out.numbers.append(number)
    return out


def _entry(raw: bytes, number: int, *, last: bool) -> dict[str, Any] | str:
    """Line `number` as an entry, or why it is not one ("torn" when cut mid-write)."""
    if not raw:
        return f"line {number} is empty, and the node never writes an empty line"
    try:
        obj = _parse_json(raw)
    except ValueError:
        return "torn" if last else f"line {number} is not a readable entry"
    if not isinstance(obj, dict):
        return f"line {number} is not an entry (not a JSON object)"
    return obj


def span(first: int, last: int, what: str = "entry", plural: str = "entries") -> str:
    """"entry 3" or "entries 3 to 5" (or of any other thing)."""
    return f"{what} {first}" if first == last else f"{plural} {first} to {last}"


class Meter:
    """Counts bytes read against a total and reports them to the progress callback."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0
        self.total = 0

    def add(self, nbytes: int) -> None:
        """Count `nbytes` more as read."""
        self.done += nbytes
        self.total = max(self.total, self.done)
        if self.progress is not None:
            self.progress(self.done, self.total)

    def sha256(self, path: Path) -> str:
        """The file's SHA-256 (hex), read a chunk at a time and counted."""
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                self.add(len(chunk))
        return digest.hexdigest()
