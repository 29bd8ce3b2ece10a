"""The drainer: copies the backlog into the store, oldest first, a bounded window at a time.

One task, owned by `Archiver` (`start()` / `aclose()`). Each round takes the oldest `batch`
items, copies them `concurrency` at a time, records the confirmed ones in the archive chain and
only then drops them from the backlog, so a crash at any point copies an item again rather
than never. While the store is down, rounds back off (doubling up to `max_backoff_s`) and
retry from the oldest item.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from fieldrelay.tasks import cancel_and_wait
from recordings.archive.backlog import Backlog, Item
from recordings.archive.confirmed import ArchiveChain, Copy
from recordings.archive.s3 import ArchiveStore, StoreUnavailable

log = logging.getLogger(__name__)

IDLE_RESCAN_S = 1.0  # other processes (the CLI) may queue items: look again this often
LAG_SAMPLES = 4096


class ItemRefused(Exception):
    """The item can never be copied as queued (its file vanished or changed)."""


class _Skipped(Exception):
    """Not tried: the store failed earlier in the same round."""


@dataclass
class ArchiveStatus:
    """What /metrics and the wall show."""

    backlog: int = 0
    oldest_at: float | None = None
    store_up: bool = True
    copied: int = 0
    failures: int = 0
    refused: int = 0
    last_error: str | None = None

    def oldest_age_s(self, now: float) -> float:
        """Seconds the oldest queued item has waited (0 when the backlog is empty)."""
        return max(0.0, now - self.oldest_at) if self.oldest_at is not None else 0.0


class Archiver:
    """Owns the drain task of one data dir's backlog."""

    def __init__(self, data_dir: Path, node: str, backlog: Backlog, store: ArchiveStore,
                 chain: ArchiveChain, concurrency: int = 4, max_backoff_s: float = 30.0,
                 batch: int | None = None) -> None:
        self.data_dir = data_dir
        self.node = node
        self.backlog = backlog
        self.store = store
        self.chain = chain
        self.concurrency = max(1, concurrency)
        # Items taken per round: copied `concurrency` at a time, then recorded together (one
        # fsync and one signature for the whole round).
        self.batch = max(self.concurrency, batch or self.concurrency * 8)
        self._gate = asyncio.Semaphore(self.concurrency)
        self._store_failed_this_round = False
        self.max_backoff_s = max_backoff_s
        self.status = ArchiveStatus()
        # Seconds from queued to confirmed, newest last (bench/archive.py reads them).
        self.lags: collections.deque[float] = collections.deque(maxlen=LAG_SAMPLES)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Start draining (the backlog left by an earlier run first)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.backlog.on_enqueue = self._wake_threadsafe
        self._task = self._loop.create_task(self._run(), name="archive-drain")

    async def aclose(self) -> None:
        """Stop draining (what is queued stays on disk for the next start); idempotent."""
        self.backlog.on_enqueue = None
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def _wake_threadsafe(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # A loop that closed meanwhile raises RuntimeError: the item waits on disk.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._queued)

    def _queued(self) -> None:
        # Counted at once, so /metrics shows a growing backlog while the store is down.
        self.status.backlog += 1
        if self.status.oldest_at is None:
            self.status.oldest_at = time.time()
        self._wake.set()

    async def drained(self, timeout_s: float) -> bool:
        """Wait until the backlog is empty (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not await asyncio.to_thread(self.backlog.names):
                return True
            await asyncio.sleep(0.05)
        return False

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            self._wake.clear()
            names = await asyncio.to_thread(self.backlog.names)
            self.status.backlog = len(names)
            items = await asyncio.to_thread(self.backlog.oldest, self.batch, names)
            self.status.oldest_at = items[0].at if items else None
            if not items:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), IDLE_RESCAN_S)
                continue
            ok = await self._round(items)
            if ok:
                backoff = 0.5
                self.status.store_up = True
            else:
                self.status.store_up = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _round(self, items: list[Item]) -> bool:
        """Copy a window of items; True when every one was confirmed or set aside."""
        self._store_failed_this_round = False
        results = await asyncio.gather(*(self._copy(i) for i in items), return_exceptions=True)
        confirmed: list[tuple[Item, Copy]] = []
        all_ok = True
        for item, result in zip(items, results, strict=True):
            if isinstance(result, Copy):
                confirmed.append((item, result))
            elif isinstance(result, ItemRefused):
                self.status.refused += 1
                await asyncio.to_thread(self.backlog.refuse, item, str(result))
            elif isinstance(result, _Skipped):
                all_ok = False
            elif isinstance(result, StoreUnavailable):
                all_ok = False
                self.status.failures += 1
                if self.status.last_error != str(result):
                    log.warning("archive store unavailable, will retry: %s", result)
                self.status.last_error = str(result)
            elif isinstance(result, BaseException):
                raise result
        if confirmed:
            await asyncio.to_thread(self._confirm, confirmed)
        return all_ok

    def _confirm(self, confirmed: list[tuple[Item, Copy]]) -> None:
        now = time.time()
        self.chain.record(((i.path, i.kind, i.session, c) for i, c in confirmed if i.record),
                          now)
        for item, _ in confirmed:
            self.backlog.done(item)
            self.lags.append(now - item.at)
        self.status.copied += len(confirmed)

    async def _copy(self, item: Item) -> Copy:
        async with self._gate:
            if self._store_failed_this_round:
                # The store just failed: the rest of the round waits for the back-off rather
                # than each waiting out its own timeout against a store that is down.
                raise _Skipped
            try:
                return await self._copy_now(item)
            except StoreUnavailable:
                self._store_failed_this_round = True
                raise

    async def _copy_now(self, item: Item) -> Copy:
        body = item.data if item.data is not None else await asyncio.to_thread(
            self._read_file, item)
        digest = hashlib.sha256(body).hexdigest()
        if item.sha256 is not None and digest != item.sha256:
            # Never copy bytes that differ from the ones the ledger sealed.
            raise ItemRefused(f"{item.path} no longer has the SHA-256 it was sealed with")
        key = self.store.full_key(self.node, item.key)
        return await self.store.put(key, body, digest, time.time())

    def _read_file(self, item: Item) -> bytes:
        try:
            return (self.data_dir / item.path).read_bytes()
        except FileNotFoundError:
            raise ItemRefused(f"{item.path} is gone") from None
