"""Verifying evidence: `fieldrelay verify`, and the standalone `verify.py` of every bundle.

One check per rule of recordings/FORMAT.md "Intact means", each in the module of what it
checks: `chain` (the pure format), `folder` and `files` (a session folder), `heads`,
`datadir` (node and audit chains), `bundle`, `checkpoints` (chains against checkpoints),
`witnesses` (witnesses' copies), `tsa` (time-stamp tokens); `chains` lists a data dir's
chains, `keyring` the node's keys across rotations; `verdict` holds the structured breaks they
return, `output` renders them, `paths` picks the check for a path, `script` is the bundle's
command line and `command` is fieldrelay's. `standalone` joins the checking modules into the
one file a bundle ships. Those modules import only the standard library and `cryptography`.
"""

from recordings.verify.bundle import verify_bundle, verify_bundle_dir
from recordings.verify.chain import (
    FORMAT,
    GENESIS,
    PUBLIC_KEY_FILE,
    SESSION_ID,
    LinkBreak,
    canonical,
    check_chain,
    entry_hash,
    head_message,
    key_fingerprint,
    load_public_key,
    verify_head,
)
from recordings.verify.command import EXIT_BROKEN, EXIT_INTACT, EXIT_USAGE, check, run
from recordings.verify.datadir import verify_data_dir
from recordings.verify.output import TextProgress, format_report, print_verdict
from recordings.verify.paths import verify_path
from recordings.verify.reading import CHUNK, Progress
from recordings.verify.sessions import verify_session_dir
from recordings.verify.standalone import standalone_source
from recordings.verify.verdict import (
    RULE_AUDIT,
    RULE_BUNDLE,
    RULE_CHAIN,
    RULE_ENTRIES,
    RULE_FILES,
    RULE_HEADS,
    RULE_KEY,
    RULE_NODE,
    RULE_SEAL,
    Break,
    Checked,
    NotEvidence,
    Report,
)

__all__ = [
    "CHUNK",
    "EXIT_BROKEN",
    "EXIT_INTACT",
    "EXIT_USAGE",
    "FORMAT",
    "GENESIS",
    "PUBLIC_KEY_FILE",
    "RULE_AUDIT",
    "RULE_BUNDLE",
    "RULE_CHAIN",
    "RULE_ENTRIES",
    "RULE_FILES",
    "RULE_HEADS",
    "RULE_KEY",
    "RULE_NODE",
    "RULE_SEAL",
    "SESSION_ID",
    "Break",
    "Checked",
    "LinkBreak",
    "NotEvidence",
    "Progress",
    "Report",
    "TextProgress",
    "canonical",
    "check",
    "check_chain",
    "entry_hash",
    "format_report",
    "head_message",
    "key_fingerprint",
    "load_public_key",
    "print_verdict",
    "run",
    "standalone_source",
    "verify_bundle",
    "verify_bundle_dir",
    "verify_data_dir",
    "verify_head",
    "verify_path",
    "verify_session_dir",
]
