"""`fieldrelay restore`: evidence brought back from the archive onto a node, verified first."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from fieldrelay.config import Config
from fieldrelay.errors import BadRequest
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE
from fieldrelay.program.settings import DEFAULTS, add_flag, value_of, with_secrets
from recordings.archive.keys import parse_url
from recordings.archive.recatalog import rebuild_catalog
from recordings.archive.restore import RestoreResult, restore
from recordings.archive.s3 import ArchiveStore, StoreSettings, StoreUnavailable
from recordings.catalog_pg import PgCatalog
from recordings.catalog_sql import SqlCatalog
from recordings.catalog_sqlite import SqliteCatalog
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


def store_settings(config: Config) -> StoreSettings:
    """The archive's S3 settings from a Config whose archive URL is set."""
    assert config.archive_url is not None
    return StoreSettings(url=config.archive_url, endpoint=config.archive_endpoint,
                         region=config.archive_region,
                         credentials_file=config.archive_credentials_file)


def checked_archive_config(args: argparse.Namespace, command: str) -> Config | None:
    """The archive Config of a command, or None after saying what is wrong."""
    config = archive_config(args)
    if not config.archive_url:
        print(f"fieldrelay {command}: --archive-url (or FIELDRELAY_ARCHIVE_URL) is needed",
              file=sys.stderr)
        return None
    try:
        parse_url(config.archive_url)
    except ValueError as exc:
        print(f"fieldrelay {command}: {exc}", file=sys.stderr)
        return None
    return config


async def _recatalog(config: Config, catalog: SqlCatalog) -> int:
    async with ArchiveStore(store_settings(config)) as store:
        await catalog.start()
        try:
            return await rebuild_catalog(store, catalog)
        finally:
            await catalog.aclose()


def reindex_from_archive(args: argparse.Namespace) -> int:
    """`fieldrelay reindex --from-archive`: the catalog rebuilt from the archive alone."""
    config = checked_archive_config(args, "reindex")
    if config is None:
        return EXIT_USAGE
    url = value_of("database_url", args)
    try:
        # The password as serve takes it: DATABASE_PASSWORD or --database-password-file.
        password = with_secrets(DEFAULTS.replace(
            database_url=url, database_password=value_of("database_password", args),
            database_password_file=value_of("database_password_file", args),
        )).database_password
    except BadRequest as exc:
        print(f"fieldrelay reindex: {exc}", file=sys.stderr)
        return EXIT_USAGE
    catalog: SqlCatalog = (PgCatalog(str(url), password=password) if url
                           else SqliteCatalog.of_data_dir(config.data_dir))
    try:
        count = asyncio.run(_recatalog(config, catalog))
    except StoreUnavailable as exc:
        print(f"fieldrelay reindex: {exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"catalogued {count} session{'s' if count != 1 else ''} from the archive into "
          f"{'the PostgreSQL catalog' if url else config.data_dir / 'index/catalog.sqlite'}")
    return EXIT_OK


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
    async with ArchiveStore(store_settings(config)) as store:
        return await restore(store, config.data_dir, sessions=args.session_ids,
                             case=args.case, everything=args.all, say=print)


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore; 0 when every session asked for is restored (or already here), 1 otherwise."""
    if bool(args.session_ids) + bool(args.case) + bool(args.all) != 1:
        print("fieldrelay restore: name SESSION_IDs, or --case CASE, or --all",
              file=sys.stderr)
        return EXIT_USAGE
    config = checked_archive_config(args, "restore")
    if config is None:
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
