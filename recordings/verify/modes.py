"""Who else may read the evidence: files and folders open to other local users.

Evidence is for the service user alone (FORMAT.md "Access"): folders 0700, files 0600. A wider
mode is no break of the evidence (the hashes and signatures still say whether anything
changed), so it is a warning: every other account on the machine could read the recordings.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

# What a data dir holds that is evidence (the cache and TLS files are not).
EVIDENCE_PARTS = ("sessions", "ledger", "audit", "keys")
OPEN_BITS = 0o077
EXAMPLES = 3


def _walk(top: Path) -> list[tuple[Path, os.stat_result]]:
    """`top` and everything below it, by lstat (symbolic links are not followed)."""
    found: list[tuple[Path, os.stat_result]] = []
    try:
        found.append((top, top.lstat()))
    except OSError:
        return found
    for dirpath, dirnames, filenames in os.walk(top):
        for name in (*dirnames, *filenames):
            path = Path(dirpath) / name
            try:
                found.append((path, path.lstat()))
            except OSError:
                continue  # gone while we looked: nothing to warn about
    return found


def _sentence(paths: list[tuple[Path, int]], root: Path, what: str, wanted: int) -> str:
    shown = ", ".join(f"{p.relative_to(root) if p != root else p} ({mode:04o})"
                      for p, mode in paths[:EXAMPLES])
    more = f" and {len(paths) - EXAMPLES} more" if len(paths) > EXAMPLES else ""
    return (f"{len(paths)} evidence {what} other local users may read or enter (wider than "
            f"{wanted:04o}): {shown}{more}; `chmod -R go-rwx {root}` keeps them to the "
            "service user")


def mode_warnings(root: Path, data_dir: bool) -> list[str]:
    """Warnings about evidence folders wider than 0700 and files wider than 0600 under
    `root`, a data dir (`data_dir`) or one session folder; empty when all are private."""
    tops = [root / part for part in EVIDENCE_PARTS] if data_dir else [root]
    entries: list[tuple[Path, os.stat_result]] = []
    if data_dir:
        with contextlib.suppress(OSError):
            entries.append((root, root.lstat()))
    for top in tops:
        entries.extend(_walk(top))
    dirs = [(p, stat.S_IMODE(st.st_mode)) for p, st in entries
            if stat.S_ISDIR(st.st_mode) and st.st_mode & OPEN_BITS]
    files = [(p, stat.S_IMODE(st.st_mode)) for p, st in entries
             if stat.S_ISREG(st.st_mode) and st.st_mode & OPEN_BITS]
    out = []
    if dirs:
        out.append(_sentence(dirs, root, "folders", 0o700))
    if files:
        out.append(_sentence(files, root, "files", 0o600))
    return out
