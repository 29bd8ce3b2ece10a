"""A case's bundle: every sealed session and every material of one case, checked by one
`verify.py`.

The bundle holds, exactly as the node wrote them, the folder of each sealed or interrupted
session of the case (or holding a material of it), and the case's materials chain; beside
them the node's public key, the standalone verifier, `case.json` (what the bundle holds) and
a README. Sessions still being recorded are left out, and the README says so.
"""

from __future__ import annotations

import datetime
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fieldrelay.errors import NotFound
from fieldrelay.files import private_dir
from recordings.casebook import CASES_DIR, timeline
from recordings.checkpoints import covering
from recordings.credentials import MATERIAL_MIMES, sign_material
from recordings.export import destination, public_key, session_members, write_zip
from recordings.keyrotation import bundle_key_files
from recordings.layout import OPEN_MARKER
from recordings.material_catalog import Found, MaterialCatalog
from recordings.material_rules import MATERIALS_DIR, chain_name
from recordings.store import LedgerCorrupt, read_entries
from recordings.verify import PUBLIC_KEY_FILE, Progress, standalone_source
from recordings.verify.chain import SESSION_ID, key_fingerprint, load_public_key

log = logging.getLogger(__name__)

CASE_README = """fieldrelay case bundle
======================

Case       {case}
Exported   {exported} (UTC)
Sessions   {sessions}
Materials  {materials}
Key        node-ed25519.pub.pem, SHA-256 fingerprint
           {fingerprint}

Check it, offline, with Python 3 and the `cryptography` package only:

    python3 verify.py {zip_name}

It checks every session folder under sessions/ and the case's materials chain under
materials/: each file's size and SHA-256 against its ledger entry, the hash chains and the
node's Ed25519 signatures over them. It prints INTACT or BROKEN with the first broken place,
naming the session or material. Compare the key fingerprint with the one the node's
operator published.

What the people around the case did
-----------------------------------
case.json's `timeline` lists, beside the materials, the case chain's entries of this case:
tasks sent to grid workers and their replies, a party's clues and messages, the steps
published to the parties, each with the portal message it travelled under. They are copied
from the node's case chain (which holds every case, so it is not in this bundle): the node's
`fieldrelay verify` checks that chain. A photo sent with a clue or a reply is a material
here (its officer `party:NAME` or `grid:NAME`, with the clue or task it belongs to): the
node hashed it when it pulled it from the portal, which kept it only until then.

What the materials are
----------------------
Materials were handed in by the officer's phone (photos, audio notes, documents, video
clips). Each entry records what the node observed itself (its size, its SHA-256, when its
last byte arrived: `received_at`) apart from what the phone claimed (`claims`: the capture
time, the position, and for recordings the span they cover, on the phone's clock).

A `gapfill` material is the phone's own recording of a time the live stream was cut off,
sent after the link came back; a `preevent` material holds the seconds the phone kept
before the session started. Both are weaker evidence than the live recording: the node
hashed and sealed them on arrival, not while they happened, so nothing proves they were
not changed on the phone before they were sent. The session's `gap.filled` and
`preevent.attached` events say which material covers what.

{left_out}{playable}The file case.json lists what this bundle holds; it is not signed and is not
evidence.
"""
PLAYABLE = """Signed copies
-------------
playable/materials/ holds a copy of each JPEG and MP4 material with C2PA content credentials
inside, signed by the node's key (C2PA tools such as c2patool show them). The credentials
repeat what the ledger says; the evidence remains the material files and the ledgers above.

"""


@dataclass(frozen=True)
class CaseExport:
    """What a case bundle holds."""

    path: Path
    case: str
    sessions: list[str]
    materials: list[str]
    left_out: list[str]


def _session_cases(entries: list[dict[str, Any]]) -> set[str]:
    cases = set()
    for e in entries:
        sets_case = e.get("kind") == "session.start" or e.get("event") == "case.set"
        if sets_case and isinstance(e.get("case"), str):
            cases.add(str(e["case"]))
    return cases


def case_trail(data_dir: Path, case: str) -> list[dict[str, Any]]:
    """The case chain's entries of a case (tasks, clues, messages, published steps...) as
    timeline items, oldest first; none when the node keeps no case chain."""
    return timeline(read_entries(data_dir / CASES_DIR / "ledger.jsonl"), case)


def case_contents(data_dir: Path, case: str,
                  catalog: MaterialCatalog) -> tuple[list[str], list[str], list[Found]]:
    """(sealed sessions, sessions still recorded, materials) of a case; NotFound if none
    (and the case chain holds nothing of it either)."""
    materials = catalog.search(case=case)
    holding = {f.chain.split("/", 1)[1] for f in materials if f.chain.startswith("sessions/")}
    sessions: list[str] = []
    open_ones: list[str] = []
    base = data_dir / "sessions"
    for folder in sorted(base.iterdir()) if base.is_dir() else []:
        if not SESSION_ID.fullmatch(folder.name):
            continue
        try:
            entries = list(read_entries(folder / "ledger.jsonl"))
        except LedgerCorrupt:
            entries = []
        if folder.name not in holding and case not in _session_cases(entries):
            continue
        (open_ones if (folder / OPEN_MARKER).exists() else sessions).append(folder.name)
    if not sessions and not open_ones and not materials and not case_trail(data_dir, case):
        raise NotFound(f"no session or material has the case number {case!r}")
    return sessions, open_ones, materials


