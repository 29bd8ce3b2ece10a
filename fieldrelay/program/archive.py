"""`fieldrelay restore`: evidence brought back from the archive onto a node, verified first."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from fieldrelay.config import Config
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fieldrelay.program.settings import DEFAULTS, add_flag, value_of
from recordings.archive.keys import parse_url
from recordings.archive.restore import RestoreResult, restore
from recordings.archive.s3 import ArchiveStore, StoreSettings, StoreUnavailable
from recordings.index import SessionIndex

ARCHIVE_FIELDS = ("archive_url", "archive_endpoint", "archive_region", "archive_credentials_file")


def add_archive_flags(parser: argparse.ArgumentParser) -> None:
    """Where the archive is: serve's own flags and variables."""
    for name in ARCHIVE_FIELDS:
        add_flag(parser, name)


def archive_config(args: argparse.Namespace) -> Config:
    """The archive part of the Config from these flags (the rest stays default)."""
    return DEFAULTS.replace(**{name: value_of(name, args) for name in ARCHIVE_FIELDS},
                            data_dir=Path(args.data_dir))


def add_restore(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay restore SESSION_ID... | --case CASE | --all`."""
    parser = commands.add_parser(
        "restore", help="bring sessions back from the archive, each verified before it is "
                        "indexed")
    parser.add_argument("session_ids", nargs="*", metavar="SESSION_ID")
    parser.add_argument("--case", help="every session that carried this case number")
    parser.add_argument("--all", action="store_true", help="every session in the archive")
    add_flag(parser, "data_dir")
    add_archive_flags(parser)
    parser.set_defaults(run=cmd_restore)


async def _restore(config: Config, args: argparse.Namespace) -> RestoreResult:
    assert config.archive_url is not None
    settings = StoreSettings(url=config.archive_url, endpoint=config.archive_endpoint,
                             region=config.archive_region,
                             credentials_file=config.archive_credentials_file)
    async with ArchiveStore(settings) as store:
        return await restore(store, config.data_dir, sessions=args.session_ids,
                             case=args.case, everything=args.all, say=print)


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore; 0 when every session asked for is restored (or already here), 1 otherwise."""
    if bool(args.session_ids) + bool(args.case) + bool(args.all) != 1:
        print("fieldrelay restore: name SESSION_IDs, or --case CASE, or --all",
              file=sys.stderr)
        return EXIT_USAGE
    config = archive_config(args)
    if not config.archive_url:
        print("fieldrelay restore: --archive-url (or FIELDRELAY_ARCHIVE_URL) is needed",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        parse_url(config.archive_url)
    except ValueError as exc:
        print(f"fieldrelay restore: {exc}", file=sys.stderr)
        return EXIT_USAGE
    config.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = asyncio.run(_restore(config, args))
    except StoreUnavailable as exc:
        print(f"fieldrelay restore: {exc}", file=sys.stderr)
        return EXIT_FAIL
    index = SessionIndex(config.data_dir)
    for sid, folder in result.restored.items():
        if folder.parent == config.data_dir / "sessions":
            index.refresh(sid)
    print(f"restored {len(result.restored)}, refused {len(result.refused)}, "
          f"already here {len(result.skipped)}")
    return EXIT_FAIL if result.refused else EXIT_OK
