"""Cases as things: the case chain, where every change to a case and every step around it is
an entry, and the registry folded from it.

The case chain lives in `<data>/cases/` (`ledger.jsonl` + `heads.jsonl`, the format of every
chain in FORMAT.md), signed with the node key. A case is named by its case number, the same
string sessions already carry (`recordings/cases.py`), so a number used before the case was
registered keeps working. What the people around a case do (tasks, replies, clues,
messages, published steps, invitations) is recorded here too, each entry carrying the ferry
message id it travelled under (`ferry`), so a message is applied once. Every method blocks
on the disk; `fold` and `activity` are pure.
"""

from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from recordings.layout import utc_iso
from recordings.signing import NodeKey
from recordings.store import LedgerFile

CASES_DIR = "cases"
CREATED, ASSIGNED, STATE = "case.created", "case.assigned", "case.state"
CASE_STATES = ("open", "closed")
MAX_TITLE_CHARS = 200


def now_iso() -> str:
    """The node's clock as the chains write it."""
    return utc_iso(datetime.datetime.now(datetime.UTC).timestamp())


def fold(entries: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The registry (case number -> case object) that a case chain's entries make (pure)."""
    cases: dict[str, dict[str, Any]] = {}
    for entry in entries:
        number, kind = entry.get("case"), entry.get("kind")
        if not isinstance(number, str):
            continue
        if kind == CREATED and number not in cases:
            cases[number] = {"number": number, "title": entry.get("title", ""),
                             "state": "open", "officers": list(entry.get("officers", [])),
                             "grid": [], "parties": [], "created_at": entry.get("at"),
                             "created_by": entry.get("by")}
            continue
        case = cases.get(number)
        if case is None:
            continue
        if kind == ASSIGNED:
            for key in ("officers", "grid"):
                if isinstance(entry.get(key), list):
                    case[key] = sorted({str(x) for x in entry[key]})
        elif kind == STATE and entry.get("state") in CASE_STATES:
            case["state"] = entry["state"]
        elif kind == "party.joined" and entry.get("party") not in case["parties"]:
            case["parties"] = [*case["parties"], str(entry.get("party"))]
    return cases


def activity(entries: Iterable[Mapping[str, Any]], number: str) -> list[dict[str, Any]]:
    """Every entry of one case, oldest first, without the chain's own fields (pure)."""
    return [{k: v for k, v in e.items() if k not in ("v", "prev", "hash")}
            for e in entries if e.get("case") == number]


def timeline(entries: Iterable[Mapping[str, Any]], number: str) -> list[dict[str, Any]]:
    """A case's chain entries as items of the case view's timeline (`at`, `type: "case"`, the
    entry), oldest first, without the ferry messages they carry (pure)."""
    return [{"at": e.get("at"), "type": "case",
             "event": {k: v for k, v in e.items() if k not in ("message", "confirmation")}}
            for e in activity(entries, number)]


class CaseBook:
    """The case chain of a data dir; the CLI may append beside a running node."""

    def __init__(self, data_dir: Path, key: NodeKey) -> None:
        self.ledger = LedgerFile(data_dir / CASES_DIR, key, shared=True)
        self._lock = threading.Lock()
        # The entries read so far and the file offset they end at: a grown file is read
        # from there on (the chain only grows), so a new entry costs its own line only.
        self._entries: list[dict[str, Any]] = []
        self._offset = 0
        self._folded: tuple[int, dict[str, dict[str, Any]]] = (-1, {})

    def entries(self) -> list[dict[str, Any]]:
        """Every entry of the case chain (what another process appended included)."""
        with self._lock:
            try:
                size = self.ledger.path.stat().st_size
            except FileNotFoundError:
                size = 0
            if size < self._offset:  # cut back (a torn tail): read it all again
                self._entries, self._offset = [], 0
            if size > self._offset:
                with open(self.ledger.path, "rb") as f:
                    f.seek(self._offset)
                    tail = f.read(size - self._offset)
                whole = tail[: tail.rfind(b"\n") + 1]  # a line still being written waits
                self._entries = [*self._entries,
                                 *(json.loads(line) for line in whole.splitlines() if line)]
                self._offset += len(whole)
            return self._entries

    def cases(self) -> dict[str, dict[str, Any]]:
        """The registry as the chain stands (folded again only when the chain grew)."""
        entries = self.entries()
        with self._lock:
            if self._folded[0] != len(entries):
                self._folded = (len(entries), fold(entries))
            return {k: dict(v) for k, v in self._folded[1].items()}

    def get(self, number: str) -> dict[str, Any] | None:
        """One case, or None."""
        return self.cases().get(number)

    def record(self, kind: str, number: str, /, **fields: Any) -> dict[str, Any]:
        """Append one signed entry about a case and return it."""
        if {"kind", "case", "at"} & set(fields):
            raise ValueError("kind, case and at are the chain's own fields")
        entry = self.ledger.append({"kind": kind, "case": number, "at": now_iso(), **fields})
        self.ledger.sign_head()
        return entry

    def applied(self) -> set[str]:
        """The ferry message ids already recorded (each is applied once)."""
        return {str(e["ferry"]) for e in self.entries() if isinstance(e.get("ferry"), str)}

    def add(self, number: str, title: str, by: str,
            officers: Iterable[str] = ()) -> dict[str, Any]:
        """Register a case; ValueError when the number is registered already."""
        if self.get(number) is not None:
            raise ValueError(f"case {number!r} exists already")
        self.record(CREATED, number, title=title[:MAX_TITLE_CHARS], by=by,
                    officers=sorted(set(officers)))
        case = self.get(number)
        assert case is not None
        return case

    def assign(self, number: str, by: str, officers: list[str] | None = None,
               grid: list[str] | None = None) -> dict[str, Any]:
        """Set a case's officers and/or grid workers; KeyError for an unknown case."""
        case = self.get(number)
        if case is None:
            raise KeyError(number)
        fields: dict[str, Any] = {"by": by}
        fields["officers"] = sorted(set(officers)) if officers is not None else case["officers"]
        fields["grid"] = sorted(set(grid)) if grid is not None else case["grid"]
        self.record(ASSIGNED, number, **fields)
        changed = self.get(number)
        assert changed is not None
        return changed
