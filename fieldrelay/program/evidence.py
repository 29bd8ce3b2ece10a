"""The commands about evidence: `verify`, `export`, `reindex` and `retention`.

Each is a thin shell over `recordings/`: it parses, calls, and turns the result into a line
for a person and an exit code.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from fieldrelay.errors import FieldRelayError
from fieldrelay.program.archive import add_archive_flags, reindex_from_archive
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fieldrelay.program.settings import add_flag
from recordings import verify
from recordings.audit import AuditLog
from recordings.case_export import export_case
from recordings.export import export_with_playable
from recordings.index import reindex
from recordings.keyrotation import rotate_key
from recordings.retention import run_retention
from recordings.signing import NodeKey
from recordings.verify import TextProgress


def add_verify(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay verify PATH [--key PEM]`."""
    parser = commands.add_parser("verify", help="check a session folder, a data dir or an "
                                                "export bundle, and name the first broken link")
    parser.add_argument("path", type=Path,
                        help="a session folder, a data dir, or an export bundle (.zip or "
                             "its extracted folder)")
    parser.add_argument("--key", type=Path, default=None,
                        help="check signatures against this public key (PEM) instead of the "
                             "one that comes with the evidence")
    parser.add_argument("--witness", action="append", default=[], metavar="PATH_OR_URL",
                        help="also check every chain against this witness's copy of the "
                             "checkpoints: another node's data dir, a checkpoint export "
                             "(.json), a witness directory, or a node URL (token in "
                             "FIELDRELAY_TOKEN); repeatable")
    parser.set_defaults(run=cmd_verify)


def add_export(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay export SESSION_ID -o FILE.zip` or `fieldrelay export --case CASE -o FILE.zip`."""
    parser = commands.add_parser("export", help="write a sealed session's bundle, or a whole "
                                                "case's, (zip) with a standalone verifier")
    parser.add_argument("session_id", nargs="?", default=None)
    parser.add_argument("--case", default=None,
                        help="bundle every sealed session and every material of this case")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the zip to write")
    add_flag(parser, "data_dir")
    add_flag(parser, "key_file")
    parser.set_defaults(run=cmd_export)


def add_reindex(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay reindex`."""
    parser = commands.add_parser("reindex",
                                 help="rebuild the search index from the evidence files, or "
                                      "the catalog from the archive alone")
    add_flag(parser, "data_dir")
    parser.add_argument("--from-archive", action="store_true",
                        help="rebuild the catalog (--database-url, else the data dir's SQLite "
                             "catalog) from every node's sessions in the archive")
    add_flag(parser, "database_url")
    add_flag(parser, "database_password_file")
    add_archive_flags(parser)
    parser.set_defaults(run=cmd_reindex)


def add_retention(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay retention [--older-than DAYS] [--dry-run]`."""
    parser = commands.add_parser("retention", help="remove sessions older than the retention "
                                                   "period, except those on legal hold")
    add_flag(parser, "retention_days")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    add_flag(parser, "data_dir")
    add_flag(parser, "key_file")
    parser.set_defaults(run=cmd_retention)


def add_key(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay key rotate`."""
    parser = commands.add_parser("key", help="the node's signing key")
    actions = parser.add_subparsers(dest="key_action", required=True)
    rotate = actions.add_parser("rotate", help="replace the signing key (node stopped); the "
                                               "old key endorses the new one in the node "
                                               "ledger and stays for verifying what it signed")
    add_flag(rotate, "data_dir")
    add_flag(rotate, "key_file")
    rotate.set_defaults(run=cmd_key_rotate)


def cmd_key_rotate(args: argparse.Namespace) -> int:
    """Rotate the node's key; 1 when the data dir holds no key to rotate."""
    if not (args.data_dir / "keys").is_dir():
        print(f"fieldrelay key rotate: {args.data_dir} holds no key", file=sys.stderr)
        return EXIT_FAIL
    try:
        done = rotate_key(args.data_dir, args.key_file, f"cli:{getpass.getuser()}")
    except FieldRelayError as exc:
        print(f"fieldrelay key rotate: {exc.detail}", file=sys.stderr)
        return EXIT_FAIL
    print(f"rotated the node key: {done.old_key} -> {done.new_key}; the old public key stays "
          f"in {args.data_dir / 'keys' / 'retired'}; publish the new one")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Check evidence; 0 intact, 1 broken, 2 when PATH is not evidence."""
    return verify.run(args.path, public_key=args.key, witnesses=args.witness)


def cmd_export(args: argparse.Namespace) -> int:
    """Write the export bundle of one sealed or interrupted session, or of a case."""
    if (args.session_id is None) == (args.case is None):
        print("fieldrelay export: give a SESSION_ID or --case CASE (one of them)",
              file=sys.stderr)
        return EXIT_USAGE
    if args.case is not None:
        return _export_case(args)
    bar = TextProgress(sys.stderr)
    try:
        result = export_with_playable(args.data_dir, args.session_id, args.output, progress=bar)
    except FieldRelayError as exc:
        bar.close()
        print(f"fieldrelay export: {exc.detail}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as exc:
        bar.close()
        print(f"fieldrelay export: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAIL
    bar.close()
    _audit_cli_export(args.data_dir, args.key_file, result.session, result.path)
    print(f"wrote {result.path}: session {result.session}, {result.segments} segment files "
          f"({result.media_bytes} bytes of media)")
    print(f"check it with: fieldrelay verify {result.path}   (or: python3 verify.py "
          f"{result.path.name}, see README.txt inside)")
    return EXIT_OK


def _export_case(args: argparse.Namespace) -> int:
    """Write the bundle of every sealed session and material of a case."""
    bar = TextProgress(sys.stderr)
    try:
        result = export_case(args.data_dir, args.case, args.output, progress=bar)
    except FieldRelayError as exc:
        bar.close()
        print(f"fieldrelay export: {exc.detail}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as exc:
        bar.close()
        print(f"fieldrelay export: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAIL
    bar.close()
    _audit_cli_export(args.data_dir, args.key_file, None, result.path, case=args.case)
    print(f"wrote {result.path}: case {result.case}, {len(result.sessions)} sessions, "
          f"{len(result.materials)} materials")
    if result.left_out:
        print(f"left out (still being recorded): {', '.join(result.left_out)}")
    print(f"check it with: fieldrelay verify {result.path}   (or: python3 verify.py "
          f"{result.path.name}, see README.txt inside)")
    return EXIT_OK


def _audit_cli_export(data_dir: Path, key_file: Path | None, session: str | None, path: Path,
                      case: str | None = None) -> None:
    """An export from the shell is an access by a person too: it goes on the audit chain."""
    detail: object = str(path) if case is None else {"case": case, "path": str(path)}
    AuditLog(data_dir, NodeKey.load_or_create(data_dir, key_file)).append(
        f"cli:{getpass.getuser()}", "admin", "export", session, "ok", detail=detail)


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the search index from the session ledgers, the node ledger and the audit log."""
    if args.from_archive:
        return reindex_from_archive(args)
    count, path = reindex(args.data_dir)
    print(f"indexed {count} session{'s' if count != 1 else ''} into {path}")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    """Remove expired sessions not on legal hold, each with a tombstone in the node ledger."""
    days = args.older_than
    if days < 0:
        print("fieldrelay retention: --older-than must be 0 or more days", file=sys.stderr)
        return EXIT_USAGE
    removed = run_retention(args.data_dir, days, f"cli:{getpass.getuser()}", args.dry_run, print,
                            args.key_file)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(removed)} session{'s' if len(removed) != 1 else ''} that ended more "
          f"than {days:g} days ago")
    return EXIT_OK
