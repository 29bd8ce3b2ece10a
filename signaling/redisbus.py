"""The bus on Redis: a stream for durable alerts, pub/sub for speed, GEO for positions.

Alerts are appended to a stream (XADD) and published in one Lua script, so an alert is
never fanned out without being stored. A node's listener replays the stream after every
reconnect, so a Redis restart or a dropped subscription loses nothing.

With a cluster secret (a `BusSeal`) every record and message this node writes is sealed,
and whatever fails its seal on the way in (a presence record, an alert, a stream entry, a
published event) is dropped, logged and counted: Redis is not trusted with the cluster.
Without one, records are written and read as they are (a Redis only the nodes can reach).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from fieldrelay.alerts import Alert, is_open
from fieldrelay.instructions import Instruction
from signaling.bus import (
    BATCH,
    BusUnavailable,
    Event,
    InstructionUpdater,
    Nearby,
    Updater,
    cursor_after,
    haversine_m,
)
from signaling.busrecords import ALERT_EVENTS, EVENT_TTL_S, BusRecords, dump
from signaling.busseal import BusSeal
from signaling.redisscripts import (
    _INSTRUCTION,
    _STORE,
    _UPDATE,
    _UPDATE_MANY,
    INSTRUCTION_TTL_S,
)

log = logging.getLogger(__name__)

PREFIX = "fieldrelay:"
STREAM = PREFIX + "events"
CHANNEL = PREFIX + "bus"
OPEN = PREFIX + "alerts:open"
# Alerts still raised, scored by raised_at: the escalation timer reads only those due.
RAISED = PREFIX + "alerts:raised"
GEO = PREFIX + "geo"
# Checkpoints and countersignatures: a stream, so a node that was down reads what it missed.
WITNESS_STREAM = PREFIX + "witness"
WITNESS_MAXLEN = 100_000
STREAM_MAXLEN = 100_000
IDEMPOTENCY_TTL_S = 7 * 24 * 3600
REPLAY_SLACK_MS = 5000
SEEN_CURSORS = 20_000
PROBE_EVERY_S = 5.0

class RedisBus:
    """The bus shared by several nodes through one Redis."""

    def __init__(self, url: str, node_id: str, seal: BusSeal | None = None) -> None:
        self.url = url
        self.node_id = node_id
        self._seal = seal
        self._records = BusRecords(seal)
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=3, socket_connect_timeout=2,
            socket_keepalive=True, health_check_interval=15, retry_on_timeout=False)
        self._store = self._redis.register_script(_STORE)
        self._update = self._redis.register_script(_UPDATE)
        self._update_many = self._redis.register_script(_UPDATE_MANY)
        self._instruction = self._redis.register_script(_INSTRUCTION)

    @property
    def rejected_messages(self) -> int:
        """Records and messages dropped because their seal failed."""
        return self._seal.rejected if self._seal is not None else 0

    async def start(self) -> None:
        """Check that Redis answers (a node may still start while it does not)."""
        if self._seal is None:
            log.warning("bus messages are not authenticated (no cluster secret): this node "
                        "trusts everything on its Redis")
        try:
            await self._redis.ping()
            await self._index_raised()
        except (RedisError, BusUnavailable) as exc:
            log.warning("Redis at %s is not reachable yet: %s", self.url, exc)

    async def aclose(self) -> None:
        await self._redis.aclose()

    @contextlib.asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            yield
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise BusUnavailable(f"Redis is unreachable: {exc}") from None
        except RedisError as exc:  # READONLY in a failover, OOM, ...: not usable right now
            raise BusUnavailable(f"Redis refused: {exc}") from None

    async def store_alert(self, alert: Alert, idempotency: str) -> tuple[Alert, bool]:
        idem = PREFIX + "idem:" + idempotency
        async with self._guard():
            for _ in range(2):
                created, stored = await self._store(
                    keys=[idem, PREFIX + "alert:", STREAM, OPEN, CHANNEL, RAISED],
                    args=[alert["id"], self._records.alert_body(alert), IDEMPOTENCY_TTL_S,
                          STREAM_MAXLEN, repr(float(alert["raised_at"]))])
                # Just written by this node: its own clock against Redis's is no replay.
                opened = self._records.alert(stored, filed=not int(created))
                if opened is not None:
                    return opened, bool(int(created))
                # A forged record under this key must not swallow a real alert: forget it.
                await self._redis.delete(idem)
        raise BusUnavailable("the alert could not be stored with a valid seal")

    async def update_alert(self, alert_id: str, change: Updater) -> Alert | None:
        key = PREFIX + "alert:" + alert_id
        async with self._guard():
            for _ in range(20):  # optimistic: retry when another node changed it first
                raw = await self._redis.get(key)
                current = self._records.alert(raw)
                if raw is None or current is None:
                    return None
                updated = change(current)
                if updated is None:
                    return None
                stored = await self._update(
                    keys=[key, STREAM, OPEN, CHANNEL, RAISED],
                    args=[raw, self._records.alert_body(updated), alert_id,
                          "1" if is_open(updated) else "0", STREAM_MAXLEN,
                          "1" if updated["state"] == "raised" else "0"])
                if stored:
                    return self._records.alert(stored, filed=False)
        raise BusUnavailable("the alert kept changing under concurrent updates")

    async def update_alerts(self, alert_ids: list[str], change: Updater) -> list[Alert]:
        keys = {i: PREFIX + "alert:" + i for i in dict.fromkeys(alert_ids)}
        done: list[Alert] = []
        pending = list(keys)
        async with self._guard():
            for _ in range(20):  # optimistic: read again those another node changed first
                if not pending:
                    break
                raws = await self._redis.mget([keys[i] for i in pending])
                batch: list[tuple[str, str, Alert]] = []
                for alert_id, raw in zip(pending, raws, strict=True):
                    current = self._records.alert(raw)
                    updated = change(current) if raw is not None and current is not None \
                        else None
                    if updated is not None:
                        batch.append((alert_id, str(raw), updated))
                if not batch:
                    break
                args: list[str | int] = [STREAM_MAXLEN]
                for alert_id, raw, updated in batch:
                    args += [raw, self._records.alert_body(updated), alert_id,
                             "1" if is_open(updated) else "0",
                             "1" if updated["state"] == "raised" else "0"]
                stored = await self._update_many(
                    keys=[STREAM, OPEN, CHANNEL, RAISED, *(keys[i] for i, _, _ in batch)],
                    args=args)
                pending = []
                for (alert_id, _, _), js in zip(batch, stored, strict=True):
                    if not js:
                        pending.append(alert_id)
                        continue
                    alert = self._records.alert(js, filed=False)
                    if alert is not None:
                        done.append(alert)
        # Any still changing after that stay as they are: the caller's next pass sees them.
        return done

    async def get_alert(self, alert_id: str) -> Alert | None:
        async with self._guard():
            raw = await self._redis.get(PREFIX + "alert:" + alert_id)
        return self._records.alert(raw)

    async def open_alerts(self) -> list[Alert]:
        async with self._guard():
            ids = sorted(str(i) for i in await self._redis.smembers(OPEN))
            raws = await self._redis.mget([PREFIX + "alert:" + i for i in ids]) if ids else []
        return [a for a in map(self._records.alert, raws) if a is not None]

    async def due_alerts(self, raised_before: float, limit: int) -> list[Alert]:
        async with self._guard():
            ids = [str(i) for i in await self._redis.zrangebyscore(
                RAISED, "-inf", repr(raised_before), start=0, num=limit)]
            raws = await self._redis.mget([PREFIX + "alert:" + i for i in ids]) if ids else []
            due: list[Alert] = []
            gone: list[str] = []
            for alert_id, raw in zip(ids, raws, strict=True):
                alert = self._records.alert(raw)
                if alert is not None and alert["state"] == "raised":
                    due.append(alert)
                elif raw is None or (alert is not None and alert["state"] != "raised"):
                    gone.append(alert_id)  # expired or moved on: nothing left to escalate
            if gone:
                await self._redis.zrem(RAISED, *gone)
        return due

    async def next_due(self) -> float | None:
        async with self._guard():
            oldest = await self._redis.zrange(RAISED, 0, 0, withscores=True)
        return float(oldest[0][1]) if oldest else None

    async def _index_raised(self) -> None:
        """Put alerts stored before the raised set existed into it (once, at start)."""
        if await self._redis.exists(RAISED) or not await self._redis.exists(OPEN):
            return
        raised = {a["id"]: float(a["raised_at"]) for a in await self.open_alerts()
                  if a["state"] == "raised"}
        if raised:
            await self._redis.zadd(RAISED, raised, nx=True)

    async def events_after(self, cursor: str, limit: int = 1000) -> list[Event]:
        async with self._guard():
            rows: Any = await self._redis.xrange(STREAM, min=f"({cursor}", max="+", count=limit)
        events = []
        for entry_id, fields in rows:
            alert = self._records.alert(fields.get("a"), entry_id)
            if alert is None or fields.get("t") not in ALERT_EVENTS:
                continue
            alert["cursor"] = entry_id
            events.append({"type": fields["t"], "cursor": entry_id, "alert": alert})
        return events

    async def latest_cursor(self) -> str:
        """The cursor of the newest durable event ("0-0" when there is none)."""
        async with self._guard():
            rows = await self._redis.xrevrange(STREAM, count=1)
        return str(rows[0][0]) if rows else "0-0"

    async def set_presence(self, officer: str, info: dict[str, Any], ttl_s: float) -> None:
        key = PREFIX + "presence:" + officer
        async with self._guard():
            await self._redis.set(key, dump(self._records.sealed(key, info, ttl_s)),
                                  px=int(ttl_s * 1000))

    async def clear_presence(self, officer: str) -> None:
        async with self._guard():
            await self._redis.delete(PREFIX + "presence:" + officer)

    async def presence(self) -> dict[str, dict[str, Any]]:
        async with self._guard():
            keys = [k async for k in self._redis.scan_iter(PREFIX + "presence:*", count=500)]
            raws = await self._redis.mget(keys) if keys else []
        found = {}
        for key, raw in zip(keys, raws, strict=True):
            officer = key.removeprefix(PREFIX + "presence:")
            info = self._records.opened(key, raw, f"the presence record of {officer[:80]!r}")
            if info is not None:
                found[officer] = info
        return found

    async def set_position(self, officer: str, lat: float, lon: float, at: float,
                           ttl_s: float) -> None:
        key = PREFIX + "pos:" + officer
        async with self._guard(), self._redis.pipeline(transaction=True) as pipe:
            pipe.geoadd(GEO, (lon, lat, officer))
            record = self._records.sealed(key, {"lat": lat, "lon": lon, "at": at}, ttl_s)
            pipe.set(key, dump(record), px=int(ttl_s * 1000))
            await pipe.execute()

    async def positions(self) -> dict[str, dict[str, float]]:
        async with self._guard():
            keys = [k async for k in self._redis.scan_iter(PREFIX + "pos:*", count=500)]
            raws = await self._redis.mget(keys) if keys else []
        found = {}
        for key, raw in zip(keys, raws, strict=True):
            pos = self._records.position(key, raw)
            if pos is not None:
                found[key.removeprefix(PREFIX + "pos:")] = pos
        return found

    async def nearest(self, lat: float, lon: float, count: int, radius_m: float,
                      exclude: set[str]) -> list[Nearby]:
        async with self._guard():
            # Ask for extra rows: stale members (their pos key expired) and excluded ones.
            rows: Any = await self._redis.geosearch(
                GEO, longitude=lon, latitude=lat, radius=radius_m, unit="m", sort="ASC",
                count=count + len(exclude) + 50, withdist=True, withcoord=True)
            names = [r[0] for r in rows]
            fresh = await self._redis.mget([PREFIX + "pos:" + n for n in names]) if names else []
        found = []
        for (name, dist, (rlon, rlat)), raw in zip(rows, fresh, strict=True):
            if name in exclude or raw is None:
                continue
            if self._seal is None:
                found.append(Nearby(name, float(dist), float(rlat), float(rlon)))
                continue
            # The GEO set carries no seal: trust only the sealed position of the officer.
            pos = self._records.position(PREFIX + "pos:" + name, raw)
            if pos is not None:
                d = haversine_m(lat, lon, pos["lat"], pos["lon"])
                if d <= radius_m:
                    found.append(Nearby(name, d, pos["lat"], pos["lon"]))
        found.sort(key=lambda n: n.distance_m)
        return found[:count]

    async def publish(self, event: Event) -> None:
        async with self._guard():
            sealed = self._records.sealed("event", event, EVENT_TTL_S)
            await self._redis.publish(CHANNEL, dump(sealed))

    async def events(self) -> AsyncIterator[Event]:
        """Events from every node; after any reconnect, missed durable events are replayed."""
        seen: dict[str, None] = {}
        last: str | None = None
        backoff = 0.2
        while True:
            try:
                if last is None:
                    last = await self.latest_cursor()
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Replay from a little before the newest cursor seen: events from other
                    # nodes can be published slightly out of stream order.
                    ms = max(0, int(last.partition("-")[0]) - REPLAY_SLACK_MS)
                    for event in await self.events_after(f"{ms}-0", limit=100_000):
                        if _first_time(seen, event["cursor"]):
                            last = _newer(last, event["cursor"])
                            yield event
                    backoff = 0.2
                    heard = probed = time.monotonic()
                    while True:
                        message = await pubsub.get_message(timeout=1.0)
                        now = time.monotonic()
                        if message is None or message.get("type") != "message":
                            if message is not None:
                                heard = now  # a pong or a subscribe confirmation
                            # A half-open TCP connection reads nothing, ever: probe it, and
                            # give up on it when even the probe goes unanswered.
                            if now - heard > PROBE_EVERY_S * 3:
                                raise RedisConnectionError("no answer on the subscription")
                            if now - probed >= PROBE_EVERY_S:
                                probed = now
                                await pubsub.ping()
                            continue
                        heard = now
                        received = self._records.received(message["data"])
                        if received is None:
                            continue
                        event = received
                        if event.get("type") == BATCH:
                            fresh = [e for e in event["events"]
                                     if _first_time(seen, e["cursor"])]
                            for e in fresh:
                                last = _newer(last, e["cursor"])
                            if fresh:
                                yield {"type": BATCH, "events": fresh}
                            continue
                        cursor = event.get("cursor")
                        if cursor is not None:
                            if not _first_time(seen, cursor):
                                continue
                            last = _newer(last, cursor)
                        yield event
            except Exception as exc:
                # Whatever broke (redis-py can even raise AttributeError on a connection torn
                # down under it), this node's listener must reconnect, never die.
                log.warning("Redis subscription lost (%r); reconnecting in %.1f s", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


    async def witness_put(self, message: Event) -> str:
        body = dump(self._records.sealed("witness", message))
        async with self._guard():
            cursor = await self._redis.xadd(WITNESS_STREAM, {"m": body},
                                            maxlen=WITNESS_MAXLEN, approximate=True)
        return str(cursor)

    async def witness_after(self, cursor: str, limit: int = 100,
                            wait_s: float = 0.0) -> list[tuple[str, Event]]:
        block = int(wait_s * 1000) if wait_s > 0 else None
        async with self._guard():
            # The socket timeout must outlast the block, or a quiet stream reads as a failure.
            if block is not None and block >= 2500:
                block = 2500
            answer: Any = await self._redis.xread({WITNESS_STREAM: cursor}, count=limit,
                                                  block=block)
        out: list[tuple[str, Event]] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                message = self._records.opened("witness", fields.get("m"), "a witness message")
                # A refused message still moves the reader past it.
                out.append((str(entry_id), message if message is not None else {}))
        return out

    async def _put_instruction(self, expected: str, instruction: Instruction,
                               event: str) -> bool:
        body = dump(self._records.sealed("instruction", dict(instruction)))
        keys = [PREFIX + "instr:" + instruction["id"], PREFIX + "instr:all", CHANNEL]
        keys += [PREFIX + "instr:to:" + o for o in instruction["to"]] if not expected else []
        done = await self._instruction(
            keys=keys, args=[expected, body, instruction["id"], int(instruction["sent_at"] * 1000),
                             INSTRUCTION_TTL_S, event])
        return bool(done)

    async def store_instruction(self, instruction: Instruction) -> None:
        async with self._guard():
            if not await self._put_instruction("", instruction, "instruction"):
                raise BusUnavailable(f"instruction {instruction['id']} exists already")

    async def update_instruction(self, instruction_id: str,
                                 change: InstructionUpdater) -> Instruction | None:
        key = PREFIX + "instr:" + instruction_id
        async with self._guard():
            for _ in range(20):  # optimistic: another node may have written a receipt first
                raw = await self._redis.get(key)
                if raw is None:
                    return None
                current = self._records.instruction(raw)
                updated = change(current) if current is not None else None
                if updated is None:
                    return None
                if await self._put_instruction(str(raw), updated, "instruction.updated"):
                    return updated
        raise BusUnavailable("the instruction kept changing under concurrent updates")

    async def get_instruction(self, instruction_id: str) -> Instruction | None:
        async with self._guard():
            raw = await self._redis.get(PREFIX + "instr:" + instruction_id)
        return self._records.instruction(raw)

    async def recent_instructions(self, officer: str | None,
                                  limit: int = 50) -> list[Instruction]:
        index = PREFIX + ("instr:all" if officer is None else "instr:to:" + officer)
        async with self._guard():
            rows: Any = await self._redis.zrevrange(index, 0, limit - 1)
            ids = [str(i) for i in rows]
            raws = await self._redis.mget([PREFIX + "instr:" + i for i in ids]) if ids else []
        return [i for i in map(self._records.instruction, raws) if i is not None]


def _first_time(seen: dict[str, None], cursor: str) -> bool:
    if cursor in seen:
        return False
    seen[cursor] = None
    if len(seen) > SEEN_CURSORS:
        del seen[next(iter(seen))]  # the oldest: dicts keep insertion order
    return True


def _newer(a: str, b: str) -> str:
    return b if cursor_after(b, a) else a

