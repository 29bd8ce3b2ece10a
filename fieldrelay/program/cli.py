"""The `fieldrelay` command: flags and environment in, a Config out, then the work."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from fieldrelay.errors import BadRequest
from fieldrelay.program import accounts, archive, cases, evidence, portals, serve
from fieldrelay.program.exits import EXIT_USAGE

Command = Callable[[argparse.Namespace], int]
# In the order `fieldrelay --help` lists them; each adds its parser and sets `run`.
COMMANDS = (serve.add_serve, accounts.add_user, accounts.add_token, evidence.add_verify,
            serve.add_cluster, evidence.add_export, evidence.add_reindex,
            evidence.add_retention, evidence.add_key, archive.add_restore, cases.add_case,
            portals.add_portal, portals.add_portal_user)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every serve flag has a FIELDRELAY_* environment variable."""
    parser = argparse.ArgumentParser(prog="fieldrelay", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fieldrelay` console script."""
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except BadRequest as exc:
        print(f"fieldrelay: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
