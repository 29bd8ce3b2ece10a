"""The drainer: copies the backlog into the store, oldest first, a bounded window at a time.

One task, owned by `Archiver` (`start()` / `aclose()`). It keeps `concurrency` copies in
flight, oldest items first, records the confirmed ones in the archive chain (together, at
most every CONFIRM_EVERY_S) and only then drops them from the backlog, so a crash at any
point copies an item again rather than never. When the store fails a copy, that item goes
back to the front, nothing new starts for a back-off (doubling up to `max_backoff_s`), and
copying resumes from the oldest item.
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
# Confirmed copies are recorded together at most this often (one fsync, one signature).
CONFIRM_EVERY_S = 0.1


def _queued_at(name: str | None) -> float | None:
    """When a backlog item was queued, from its name (nanoseconds first)."""
    if name is None:
        return None
    try:
        return int(name.split("-", 1)[0]) / 1e9
    except ValueError:
        return None


class ItemRefused(Exception):
    """The item can never be copied as queued (its file vanished or changed)."""




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
                 chain: ArchiveChain, concurrency: int = 4, max_backoff_s: float = 30.0
                 ) -> None:
        self.data_dir = data_dir
        self.node = node
        self.backlog = backlog
        self.store = store
        self.chain = chain
        self.concurrency = max(1, concurrency)

        self.max_backoff_s = max_backoff_s
        self.status = ArchiveStatus()
        # (item kind, seconds from queued to confirmed), newest last (bench/archive.py).
        self.lags: collections.deque[tuple[str, float]] = collections.deque(maxlen=LAG_SAMPLES)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Start draining (the backlog left by an earlier run first)."""
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self.backlog.on_enqueue = self._wake_threadsafe
        self._task = self._loop.create_task(self._run_forever(), name="archive-drain")

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

    async def _run_forever(self) -> None:
        """Drain until closed; a failure nobody expected is logged, shown in the status and
        the drain starts again after a back-off (the backlog is on disk: nothing is lost)."""
        backoff = 0.5
        while True:
            try:
                await self._run()
            except Exception as exc:
                log.exception("the archive drain failed; it starts again in %.1f s", backoff)
                self.status.last_error = f"{type(exc).__name__}: {exc}"[:300]
                self.status.failures += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _run(self) -> None:
        """Keep `concurrency` copies in flight, oldest first, and record what the store
        confirmed at most every CONFIRM_EVERY_S (one fsync and one signature for them all)."""
        flights: dict[asyncio.Task[Copy], Item] = {}
        waiting: collections.deque[str] = collections.deque()  # not started, oldest first
        confirmed: list[tuple[Item, Copy]] = []
        backoff, resume_at, last_confirm = 0.5, 0.0, time.monotonic()
        try:
            while True:
                if not waiting:
                    self._wake.clear()
                    names = await asyncio.to_thread(self.backlog.names)
                    self.status.backlog = len(names)
                    # In flight, or confirmed and not yet recorded: never started twice.
                    busy = {i.name for i in flights.values()} | {i.name for i, _ in confirmed}
                    waiting.extend(n for n in names if n not in busy)
                self.status.oldest_at = _queued_at(
                    min([*(i.name for i in flights.values()), *([waiting[0]] if waiting else [])],
                        default=None))
                if time.monotonic() >= resume_at:
                    while waiting and len(flights) < self.concurrency:
                        item = await asyncio.to_thread(self.backlog.read, waiting.popleft())
                        if item is not None:
                            flights[asyncio.create_task(self._copy_now(item))] = item
                if confirmed and (not flights or
                                  time.monotonic() - last_confirm >= CONFIRM_EVERY_S):
                    batch, confirmed = confirmed, []
                    await asyncio.to_thread(self._confirm, batch)
                    last_confirm = time.monotonic()
                    continue
                if not flights:
                    pause = resume_at - time.monotonic()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(),
                                               pause if pause > 0 else IDLE_RESCAN_S)
                    waiting.clear()  # look again: new items, or the back-off is over
                    continue
                done, _ = await asyncio.wait(flights, timeout=CONFIRM_EVERY_S,
                                             return_when=asyncio.FIRST_COMPLETED)
                failed: list[str] = []
                for task in done:
                    item = flights.pop(task)
                    error = task.exception()
                    if error is None:
                        confirmed.append((item, task.result()))
                    elif isinstance(error, ItemRefused):
                        self.status.refused += 1
                        await asyncio.to_thread(self.backlog.refuse, item, str(error))
                    elif isinstance(error, StoreUnavailable):
                        failed.append(item.name)
                        self.status.failures += 1
                        if self.status.last_error != str(error):
                            log.warning("archive store unavailable, will retry: %s", error)
                        self.status.last_error = str(error)
                    else:
                        raise error
                if failed:
                    # Back to the front, in order; nothing new starts until the back-off ends.
                    waiting = collections.deque(sorted({*waiting, *failed}))
                    self.status.store_up = False
                    resume_at = time.monotonic() + backoff
                    backoff = min(backoff * 2, self.max_backoff_s)
                elif done:
                    self.status.store_up = True
                    backoff = 0.5
        finally:
            for task in flights:
                task.cancel()
            if flights:
                await asyncio.wait(flights)

    def _confirm(self, confirmed: list[tuple[Item, Copy]]) -> None:
        now = time.time()
        confirmed = sorted(confirmed, key=lambda pair: pair[0].name)  # queue order
        self.chain.record(((i.path, i.kind, i.session, c) for i, c in confirmed if i.record),
                          now)
        for item, _ in confirmed:
            self.backlog.done(item)
            self.lags.append((item.kind, now - item.at))
        self.status.copied += len(confirmed)

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
