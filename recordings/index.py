"""The search index: one SQLite file that finds sessions fast, rebuilt from the evidence at will.

The index is never evidence. It lives in `<data>/index/sessions.sqlite`, is updated as the
recorder appends entries, re-read from a ledger whose size changed behind its back, and can
be deleted and rebuilt (`fieldrelay reindex`) from the session ledgers, the node ledger
(legal holds) and the audit log (last verify results). Every method blocks on the disk.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from fieldrelay.files import private_dir, touch_private
from recordings.audit import last_verifies
from recordings.catalog import parse_time, summarize
from recordings.holds import current_holds
from recordings.layout import OPEN_MARKER, SESSION_ID_RE
from recordings.store import LedgerCorrupt, read_entries

log = logging.getLogger(__name__)

INDEX_FILE = Path("index") / "sessions.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    officer TEXT, node TEXT, case_number TEXT,
    started_at TEXT, started_ts REAL, ended_at TEXT, ended_ts REAL,
    state TEXT NOT NULL, media TEXT, alerts INTEGER NOT NULL DEFAULT 0,
    segments INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0, seal_reason TEXT,
    head_seq INTEGER NOT NULL DEFAULT -1, head_hash TEXT, ledger_bytes INTEGER NOT NULL DEFAULT 0,
    is_open INTEGER NOT NULL DEFAULT 0,
    integrity TEXT NOT NULL DEFAULT 'unverified', integrity_at TEXT, integrity_head TEXT,
    integrity_detail TEXT,
    legal_hold INTEGER NOT NULL DEFAULT 0, hold_reason TEXT, hold_by TEXT, hold_at TEXT
);
CREATE TABLE IF NOT EXISTS session_cases (
    session TEXT NOT NULL, case_number TEXT NOT NULL, PRIMARY KEY (session, case_number)
);
CREATE INDEX IF NOT EXISTS sessions_officer ON sessions (officer, started_ts);
CREATE INDEX IF NOT EXISTS sessions_started ON sessions (started_ts);
CREATE INDEX IF NOT EXISTS session_cases_case ON session_cases (case_number);
"""


def cases_of(entries: list[dict[str, Any]]) -> list[str]:
    """Every case number a session carried, in the order it got them (pure)."""
    seen: list[str] = []
    for entry in entries:
        sets_case = entry.get("kind") == "session.start" or (
            entry.get("kind") == "event" and entry.get("event") == "case.set")
        case = entry.get("case") if sets_case else None
        if isinstance(case, str) and case and case not in seen:
            seen.append(case)
    return seen


