"""Checks fieldrelay evidence: a session folder, a whole data dir, or an export bundle.

This file is shipped inside every export bundle as `verify.py`. It imports only the Python
standard library and `cryptography`: whoever receives a bundle can check it offline on a
clean machine, without fieldrelay installed.

    python3 verify.py BUNDLE.zip          (or the bundle's extracted folder)
    python3 verify.py DATA_DIR            (every session, the node ledger and its signatures)
    python3 verify.py DATA_DIR/sessions/ID

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

USAGE = """usage: python3 verify.py PATH [--key PUBLIC_KEY.pem]

PATH is an export bundle (.zip) or its extracted folder, a fieldrelay data dir, or one session
folder. Every segment file's SHA-256, the hash chain of the ledger and the node's signatures are
checked. --key checks the signatures against that public key instead of the one that comes
with the evidence.

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


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 verify.py PATH [--key PEM]`: print the verdict; exit 0 intact, 1 broken, 2 usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE)
        return 0
    key_pem = _key_argument(args)
    if isinstance(key_pem, int):
        return key_pem
    if len(args) != 1:
        print(USAGE, file=sys.stderr)
        return 2
    bar = TextProgress(sys.stderr)
    try:
        report = verify_path(Path(args[0]), bar, key_pem)
    except NotEvidence as exc:
        print(f"verify: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print_verdict(report, sys.stdout)
    return 0 if report.ok else 1
