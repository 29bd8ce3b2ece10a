"""The archive as the node runs it: the backlog every seal feeds, the drain task, its
status on /metrics and `GET /api/archive` (the wall's "Archive behind").

The queue and the S3 client are I/O modules of `recordings.archive`; this module only builds
them from the Config, owns their lifetime in a cleanup context and answers the route.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from aiohttp import web

from fieldrelay.config import Config
from recordings.archive.backlog import Backlog
from recordings.archive.confirmed import ArchiveChain
from recordings.archive.drain import Archiver
from recordings.archive.keys import parse_url
from recordings.archive.s3 import ArchiveStore, StoreSettings
from recordings.signing import NodeKey
from signaling.auth import authenticate

STAFF_ROLES = ("commander", "reviewer", "admin")


def store_settings(config: Config) -> StoreSettings:
    """The S3 side of the Config (ValueError for a malformed --archive-url)."""
    assert config.archive_url is not None
    parse_url(config.archive_url)
    return StoreSettings(url=config.archive_url, endpoint=config.archive_endpoint,
                         region=config.archive_region,
                         credentials_file=config.archive_credentials_file,
                         lock_days=config.archive_lock_days)


class ArchiveDesk:
    """The node's archive: built with the evidence store, drained while the node runs."""

    def __init__(self, config: Config, backlog: Backlog, key: NodeKey) -> None:
        self.config = config
        self.backlog = backlog
        self.store = ArchiveStore(store_settings(config))
        self.archiver = Archiver(config.data_dir, config.node_id, backlog, self.store,
                                 ArchiveChain(config.data_dir, key, backlog),
                                 config.archive_concurrency, config.archive_max_backoff_s)

    async def ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Open the S3 client and drain until the node stops (the rest waits on disk)."""
        await self.store.__aenter__()
        try:
            self.archiver.start()
            try:
                yield
            finally:
                await self.archiver.aclose()
        finally:
            await self.store.aclose()

    def state(self, now: float) -> dict[str, object]:
        """What the wall and operators see."""
        s = self.archiver.status
        age = s.oldest_age_s(now)
        return {"enabled": True, "backlog": s.backlog, "oldest_age_s": round(age, 3),
                "store_up": s.store_up, "behind": age > self.config.archive_behind_s,
                "behind_after_s": self.config.archive_behind_s, "copied": s.copied,
                "failures": s.failures, "refused": s.refused}


ARCHIVE = web.AppKey("archive", ArchiveDesk)


async def archive_state(request: web.Request) -> web.Response:
    """GET /api/archive: the backlog and whether it is behind (commanders, reviewers,
    admins); `{"enabled": false}` on a node without an archive."""
    authenticate(request, *STAFF_ROLES)
    desk = request.app.get(ARCHIVE)
    if desk is None:
        return web.json_response({"enabled": False, "behind": False})
    return web.json_response(desk.state(time.time()))


def routes() -> list[web.RouteDef]:
    """The archive's one route."""
    return [web.get("/api/archive", archive_state)]
