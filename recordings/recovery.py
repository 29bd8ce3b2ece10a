"""Sealing a session chain, and crash recovery: a session left open is sealed as interrupted.

Sealing appends the `session.seal` entry, signs it, and notes it in the node chain; segment
files the chain does not name yet (cut short by a crash or a failing disk) are hashed and
ledgered first, marked partial. Every function blocks on the disk.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recordings.archive.sink import SEALED_FILE, ArchiveSink
from recordings.layout import MAIN, OPEN_MARKER, TALKBACK, utc_iso
from recordings.segments import file_sha256
from recordings.signing import NodeKey
from recordings.store import LedgerFile, read_entries

log = logging.getLogger(__name__)

EntryObserver = Callable[[str, dict[str, Any]], None]
"""Called as observer(session id, entry) with each entry appended to a session chain."""


def ledger_unrecorded_segments(ledger: LedgerFile, entries: list[dict[str, Any]],
                               folder: Path, session: str, officer: str, case: object) -> int:
    """Hash and ledger segment files the chain does not name yet (cut short by a crash or a
    failing disk), marked partial; returns the session's segment count."""
    recorded = {e["file"] for e in entries if e.get("kind") == "segment"}
    segments = sum(1 for e in entries if e.get("kind") == "segment" and "track" not in e)
    talkback = len(recorded) - segments
    last_at = str(entries[-1].get("at", entries[-1].get("end", ""))) if entries else ""
    for path in sorted(folder.glob("seg-*")) + sorted(folder.glob("tb-*")):
        if path.name in recorded or not path.is_file():
            continue
        track = TALKBACK if path.name.startswith("tb-") else MAIN
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if track == MAIN:
            segments += 1
        else:
            talkback += 1
        mtime = utc_iso(path.stat().st_mtime)
        entry = {
            "kind": "segment", "session": session, "officer": officer, "case": case,
            "index": segments if track == MAIN else talkback, "file": path.name,
            "size": path.stat().st_size, "sha256": file_sha256(path),
            "start": last_at or mtime, "end": mtime,
            "media_start_ms": None, "media_end_ms": None, "partial": True,
        }
        if track != MAIN:
            entry["track"] = track
        ledger.append(entry)
        ledger.sign_head()
    return segments


def return_unsealed_materials(folder: Path, entries: list[dict[str, Any]]) -> None:
    """A material moved into the folder whose entry the crash cut off goes back to its upload
    (`<data>/uploads/<id>.part`): the node seals it again at start, into its case's chain."""
    listed = {e.get("file") for e in entries if e.get("kind") == "material"}
    uploads = folder.parent.parent / "uploads"
    for path in sorted(folder.glob("mat-*")):
        if path.name in listed or not path.is_file():
            continue
        back = uploads / f"{path.name[4:].split('.', 1)[0]}.part"
        if back.exists() or not uploads.is_dir():
            log.error("session %s holds %s, which its ledger does not list and no upload "
                      "takes back; verify will name it", folder.name, path.name)
            continue
        os.replace(path, back)
        log.warning("session %s: material %s was not yet sealed when the node stopped; it "
                    "goes back to its upload", folder.name, path.name)


def seal_chain(ledger: LedgerFile, node_ledger: LedgerFile, notify: EntryObserver,
               session: str, state: str, reason: str, segments: int) -> None:
    """Append and sign the seal, note it in the node chain and tell the observers."""
    seal = ledger.append({"kind": "session.seal", "session": session, "at": utc_iso(time.time()),
                          "state": state, "segments": segments, "reason": reason})
    ledger.sign_head()
    archive_sealed(ledger)
    note_sealed(node_ledger, session, seal)
    notify(session, seal)


def archive_sealed(ledger: LedgerFile) -> None:
    """A sealed chain never changes again: queue it whole (with its heads) for the archive,
    beside the lines already queued one by one, so one object holds a session's chain."""
    if ledger.archive is None:
        return
    try:
        ledger.archive.enqueue(ledger.path, SEALED_FILE)
        ledger.archive.enqueue(ledger.heads_path, SEALED_FILE)
    except (OSError, ValueError) as exc:
        log.error("the sealed chain %s could not be queued for the archive: %s",
                  ledger.path, exc)


def note_sealed(node_ledger: LedgerFile, session: str, seal: dict[str, Any]) -> None:
    """The node chain's `session.sealed` entry for a session's seal, signed."""
    node_ledger.append({"kind": "session.sealed", "session": session,
                        "at": seal["at"], "state": seal["state"],
                        "head_seq": seal["seq"], "head_hash": seal["hash"]})
    node_ledger.sign_head()


def recover_session(folder: Path, key: NodeKey, node_ledger: LedgerFile, node_id: str,
                    notify: EntryObserver, archive: ArchiveSink | None = None) -> None:
    """Seal a session a crash left open as interrupted, or finish a seal it cut short."""
    ledger = LedgerFile(folder, key, archive=archive)
    entries = list(read_entries(ledger.path))
    session = folder.name
    seal = next((e for e in entries if e.get("kind") == "session.seal"), None)
    if seal is not None:
        # The crash came after the seal was written: finish the steps that follow it.
        if ledger.last_signed_seq() < int(seal["seq"]):
            ledger.sign_head()
        archive_sealed(ledger)
        sealed = any(e.get("kind") == "session.sealed" and e.get("session") == session
                     for e in read_entries(node_ledger.path))
        if not sealed:
            note_sealed(node_ledger, session, seal)
        (folder / OPEN_MARKER).unlink(missing_ok=True)
        return
    start = next((e for e in entries if e.get("kind") == "session.start"), None)
    if start is None:
        # The crash came before the first entry: open the chain so the seal has a start.
        start = ledger.append({
            "kind": "session.start", "session": session,
            "officer": session.split("-", 1)[1].rsplit("-", 1)[0], "node": node_id,
            "at": utc_iso(folder.stat().st_mtime), "case": None,
            "media": {"video": None, "audio": None}, "container": None, "recovered": True})
        entries = [start]
    officer = str(start["officer"])
    case = start.get("case")
    return_unsealed_materials(folder, entries)
    segments = ledger_unrecorded_segments(ledger, entries, folder, session, officer, case)
    seal_chain(ledger, node_ledger, notify, session, "interrupted", "recovered_after_crash",
               segments)
    (folder / OPEN_MARKER).unlink(missing_ok=True)
    log.warning("evidence session %s was left open by a crash and is sealed as interrupted",
                session)
