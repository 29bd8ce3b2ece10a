"""Materials chains: the materials sealed outside any live session, one chain per case.

FORMAT.md "Materials" and rule "materials", with the rules "entries", "chain", "heads" and
"files" as for a session folder: the chain's links hold, it starts with `materials.start`
naming its folder, its entries are materials and events, every head verifies, and every
material file it lists is there with its size and SHA-256 (and no other `mat-*` file is).
A materials chain never closes, so entries after its newest signature are only a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from recordings.verify.chain import FORMAT, MATERIALS_CHAIN
from recordings.verify.files import check_listed_files, check_unlisted_files
from recordings.verify.folder import (
    HEADS,
    LEDGER,
    Listed,
    SessionCheck,
    _At,
    check_links,
    check_material_record,
)
from recordings.verify.heads import check_heads
from recordings.verify.reading import Lines, read_lines, span
from recordings.verify.verdict import RULE_CHAIN, RULE_ENTRIES, RULE_MATERIALS, Broken, Where

MATERIALS_DIR = "materials"
# What a materials chain holds besides its start: materials and the events they caused.
MATERIALS_KINDS = ("material", "event")


@dataclass
class MaterialsCheck(SessionCheck):
    """What the cheap pass found in one materials chain's folder."""

    @property
    def where(self) -> Where:
        return Where(about=f"The materials chain {self.folder.name}")

    @property
    def title(self) -> str:
        return f"The materials chain {self.folder.name}"

    @property
    def is_session(self) -> bool:
        return False


def materials_folders(root: Path) -> list[Path]:
    """The chain folders under `<root>/materials/`, named as FORMAT.md says; others are not."""
    base = root / MATERIALS_DIR
    if not base.is_dir():
        return []
    return [child for child in sorted(base.iterdir())
            if child.is_dir() and MATERIALS_CHAIN.fullmatch(child.name)]


def inspect_materials(folder: Path, key: Ed25519PublicKey) -> MaterialsCheck:
    """The cheap checks of one materials chain: ledger, entries, signatures, files and sizes."""
    ledger = read_lines(folder / LEDGER)
    s = MaterialsCheck(folder=folder, sid=folder.name)
    try:
        _check_materials_ledger(s, ledger)
        check_links(s, ledger)
        listed = _check_materials_entries(s, ledger)
        _check_materials_signed(s, ledger, key)
        if check_listed_files(s, listed):
            check_unlisted_files(s, listed)
    except Broken as exc:
        s.broken = exc.brk
    return s


def _check_materials_ledger(s: MaterialsCheck, ledger: Lines) -> None:
    """Rules "entries" and "chain": the ledger is there, readable and not empty."""
    w = s.where
    if not ledger.exists:
        raise Broken(w.brk(RULE_CHAIN, "ledger.missing", "ledger.jsonl is missing, so nothing "
                           "records the materials of this folder", file=LEDGER))
    if ledger.bad is not None:
        raise Broken(w.brk(RULE_ENTRIES, "ledger.unreadable", f"ledger.jsonl {ledger.bad}: "
                           "the ledger was damaged or edited", file=LEDGER,
                           line=ledger.bad_line))
    if ledger.torn is not None:
        s.notes.append(f"{s.title}: ledger.jsonl line {ledger.torn} was cut off mid-write "
                       "(the node stopped while writing it); it is not evidence.")
    if not ledger.items:
        raise Broken(w.brk(RULE_CHAIN, "ledger.empty", "ledger.jsonl is empty", file=LEDGER))


def _check_materials_entries(s: MaterialsCheck, ledger: Lines) -> list[Listed]:
    """Rule "materials": a start naming this folder, then materials and events of format 1."""
    listed: list[Listed] = []
    files: set[str] = set()
    for seq, (line, entry) in enumerate(zip(ledger.numbers, ledger.items, strict=True)):
        at = _At(s.where, line, seq)
        if entry.get("v") != FORMAT:
            raise at.broken("entries.version", f"is in format version {entry.get('v')!r}, "
                                               "which this verifier does not know")
        kind = entry.get("kind")
        if seq == 0:
            if kind != "materials.start" or entry.get("chain") != s.folder.name:
                raise Broken(s.where.brk(RULE_MATERIALS, "materials.no_start",
                                         f"ledger.jsonl line {line} (entry 0) is not the start "
                                         f"of the materials chain {s.folder.name}",
                                         file=LEDGER, line=line, entry=0))
            continue
        if kind not in MATERIALS_KINDS:
            raise Broken(s.where.brk(RULE_MATERIALS, "materials.bad_kind",
                                     f"{at.here} is a {kind!r} entry, which a materials chain "
                                     "does not hold", file=LEDGER, line=line, entry=seq))
        if kind == "material":
            check_material_record(entry, at, files)
            s.recorded[str(entry["sha256"])] = str(entry["file"])
            listed.append(Listed(line, seq, entry))
    return listed


def _check_materials_signed(s: MaterialsCheck, ledger: Lines, key: Ed25519PublicKey) -> None:
    """Rule "heads": every head verifies; entries after the newest one are only a note."""
    heads = check_heads(read_lines(s.folder / HEADS), ledger.items, key, HEADS, s.where,
                        may_be_torn=True)
    if heads.problem is not None:
        raise Broken(heads.problem)
    s.signatures = heads.signatures
    last = len(ledger.items) - 1
    if heads.signed_to < last:
        first = heads.signed_to + 1
        lines = span(ledger.numbers[first], ledger.numbers[last], "line", "lines")
        s.notes.append(f"{s.title}: {span(first, last)} (ledger.jsonl {lines}) "
                       f"{'is' if first == last else 'are'} not yet signed.")