def export_case(data_dir: Path, case: str, out_zip: Path, progress: Progress | None = None,
                catalog: MaterialCatalog | None = None) -> CaseExport:
    """Write the bundle of a case to `out_zip` (NotFound for a case with nothing in it)."""
    catalog = catalog or MaterialCatalog(data_dir)
    sessions, open_ones, materials = case_contents(data_dir, case, catalog)
    public_pem = public_key(data_dir)
    files: list[tuple[Path, str]] = []
    for sid in sessions:
        files.extend(session_members(data_dir / "sessions" / sid, sid))
    chain = data_dir / MATERIALS_DIR / chain_name(case)
    if chain.is_dir():
        files.extend(_chain_members(chain))
    exported = [f for f in materials if not f.chain.startswith("sessions/")
                or f.chain.split("/", 1)[1] in sessions]
    now = datetime.datetime.now(datetime.UTC)
    out_zip = destination(data_dir, Path(out_zip))
    work = data_dir / "cache" / "exports"
    private_dir(work)
    with tempfile.TemporaryDirectory(prefix="case.", dir=work) as tmp:
        extras = _signed_copies(data_dir, catalog, exported, Path(tmp))
        written = [("README.txt", _readme(case, sessions, exported, open_ones, public_pem,
                                          out_zip.name, now, bool(extras)).encode()),
                   ("case.json", _manifest(case, sessions, exported, open_ones,
                                           case_trail(data_dir, case))),
                   ("verify.py", standalone_source()), (PUBLIC_KEY_FILE, public_pem)]
        # The checkpoints (with countersignatures and time stamps) that cover what the bundle
        # holds: a bundle cut back below them is broken, even offline.
        named = {f"sessions/{sid}" for sid in sessions}
        if chain.is_dir():
            named.add(f"{MATERIALS_DIR}/{chain.name}")
        written += sorted(covering(data_dir, named).items())
        written += sorted(bundle_key_files(data_dir).items())
        write_zip(out_zip, written, [*files, *extras], now, progress)
    return CaseExport(out_zip, case, sessions, [str(f.entry["material"]) for f in exported],
                      open_ones)


def _signed_copies(data_dir: Path, catalog: MaterialCatalog, materials: Sequence[Found],
                   out_dir: Path) -> list[tuple[Path, str]]:
    """C2PA-signed copies of the JPEG and MP4 materials; one that cannot be signed (a file
    that does not parse as its type) is left out and logged: the evidence is the original."""
    out = []
    for f in materials:
        if f.entry.get("mime") not in MATERIAL_MIMES:
            continue
        try:
            signed = sign_material(data_dir, f.entry, catalog.path(f), out_dir)
        except Exception as exc:
            log.warning("material %s: no signed copy in the case bundle (%s)",
                        f.entry.get("material"), exc)
            continue
        out.append((signed, f"playable/materials/{signed.name}"))
    return out


def _chain_members(folder: Path) -> list[tuple[Path, str]]:
    base = f"{MATERIALS_DIR}/{folder.name}"
    out = [(folder / n, f"{base}/{n}") for n in ("ledger.jsonl", "heads.jsonl")
           if (folder / n).is_file()]
    out.extend((p, f"{base}/{p.name}") for p in sorted(folder.glob("mat-*")) if p.is_file())
    return out


def _manifest(case: str, sessions: Sequence[str], materials: Sequence[Found],
              left_out: Sequence[str], trail: list[dict[str, Any]]) -> bytes:
    items = [*trail, *({"at": f.public["from"] or f.public["captured_at"]
                        or f.public["received_at"], "type": "material",
                        "material": f.public["id"], "kind": f.public["kind"],
                        "officer": f.public["officer"]} for f in materials)]
    items.sort(key=lambda x: str(x.get("at") or ""))
    return json.dumps({"case": case, "sessions": list(sessions),
                       "materials": [f.public for f in materials],
                       "left_out_still_recording": list(left_out),
                       "timeline": items},
                      indent=1, sort_keys=True).encode()


def _readme(case: str, sessions: Sequence[str], materials: Sequence[Found],
            left_out: Sequence[str], public_pem: bytes, zip_name: str,
            now: datetime.datetime, signed: bool) -> str:
    note = ""
    if left_out:
        note = ("Left out: these sessions of the case were still being recorded when the "
                f"bundle was made: {', '.join(left_out)}.\n\n")
    return CASE_README.format(
        case=case, exported=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        sessions=", ".join(sessions) or "none",
        materials=(", ".join(f"{f.entry.get('material_kind')} {f.entry.get('material')}"
                             for f in materials) or "none"),
        fingerprint=_fingerprint(public_pem), zip_name=zip_name, left_out=note,
        playable=PLAYABLE if signed else "")


def _fingerprint(public_pem: bytes) -> str:
    try:
        return key_fingerprint(load_public_key(public_pem))
    except ValueError:
        return "(the key file is not a readable Ed25519 public key)"
