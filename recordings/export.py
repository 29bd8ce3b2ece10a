"""Export bundles: one sealed session as a zip that anyone can check offline.

A bundle holds the session's folder exactly as the node wrote it (ledger, signed heads, every
segment), the node's public key, the standalone verifier (`recordings/verifier.py`, byte for
byte, as `verify.py`) and a README saying how to run it. Only the files under `sessions/` and
the key are evidence; the README is a convenience and says so.
"""

from __future__ import annotations

import datetime
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.errors import Conflict, NotFound
from recordings import verifier
from recordings.store import LedgerCorrupt, read_entries
from recordings.verifier import PUBLIC_KEY_FILE, SESSION_ID, Progress

VERIFIER_SOURCE = Path(verifier.__file__)
CHUNK = 1 << 20
# Video segments are already compressed: storing them keeps export fast and the bytes plain.
STORED_SUFFIXES = (".webm", ".ts", ".mp4")


PLAYABLE_README = """

The playable copy
-----------------
{names}
    The whole session as one file, joined from the segments without re-encoding, for easy
    viewing. It carries C2PA content credentials signed by the node's key (inside an .mp4,
    or beside a .webm as its .c2pa file); C2PA tools such as c2patool show them. It is a
    convenience copy: the evidence remains the segment files and the ledger above.
"""


@dataclass(frozen=True)
class ExportResult:
    """What was written: the bundle, its session and how much media it carries."""

    path: Path
    session: str
    segments: int
    media_bytes: int


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


