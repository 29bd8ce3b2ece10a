"""Export bundles: one sealed session as a zip that anyone can check offline.

A bundle holds the session's folder exactly as the node wrote it (ledger, signed heads, every
segment), the node's public key, the standalone verifier (`recordings.verify` joined into one
file, as `verify.py`) and a README saying how to run it (`recordings.bundle_readme`); the
`fieldrelay export` bundle also carries the session as one C2PA-signed playable file
(`recordings.credentials`). Only the files under `sessions/` and the key are evidence.
"""

from __future__ import annotations

import datetime
import logging
import os
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.errors import Conflict, NotFound
from fieldrelay.files import private_dir
from recordings.bundle_readme import playable_readme, readme
from recordings.credentials import sign_media
from recordings.layout import session_folder
from recordings.media import RemuxCancelled, session_media
from recordings.store import LedgerCorrupt, read_entries
from recordings.verify import PUBLIC_KEY_FILE, Progress, standalone_source

CHUNK = 1 << 20
# Video segments are already compressed: storing them keeps export fast and the bytes plain.
STORED_SUFFIXES = (".webm", ".ts", ".mp4", ".jpg", ".png", ".webp", ".heic", ".m4a", ".ogg",
                   ".mp3", ".mov")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportResult:
    """What was written: the bundle, its session and how much media it carries."""

    path: Path
    session: str
    segments: int
    media_bytes: int


def export_with_playable(data_dir: Path, session_id: str, out_zip: Path,
                         progress: Progress | None = None,
                         stop: threading.Event | None = None) -> ExportResult:
    """The export bundle plus the session as one C2PA-signed file under `playable/`.

    The evidence matters more than the convenience copy: if the copy cannot be made, the
    bundle is written without it and the reason is logged.
    """
    start = check_exportable(data_dir, session_id)
    work = data_dir / "cache" / "exports"
    private_dir(work)
    with tempfile.TemporaryDirectory(prefix="playable.", dir=work) as tmp:
        extras: list[tuple[Path, str]] = []
        try:
            media_path, plan = session_media(data_dir, session_id, stop)
            signed = sign_media(data_dir, plan, media_path, start, Path(tmp))
            extras.append((signed.media, f"playable/{signed.media.name}"))
            if signed.sidecar is not None:
                extras.append((signed.sidecar, f"playable/{signed.sidecar.name}"))
        except RemuxCancelled:
            raise
        except Exception:
            log.exception("session %s: no playable copy in its bundle", session_id)
            extras = []
        return export_session(data_dir, session_id, out_zip, progress, extras)


def check_exportable(data_dir: Path, session_id: str) -> dict[str, Any]:
    """The start entry of a session that can be exported; NotFound or Conflict otherwise."""
    start, _ = sealed_entries(session_folder(data_dir, session_id), session_id)
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
    start, seal = sealed_entries(folder, session_id)
    public_pem = public_key(data_dir)
    members = list(session_members(folder, session_id))
    segments = [p for p, _ in members if p.name.startswith(("seg-", "tb-"))]
    media_bytes = sum(p.stat().st_size for p in segments)
    now = datetime.datetime.now(datetime.UTC)
    text = readme(session_id, start, seal, len(segments), media_bytes, public_pem,
                  now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if extras:
        text += playable_readme([n for _, n in extras])
    out_zip = destination(data_dir, Path(out_zip))
    written = [("README.txt", text.encode()), ("verify.py", standalone_source()),
               (PUBLIC_KEY_FILE, public_pem)]
    write_zip(out_zip, written, [*members, *extras], now, progress)
    return ExportResult(out_zip, session_id, len(segments), media_bytes)


def sealed_entries(folder: Path, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
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


def public_key(data_dir: Path) -> bytes:
    key_path = data_dir / "keys" / PUBLIC_KEY_FILE
    try:
        return key_path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{key_path} is missing: a bundle cannot be checked without it") from None


def session_members(folder: Path, session_id: str) -> Iterator[tuple[Path, str]]:
    """(file, name in the zip) of each evidence file of the session folder (ledger, heads,
    segments, materials), in order."""
    base = f"sessions/{session_id}"
    for name in ("ledger.jsonl", "heads.jsonl"):
        if (folder / name).is_file():
            yield folder / name, f"{base}/{name}"
    for path in (sorted(folder.glob("seg-*")) + sorted(folder.glob("tb-*"))
                 + sorted(folder.glob("mat-*"))):
        if path.is_file():
            yield path, f"{base}/{path.name}"


def destination(data_dir: Path, out_zip: Path) -> Path:
    """`out_zip`, once it is known not to add a file to the evidence; its folder made."""
    if out_zip.resolve().is_relative_to((data_dir / "sessions").resolve()):
        raise Conflict("the bundle may not be written inside the sessions folder: that would "
                       "add a file to the evidence")
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    return out_zip


def write_zip(out_zip: Path, written: Sequence[tuple[str, bytes]],
               files: Sequence[tuple[Path, str]], now: datetime.datetime,
               progress: Progress | None) -> None:
    """The zip under a temporary name beside `out_zip`, fsynced, then renamed into place."""
    stamp = (now.year, now.month, now.day, now.hour, now.minute, now.second)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out_zip.name}.", suffix=".part",
                                    dir=out_zip.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", allowZip64=True) as zf:
            for name, data in written:
                info = zipfile.ZipInfo(name, date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
            _copy_files(zf, files, progress)
        with open(tmp_name, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp_name, out_zip)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _copy_files(zf: zipfile.ZipFile, files: Sequence[tuple[Path, str]],
                progress: Progress | None) -> None:
    """Each file into the zip a chunk at a time, media stored as it is."""
    total = sum(p.stat().st_size for p, _ in files)
    done = 0
    for path, name in files:
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
