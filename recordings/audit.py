"""The audit chain: every view, playback, export and verify of evidence by a person.

`<data>/audit/audit.jsonl` is a hash chain in the ledger's format (canonical JSON, SHA-256,
each entry naming the one before), and `<data>/audit/heads.jsonl` holds the node's signature
over the head after every entry. Appends are serialized across threads and processes with a
file lock, so the CLI and a running node can both append. Every method blocks on the disk.
"""

from __future__ import annotations

import csv
import datetime
import fcntl
import io
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fieldrelay.files import PRIVATE_FILE, append_durably, private_dir
from recordings.archive.sink import HEADS_LINE, LEDGER_LINE, ArchiveSink
from recordings.ledger import GENESIS, canonical, make_entry
from recordings.signing import NodeKey
from recordings.store import read_entries

AUDIT_DIR = "audit"
AUDIT_FILE = "audit.jsonl"
HEADS_FILE = "heads.jsonl"
CSV_FIELDS = ("seq", "at", "who", "role", "action", "session", "outcome", "detail")
log = logging.getLogger(__name__)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection,
# OWASP): a requested path or a hold reason must never become a live HYPERLINK on an
# admin's machine.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def utc_now() -> str:
    """Now as UTC ISO 8601 with milliseconds, like every ledger time."""
    moment = datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def csv_cell(value: object) -> str:
    """One CSV cell as text a spreadsheet shows and never evaluates (pure).

    A cell starting with = + - @, a tab or a carriage return gets a leading apostrophe, which
    spreadsheets take as "this is text" and do not display.
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(entries: Iterable[Mapping[str, Any]]) -> str:
    """Audit entries as CSV with a header row, every cell safe to open in a spreadsheet (pure)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for e in entries:
        detail = e.get("detail")
        if detail is not None and not isinstance(detail, str):
            detail = json.dumps(detail, sort_keys=True)
        writer.writerow([csv_cell(v) for v in (
            e.get("seq"), e.get("at"), e.get("who"), e.get("role"), e.get("action"),
            e.get("session") or "", e.get("outcome"), detail)])
    return out.getvalue()


def public_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What the API shows of an entry: the record, with its place in the chain."""
    return {k: v for k, v in entry.items() if k not in ("v", "prev", "kind")}


class AuditLog:
    """Appends signed, chained access records to `<data>/audit/`."""

    def __init__(self, data_dir: Path, key: NodeKey, archive: ArchiveSink | None = None) -> None:
        self.archive = archive
        self.dir = data_dir / AUDIT_DIR
        self.path = self.dir / AUDIT_FILE
        self.heads_path = self.dir / HEADS_FILE
        self._key = key
        self._lock = threading.Lock()
        self._known_size = -1
        self._seq, self._prev = 0, GENESIS

    @contextmanager
    def _locked(self) -> Iterator[None]:
        private_dir(self.dir)
        with self._lock:
            fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing drops the lock

    def _catch_up(self) -> None:
        """Learn the head again when someone else (another process) appended since."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size == self._known_size:
            return
        self._seq, self._prev = 0, GENESIS
        for entry in read_entries(self.path):
            self._seq, self._prev = int(entry["seq"]) + 1, str(entry["hash"])
        self._known_size = size

    def append(self, who: str, role: str, action: str, session: str | None, outcome: str,
               detail: object = None, **extra: Any) -> dict[str, Any]:
        """Write one access record durably, sign the new head, and return the entry."""
        fields: dict[str, Any] = {"kind": "access", "at": utc_now(), "who": who, "role": role,
                                  "action": action, "session": session, "outcome": outcome}
        if detail is not None:
            fields["detail"] = detail
        fields.update(extra)
        with self._locked():
            self._catch_up()
            entry = make_entry(self._seq, self._prev, fields)
            line = canonical(entry) + b"\n"
            append_durably(self.path, line)
            self._seq, self._prev = self._seq + 1, str(entry["hash"])
            record = {"seq": entry["seq"], "hash": entry["hash"],
                      "sig": self._key.sign_head(int(entry["seq"]), str(entry["hash"]))}
            head = json.dumps(record, sort_keys=True).encode() + b"\n"
            append_durably(self.heads_path, head)
            self._known_size = self.path.stat().st_size
        if self.archive is not None:
            try:
                self.archive.enqueue(self.path, LEDGER_LINE, data=line, seq=int(entry["seq"]))
                self.archive.enqueue(self.heads_path, HEADS_LINE, data=head,
                                     seq=int(entry["seq"]))
            except (OSError, ValueError) as exc:  # the record stands; its copy is owed
                log.error("audit entry %s could not be queued for the archive: %s",
                          entry["seq"], exc)
        return entry
        return entry

    def entries(self, session: str | None = None) -> list[dict[str, Any]]:
        """Every record, oldest first; only those about `session` when it is given."""
        return [e for e in read_entries(self.path)
                if session is None or e.get("session") == session]


def last_verifies(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The newest finished verify of each session recorded in the audit log."""
    out: dict[str, dict[str, Any]] = {}
    for e in read_entries(data_dir / AUDIT_DIR / AUDIT_FILE):
        if e.get("action") == "verify" and e.get("outcome") in ("verified", "broken") \
                and isinstance(e.get("session"), str):
            out[e["session"]] = {"state": e["outcome"], "at": e.get("checked_at", e.get("at")),
                                 "head": e.get("head"), "broken": e.get("broken")}
    return out
