"""Materials on disk: the materials chains of a data dir, one per case, and moving a complete
upload into a chain's folder (FORMAT.md "Materials"). Every function blocks on the disk.

A material linked to a session live on the node is sealed into that session's chain instead
(`recordings.session`); the rules (names, entries) are `recordings.material_rules`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
from pathlib import Path
from typing import Any

from fieldrelay.files import private_dir
from recordings.archive.sink import ArchiveSink
from recordings.layout import utc_iso
from recordings.material_rules import MATERIALS_DIR, Sealing, chain_name
from recordings.signing import NodeKey
from recordings.store import LedgerFile
from recordings.verify.chain import MATERIALS_CHAIN


def place_file(source: Path, dest: Path) -> None:
    """Move a complete, fsynced upload into a chain's folder, durably (same file system)."""
    if dest.exists():
        raise FileExistsError(f"{dest} exists already")
    os.replace(source, dest)
    fd = os.open(dest.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unplace_file(dest: Path, source: Path) -> None:
    """Take a placed file back out of the chain's folder when its entry could not be written."""
    # Left in place if this fails too; verify then names it as an unlisted material.
    with contextlib.suppress(OSError):
        os.replace(dest, source)


class MaterialChains:
    """The materials chains of a data dir, one per case: `<data>/materials/<name>/`."""

    def __init__(self, data_dir: Path, key: NodeKey, node_id: str,
                 archive: ArchiveSink | None = None) -> None:
        self.root = data_dir / MATERIALS_DIR
        # Each chain line and material file is queued for the archive as it seals.
        self._archive = archive
        self.node_id = node_id
        self._key = key
        self._chains: dict[str, LedgerFile] = {}
        self._lock = threading.Lock()

    def folder(self, case: str | None) -> Path:
        """The folder of the case's materials chain (it may not exist yet)."""
        return self.root / chain_name(case)

    def _chain(self, case: str | None) -> LedgerFile:
        name = chain_name(case)
        with self._lock:
            chain = self._chains.get(name)
            if chain is None:
                private_dir(self.root)
                chain = LedgerFile(self.root / name, self._key, archive=self._archive)
                if not chain.path.exists() or chain.path.stat().st_size == 0:
                    chain.append({"kind": "materials.start", "chain": name, "case": case,
                                  "node": self.node_id, "at": utc_iso(datetime.datetime.now(
                                      datetime.UTC).timestamp())})
                    chain.sign_head()
                self._chains[name] = chain
            return chain

    def seal(self, sealing: Sealing, source: Path, session: str | None,
             events: list[dict[str, Any]]) -> dict[str, Any]:
        """Move the upload into the case's chain folder and append its signed entry (and the
        events it caused, such as `gap.filled` for a session already sealed)."""
        case = sealing.meta["case"]
        chain = self._chain(case)
        dest = chain.dir / sealing.file
        place_file(source, dest)
        try:
            entry = chain.append(sealing.entry(self.node_id, session))
        except BaseException:
            unplace_file(dest, source)
            raise
        for event in events:
            chain.append({"kind": "event", "session": session, "at": entry["at"], **event})
        chain.sign_head()
        return entry

    def chain_names(self) -> list[str]:
        """The materials chains on disk."""
        if not self.root.is_dir():
            return []
        return sorted(c.name for c in self.root.iterdir()
                      if c.is_dir() and MATERIALS_CHAIN.fullmatch(c.name))
