"""Live messages to dispatch dashboards and customer tracking sockets, over the channel layer.

Groups: "depot.<id>" (the dashboards of everyone who sees that depot) and "order.<id>" (that order's
customer tracking socket). Every message is a JSON object with a "type" (API.md, Live), a "seq" that
rises per group, and the full latest state of what it is about, so a client that missed one message
recovers from the next, and a client that reconnects asks for a snapshot (dispatch_snapshot).

The seq counters live in the Django cache: Redis INCR in production, shared by every web process and
Celery worker; the process's local memory in the embedded mode (one process there).

Driver positions are coalesced to at most one broadcast per driver per POSITION_WINDOW_S across all
processes (see driver_moved). The handlers below are registered in dispatch.events.HANDLERS and run
after the service's transaction commits; each one is quick (a few Redis round trips).
"""

import asyncio
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Iterable

import redis
from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.core.signals import setting_changed
from django.db import connections
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone

from dispatch.models import Alert, Depot, Driver
from dispatch.roles import is_manager, is_office_staff, visible_depot_ids
from routes.models import Plan, RoadClosure, Route
from routes.plans.selectors import running_plans

logger = logging.getLogger(__name__)

# At most one driver.position per driver in this many seconds (whole seconds: Redis SET EX).
POSITION_WINDOW_S = 1
# How long a "trailing broadcast pending" mark lives if the process that holds the timer dies.
_TRAILING_MARK_TTL_S = 5


class _Counters:
    """The seq counters and coalescing marks, shared by every process through the Django cache.

    With Redis behind the cache, one redis-py client for the whole process: django.core.cache.cache
    is per thread (per request context under ASGI), and Django's Redis cache builds a new client
    object for every operation; on the position hot path that cost more than the Redis round trips.
    Keys are made by the cache (its KEY_PREFIX and version), so both paths name the same keys.
    """

    def __init__(self):
        self.cache = caches.create_connection(DEFAULT_CACHE_ALIAS)
        self.redis_url = None
        self.redis = None
        if isinstance(self.cache, RedisCache):
            location = settings.CACHES[DEFAULT_CACHE_ALIAS]["LOCATION"]
            self.redis_url = location if isinstance(location, str) else location[0]
            self.redis = redis.Redis.from_url(self.redis_url)

    def incr(self, key: str) -> int:
        if self.redis is not None:
            return self.redis.incr(self.cache.make_and_validate_key(key))  # INCR starts a missing key at 0
        try:
            return self.cache.incr(key)
        except ValueError:  # the first message of this group (or the cache was cleared)
            self.cache.add(key, 0, timeout=None)
            return self.cache.incr(key)

    def add(self, key: str, timeout_s: int) -> bool:
        if self.redis is not None:
            return bool(self.redis.set(self.cache.make_and_validate_key(key), 1, nx=True, ex=timeout_s))
        return self.cache.add(key, 1, timeout=timeout_s)

    def delete(self, key: str) -> None:
        if self.redis is not None:
            self.redis.delete(self.cache.make_and_validate_key(key))
        else:
            self.cache.delete(key)

    def get_many(self, keys: list[str]) -> list[int]:
        if self.redis is not None:
            values = self.redis.mget([self.cache.make_and_validate_key(key) for key in keys]) if keys else []
            return [int(value) if value is not None else 0 for value in values]
        found = self.cache.get_many(keys)
        return [found.get(key, 0) for key in keys]


_process_counters: _Counters | None = None


def _counters() -> _Counters:
    global _process_counters
    if _process_counters is None:
        _process_counters = _Counters()
    return _process_counters


@receiver(setting_changed)
def _forget_counters(*, setting, **kwargs):
    global _process_counters
    if setting == "CACHES":  # tests give each run its own key prefix
        _process_counters = None


def depot_group(depot_id: int) -> str:
    return f"depot.{depot_id}"


def order_group(order_id: int) -> str:
    return f"order.{order_id}"


def seq_key(group: str) -> str:
    return f"live:seq:{group}"


def counter_key(key: str) -> str:
    """The Redis key of a seq counter or coalescing mark (the cache's prefix and version applied)."""
    return _counters().cache.make_and_validate_key(key)


def counter_redis_url() -> str | None:
    """Where the seq counters and coalescing marks live (None without Redis: the embedded mode)."""
    return _counters().redis_url


def next_seq(group: str) -> int:
    return _counters().incr(seq_key(group))


def current_seqs(groups: Iterable[str]) -> dict[str, int]:
    groups = list(groups)
    return dict(zip(groups, _counters().get_many([seq_key(group) for group in groups]), strict=True))


