"""Driver positions from the lean intake (dispatch.live.position_intake) to dashboards, batched per depot.

One channel message per depot per tick (LIVE_POSITION_FLUSH_S) carries every driver of that depot
whose position went out in that tick, instead of one message per position: with 500 drivers and 20
dashboards that is 200 channel messages a second instead of 5,000, which is what the websocket
processes can write (benchmarks/LIVE.md). The dashboard consumer turns the batch back into
`driver.position` messages with consecutive seqs, or passes it on whole to clients that ask for
`driver.positions` (our dashboard does).

The rules of dispatch.live.broadcast still hold: at most one broadcast per driver per POSITION_WINDOW_S across
every process (the same Redis SET NX key), and a position that arrives inside a window is not lost:
it stays pending here and goes out in the first tick after the window, newest first. Seqs come from
the same Redis counter as every other message of the depot's group (INCRBY the batch's size).

The other listeners of a driver's move (live ETAs, idle alerts, the customer's tracking socket) are
not on this path: each driver's newest move is handed to them at most every LIVE_FOLLOWUP_EVERY_S,
in one Celery task per second for all drivers (dispatch.live.tasks.drivers_moved_followups).

Everything here runs on the ASGI server's event loop, one instance per process; nothing assumes the
process is alone (the window, the seqs and the task queue are in Redis). The embedded mode has one
process and no Redis: the windows and seqs are then dispatch.live.broadcast's in the local memory cache (the
keys its view path uses), the channel layer is the in-memory one, and the task goes to the
in-process "live" queue.
"""

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from datetime import datetime

from django.conf import settings

from config.tasks import enqueue
from dispatch.live import broadcast as live
from dispatch.live.broadcast import counter_redis_url, position_state
from dispatch.live.tasks import drivers_moved_followups

logger = logging.getLogger(__name__)

_FOLLOWUP_BATCH_EVERY_S = 1.0


