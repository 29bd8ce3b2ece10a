"""The verdict as text, and a plain text progress bar."""

from __future__ import annotations

import os
import time
from typing import TextIO

from recordings.verify.verdict import Report


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} bytes"  # pragma: no cover - the loop always returns


def format_report(report: Report, *, counts: bool = True) -> str:
    """The verdict as text: first line INTACT or BROKEN with the first broken place."""
    lines = []
    if report.ok:
        lines.append(f"INTACT: {report.target}: every segment file, ledger entry and signature "
                     "checks out.")
        if counts:
            c = report.checked
            lines.append(f"Checked {_count(c.sessions, 'session')}, "
                         f"{_count(c.segments, 'segment file')}"
                         f"{', ' + _count(c.materials, 'material') if c.materials else ''} "
                         f"({_size(c.bytes)}), "
                         f"{_count(c.entries, 'ledger entry', 'ledger entries')} and "
                         f"{_count(c.signatures, 'signature')}.")
    else:
        lines.append(f"BROKEN: {report.first_break}")
        lines.extend(f"Also broken: {more.sentence}" for more in report.breaks[1:])
    if report.key_fingerprint:
        lines.append("Signatures were checked with the node public key whose SHA-256 "
                     f"fingerprint is {report.key_fingerprint}; compare it with the key the "
                     "node's operator published.")
    lines.extend(f"Note: {note}" for note in report.notes)
    lines.extend(f"Warning: {warning}" for warning in report.warnings)
    return "\n".join(lines)


def print_verdict(report: Report, out: TextIO) -> None:
    """Print the verdict; a reader that stops early (`| head`) is not an error."""
    try:
        print(format_report(report), file=out, flush=True)
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


class TextProgress:
    """A plain text progress bar: redrawn in place on a terminal, else a line per 10%.

    It shows nothing unless the stream is a terminal or the total is over `min_total` bytes.
    """

    def __init__(self, stream: TextIO, min_total: int = 50 * 1000 * 1000) -> None:
        self.stream = stream
        self.min_total = min_total
        self.tty = stream.isatty()
        self._drawn = False
        self._last_draw = 0.0
        self._last_done = -1
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        if total <= 0 or (not self.tty and total <= self.min_total):
            return
        fraction = min(done / total, 1.0)
        if self.tty:
            self._redraw(done, total, fraction)
        else:
            self._line(done, total, fraction)

    def _redraw(self, done: int, total: int, fraction: float) -> None:
        now = time.monotonic()
        if done == self._last_done or (now - self._last_draw < 0.1 and done < total):
            return
        self._last_draw, self._last_done = now, done
        filled = int(fraction * 30)
        self.stream.write(f"\rchecking [{'#' * filled}{'.' * (30 - filled)}] "
                          f"{fraction:4.0%}  {_size(done)} of {_size(total)}")
        self._drawn = True
        self.stream.flush()

    def _line(self, done: int, total: int, fraction: float) -> None:
        tenth = int(fraction * 10)
        if tenth == self._last_tenth:
            return
        self._last_tenth = tenth
        self.stream.write(f"checking: {tenth * 10}% ({_size(done)} of {_size(total)})\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line so the verdict starts on its own."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
