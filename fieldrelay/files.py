"""Durable little files: private secrets, appended lines, and JSON lines read back.

Everything the node writes under its data dir is for the service user alone: folders 0700,
files 0600, whatever the umask (`fieldrelay serve` sets 077 too, for what libraries create).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
# The umask `fieldrelay serve` runs with: nothing it creates is open to group or others.
PRIVATE_UMASK = 0o077


def private_dir(path: Path) -> Path:
    """Make `path` and any missing parents as folders only the owner can enter (0700).

    Folders that exist already keep their mode (a parent may be /srv or /tmp); Path.mkdir
    would make missing parents with the umask's mode instead.
    """
    missing = []
    at = path
    while not at.is_dir():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, PRIVATE_DIR)
        except FileExistsError:
            if not folder.is_dir():
                raise
    return path


def claim_dir(path: Path) -> bool:
    """Make `path` (created if missing) a folder only its owner can enter, when it is ours.

    A shared folder (sticky or writable by all, like /tmp) or one another user owns is left
    as it is: True when the folder is private now.
    """
    private_dir(path)
    st = path.stat()
    if st.st_uid != os.geteuid() or st.st_mode & (stat.S_ISVTX | stat.S_IWOTH):
        return False
    if stat.S_IMODE(st.st_mode) != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)
    return True


def touch_private(path: Path) -> Path:
    """Create an empty file only the owner can read (0600), unless it exists; for files a
    library then opens by name (segments for PyAV, the index for SQLite), so they keep it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE))
    return path


def replace_private(path: Path, data: bytes) -> None:
    """Write a small file whole (created 0600), replacing what it held."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_private(path: Path, data: bytes) -> None:
    """Create a file only the owner can read (0600) and fsync it; never overwrite one."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_durably(path: Path, line: bytes, mode: int = PRIVATE_FILE) -> None:
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