def broadcast(groups: Iterable[str], kind: str, state: dict, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Send one message of `kind` carrying `state` to each group, each with that group's next seq.

    Call from synchronous code (services' on_commit callbacks, tasks), never from the event loop.
    `loop`: send on this running event loop (the ASGI server's) from a thread of our own; the
    in-memory channel layer of the embedded mode only works on the loop its consumers listen on.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    messages = [(group, {"type": kind, "seq": next_seq(group), **state}) for group in groups]
    if isinstance(layer, InMemoryChannelLayer):
        # The embedded mode's layer lives in this process: a group nobody joined has no reader, and
        # the hop onto an event loop (async_to_sync) costs more than the rest of a driver's tap.
        messages = [(group, message) for group, message in messages if layer.groups.get(group)]
    if not messages:
        return
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(_send_all(layer, messages), loop).result(timeout=10)
    else:
        async_to_sync(_send_all)(layer, messages)


def _server_event_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop of the ASGI server when this thread runs a sync view for it (asgiref sets it)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    return loop if loop is not None and loop.is_running() else None


def publish_to_depot(depot_id: int, message: dict) -> None:
    """Send a message built elsewhere ({"type": ..., **state}, e.g. dispatch.live.alerts) to a depot's
    dashboards; the seq is added here. Its type needs a handler of the same name in DispatchConsumer."""
    state = {key: value for key, value in message.items() if key not in ("type", "seq")}
    broadcast([depot_group(depot_id)], message["type"], state)


async def _send_all(layer, messages) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


# --- driver.position -------------------------------------------------------------------------


def position_state(*, driver_id, vehicle_id, lat, lon, recorded_at, heading, speed_mps) -> dict:
    return {
        "driver": driver_id, "vehicle": vehicle_id, "lat": lat, "lon": lon, "recorded_at": _iso(recorded_at),
        "heading": heading, "speed_mps": speed_mps,
    }  # fmt: skip


def window_key(driver_id: int) -> str:
    return f"live:pos:window:{driver_id}"


def _trailing_key(driver_id: int) -> str:
    return f"live:pos:trailing:{driver_id}"


def driver_moved(*, driver_id, vehicle_id, depot_id, lat, lon, recorded_at, heading=None, speed_mps=None, **_):
    """events.driver_moved handler: tell the depot's dashboards, at most once per driver per window.

    Leading edge: the first position of a window goes out at once (cache.add is atomic across every
    process: one of them wins the window). A position that arrives inside the window is not dropped:
    the process that sees it marks a trailing broadcast as pending (again cache.add: one mark per
    driver) and sends, when the window is over, the driver's latest position read from the database
    at that moment. So the final position of a burst always reaches the dashboards, at most one window
    late, and a trailing broadcast sends whatever is newest, never a stale suppressed payload.
    """
    if _counters().add(window_key(driver_id), POSITION_WINDOW_S):
        state = position_state(
            driver_id=driver_id, vehicle_id=vehicle_id, lat=lat, lon=lon, recorded_at=recorded_at,
            heading=heading, speed_mps=speed_mps,
        )  # fmt: skip
        broadcast([depot_group(depot_id)], "driver.position", state)
    else:
        _schedule_trailing_position(driver_id)


def _schedule_trailing_position(driver_id: int) -> None:
    _schedule_trailing_position_on(driver_id, _server_event_loop())


def _schedule_trailing_position_on(driver_id: int, loop) -> None:
    if _counters().add(_trailing_key(driver_id), _TRAILING_MARK_TTL_S):
        _trailing.call_later(POSITION_WINDOW_S, _send_trailing_position, driver_id, loop)


def _send_trailing_position(driver_id: int, loop=None) -> None:
    # Clear the mark before reading: a position committed after this point schedules its own trailing send.
    _counters().delete(_trailing_key(driver_id))
    if not _counters().add(window_key(driver_id), POSITION_WINDOW_S):
        # Another process broadcast inside the last window: try again when it is over.
        _schedule_trailing_position_on(driver_id, loop)
        return
    driver = (
        Driver.objects.filter(pk=driver_id, last_position_at__isnull=False)
        .values("depot_id", "vehicle_id", "last_lat", "last_lon", "last_position_at", "last_heading", "last_speed_mps")
        .first()
    )
    if driver is None:
        return
    state = position_state(
        driver_id=driver_id, vehicle_id=driver["vehicle_id"], lat=driver["last_lat"], lon=driver["last_lon"],
        recorded_at=driver["last_position_at"], heading=driver["last_heading"], speed_mps=driver["last_speed_mps"],
    )  # fmt: skip
    broadcast([depot_group(driver["depot_id"])], "driver.position", state, loop=loop)


class _TrailingTimer:
    """One daemon thread running due calls in time order (the trailing position broadcasts).

    A thread, not the ASGI event loop: the handlers run in worker threads of daphne and in Celery
    workers alike, and a trailing send reads the database, which must not happen on the event loop.
    """

    def __init__(self):
        self._queue: list = []
        self._counter = itertools.count()
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_later(self, delay_s: float, function, *args) -> None:
        with self._condition:
            heapq.heappush(self._queue, (time.monotonic() + delay_s, next(self._counter), function, args))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-trailing", daemon=True)
                self._thread.start()
            self._condition.notify()

    def cancel_all(self) -> list:
        """Drop every call not yet made; returns their arguments."""
        with self._condition:
            dropped = [args for _, _, _, args in self._queue]
            self._queue.clear()
        return dropped

    def _run(self) -> None:
        while True:  # the service loop of a daemon thread: it sleeps until the next call is due
            with self._condition:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    self._condition.wait(None if not self._queue else self._queue[0][0] - time.monotonic())
                _, _, function, args = heapq.heappop(self._queue)
            try:
                function(*args)
            except Exception:  # noqa: BLE001 - one failed send must not stop later ones
                logger.exception("trailing live broadcast %s%r failed", function.__name__, args)
            finally:
                # This thread is idle most of the time: hold no database connection while it sleeps.
                connections.close_all()


_trailing = _TrailingTimer()


def trailing_positions_cancel() -> None:
    """Forget the trailing position broadcasts this process has not sent yet, and their marks (so
    the next position schedules its own). For the test suite between tests: a send left from one
    test would otherwise read the database during the next one, or after it is gone."""
    for args in _trailing.cancel_all():
        _counters().delete(_trailing_key(args[0]))


# --- stop.status, plan.updated, alert -----------------------------------------------------------


def order_status_changed(*, order_id, reference, depot_id, to_status, from_status="", at=None, **_):
    """events.order_status_changed handler: the depot's dashboards and the order's tracking socket."""
    state = {"order": order_id, "reference": reference, "status": to_status, "from_status": from_status, "at": _iso(at)}
    broadcast([depot_group(depot_id), order_group(order_id)], "stop.status", state)


def plan_dispatched(*, plan_id, previous_plan_id=None, reason="", **_):
    """events.plan_dispatched handler: a version went to the drivers."""
    _broadcast_plan(plan_id=plan_id, previous_plan_id=previous_plan_id, reason=reason, changes={})


def plan_updated(*, plan_id, previous_plan_id=None, reason="", changes=None, **_):
    """events.plan_updated handler: a new version of a dispatched plan (re-planning, a closure, an edit)."""
    _broadcast_plan(plan_id=plan_id, previous_plan_id=previous_plan_id, reason=reason, changes=changes or {})


def _broadcast_plan(*, plan_id, previous_plan_id, reason, changes) -> None:
    plan = Plan.objects.filter(pk=plan_id).values("id", "version", "date", "depot_id", "dispatched_at").first()
    if plan is None:
        return
    if plan["depot_id"] is not None:
        depot_ids = [plan["depot_id"]]
    else:  # a plan over several depots: every depot one of its vehicles belongs to
        depot_ids = sorted(set(Route.objects.filter(plan_id=plan_id).values_list("vehicle__depot_id", flat=True)))
    state = {
        "plan": plan["id"], "version": plan["version"], "date": _iso(plan["date"]), "depot": plan["depot_id"],
        "previous_plan": previous_plan_id, "reason": reason, "dispatched_at": _iso(plan["dispatched_at"]),
        "changes": _json_keys(changes),
    }  # fmt: skip
    broadcast([depot_group(depot_id) for depot_id in depot_ids], "plan.updated", state)


# --- closure ------------------------------------------------------------------------------------


def closure_state(closure, *, now=None) -> dict:
    """A road closure as the live map draws it: its shape, its reason and when it applies.

    `state` is "active", "announced" (not started yet) or "ended" (lifted, or its end has passed); the
    page turns an announced closure active when its start comes, and drops one whose end has passed,
    without asking the server.
    """
    now = now or timezone.now()
    if closure.lifted_at is not None or (closure.ends_at is not None and closure.ends_at <= now):
        state = "ended"
    else:
        state = "announced" if closure.starts_at > now else "active"
    return {
        "closure": closure.pk,
        "reason": closure.reason,
        "geometry": closure.geometry,  # GeoJSON, [lon, lat]: the page draws it with L.geoJSON
        "starts_at": _iso(closure.starts_at),
        "ends_at": _iso(closure.ends_at),
        "lifted_at": _iso(closure.lifted_at),
        "version": closure.version,
        "state": state,
    }


def current_closures(now=None) -> list[dict]:
    """Closures active now or announced for later (not lifted, not ended), soonest first.

    Closures are not a depot's: every dispatcher sees every one (a closed road closes it for all).
    """

    now = now or timezone.now()
    closures = (
        RoadClosure.objects.filter(lifted_at__isnull=True)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .order_by("starts_at", "id")
    )
    return [closure_state(closure, now=now) for closure in closures]


def closure_changed(*, closure_id, **_):
    """events.closure_changed handler: a closure was drawn, changed or lifted.

    A closed road closes it for every depot, so every depot's dashboards hear of it; each group's
    copy names its depot so that a client keeps the seqs of each group it follows.
    """

    closure = RoadClosure.objects.filter(pk=closure_id).first()
    if closure is None:
        return
    state = closure_state(closure)
    for depot_id in Depot.objects.values_list("id", flat=True):
        broadcast([depot_group(depot_id)], "closure", {**state, "depot": depot_id})


def _json_keys(value):
    # Channel layers serialize with msgpack, clients get JSON: dict keys become strings either way.
    if isinstance(value, dict):
        return {str(key): _json_keys(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_json_keys(item) for item in value]
    return value


def _alert_state(alert: Alert) -> dict:
    return {
        "id": alert.pk, "kind": alert.kind, "kind_label": str(alert.get_kind_display()), "message": alert.message,
        "order": alert.order_id,
        "driver": alert.driver_id, "depot": alert.depot_id, "created_at": _iso(alert.created_at),
        "resolved": alert.resolved_at is not None,
    }  # fmt: skip


def alert_broadcast(*, alert: Alert) -> None:
    """Tell the depot's dashboards (and the order's tracking socket) about an alert raised or resolved.

    For the services that raise alerts to call after their commit (there is no alert event yet)."""
    groups = [depot_group(alert.depot_id)] + ([order_group(alert.order_id)] if alert.order_id else [])
    broadcast(groups, "alert", _alert_state(alert))


# --- what a dashboard sees ------------------------------------------------------------------------


def dashboard_depot_ids(*, user) -> list[int] | None:
    """The depots whose live messages a user's dashboard receives; None: the user has no dashboard."""
    if not is_office_staff(user):
        return None
    if is_manager(user):
        return list(Depot.objects.values_list("id", flat=True))
    return sorted(visible_depot_ids(user))


def dispatch_snapshot(*, user, depot_ids: list[int]) -> dict:
    """Everything a dashboard shows, in one message: the latest position of every active driver,
    today's dispatched plans (the version drivers follow) and the open alerts, with the current seq
    of each group so the client can ignore older messages still in flight."""

    drivers = (
        Driver.objects.filter(active=True, depot_id__in=depot_ids, last_position_at__isnull=False)
        .order_by("name")
        .values("id", "name", "depot_id", "vehicle_id", "last_lat", "last_lon", "last_position_at", "last_heading",
                "last_speed_mps")
    )  # fmt: skip
    positions = [
        {
            **position_state(
                driver_id=row["id"], vehicle_id=row["vehicle_id"], lat=row["last_lat"], lon=row["last_lon"],
                recorded_at=row["last_position_at"], heading=row["last_heading"], speed_mps=row["last_speed_mps"],
            ),
            "driver_name": row["name"],
            "depot": row["depot_id"],
        }
        for row in drivers
    ]  # fmt: skip
    # The versions drivers follow (a night shift's plan of yesterday too, while it runs).
    plans = [
        {"plan": p.id, "version": p.version, "date": _iso(p.date), "depot": p.depot_id, "reason": p.reason,
         "dispatched_at": _iso(p.dispatched_at)}
        for p in running_plans(user)
    ]  # fmt: skip
    alerts = [
        _alert_state(alert) for alert in Alert.objects.filter(resolved_at__isnull=True, depot_id__in=depot_ids)[:500]
    ]
    groups = [depot_group(depot_id) for depot_id in depot_ids]
    return {
        "type": "snapshot",
        "seq": current_seqs(groups),
        "depots": depot_ids,
        "drivers": positions,
        "plans": plans,
        "alerts": alerts,
        "at": _iso(timezone.now()),
    }
