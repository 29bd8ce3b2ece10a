"""Any path: find out whether it is a bundle, a data dir or a session folder, and check it."""

from __future__ import annotations

import zipfile
from pathlib import Path

from recordings.verify.bundle import verify_bundle, verify_bundle_dir
from recordings.verify.chain import PUBLIC_KEY_FILE
from recordings.verify.datadir import verify_data_dir
from recordings.verify.modes import mode_warnings
from recordings.verify.reading import Progress
from recordings.verify.sessions import check_session_dir
from recordings.verify.verdict import NotEvidence, Report


def verify_path(path: Path, progress: Progress | None = None,
                public_pem: bytes | None = None) -> Report:
    """Check whatever `path` is: a bundle (.zip or extracted), a data dir or a session folder.

    Raises NotEvidence when it is none of these. `public_pem` replaces the key found beside
    the evidence (for checking against a key published by the node's operator).
    """
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            return verify_bundle(path, progress, public_pem)
        raise NotEvidence(f"{path} is a file but not an export bundle (.zip)")
    if not path.is_dir():
        raise NotEvidence(f"{path} does not exist")
    if (path / "sessions").is_dir() and (path / "keys").is_dir():
        report = verify_data_dir(path, progress, public_pem)
        report.warnings.extend(mode_warnings(path, data_dir=True))
        return report
    if ((path / "sessions").is_dir() or (path / "materials").is_dir()) \
            and (path / PUBLIC_KEY_FILE).is_file():
        return verify_bundle_dir(path, progress, public_pem)
    if (path / "ledger.jsonl").is_file() and path.resolve().parent.name == "sessions":
        report = _verify_lone_session(path, progress, public_pem)
        report.warnings.extend(mode_warnings(path, data_dir=False))
        return report
    raise NotEvidence(f"{path} is not a session folder, a data dir or an export bundle")


def _verify_lone_session(path: Path, progress: Progress | None,
                         public_pem: bytes | None) -> Report:
    """A session folder alone, with the key of the data dir or bundle it sits in."""
    exported = False
    if public_pem is None:
        parent = path.resolve().parent
        for candidate, in_bundle in ((parent.parent / "keys" / PUBLIC_KEY_FILE, False),
                                     (parent.parent / PUBLIC_KEY_FILE, True)):
            if candidate.is_file():
                public_pem, exported = candidate.read_bytes(), in_bundle
                break
        else:
            raise NotEvidence(f"{path} is a session folder, but the node's public key is "
                              f"neither in {parent.parent / 'keys'} nor beside sessions/; "
                              "give it with --key")
    return check_session_dir(path, public_pem, progress, exported=exported)
