"""ETAs that follow the driver: the remaining stops re-timed from the latest position on the roads.

On `driver_moved` (dispatch.events) the driver's current route (the newest dispatched plan of the
day for the driver's depot) is re-timed: from the driver's latest position through the open stops
in their planned order with road travel times (the network's `time_legs`, traffic of the hour each
leg starts), service times, waiting for a window that has not opened yet, and the plan's breaks still
to be taken. The result goes to
Stop.live_eta in one bulk update. Then:

- `dispatch.events.eta_changed` for every stop whose ETA moved by ETA_CHANGE_MIN_S or more since
  the ETA last announced for it (kept in the cache; the planned ETA before the first announcement),
  so that a slow drift adds up to an announcement instead of slipping under the threshold;
- late alerts (dispatch.live.alerts) opened or resolved from the new ETAs;
- one live message to the depot's dashboards:

      {"type": "route.etas", "route", "plan", "driver", "vehicle", "computed_at",
       "position": {"lat", "lon", "recorded_at"},
       "stops": [{"stop", "order", "sequence", "status", "eta" (planned), "live_eta",
                  "window_start", "window_end", "late_s"}]}   (+ "seq" from the live layer)

A driver sends a position every few seconds; recomputing for each would be waste. At most one
recompute per driver every LIVE_ETA_EVERY_S seconds (env, default 20) runs: `cache.add` is the
gate (atomic, shared across processes with Redis). A recompute is one route (one `time_legs` call,
a few milliseconds on a town's network); it runs in the caller's thread (the request that posted
the position, after commit, never the ASGI event loop) unless the last one in this process took
more than INLINE_BUDGET_S, in which case it goes to a Celery task.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from config import metrics
from config.tasks import enqueue
from dispatch import events
from dispatch.live import alerts
from dispatch.live.broadcast import publish_to_depot
from dispatch.live.reloads import route_road_legs
from dispatch.models import Driver, Order, OrderStatusChange
from routes.errors import RoutingError
from routes.flights import flight_legs, is_drone, reload_points
from routes.models import Plan, Route, Stop
from routes.plans.selectors import driver_route
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)

ETA_CHANGE_MIN_S = 120
# The "1 h before" ETA (Stop.hour_before_eta): the first live ETA computed between these many
# seconds ahead of the arrival it predicts, kept for the ETA accuracy figures. Not earlier than 45
# minutes ahead: a stop whose first live ETA comes later (the first stops of a route) has none,
# rather than a ten-minute forecast that would flatter the "1 h" horizon.
HOUR_BEFORE_S = (45 * 60, 60 * 60)
INLINE_BUDGET_S = 0.050
# How long the last announced ETA of a stop is remembered (a day's work, with margin).
ANNOUNCED_TTL_S = 36 * 3600
OPEN_STATUSES = Order.ON_ROUTE_STATUSES
_last_duration = {"seconds": 0.0}


def live_eta_every_s() -> int:
    raw = os.environ.get("LIVE_ETA_EVERY_S", "20")
    try:
        return max(0, int(raw))
    except ValueError:
        raise ValueError(f"LIVE_ETA_EVERY_S must be a whole number of seconds, not {raw!r}") from None


# --- which route ---------------------------------------------------------------------------------


def current_route(*, driver: Driver, now: datetime) -> Route | None:
    """The route the driver's phone shows at `now` (dispatch.driver_app.selectors), stops and orders loaded,
    not its road path."""

    return driver_route(driver, now=now, geometry=False)


# --- the computation -------------------------------------------------------------------------------


@dataclass
class LiveEtas:
    route: Route
    stops: list  # Stop rows re-timed, in sequence, order loaded
    changed: list  # (stop, previous eta) for moves of ETA_CHANGE_MIN_S or more
    seconds: float


def _arrived_at(order_id: int) -> datetime | None:
    return (
        OrderStatusChange.objects.filter(order_id=order_id, to_status=Order.Status.ARRIVED)
        .order_by("-changed_at")
        .values_list("changed_at", flat=True)
        .first()
    )


def live_etas_recompute(*, driver_id: int, now: datetime | None = None) -> LiveEtas | None:
    """Re-time the open stops of the driver's current route from the driver's latest position.

    Returns None when there is nothing to do (no position, no route, no open stop, no road).
    """

    started = time.perf_counter()
    now = now or timezone.now()
    driver = Driver.objects.select_related("vehicle").filter(pk=driver_id).first()
    if driver is None or driver.last_lat is None or driver.last_position_at is None:
        return None
    route = current_route(driver=driver, now=now)
    if route is None:
        return None
    stops = [stop for stop in route.stops.all() if stop.order.status in OPEN_STATUSES]
    if not stops:
        return None
    # Compared with the ETA last announced (eta_changed), not the last one computed: a slow drift of
    # a minute per refresh must add up to an announcement. Before the first one, the plan's ETA.
    announced = cache.get_many([_announced_key(stop.pk) for stop in stops])
    previous_by_stop = {stop.pk: announced.get(_announced_key(stop.pk)) or stop.eta for stop in stops}

    # The plan's breaks after stops still to be served are still to be taken: each pushes the stops
    # after it by its length (a break before the next open stop is taken, or being taken, already).
    break_after = {}
    for planned_break in route.breaks or []:
        after = int(planned_break.get("after_sequence") or 0)
        break_after[after] = break_after.get(after, 0) + int(planned_break.get("duration_s") or 0)

    start, clock = (driver.last_lat, driver.last_lon), max(now, driver.last_position_at)
    to_time = stops
    first = stops[0]
    if first.order.status == Order.Status.ARRIVED:
        # At the stop already: its ETA is when the driver got there; the rest start after its service.
        arrived = _arrived_at(first.order_id) or clock
        first.live_eta = arrived
        start = (first.order.lat, first.order.lon)
        clock = max(clock, arrived + timedelta(seconds=first.service_s + break_after.get(first.sequence, 0)))
        to_time = stops[1:]

    if to_time:
        points = [start] + [(s.order.lat, s.order.lon) for s in to_time]
        network = get_road_network(moment=now, required=False)
        if network is None and not is_drone(route.vehicle):
            return None
        try:
            if is_drone(route.vehicle):
                # Straight flights, no traffic, no closures; back to a hub to reload between two parcels.
                hubs = reload_points(route)
                before = first.sequence if to_time is not stops else first.sequence - 1
                sequences = [before] + [s.sequence for s in to_time[:-1]]
                via = {leg: hubs[seq] for leg, seq in enumerate(sequences) if seq in hubs}
                legs = flight_legs(route.vehicle, points, via=via, reload_s=route.vehicle.reload_minutes * 60)
            else:
                # Through the hub and its reload time where the route reloads between two trips.
                legs = route_road_legs(
                    network, route, driver, points=points, clock=clock, now=now, from_position=to_time is stops,
                    sequences=[first.sequence if to_time is not stops else first.sequence - 1]
                    + [s.sequence for s in to_time[:-1]],
                )  # fmt: skip
        except RoutingError as exc:
            logger.info("no live ETA for driver %s: %s", driver_id, exc)
            return None
        except Exception as exc:  # the network raises its own errors (PointNotSnapped, RouteNotFound)
            logger.info("no live ETA for driver %s: %s", driver_id, exc)
            return None
        for stop, leg in zip(to_time, legs, strict=True):
            arrive = clock + timedelta(seconds=round(leg["duration_s"]))
            window_start = stop.order.window_start
            service_start = max(arrive, window_start) if window_start else arrive
            stop.live_eta = arrive
            clock = service_start + timedelta(seconds=stop.service_s + break_after.get(stop.sequence, 0))

    changed = []
    nearest, farthest = HOUR_BEFORE_S
    fields = ["live_eta", "live_eta_updated_at"]
    for stop in stops:
        previous = previous_by_stop[stop.pk]
        if abs((stop.live_eta - previous).total_seconds()) >= ETA_CHANGE_MIN_S:
            changed.append((stop, previous))
        stop.live_eta_updated_at = now
        if stop.hour_before_eta is None and nearest <= (stop.live_eta - now).total_seconds() <= farthest:
            stop.hour_before_eta, stop.hour_before_eta_at = stop.live_eta, now
            fields[2:] = ["hour_before_eta", "hour_before_eta_at"]
    # One UPDATE for the route either way. The two "1 h before" columns ride along only in a refresh that
    # set one (a stop gets it once a day): the statement's CASE per stop and column is most of its cost.
    Stop.objects.bulk_update(stops, fields)
    if changed:
        cache.set_many({_announced_key(stop.pk): stop.live_eta for stop, _ in changed}, timeout=ANNOUNCED_TTL_S)
    return LiveEtas(route=route, stops=stops, changed=changed, seconds=time.perf_counter() - started)


def _announced_key(stop_id: int) -> str:
    return f"live-eta:announced:{stop_id}"


def _iso(moment):
    return moment.isoformat() if moment else None


def route_etas_message(result: LiveEtas, driver: Driver) -> dict:
    route = result.route
    return {
        "type": "route.etas",
        "route": route.pk,
        "plan": route.plan_id,
        "driver": route.driver_id,
        "vehicle": route.vehicle_id,
        "computed_at": _iso(timezone.now()),
        "position": {"lat": driver.last_lat, "lon": driver.last_lon, "recorded_at": _iso(driver.last_position_at)},
        "stops": [
            {
                "stop": stop.pk,
                "order": stop.order_id,
                "sequence": stop.sequence,
                "status": stop.order.status,
                "eta": _iso(stop.eta),
                "live_eta": _iso(stop.live_eta),
                "window_start": _iso(stop.order.window_start),
                "window_end": _iso(stop.order.window_end),
                "late_s": max(0, int((stop.live_eta - stop.order.window_end).total_seconds()))
                if stop.order.window_end
                else 0,
            }
            for stop in result.stops
        ],
    }


def live_etas_refresh(*, driver_id: int, now: datetime | None = None) -> LiveEtas | None:
    """Recompute, then tell everyone: eta_changed events, late alerts, the depot's dashboards.

    `now`: the moment of the position that set this off when a simulator replays a past day (the
    ETAs, and the customers' promises they move, are as of then); None: now, as for every real phone."""

    replayed = now
    with transaction.atomic():
        result = live_etas_recompute(driver_id=driver_id, now=now)
        if result is None:
            return None
        route = result.route
        depot_id = route.vehicle.depot_id
        alerts.late_alerts_sync(depot_id=depot_id, driver_id=route.driver_id, stops=result.stops)
        for stop, previous in result.changed:
            payload = {
                "order_id": stop.order_id, "depot_id": stop.order.depot_id, "eta": stop.live_eta,
                "previous_eta": previous, "window_start": stop.order.window_start, "window_end": stop.order.window_end,
                "at": replayed,
            }  # fmt: skip
            transaction.on_commit(lambda payload=payload: events.eta_changed(**payload))
        driver = Driver.objects.get(pk=driver_id)
        message = route_etas_message(result, driver)
        transaction.on_commit(lambda: _publish(depot_id, message))
    _last_duration["seconds"] = result.seconds
    return result


def _publish(depot_id: int, message: dict) -> None:
    try:
        publish_to_depot(depot_id, message)
    except Exception:  # noqa: BLE001 - the ETAs are stored; the next refresh publishes again
        logger.exception("could not publish live ETAs to depot %s", depot_id)


@shared_task(name="routes.live_eta.refresh_live_etas", ignore_result=True, latest_only=True)
def refresh_live_etas(driver_id: int, at: str | None = None) -> None:
    """Celery task: idempotent (it re-reads the driver's latest position and overwrites the ETAs).
    latest_only: one waiting refresh per driver is enough (config.tasks.run_latest). `at`: a
    simulated day's moment (on_driver_moved)."""
    # Called exactly as on_driver_moved calls it inline: a real move passes no moment at all.
    live_etas_refresh(driver_id=driver_id, **({"now": datetime.fromisoformat(at)} if at else {}))


def _due(driver_id: int, replayed: datetime | None) -> bool:
    """At most one recompute per driver every LIVE_ETA_EVERY_S: of real time (cache.add is the atomic
    gate), or, for a simulated day posted far faster than it happened, of the day's own clock (a
    whole route posted in seconds would otherwise get one live ETA)."""
    every = live_eta_every_s()
    if not every:
        return True
    if replayed is None:
        return cache.add(f"live-eta:{driver_id}", 1, timeout=every)
    key = f"live-eta:replayed:{driver_id}"
    last = cache.get(key)
    if last is not None and last <= replayed < last + timedelta(seconds=every):
        return False
    cache.set(key, replayed, timeout=ANNOUNCED_TTL_S)
    return True


def on_driver_moved(*, driver_id, received_at: datetime | None = None, **payload) -> None:
    """Event handler (dispatch.events.driver_moved): coalesced per driver, inline when cheap.
    `received_at` (only for a simulated day's positions): the moment the ETAs are computed as of."""
    if not _due(driver_id, received_at):
        return  # recomputed less than `every` seconds ago
    if _last_duration["seconds"] > INLINE_BUDGET_S:
        _last_duration["seconds"] = 0.0  # measure again next time: the slow one may have been a cold start
        enqueue(refresh_live_etas, driver_id, **({"at": received_at.isoformat()} if received_at else {}))
        return
    # A real phone's move: exactly as ever (now); a replayed one: as of its moment.
    live_etas_refresh(driver_id=driver_id, **({"now": received_at} if received_at else {}))


@metrics.safely
def on_order_status_changed(*, order_id, from_status="", to_status, at=None, **_payload) -> None:
    """dispatch.events handler: the ETA error of a stop, at the driver's arrival (or at delivery or
    failure when the driver never tapped "arrived")."""
    if at is None or to_status not in ("arrived", "delivered", "failed") or from_status == "arrived":
        return

    stop = (
        Stop.objects.filter(order_id=order_id, route__plan__status=Plan.Status.DONE)
        .exclude(route__plan__dispatched_at=None)
        .order_by("-route__plan__dispatched_at")
        .values("eta", "live_eta")
        .first()
    )
    if stop is None:
        return
    metrics.ETA_ERROR_SECONDS.labels(eta="planned").observe(abs((at - stop["eta"]).total_seconds()))
    if stop["live_eta"] is not None:
        metrics.ETA_ERROR_SECONDS.labels(eta="live").observe(abs((at - stop["live_eta"]).total_seconds()))
