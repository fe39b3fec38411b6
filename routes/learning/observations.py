"""A day of the fleet's driving turned into observations, once, for every night that learns from it.

Each day is read once and cached under VAR_DIR/learning (keyed by road network build, profile and day,
and re-made when the day's rows change): the drivers' positions are cleaned of standing (stops, breaks,
the depot) and the time at stops, map-matched (routes.learning.matching), and cut into driving pieces
per road stretch and hour; the stop actions give service times (from the arrival, or the window's start
when the driver came early, to completion) and, with the positions, access times (the stop's time off
the road that the road matrix does not already walk). Reads only: the versions are written by
routes.learning.services.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db.models import Count, Max

from dispatch.models import Driver, DriverPosition, Order, OrderStatusChange, Vehicle
from routes.learning import doorstep, speeds
from routes.learning.evaluation import DayData
from routes.learning.matching import Matcher
from routes.learning.selectors import order_keys
from routes.models import RoadNetworkBuild
from routes.network import RoadNetwork
from routes.network.geometry import LocalProjection
from routes.network.traffic import day_type

# 2: service from the window's start when the driver came early; 3: access net of walks; 4: Saturday and
# Sunday apart (slots of three day types)
CACHE_FORMAT = 4
MAX_LEAVING_S = 120.0  # after a completion, longer than this before the van moves is a pause, not the stop's
COMPLETIONS = (Order.Status.DELIVERED, Order.Status.FAILED)


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = local_zone()
    start = datetime.combine(day, datetime.min.time(), zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)


def local_slots(unix_s: np.ndarray) -> np.ndarray:
    """Slot (day type * 24 + local hour, routes.network.traffic.day_type) of each moment (unix seconds)."""
    if not len(unix_s):
        return np.zeros(0, np.int16)
    zone = local_zone()
    hours = np.floor(unix_s / 3600).astype(np.int64)
    unique, inverse = np.unique(hours, return_inverse=True)
    slot_of = np.empty(len(unique), np.int16)
    for i, hour in enumerate(unique.tolist()):
        local = datetime.fromtimestamp(hour * 3600 + 1800, zone)
        slot_of[i] = day_type(local) * 24 + local.hour
    return slot_of[inverse]


# -- one day ---------------------------------------------------------------------------------------------
def day_visits(day: date) -> dict[int, list[tuple[float, float, int]]]:
    """Per driver: (arrival, completion, order id) of each stop served that day, in time order."""
    start, end = day_bounds(day)
    changes = (
        OrderStatusChange.objects.filter(
            changed_at__gte=start, changed_at__lt=end, to_status__in=[Order.Status.ARRIVED, *COMPLETIONS]
        )
        .exclude(changed_by=None)
        .values_list("changed_by__driver", "order_id", "to_status", "changed_at")
        .order_by("changed_at", "id")
    )
    arrived: dict[tuple[int, int], float] = {}
    visits: dict[int, list] = defaultdict(list)
    for driver_id, order_id, status, at in changes:
        if driver_id is None:
            continue
        if status == Order.Status.ARRIVED:
            arrived[(driver_id, order_id)] = at.timestamp()
        elif (driver_id, order_id) in arrived:
            visits[driver_id].append((arrived.pop((driver_id, order_id)), at.timestamp(), order_id))
    for items in visits.values():
        items.sort()
    return visits


def _day_fingerprint(day: date) -> list:
    start, end = day_bounds(day)
    positions = DriverPosition.objects.filter(recorded_at__gte=start, recorded_at__lt=end).aggregate(
        n=Count("id"), last=Max("id")
    )
    changes = OrderStatusChange.objects.filter(changed_at__gte=start, changed_at__lt=end).aggregate(
        n=Count("id"), last=Max("id")
    )
    return [positions["n"], positions["last"], changes["n"], changes["last"]]


def _cache_path(build: RoadNetworkBuild, profile: str, day: date) -> Path:
    key = hashlib.sha1(build.path.encode(), usedforsecurity=False).hexdigest()[:12]
    return Path(settings.VAR_DIR) / "learning" / key / profile / f"{day.isoformat()}.npz"


def _matrix_walks_s(network: RoadNetwork, profile: str, orders: list) -> np.ndarray:
    """Per order (None: 0), the seconds the road matrix walks between its door and its road, there and
    back (routes.network: each leg walks from its start's and to its end's road point)."""
    walks = np.zeros(len(orders))
    known = [i for i, order in enumerate(orders) if order is not None]
    if not known:
        return walks
    state = network._state(profile)
    snaps = network.snap_many([(orders[i].lat, orders[i].lon) for i in known], profile)
    for i, snap in zip(known, snaps):
        if snap is not None:
            walks[i] = 2 * snap.distance_m / state.access_mps
    return walks


def _learn_day(network: RoadNetwork, matchers: dict, day: date) -> dict[str, DayData]:
    """Observations of one day per profile (see the module docstring)."""
    start, end = day_bounds(day)
    visits = day_visits(day)
    kinds = dict(Vehicle.objects.values_list("id", "kind"))
    default_vehicle = dict(Driver.objects.values_list("id", "vehicle_id"))
    rows = (
        DriverPosition.objects.filter(recorded_at__gte=start, recorded_at__lt=end)
        .order_by("driver_id", "recorded_at")
        .values_list("driver_id", "vehicle_id", "lat", "lon", "recorded_at")
    )
    traces: dict[int, list] = defaultdict(list)
    for driver_id, vehicle_id, lat, lon, at in rows.iterator(chunk_size=20000):
        traces[driver_id].append((vehicle_id, lat, lon, at.timestamp()))
    orders = {
        o.id: o
        for o in Order.objects.filter(id__in={v[2] for items in visits.values() for v in items}).select_related("zone")
    }
    result: dict[str, DayData] = {}
    parts: dict[str, list] = defaultdict(list)
    for driver_id in set(traces) | set(visits):
        fixes = traces.get(driver_id, [])
        vehicle_id = next((f[0] for f in fixes if f[0]), None) or default_vehicle.get(driver_id)
        kind = kinds.get(vehicle_id, Vehicle.Kind.VAN)
        profile = Vehicle.PROFILE_BY_KIND.get(kind, "car")
        driver_visits = visits.get(driver_id, [])
        for arrival, completion, order_id in driver_visits:
            order = orders.get(order_id)
            if order is None:
                continue
            keys = {**order_keys(order), "kind": kind, "items": order.items or 0}
            # Service starts when the driver may hand over: an early arrival waits for the window's
            # start (as the planner assumes), and that wait is not the doorstep's.
            started = max(arrival, order.window_start.timestamp()) if order.window_start else arrival
            service_s = completion - started
            if 0 < service_s <= doorstep.MAX_SERVICE_S:
                parts["service"].append({**keys, "seconds": service_s})
        if profile not in network.profiles or len(fixes) < 2:
            continue
        t = np.asarray([f[3] for f in fixes])
        lat = np.asarray([f[1] for f in fixes])
        lon = np.asarray([f[2] for f in fixes])
        matcher = matchers.get(profile)
        if matcher is None:
            matcher = matchers[profile] = Matcher(network._state(profile))
        projection = LocalProjection(float(lat.mean()), float(lon.mean()))
        x, y = projection.to_xy(lat, lon)
        still = speeds.still_mask(t, x, y)
        at_stop = np.zeros(len(t), bool)
        if driver_visits:
            bounds = np.asarray([(a, c) for a, c, _ in driver_visits])
            inside = np.searchsorted(bounds[:, 0], t, side="right") - 1
            at_stop = (inside >= 0) & (t <= bounds[np.maximum(inside, 0), 1])
        moving = ~still & ~at_stop
        # access: the time at a stop that the road matrix does not count. From the last driving fix
        # before the arrival (since the previous stop) to the arrival, plus from the completion to the
        # next driving fix (walking back, starting; a longer pause is a break), less the walk from the
        # road to the door and back that every matrix leg already counts at the profile's access speed
        # (counted twice, the planner overran every stop by it: half a minute a stop in the demo).
        moving_t = t[moving]
        previous_end = start.timestamp()
        walks = _matrix_walks_s(network, profile, [orders.get(order_id) for _, _, order_id in driver_visits])
        for index, (arrival, completion, order_id) in enumerate(driver_visits):
            k = np.searchsorted(moving_t, arrival) - 1
            order = orders.get(order_id)
            if k >= 0 and moving_t[k] > previous_end and order is not None:
                after = int(np.searchsorted(moving_t, completion))
                leaving_s = moving_t[after] - completion if after < len(moving_t) else np.inf
                access_s = arrival - moving_t[k] + (leaving_s if leaving_s <= MAX_LEAVING_S else 0.0) - walks[index]
                if access_s <= doorstep.MAX_ACCESS_S:
                    seconds = max(float(access_s), doorstep.MIN_SECONDS)
                    parts["access"].append({**order_keys(order), "kind": kind, "items": 0, "seconds": seconds})
            previous_end = completion
        keep = np.flatnonzero(moving)
        keep = keep[speeds.thinned(x[keep], y[keep], speeds.THIN_M)]
        if len(keep) < 2:
            continue
        tk, latk, lonk = t[keep], lat[keep], lon[keep]
        match = matcher.match(tk, latk, lonk, max_gap_s=speeds.MAX_GAP_S)
        straight = np.hypot(np.diff(x[keep]), np.diff(y[keep]))
        ok = speeds.driving_pairs(tk, match.route_m, straight, np.zeros(len(tk), bool))
        pieces = match.pieces
        sel = ok[pieces.pair]
        chain, metres, secs, at = pieces.chain[sel], pieces.metres[sel], pieces.seconds[sel], pieces.at[sel]
        # legs: from the completion of one stop to the arrival at the next
        leg = np.full(len(at), -1, np.int64)
        leg_actual, leg_order = [], []
        for (_, completion, _), (arrival, _, order_id) in zip(driver_visits, driver_visits[1:]):
            index = len(parts[f"legs:{profile}"]) + len(leg_actual)
            leg[(at >= completion) & (at < arrival)] = index
            leg_actual.append(arrival - completion)
            leg_order.append(order_id)
        parts[f"legs:{profile}"].extend(zip(leg_actual, leg_order))
        parts[f"pieces:{profile}"].append((chain, local_slots(at), metres, secs, leg))
    for profile in network.profiles:
        chunks = parts.get(f"pieces:{profile}", [])
        legs = parts.get(f"legs:{profile}", [])
        if chunks:
            chain, slot, metres, secs, leg = (np.concatenate(c) for c in zip(*chunks))
        else:
            chain, slot, metres, secs, leg = (np.zeros(0, np.int32), np.zeros(0, np.int16), np.zeros(0), np.zeros(0),
                                              np.zeros(0, np.int64))  # fmt: skip
        result[profile] = DayData(
            obs=speeds.Observations(chain.astype(np.int32), slot.astype(np.int16), metres, secs),
            leg=leg,
            leg_actual_s=np.asarray([a for a, _ in legs], float),
            leg_order=np.asarray([o for _, o in legs], np.int64),
        )
    # doorstep observations are the day's, whatever the profile: kept with the first profile's data
    first = network.profiles[0]
    result[first].service = parts.get("service", [])
    result[first].access = parts.get("access", [])
    return result


def day_data(network: RoadNetwork, build: RoadNetworkBuild, matchers: dict, day: date) -> dict[str, DayData]:
    """A day's observations per profile, from the cache when the day's rows have not changed."""
    fingerprint = _day_fingerprint(day)
    paths = {p: _cache_path(build, p, day) for p in network.profiles}
    cached: dict[str, DayData] = {}
    for profile, path in paths.items():
        meta = path.with_suffix(".json")
        if not (path.exists() and meta.exists()):
            break
        info = json.loads(meta.read_text())
        if info.get("format") != CACHE_FORMAT or info.get("fingerprint") != fingerprint:
            break
        with np.load(path) as data:
            cached[profile] = DayData(
                obs=speeds.Observations(data["chain"], data["slot"], data["metres"], data["seconds"]),
                leg=data["leg"],
                leg_actual_s=data["leg_actual_s"],
                leg_order=data["leg_order"],
                service=info.get("service", []),
                access=info.get("access", []),
            )
    if len(cached) == len(paths):
        return cached
    fresh = _learn_day(network, matchers, day)
    for profile, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = fresh[profile]
        np.savez_compressed(
            path, chain=data.obs.chain, slot=data.obs.slot, metres=data.obs.metres, seconds=data.obs.seconds,
            leg=data.leg, leg_actual_s=data.leg_actual_s, leg_order=data.leg_order,
        )  # fmt: skip
        info = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "service": data.service, "access": data.access}
        path.with_suffix(".json").write_text(json.dumps(info))
    return fresh


def days_with_driving(before: date, window_days: int) -> list[date]:
    first = before - timedelta(days=window_days)
    start, _ = day_bounds(first)
    _, end = day_bounds(before)
    moments = DriverPosition.objects.filter(recorded_at__gte=start, recorded_at__lt=end).datetimes(
        "recorded_at", "day", tzinfo=local_zone()
    )
    return sorted({moment.date() for moment in moments})
