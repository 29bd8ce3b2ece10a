"""The verdict: structured breaks, the counts of what checked out, and the report.

A break names the rule of FORMAT.md "Intact means" it breaks and the place (session, file,
line, entry, segment) as data; its sentence is rendered from it, for the command line and for
the review API alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The rules of FORMAT.md "Intact means", by the names that file gives them.
RULE_CHAIN = "chain"
RULE_ENTRIES = "entries"
RULE_FILES = "files"
RULE_HEADS = "heads"
RULE_SEAL = "seal"
RULE_NODE = "node"
RULE_AUDIT = "audit"
RULE_CASES = "cases"
RULE_KEY = "key"
RULE_BUNDLE = "bundle"
RULE_CHECKPOINTS = "checkpoints"
RULE_WITNESS = "witness"
RULE_MATERIALS = "materials"


@dataclass(frozen=True)
class Break:
    """One place where the evidence stops being intact.

    `rule` is the FORMAT.md rule it breaks and `kind` a finer name for what happened
    (`segment.changed`, `chain.missing`, ...). The place: `session`, `file` (relative to the
    session folder, or to the data dir or bundle for node, audit and bundle files), `line` of
    that file, `entry` (the chain entry the break is about) and `segment` (the index of a
    segment entry). Each is None where it does not apply. `reason` says what happened, naming
    the place in words; `about` is the subject of the sentence when it is not a session.
    """

    rule: str
    kind: str
    reason: str
    session: str | None = None
    file: str | None = None
    line: int | None = None
    entry: int | None = None
    segment: int | None = None
    about: str | None = None

    @property
    def sentence(self) -> str:
        """The break as one sentence a reviewer understands."""
        subject = f"Session {self.session}" if self.session is not None else self.about
        return f"{subject}: {self.reason}." if subject else f"{self.reason}."


@dataclass(frozen=True)
class Where:
    """The subject of a group of checks, to make their breaks: a session or a named thing."""

    session: str | None = None
    about: str | None = None

    def brk(self, rule: str, kind: str, reason: str, *, file: str | None = None,
            line: int | None = None, entry: int | None = None,
            segment: int | None = None) -> Break:
        """A break of `rule` found here."""
        return Break(rule, kind, reason, self.session, file, line, entry, segment, self.about)


class Broken(Exception):
    """Raised by a check to stop at the first break of what it checks."""

    def __init__(self, brk: Break) -> None:
        super().__init__(brk.sentence)
        self.brk = brk


@dataclass
class Checked:
    """How much was checked and found intact."""

    sessions: int = 0
    segments: int = 0
    materials: int = 0
    entries: int = 0
    signatures: int = 0
    bytes: int = 0
    checkpoints: int = 0


@dataclass
class Report:
    """The verdict: `ok`, every break in the order found, notes, warnings and counts.

    A warning (evidence other local users may read) never makes the evidence broken.
    """

    target: str
    checked: Checked = field(default_factory=Checked)
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_fingerprint: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing is broken."""
        return not self.breaks

    @property
    def first(self) -> Break | None:
        """The first broken place; None when intact."""
        return self.breaks[0] if self.breaks else None

    @property
    def first_break(self) -> str | None:
        """The first broken place, as a sentence a reviewer understands; None when intact."""
        return self.breaks[0].sentence if self.breaks else None


class NotEvidence(ValueError):
    """The path is none of the things this verifier checks (a usage error, exit 2)."""
