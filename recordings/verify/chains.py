"""Every chain of a data dir, listed in one place: the node ledger, the audit log, the witness
ledger, the archive chain, the case chain, each materials chain and each session's ledger
(FORMAT.md "Checkpoints").

The node's checkpoints and the verifier both take the list from here, so a new chain is one
line below. A chain is a folder holding its entries (`ledger.jsonl`, the audit log's
`audit.jsonl`) and its signed heads (`heads.jsonl`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recordings.verify.chain import MATERIALS_CHAIN, SESSION_ID

NODE_CHAIN = "ledger"
AUDIT_CHAIN = "audit"
WITNESS_CHAIN = "witness"
ARCHIVE_CHAIN = "archive"
CASES_CHAIN = "cases"
SESSION_PREFIX = "sessions/"
MATERIALS_PREFIX = "materials/"


@dataclass(frozen=True)
class ChainFile:
    """One chain of a data dir: its name in checkpoints, its entries and its signed heads."""

    name: str
    ledger: Path
    heads: Path

    @property
    def session(self) -> str | None:
        """The session id of a session chain; None for the node-wide chains."""
        return self.name[len(SESSION_PREFIX):] if self.name.startswith(SESSION_PREFIX) else None


def _folder_chain(data_dir: Path, name: str, entries: str = "ledger.jsonl") -> ChainFile:
    return ChainFile(name, data_dir / name / entries, data_dir / name / "heads.jsonl")


def all_chains(data_dir: Path) -> list[ChainFile]:
    """Every chain of `data_dir` whose entries file exists, node-wide chains first."""
    data_dir = Path(data_dir)
    fixed = [
        _folder_chain(data_dir, NODE_CHAIN),
        _folder_chain(data_dir, AUDIT_CHAIN, "audit.jsonl"),
        _folder_chain(data_dir, WITNESS_CHAIN),
        _folder_chain(data_dir, ARCHIVE_CHAIN),
        _folder_chain(data_dir, CASES_CHAIN),
    ]
    chains = [c for c in fixed if c.ledger.is_file()]
    materials = data_dir / "materials"
    if materials.is_dir():
        for folder in sorted(materials.iterdir()):
            if MATERIALS_CHAIN.fullmatch(folder.name) and (folder / "ledger.jsonl").is_file():
                chains.append(_folder_chain(data_dir, MATERIALS_PREFIX + folder.name))
    sessions = data_dir / "sessions"
    if sessions.is_dir():
        for folder in sorted(sessions.iterdir()):
            if SESSION_ID.fullmatch(folder.name) and (folder / "ledger.jsonl").is_file():
                chains.append(_folder_chain(data_dir, SESSION_PREFIX + folder.name))
    return chains


def chain_file(data_dir: Path, name: str) -> ChainFile | None:
    """The chain a checkpoint names, wherever it lies (whether or not it still exists);
    None for a name no data dir chain can have."""
    fixed = {NODE_CHAIN: "ledger.jsonl", AUDIT_CHAIN: "audit.jsonl",
             WITNESS_CHAIN: "ledger.jsonl", ARCHIVE_CHAIN: "ledger.jsonl",
             CASES_CHAIN: "ledger.jsonl"}
    if name in fixed:
        return _folder_chain(Path(data_dir), name, fixed[name])
    if name.startswith(SESSION_PREFIX) and SESSION_ID.fullmatch(name[len(SESSION_PREFIX):]):
        return _folder_chain(Path(data_dir), name)
    if name.startswith(MATERIALS_PREFIX) \
            and MATERIALS_CHAIN.fullmatch(name[len(MATERIALS_PREFIX):]):
        return _folder_chain(Path(data_dir), name)
    return None
