"""An export bundle: a zip, or its extracted folder, unpacked safely and then checked.

FORMAT.md rule "bundle": a sound zip whose members stay inside its folder and appear once,
holding sealed session folders and the node's public key.
"""

from __future__ import annotations

import re
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from recordings.verify.chain import MATERIAL_PREFIX, MEDIA_PREFIXES, PUBLIC_KEY_FILE
from recordings.verify.materials import inspect_materials, materials_folders
from recordings.verify.reading import CHUNK, Meter, Progress
from recordings.verify.sessions import evidence_key, finish, inspect_session, session_folders
from recordings.verify.verdict import RULE_BUNDLE, Break, Broken, Report


def _member_parts(info: zipfile.ZipInfo) -> list[str] | None:
    """The path parts of a zip member, or None when it could land outside the folder."""
    name = info.filename
    if not name or "\\" in name or "\x00" in name or name.startswith("/") \
            or re.match(r"[A-Za-z]:", name):
        return None
    parts = name.rstrip("/").split("/") if info.is_dir() else name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return None
    return parts


def _bundle_break(kind: str, reason: str, member: str | None = None) -> Broken:
    return Broken(Break(RULE_BUNDLE, kind, reason, file=member))


def _check_members(zf: zipfile.ZipFile, name: str) -> None:
    """Rule "bundle": every member stays inside the bundle's folder and appears once."""
    seen: set[str] = set()
    for info in zf.infolist():
        if _member_parts(info) is None:
            raise _bundle_break("bundle.escapes", f"The bundle {name} holds a file named "
                                f"{info.filename!r} that would be written outside its folder: "
                                "it was not made by fieldrelay export", info.filename)
        if info.filename in seen:
            raise _bundle_break("bundle.duplicate", f"The bundle {name} holds two files named "
                                f"{info.filename}: it was changed after export", info.filename)
        seen.add(info.filename)


def _unpack(zf: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, meter: Meter) -> None:
    """Rule "bundle": one member under `root`, matching the checksum the zip recorded."""
    parts = _member_parts(info)
    assert parts is not None  # _check_members refused the others
    dest = root.joinpath(*parts)
    if info.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zf.open(info) as src, open(dest, "xb") as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk)
                meter.add(len(chunk))
    except zipfile.BadZipFile:
        raise _bundle_break("bundle.damaged", f"The bundle's file {info.filename} is damaged: "
                            "its content no longer matches the checksum the zip recorded when "
                            "the bundle was made, so it was changed after export",
                            info.filename) from None
    except (OSError, EOFError, RuntimeError, NotImplementedError) as exc:
        raise _bundle_break("bundle.damaged", f"The bundle's file {info.filename} cannot be "
                            f"unpacked ({exc}): the bundle was damaged", info.filename) from None


def _extract(zip_path: Path, root: Path, meter: Meter) -> None:
    """Unpack the bundle under `root`; Broken when it is not a sound zip."""
    name = zip_path.name
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a readable zip"
        raise _bundle_break("bundle.unreadable", f"The bundle {name} cannot be opened ({why}): "
                            "it was damaged or is not a bundle") from None
    with zf:
        _check_members(zf, name)
        infos = zf.infolist()
        # Segment files are read twice: once to unpack, once to hash.
        meter.total = sum(i.file_size for i in infos) + sum(
            i.file_size for i in infos
            if PurePosixPath(i.filename).name.startswith((*MEDIA_PREFIXES, MATERIAL_PREFIX)))
        for info in infos:
            _unpack(zf, info, root, meter)


def verify_bundle(zip_path: Path, progress: Progress | None = None,
                  public_pem: bytes | None = None) -> Report:
    """Check an export bundle (zip): unpacked safely into a temporary folder, then checked."""
    zip_path = Path(zip_path)
    meter = Meter(progress)
    with tempfile.TemporaryDirectory(prefix="fieldrelay-verify-") as tmp:
        try:
            _extract(zip_path, Path(tmp), meter)
        except Broken as exc:
            report = Report(target=f"export bundle {zip_path.name}")
            report.breaks.append(exc.brk)
            return report
        return check_bundle_dir(Path(tmp), f"export bundle {zip_path.name}", meter,
                                public_pem)


def verify_bundle_dir(path: Path, progress: Progress | None = None,
                      public_pem: bytes | None = None) -> Report:
    """Check an export bundle that was already extracted into `path`."""
    return check_bundle_dir(Path(path), f"export bundle folder {path}", Meter(progress),
                            public_pem)


def check_bundle_dir(root: Path, target: str, meter: Meter,
                     public_pem: bytes | None) -> Report:
    """Check the sessions and materials chains of an extracted bundle with its own key (or
    the one given)."""
    report = Report(target=target)
    key = evidence_key(root / PUBLIC_KEY_FILE, public_pem, report)
    if key is None:
        return report
    folders = session_folders(root / "sessions", report)
    chains = materials_folders(root)
    if not folders and not chains:
        report.breaks.append(Break(RULE_BUNDLE, "bundle.empty",
                                   "The bundle holds no session folder under sessions/ and no "
                                   "materials chain under materials/"))
        return report
    sessions = [inspect_session(f, key, exported=True, strict_name=True) for f in folders]
    materials = [inspect_materials(f, key) for f in chains]
    finish(report, [*sessions, *materials], meter)
    return report
