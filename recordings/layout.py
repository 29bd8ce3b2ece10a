"""The names evidence uses on disk: session ids and folders, the OPEN marker, each track's
segment files, and the UTC times written in entries (FORMAT.md)."""

from __future__ import annotations

import datetime
import re
import secrets
from pathlib import Path

from fieldrelay.errors import NotFound
from recordings.verify.chain import SESSION_ID

SESSION_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[a-z0-9._-]{1,64}-[0-9a-f]{8}$")
# Present in a session folder while it is recorded; one found at start-up marks a crash.
OPEN_MARKER = "OPEN"
MAIN = "main"
TALKBACK = "talkback"
# File name prefix of each track's segments; the main track's is the original format's.
TRACK_PREFIX = {MAIN: "seg", TALKBACK: "tb"}


def utc_iso(t: float) -> str:
    """A server-clock time as UTC ISO 8601 with milliseconds."""
    moment = datetime.datetime.fromtimestamp(t, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_session_id(officer: str, now: float) -> str:
    """A session id: UTC start, officer, and 32 random bits."""
    stamp = datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{officer}-{secrets.token_hex(4)}"


def session_folder(data_dir: Path, session_id: str) -> Path:
    """The folder of an existing session; NotFound for a malformed or unknown id.

    The id must match FORMAT.md's pattern exactly, so it can never name a path outside
    `<data>/sessions/`.
    """
    if not SESSION_ID.fullmatch(session_id):
        raise NotFound(f"{session_id!r} is not a session id (they look like "
                       "20261127T101500Z-officer-1a2b3c4d)")
    folder = data_dir / "sessions" / session_id
    if not (folder / "ledger.jsonl").is_file():
        raise NotFound(f"there is no session {session_id} in {data_dir}")
    return folder
