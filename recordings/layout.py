"""Where a session's evidence lives: `<data>/sessions/<id>/`, for ids of the one valid form."""

from __future__ import annotations

from pathlib import Path

from fieldrelay.errors import NotFound
from recordings.verify.chain import SESSION_ID


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