def _ts(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except ValueError:
        return None


class SessionIndex:
    """The SQLite index of one data dir; a fresh connection per call, so any thread may use it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / INDEX_FILE
        self.sessions_dir = data_dir / "sessions"
        self._ready: set[Path] = set()  # files whose schema this instance has set up

    @contextmanager
    def _db(self, path: Path | None = None) -> Iterator[sqlite3.Connection]:
        target = path or self.path
        touch_private(private_dir(target.parent) / target.name)
        # A file deleted behind our back comes back empty: it needs its schema again.
        fresh = target not in self._ready or not target.exists()
        with closing(sqlite3.connect(target, timeout=30)) as conn:
            conn.row_factory = sqlite3.Row
            # The index is rebuilt from the evidence at will: a commit need not survive a
            # power cut, so it does not wait for the disk (WAL with synchronous=NORMAL).
            conn.execute("PRAGMA synchronous=NORMAL")
            if fresh:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                self._ready.add(target)
            with conn:
                yield conn

    # -- writing ---------------------------------------------------------------------------

    def _ledger_bytes(self, session_id: str) -> int:
        try:
            return (self.sessions_dir / session_id / "ledger.jsonl").stat().st_size
        except FileNotFoundError:
            return 0

    def refresh(self, session_id: str, conn: sqlite3.Connection | None = None) -> None:
        """Re-read one session's ledger into its row (holds and verify results are kept)."""
        if conn is None:
            with self._db() as db:
                self._refresh(db, session_id)
        else:
            self._refresh(conn, session_id)

    def _refresh(self, db: sqlite3.Connection, session_id: str) -> None:
        folder = self.sessions_dir / session_id
        size = self._ledger_bytes(session_id)
        if not (folder / "ledger.jsonl").is_file():
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            db.execute("DELETE FROM session_cases WHERE session = ?", (session_id,))
            return
        is_open = (folder / OPEN_MARKER).exists()
        try:
            entries = list(read_entries(folder / "ledger.jsonl"))
            row = summarize(session_id, entries, is_open)
            cases = cases_of(entries)
        except (LedgerCorrupt, ValueError, TypeError, KeyError):
            entries, cases = [], []
            row = {"officer": None, "case": None, "node": None, "started_at": None,
                   "ended_at": None, "state": "damaged", "media": None, "alerts": 0,
                   "segments": 0, "bytes": 0, "seal_reason": None}
        head = entries[-1] if entries else {}
        old = db.execute("SELECT head_hash, integrity FROM sessions WHERE id = ?",
                         (session_id,)).fetchone()
        values = (row["officer"], row["node"], row["case"], row["started_at"],
                  _ts(row["started_at"]), row["ended_at"], _ts(row["ended_at"]), row["state"],
                  json.dumps(row["media"]) if row["media"] is not None else None,
                  row["alerts"], row["segments"], row["bytes"], row["seal_reason"],
                  int(head.get("seq", -1)), head.get("hash"), size, int(is_open))
        if old is None:
            db.execute("INSERT INTO sessions (officer, node, case_number, started_at, started_ts,"
                       " ended_at, ended_ts, state, media, alerts, segments, bytes, seal_reason,"
                       " head_seq, head_hash, ledger_bytes, is_open, id)"
                       " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", (*values, session_id))
        else:
            db.execute("UPDATE sessions SET officer=?, node=?, case_number=?, started_at=?,"
                       " started_ts=?, ended_at=?, ended_ts=?, state=?, media=?, alerts=?,"
                       " segments=?, bytes=?, seal_reason=?, head_seq=?, head_hash=?,"
                       " ledger_bytes=?, is_open=? WHERE id=?", (*values, session_id))
        if row["state"] == "damaged":
            # No verify is needed to know that a ledger which cannot be read is not intact.
            db.execute("UPDATE sessions SET integrity = 'broken', integrity_detail = ?"
                       " WHERE id = ?",
                       (json.dumps({"file": "ledger.jsonl", "segment": None, "seq": None,
                                    "reason": "the session's ledger cannot be read as a "
                                              "chain: it was damaged or edited"}),
                        session_id))
        db.execute("DELETE FROM session_cases WHERE session = ?", (session_id,))
        db.executemany("INSERT INTO session_cases (session, case_number) VALUES (?, ?)",
                       [(session_id, c) for c in cases])

    def note_entry(self, session_id: str, entry: Mapping[str, Any]) -> None:
        """The recorder appended `entry` to a session chain: bring its row up to date."""
        if not SESSION_ID_RE.match(session_id):
            return
        kind = entry.get("kind")
        with self._db() as db:
            known = db.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if known is None or kind not in ("segment", "event"):
                # A start or a seal changes many fields at once: read the ledger again.
                self._refresh(db, session_id)
                return
            if kind == "segment":
                db.execute("UPDATE sessions SET segments = segments + 1, bytes = bytes + ?"
                           " WHERE id = ?", (int(entry.get("size") or 0), session_id))
            name = str(entry.get("event", ""))
            if name.startswith("alert.raised"):
                db.execute("UPDATE sessions SET alerts = alerts + 1 WHERE id = ?", (session_id,))
            case = entry.get("case")
            if name == "case.set" and isinstance(case, str) and case:
                db.execute("UPDATE sessions SET case_number = ? WHERE id = ?", (case, session_id))
                db.execute("INSERT OR IGNORE INTO session_cases VALUES (?, ?)", (session_id, case))
            # A verify covers what was recorded then; anything newer is not yet verified.
            db.execute("UPDATE sessions SET head_seq = ?, head_hash = ?, ledger_bytes = ?,"
                       " integrity = CASE WHEN integrity = 'verified' THEN 'unverified'"
                       " ELSE integrity END WHERE id = ?",
                       (int(entry.get("seq", -1)), entry.get("hash"),
                        self._ledger_bytes(session_id), session_id))

    def set_integrity(self, session_id: str, state: str, at: str, head_hash: str | None,
                      detail: Mapping[str, Any] | None) -> None:
        """Record the outcome of a verify of the session whose head was `head_hash`."""
        with self._db() as db:
            db.execute("UPDATE sessions SET integrity = ?, integrity_at = ?, integrity_head = ?,"
                       " integrity_detail = ? WHERE id = ?",
                       (state, at, head_hash, json.dumps(detail) if detail else None,
                        session_id))

    def set_hold(self, session_id: str, hold: bool, reason: str | None, by: str | None,
                 at: str | None) -> None:
        """Record a session's legal hold state."""
        with self._db() as db:
            db.execute("UPDATE sessions SET legal_hold = ?, hold_reason = ?, hold_by = ?,"
                       " hold_at = ? WHERE id = ?", (int(hold), reason, by, at, session_id))

    def forget(self, session_id: str) -> None:
        """Drop a removed session's row."""
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            db.execute("DELETE FROM session_cases WHERE session = ?", (session_id,))

    def sync(self) -> None:
        """Re-read every session whose ledger or OPEN marker changed since it was indexed."""
        on_disk: dict[str, tuple[int, bool]] = {}
        base = str(self.sessions_dir)
        try:
            names = [e.name for e in os.scandir(base) if SESSION_ID_RE.match(e.name)]
        except FileNotFoundError:
            names = []
        for name in names:  # plain os calls: this runs for every listing
            try:
                size = os.stat(f"{base}/{name}/ledger.jsonl").st_size
            except FileNotFoundError:
                continue
            on_disk[name] = (size, os.path.exists(f"{base}/{name}/{OPEN_MARKER}"))
        with self._db() as db:
            known = {r["id"]: (r["ledger_bytes"], bool(r["is_open"])) for r in
                     db.execute("SELECT id, ledger_bytes, is_open FROM sessions")}
            for sid in known.keys() - on_disk.keys():
                db.execute("DELETE FROM sessions WHERE id = ?", (sid,))
                db.execute("DELETE FROM session_cases WHERE session = ?", (sid,))
            for sid, state in on_disk.items():
                if known.get(sid) != state:
                    self._refresh(db, sid)

    def rebuild(self, holds: Mapping[str, Mapping[str, Any]],
                verifies: Mapping[str, Mapping[str, Any]]) -> int:
        """Build the index anew from the files, then swap it in whole; returns the sessions.

        `holds`: the newest `session.hold` node entry of each session; `verifies`: the
        newest verify outcome of each session from the audit log (used only while the
        session's head is still the one that was verified).
        """
        private_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".sessions.", suffix=".sqlite", dir=self.path.parent)
        os.close(fd)
        count = 0
        try:
            with self._db(Path(tmp)) as db:
                db.execute("PRAGMA journal_mode=DELETE")
                folders = sorted(self.sessions_dir.iterdir()) if self.sessions_dir.is_dir() else []
                for folder in folders:
                    if not SESSION_ID_RE.match(folder.name) or not (
                            folder / "ledger.jsonl").is_file():
                        continue
                    self._refresh(db, folder.name)
                    count += 1
                for sid, hold in holds.items():
                    db.execute("UPDATE sessions SET legal_hold = ?, hold_reason = ?,"
                               " hold_by = ?, hold_at = ? WHERE id = ?",
                               (int(bool(hold.get("hold"))), hold.get("reason"),
                                hold.get("by"), hold.get("at"), sid))
                for sid, outcome in verifies.items():
                    detail = outcome.get("broken")
                    db.execute("UPDATE sessions SET integrity = ?, integrity_at = ?,"
                               " integrity_head = ?, integrity_detail = ? WHERE id = ?"
                               " AND head_hash = ?",
                               (outcome.get("state"), outcome.get("at"), outcome.get("head"),
                                json.dumps(detail) if detail else None, sid,
                                outcome.get("head")))
            # A write-ahead log left by the old file must never be replayed into the new one.
            for suffix in ("-wal", "-shm"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return count

    # -- reading ---------------------------------------------------------------------------

    def search(self, officer: str | None = None, since: float | None = None,
               until: float | None = None, case: str | None = None,
               with_alerts: bool = False) -> list[dict[str, Any]]:
        """Sessions matching every given filter, newest first (time filters: any overlap)."""
        where: list[str] = []
        args: list[object] = []
        if officer:
            where.append("officer = ?")
            args.append(officer)
        if since is not None:
            where.append("(ended_ts IS NULL OR ended_ts >= ?)")
            args.append(since)
        if until is not None:
            where.append("(started_ts IS NULL OR started_ts <= ?)")
            args.append(until)
        if case:
            where.append("id IN (SELECT session FROM session_cases WHERE case_number = ?)")
            args.append(case)
        if with_alerts:
            where.append("alerts > 0")
        sql = "SELECT * FROM sessions"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY started_at DESC, id DESC"
        with self._db() as db:
            rows = db.execute(sql, args).fetchall()
            cases = self._cases(db, [r["id"] for r in rows])
        return [self._public(r, cases.get(r["id"], [])) for r in rows]

    def get(self, session_id: str) -> dict[str, Any] | None:
        """One session's row, or None when the index does not hold it."""
        with self._db() as db:
            row = db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return None
            cases = self._cases(db, [session_id])
        return self._public(row, cases.get(session_id, []))

    def integrity_of(self, session_id: str) -> dict[str, Any] | None:
        """The stored verify outcome: state, at, head and the break (None when unknown)."""
        with self._db() as db:
            row = db.execute("SELECT integrity, integrity_at, integrity_head, integrity_detail,"
                             " head_hash FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if row is None:
            return None
        return {"state": row["integrity"], "at": row["integrity_at"],
                "head": row["integrity_head"], "head_now": row["head_hash"],
                "broken": json.loads(row["integrity_detail"]) if row["integrity_detail"]
                else None}

    @staticmethod
    def _cases(db: sqlite3.Connection, ids: list[str]) -> dict[str, list[str]]:
        wanted = set(ids)
        out: dict[str, list[str]] = {}
        for r in db.execute("SELECT session, case_number FROM session_cases ORDER BY rowid"):
            if r["session"] in wanted:
                out.setdefault(r["session"], []).append(r["case_number"])
        return out

    @staticmethod
    def _public(r: sqlite3.Row, cases: list[str]) -> dict[str, Any]:
        started, ended = r["started_ts"], r["ended_ts"]
        duration = None
        if started is not None:
            end = ended if ended is not None else time.time()
            duration = round(end - started, 3)
        return {
            "id": r["id"], "officer": r["officer"], "case": r["case_number"], "cases": cases,
            "node": r["node"], "started_at": r["started_at"], "ended_at": r["ended_at"],
            "state": r["state"], "duration_s": duration,
            "media": json.loads(r["media"]) if r["media"] else None,
            "alerts": r["alerts"], "segments": r["segments"], "bytes": r["bytes"],
            "seal_reason": r["seal_reason"], "integrity": r["integrity"],
            "integrity_checked_at": r["integrity_at"], "legal_hold": bool(r["legal_hold"]),
            "hold_reason": r["hold_reason"],
        }


def reindex(data_dir: Path) -> tuple[int, Path]:
    """Delete and rebuild `<data>/index/sessions.sqlite`; returns (sessions, index path)."""
    index = SessionIndex(data_dir)
    return index.rebuild(current_holds(data_dir), last_verifies(data_dir)), index.path
