"""Checks fieldrelay evidence: a session folder, a whole data dir, or an export bundle.

This file is shipped inside every export bundle as `verify.py`. It imports only the Python
standard library and `cryptography`: whoever receives a bundle can check it offline on a
clean machine, without fieldrelay installed.

    python3 verify.py BUNDLE.zip          (or the bundle's extracted folder)
    python3 verify.py DATA_DIR            (every session, the node ledger and its signatures)
    python3 verify.py DATA_DIR/sessions/ID
    python3 verify.py BUNDLE.zip --witness OTHER_NODE_DATA_DIR --witness EXPORT.json

Exit status: 0 intact, 1 broken (the first broken place is named), 2 usage.
The format checked is recordings/FORMAT.md, format 1: each rule of its "Intact means" section
is one check below, and each check names its rule.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from recordings.verify.output import TextProgress, print_verdict
from recordings.verify.paths import verify_path
from recordings.verify.verdict import NotEvidence
from recordings.verify.witnesses import WitnessCopy, load_witness

USAGE = """usage: python3 verify.py PATH [--key PUBLIC_KEY.pem] [--witness PATH_OR_URL]...

PATH is an export bundle (.zip) or its extracted folder, a fieldrelay data dir, or one session
folder. Every segment file's SHA-256, the hash chain of the ledger and the node's signatures are
checked, and every chain against the node's checkpoints. --key checks the signatures against
that public key instead of the one that comes with the evidence. --witness (repeatable) also
checks the chains against a witness's copy of the checkpoints: another node's data dir, a
checkpoint export (.json), a witness directory, or a node URL (token in FIELDRELAY_TOKEN).

Exit status: 0 intact, 1 broken (the first broken place is named), 2 usage."""


def _key_argument(args: list[str]) -> bytes | int | None:
    """The PEM named by `--key` (removed from `args`), None without one, or exit status 2."""
    if "--key" not in args:
        return None
    at = args.index("--key")
    if at + 1 >= len(args):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        pem = Path(args[at + 1]).read_bytes()
    except OSError as exc:
        print(f"verify: cannot read the key {args[at + 1]}: {exc.strerror}", file=sys.stderr)
        return 2
    del args[at:at + 2]
    return pem


def witness_arguments(args: list[str]) -> list[WitnessCopy]:
    """The witnesses named by `--witness` (removed from `args`), read; NotEvidence when one
    cannot be read or is no witness."""
    copies = []
    while "--witness" in args:
        at = args.index("--witness")
        if at + 1 >= len(args):
            raise NotEvidence("--witness needs a path or a URL")
        copies.append(load_witness(args[at + 1]))
        del args[at:at + 2]
    return copies


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 verify.py PATH [--key PEM]`: print the verdict; exit 0 intact, 1 broken, 2 usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    key_pem = _key_argument(args)
    if isinstance(key_pem, int):
        return key_pem
    try:
        witnesses = witness_arguments(args)
    except NotEvidence as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    bar = TextProgress(sys.stderr)
    try:
        report = verify_path(Path(args[0]), bar, key_pem, witnesses)
    except NotEvidence as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print_verdict(report, sys.stdout)
    return 0 if report.ok else 1