class PositionFanout:
    def __init__(self):
        self.pending: dict[int, dict] = {}  # driver id -> {"depot", "at", "state"}: to broadcast
        self.followups: dict[int, dict] = {}  # driver id -> newest move, for the other listeners
        self.followed_up_at: dict[int, float] = {}
        self.followups_sent_at = 0.0
        self.failing_since = self.failure_logged_at = None
        self._task = None
        self._loop = None
        self._redis = None

    def driver_moved(self, *, driver_id, vehicle_id, depot_id, lat, lon, recorded_at: datetime, heading, speed_mps):
        """Called on the event loop after the position is stored; returns at once."""

        current = self.pending.get(driver_id)
        if current is None or current["at"] <= recorded_at:
            state = position_state(
                driver_id=driver_id, vehicle_id=vehicle_id, lat=lat, lon=lon, recorded_at=recorded_at,
                heading=heading, speed_mps=speed_mps,
            )  # fmt: skip
            self.pending[driver_id] = {"depot": depot_id, "at": recorded_at, "state": state}
        self.followups[driver_id] = {
            "driver_id": driver_id, "vehicle_id": vehicle_id, "depot_id": depot_id, "lat": lat, "lon": lon,
            "recorded_at": recorded_at.isoformat(), "heading": heading, "speed_mps": speed_mps,
        }  # fmt: skip
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._loop is not loop:
            if self._loop is not loop:
                self._redis = None  # a client belongs to the loop it was made on
            self._loop = loop
            self._task = loop.create_task(self._run())

    async def _run(self):
        # Ends when nothing is left; the next position starts it again.
        while self.pending or self.followups:
            await asyncio.sleep(settings.LIVE_POSITION_FLUSH_S)
            try:
                await self.flush()
            except Exception:  # noqa: BLE001 - Redis down: the positions are stored; the next tick tries again
                self._log_failure()

    def _log_failure(self) -> None:
        # Ten ticks a second: one traceback when it starts, then a line every half minute while it lasts.
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = self.failure_logged_at = now
            logger.exception("could not broadcast driver positions (they are stored; dashboards catch up on reconnect)")
        elif now - self.failure_logged_at >= 30:
            self.failure_logged_at = now
            logger.error("driver positions still not broadcast after %.0f s", now - self.failing_since)

    async def drain(self) -> None:
        """Stop the ticking task of this loop and forget what it had not sent (tests)."""
        task, self._task = self._task, None
        self.pending.clear()
        self.followups.clear()
        self.followed_up_at.clear()
        if task is not None and self._loop is asyncio.get_running_loop() and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._redis is not None and self._loop is asyncio.get_running_loop():
            await self._redis.aclose()
        self._redis = self._loop = None

    async def flush(self) -> None:
        if self.pending:
            await self._broadcast()
        if self.followups and time.monotonic() - self.followups_sent_at >= _FOLLOWUP_BATCH_EVERY_S:
            await self._follow_up()

    def _client(self):
        if self._redis is None:
            import redis.asyncio

            # The Redis of dispatch.live.broadcast's counters: the windows and seqs are the same keys there.
            self._redis = redis.asyncio.Redis.from_url(counter_redis_url())
        return self._redis

    async def _broadcast(self) -> None:
        from channels.layers import get_channel_layer

        pending, self.pending = self.pending, {}
        local = live.counter_redis_url() is None  # the embedded mode: one process, the cache in its memory
        opened = _windows_opened_here(pending) if local else await self._windows_opened(pending)
        self.failing_since = None
        by_depot = defaultdict(list)
        for (driver_id, item), window_open in zip(pending.items(), opened, strict=True):
            if window_open:
                by_depot[item["depot"]].append(item["state"])
            elif driver_id not in self.pending:  # a newer one may have come in meanwhile: it wins
                self.pending[driver_id] = item
        if not by_depot:
            return
        counts = [(live.depot_group(depot_id), len(states)) for depot_id, states in by_depot.items()]
        last_seqs = _seqs_advanced_here(counts) if local else await self._seqs_advanced(counts)
        layer = get_channel_layer()
        for (depot_id, states), last_seq in zip(by_depot.items(), last_seqs, strict=True):
            message = {
                "type": "driver.positions", "depot": depot_id, "first_seq": last_seq - len(states) + 1,
                "seq": last_seq, "positions": states,
            }  # fmt: skip
            await layer.group_send(live.depot_group(depot_id), message)

    async def _windows_opened(self, pending: dict) -> list[bool]:
        async with self._client().pipeline(transaction=False) as pipe:
            for driver_id in pending:
                pipe.set(live.counter_key(live.window_key(driver_id)), 1, nx=True, ex=live.POSITION_WINDOW_S)
            return await pipe.execute()

    async def _seqs_advanced(self, counts: list[tuple[str, int]]) -> list[int]:
        async with self._client().pipeline(transaction=False) as pipe:
            for group, count in counts:
                pipe.incrby(live.counter_key(live.seq_key(group)), count)
            return await pipe.execute()

    async def _follow_up(self) -> None:
        now = time.monotonic()
        every = settings.LIVE_FOLLOWUP_EVERY_S
        due = [driver_id for driver_id in self.followups if now - self.followed_up_at.get(driver_id, -every) >= every]
        if not due:
            return
        payloads = [self.followups.pop(driver_id) for driver_id in due]
        self.followed_up_at.update(dict.fromkeys(due, now))
        self.followups_sent_at = now
        await asyncio.to_thread(_enqueue_on_this_thread, enqueue, drivers_moved_followups, payloads)


# Without Redis (the embedded mode) the windows and seqs are dispatch.live.broadcast's, in the process's local
# memory cache: the same keys its view path uses, each call a dictionary operation under the cache's
# lock, quick enough for the event loop.


def _windows_opened_here(pending: dict) -> list[bool]:
    from django.core.cache import cache

    return [cache.add(live.window_key(driver_id), 1, timeout=live.POSITION_WINDOW_S) for driver_id in pending]


def _seqs_advanced_here(counts: list[tuple[str, int]]) -> list[int]:
    from django.core.cache import cache

    seqs = []
    for group, count in counts:
        key = live.seq_key(group)
        try:
            seqs.append(cache.incr(key, count))  # atomic under the cache's lock, as INCRBY is in Redis
        except ValueError:  # the group's first message (or the cache was cleared); add() is atomic too
            cache.add(key, 0, timeout=None)
            seqs.append(cache.incr(key, count))
    return seqs


def _enqueue_on_this_thread(enqueue, task, payloads) -> None:
    from django.db import connections

    try:
        enqueue(task, payloads)
    finally:
        # A pool thread of the loop: where tasks run inline (tests, embedded) they leave a connection here.
        connections.close_all()


fanout = PositionFanout()
