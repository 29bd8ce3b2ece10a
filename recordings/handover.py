"""One session's evidence handed from the node that holds it to another node, exactly as stored.

The hand-over is a tar stream (POSIX pax) in the layout `fieldrelay verify` and the archive's
restore know, rooted at the holding node's data dir:
`keys/node-ed25519.pub.pem` (the holding node's public key), `checkpoints/checkpoints.jsonl`
(the newest of its checkpoints that covers the session, if any) and
`sessions/<id>/<file>` for the session's chains, segments, talkback and materials. The
holding node streams it file by file (`plan` then `header`/`padding`, never a whole file in
memory); the node receiving it unpacks only those names (`unpack`) into a staging folder,
where the same checks as for an archived copy decide whether it is ever served.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from fieldrelay.files import private_dir
from recordings.archive.restore import PUBLIC_KEY
from recordings.layout import OPEN_MARKER
from recordings.verify.chain import MATERIAL_PREFIX
from recordings.verify.checkpoints import CHECKPOINT_LOG

BLOCK = 512
CHUNK = 1 << 20
# The session's files that are evidence (what the archive copies of a session, too).
CHAINS = ("ledger.jsonl", "heads.jsonl")
FILE_PREFIXES = ("seg-", "tb-", MATERIAL_PREFIX)
END = b"\0" * (2 * BLOCK)


class SessionOpen(Exception):
    """The session is still being recorded: its chain is not final, so it is not handed over."""


@dataclass(frozen=True)
class Part:
    """One file of a hand-over: its name in the stream and where it is on disk."""

    name: str
    path: Path
    size: int


def _is_evidence(name: str) -> bool:
    return name in CHAINS or ("/" not in name and name.startswith(FILE_PREFIXES))


def plan(data_dir: Path, sid: str) -> list[Part] | None:
    """The files of session `sid` to hand over, with their sizes now (None: no such session
    here). Raises SessionOpen while it is recorded. Blocks on the disk."""
    folder = data_dir / "sessions" / sid
    if not (folder / "ledger.jsonl").is_file():
        return None
    if (folder / OPEN_MARKER).exists():
        raise SessionOpen(sid)
    parts = [Part(PUBLIC_KEY, data_dir / PUBLIC_KEY, (data_dir / PUBLIC_KEY).stat().st_size)]
    with os.scandir(folder) as found:
        for entry in sorted(found, key=lambda e: e.name):
            if _is_evidence(entry.name) and entry.is_file(follow_symlinks=False):
                parts.append(Part(f"sessions/{sid}/{entry.name}", Path(entry.path),
                                  entry.stat(follow_symlinks=False).st_size))
    return parts


def covering_checkpoint(data_dir: Path, sid: str) -> bytes:
    """The newest checkpoint line of this node's log that names the session's chain (b"" if
    none), read line by line (the log grows with the node's life)."""
    chain = f"sessions/{sid}"
    newest = b""
    try:
        with (data_dir / CHECKPOINT_LOG).open("rb") as f:
            for line in f:
                if chain.encode() not in line:
                    continue
                try:
                    cp = json.loads(line)
                except ValueError:
                    continue  # the checker on the other side names what is wrong
                if isinstance(cp, dict) and chain in (cp.get("chains") or {}):
                    newest = line.strip() + b"\n"
    except FileNotFoundError:
        pass
    return newest


def header(name: str, size: int) -> bytes:
    """The tar header of a regular file (pure)."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def padding(size: int) -> bytes:
    """The zeros that fill a file's last block (pure)."""
    return b"\0" * (-size % BLOCK)


def wanted(name: str, sid: str) -> bool:
    """Whether a name in a hand-over of `sid` is one the receiving node takes (pure)."""
    if name in (PUBLIC_KEY, CHECKPOINT_LOG):
        return True
    prefix = f"sessions/{sid}/"
    return name.startswith(prefix) and _is_evidence(name[len(prefix):])


class BadHandOver(Exception):
    """The stream is not a hand-over of the session asked for."""


def unpack(stream: Path, root: Path, sid: str) -> None:
    """Unpack a received hand-over of `sid` into `root` (keys/, checkpoints/, sessions/<id>/),
    taking only regular files of the expected names, each once. Blocks on the disk."""
    seen: set[str] = set()
    folder = root / "sessions" / sid
    if folder.exists():
        shutil.rmtree(folder)
    private_dir(folder)
    private_dir(root / "keys")
    private_dir(root / "checkpoints")
    try:
        with tarfile.open(stream, "r:") as tar:
            for member in tar:
                if not member.isreg() or not wanted(member.name, sid) or member.name in seen:
                    raise BadHandOver(f"the hand-over holds {member.name[:200]!r}, which is "
                                      f"not a file of session {sid}")
                seen.add(member.name)
                source = tar.extractfile(member)
                if source is None:
                    raise BadHandOver(f"{member.name[:200]!r} cannot be read")
                fd = os.open(root / member.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with source, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
    except tarfile.TarError as exc:
        raise BadHandOver(f"the hand-over is not a readable tar stream: {exc}") from None
    for name in (PUBLIC_KEY, f"sessions/{sid}/ledger.jsonl"):
        if name not in seen:
            raise BadHandOver(f"the hand-over holds no {name}")
    if CHECKPOINT_LOG not in seen:
        (root / CHECKPOINT_LOG).write_bytes(b"")