def _sealed_entries(folder: Path, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(start, seal) entries of a session that is sealed or interrupted; Conflict otherwise."""
    if (folder / "OPEN").exists():
        raise Conflict(f"session {session_id} is still being recorded; only sealed or "
                       "interrupted sessions are exported (try again once it has ended)")
    try:
        entries = list(read_entries(folder / "ledger.jsonl"))
    except LedgerCorrupt:
        entries = []
    start = next((e for e in entries if e.get("kind") == "session.start"), {})
    seal = next((e for e in entries if e.get("kind") == "session.seal"), None)
    if seal is None:
        raise Conflict(f"session {session_id} has no readable seal, so it is neither sealed nor "
                       f"interrupted; run `fieldrelay verify` on its folder to see why")
    return start, seal


def _members(folder: Path, session_id: str) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip) of each evidence file of the session folder, in order."""
    base = f"sessions/{session_id}"
    for name in ("ledger.jsonl", "heads.jsonl"):
        if (folder / name).is_file():
            yield folder / name, f"{base}/{name}"
    for path in sorted(folder.glob("seg-*")) + sorted(folder.glob("tb-*")):
        if path.is_file():
            yield path, f"{base}/{path.name}"


def _fingerprint(public_pem: bytes) -> str:
    try:
        return verifier.key_fingerprint(verifier.load_public_key(public_pem))
    except ValueError:
        return "(the key file is not a readable Ed25519 public key)"


def readme(session_id: str, start: dict[str, Any], seal: dict[str, Any], segments: int,
           media_bytes: int, public_pem: bytes, exported_at: str) -> str:
    """README.txt: what the bundle holds, how to check it offline, and what the result means."""
    case = start.get("case") or "none"
    return f"""fieldrelay evidence bundle
==========================

Session    {session_id}
Officer    {start.get("officer", "unknown")}
Case       {case}
Started    {start.get("at", "unknown")} (UTC, the recording node's clock)
Ended      {seal.get("at", "unknown")}: {seal.get("state")} ({seal.get("reason")})
Media      {segments} segment files, {media_bytes} bytes
Node key   SHA-256 fingerprint {_fingerprint(public_pem)}
Exported   {exported_at} (UTC)

This README is a convenience and is not evidence itself: nothing in it is signed. The evidence
is the files under sessions/ and the node's public key.


What is inside
--------------
sessions/{session_id}/ledger.jsonl
    The session's ledger: one entry per line, from the start of the session to its seal.
    Every recorded segment, GPS fix, viewer and reconnect is an entry, and each entry carries
    the SHA-256 hash of the one before it, so no entry can be changed, removed or reordered
    without breaking the chain.
sessions/{session_id}/heads.jsonl
    The recording node's Ed25519 signatures over the ledger, made while it recorded and at
    the seal.
sessions/{session_id}/seg-000001.webm, seg-000002.webm, ...  (or .ts)
    The recording itself, as the node wrote it, in short files that play one after the other:
    .webm holds VP8 video and Opus audio, .ts holds H.264 video and Opus audio (MPEG-TS).
    VLC, ffmpeg and web browsers play them.
node-ed25519.pub.pem
    The public key of the node that recorded and signed the session.
verify.py
    The verifier. It needs only Python (3.10 or newer) and the `cryptography` package, works
    offline and changes nothing.
README.txt
    This file.


How to check it
---------------
Once, on a machine with network access, make a clean Python environment holding only the
one package the verifier needs:

    python3 -m venv v && v/bin/pip install cryptography

(on Windows: py -m venv v  and then  v\\Scripts\\pip install cryptography)

Then, with or without network access, run the verifier on this zip or on its extracted folder:

    v/bin/python verify.py <this zip or its extracted folder>

fieldrelay's own command gives the same verdict: fieldrelay verify <this zip>


What the result means
---------------------
INTACT (exit status 0): every segment file has exactly the size and SHA-256 hash that the
    ledger recorded when the segment was written; every ledger entry follows the one before
    it, from the start of the session to its seal; and the signatures in heads.jsonl were
    made by the key in node-ed25519.pub.pem and cover the seal. Nothing was changed, removed,
    added or reordered after the node recorded it.
BROKEN (exit status 1): the first line names the first place that does not check out (the
    file, the ledger line and entry number) and says what happened there. The bundle must
    not be relied on as it is.
Exit status 2: the verifier was not used as described above (for example, a wrong path).

The signatures show that the files come from whoever holds the node's private key. The
verifier prints the fingerprint of the key it used: compare it with the fingerprint the
node's operator publishes, or run `verify.py <bundle> --key <their public key file>`. A
bundle whose key file was replaced would otherwise check out against the forger's own key.
"""


def _zip_info(name: str, date_time: tuple[int, int, int, int, int, int],
              compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=date_time)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def check_exportable(data_dir: Path, session_id: str) -> dict[str, Any]:
    """The start entry of a session that can be exported; NotFound or Conflict otherwise."""
    start, _ = _sealed_entries(session_folder(data_dir, session_id), session_id)
    return start


def export_session(data_dir: Path, session_id: str, out_zip: Path,
                   progress: Progress | None = None,
                   extras: Sequence[tuple[Path, str]] = ()) -> ExportResult:
    """Write the export bundle of one sealed or interrupted session to `out_zip`.

    Raises NotFound for a malformed or unknown session id (or a data dir without its public
    key) and Conflict for a session that is still being recorded or has no seal, or for an
    `out_zip` inside the sessions folder. `extras` are (file, name in the zip) added after
    the evidence, such as the signed playable copy under `playable/`. The zip is
    written beside `out_zip` under a temporary name and renamed when complete, so a bundle
    is never seen half-written.
    """
    folder = session_folder(data_dir, session_id)
    start, seal = _sealed_entries(folder, session_id)
    key_path = data_dir / "keys" / PUBLIC_KEY_FILE
    try:
        public_pem = key_path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{key_path} is missing: a bundle cannot be checked without it") from None
    members = list(_members(folder, session_id))
    segments = [(p, n) for p, n in members if p.name.startswith(("seg-", "tb-"))]
    media_bytes = sum(p.stat().st_size for p, _ in segments)
    total = sum(p.stat().st_size for p, _ in members)
    now = datetime.datetime.now(datetime.UTC)
    stamp = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    text = readme(session_id, start, seal, len(segments), media_bytes, public_pem,
                  now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if extras:
        text += PLAYABLE_README.format(names="\n".join(f"    {n}" for _, n in extras))
    total += sum(p.stat().st_size for p, _ in extras)

    out_zip = Path(out_zip)
    if out_zip.resolve().is_relative_to((data_dir / "sessions").resolve()):
        raise Conflict("the bundle may not be written inside the sessions folder: that would "
                       "add a file to the evidence")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_zip.name}.", suffix=".part",
                                    dir=out_zip.parent)
    os.close(fd)
    done = 0
    try:
        with zipfile.ZipFile(tmp_name, "w", allowZip64=True) as zf:
            zf.writestr(_zip_info("README.txt", stamp, zipfile.ZIP_DEFLATED), text)
            zf.writestr(_zip_info("verify.py", stamp, zipfile.ZIP_DEFLATED),
                        VERIFIER_SOURCE.read_bytes())
            zf.writestr(_zip_info(PUBLIC_KEY_FILE, stamp, zipfile.ZIP_DEFLATED), public_pem)
            for path, name in [*members, *extras]:
                info = zipfile.ZipInfo.from_file(path, name, strict_timestamps=False)
                info.compress_type = (zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES
                                      else zipfile.ZIP_DEFLATED)
                info.external_attr = 0o644 << 16
                with open(path, "rb") as src, zf.open(info, "w") as dst:
                    while chunk := src.read(CHUNK):
                        dst.write(chunk)
                        done += len(chunk)
                        if progress is not None:
                            progress(done, max(total, done))
        with open(tmp_name, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_name, out_zip)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return ExportResult(out_zip, session_id, len(segments), media_bytes)
