"""Learning the travel model from the fleet's own days, and choosing the version every process uses.

The nightly entry point is :func:`travel_model_learn` (Celery beat runs ``routes.tasks.learn_travel_model``
at LEARNING_NIGHTLY_AT; the admin's action and ``simulate_history`` call the same):

1. Each day of the window is turned into observations once and cached under VAR_DIR/learning (keyed
   by road network build, profile and day, and re-made when the day's rows change): the drivers'
   positions are cleaned of standing (stops, breaks, the depot) and the time at stops, map-matched
   (routes.learning.matching), and cut into driving pieces per road stretch and hour; the stop
   actions give service times (from the arrival, or the window's start when the driver came early,
   to completion) and, with the positions, access times (the stop's time off the road that the road
   matrix does not already walk).
2. A *candidate* is learned from the days before the held-out day (the most recent day with
   driving), the *active* version is taken as it is, and both predict every leg of the held-out day
   (the driving along the stretches actually driven at the hour they were driven, plus the access
   time at the stop) and every service (routes.learning.evaluation). Score: mean and p90 absolute
   error over the legs and services, seconds.
3. The version's leg scale per profile and day type (routes.learning.calibration): what the plans'
   own legs of the last LEG_SCALE_DAYS took against what they said, which the stretches' learned
   times cannot see (junction costs on top of them).
4. The candidate is saved as the new version with both scores (on the first day of driving, with
   nothing before it to learn from, the day itself, inactive). It becomes active only when its mean
   + p90 is lower than the active version's (or than the road network's defaults when no version is
   active yet): the version that becomes active is exactly the one that was scored, and the next
   night's candidate has a day the active one has not seen.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from config.tasks import enqueue
from dispatch.models import Driver, DriverPosition, Order, OrderStatusChange, Vehicle
from routes.learning import calibration, doorstep, evaluation, speeds, windows
from routes.learning.evaluation import DayData
from routes.learning.matching import Matcher
from routes.learning.selectors import order_keys
from routes.models import RoadNetworkBuild, TravelModel
from routes.network import RoadNetwork
from routes.network.geometry import LocalProjection
from routes.network.traffic import day_type
from routes.road_network import active_build, get_road_network, travel_model_speeds

logger = logging.getLogger(__name__)

# 2: service from the window's start when the driver came early; 3: access net of walks; 4: Saturday and
# Sunday apart (slots of three day types)
CACHE_FORMAT = 4
MAX_LEAVING_S = 120.0  # after a completion, longer than this before the van moves is a pause, not the stop's
COMPLETIONS = (Order.Status.DELIVERED, Order.Status.FAILED)
LEG_SCALE_DAYS = 7  # the plans of the last week teach the leg scale (routes.learning.calibration)


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = _zone()
    start = datetime.combine(day, datetime.min.time(), zone)
    return start, datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)


def local_slots(unix_s: np.ndarray) -> np.ndarray:
    """Slot (day type * 24 + local hour, routes.network.traffic.day_type) of each moment (unix seconds)."""
    if not len(unix_s):
        return np.zeros(0, np.int16)
    zone = _zone()
    hours = np.floor(unix_s / 3600).astype(np.int64)
    unique, inverse = np.unique(hours, return_inverse=True)
    slot_of = np.empty(len(unique), np.int16)
    for i, hour in enumerate(unique.tolist()):
        local = datetime.fromtimestamp(hour * 3600 + 1800, zone)
        slot_of[i] = day_type(local) * 24 + local.hour
    return slot_of[inverse]


# -- one day ---------------------------------------------------------------------------------------------
def _visits(day: date) -> dict[int, list[tuple[float, float, int]]]:
    """Per driver: (arrival, completion, order id) of each stop served that day, in time order."""
    start, end = _day_bounds(day)
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
    start, end = _day_bounds(day)
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
    start, end = _day_bounds(day)
    visits = _visits(day)
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


# -- learning ----------------------------------------------------------------------------------------------
def learn_parameters(network: RoadNetwork, days: list[dict[str, DayData]]) -> tuple[dict[str, np.ndarray], dict]:
    """Speed factors per profile and the doorstep tables from the given days' observations."""
    factors, stats = {}, {}
    for profile in network.profiles:
        state = network._state(profile)
        obs = speeds.Observations.concat([d[profile].obs for d in days if profile in d])
        if not len(obs.chain):
            continue
        g = state.graph
        mid_lat = (state.node_lat[g.chain_start_node] + state.node_lat[g.chain_end_node]) / 2
        mid_lon = (state.node_lon[g.chain_start_node] + state.node_lon[g.chain_end_node]) / 2
        factors[profile], stats[profile] = speeds.estimate_factors(
            g.chain_length_m, g.chain_speed_kmh, g.chain_class, evaluation.base_class_factors(network, profile), obs,
            chain_area=speeds.chain_areas(mid_lat, mid_lon),
        )  # fmt: skip
    service = [doorstep.DoorstepObservation(**o) for d in days for data in d.values() for o in data.service]
    access = [doorstep.DoorstepObservation(**o) for d in days for data in d.values() for o in data.access]
    parameters = {
        "service": doorstep.fit(service, per_item=True),
        "access": doorstep.fit(access, per_item=False),
        "speeds": stats,
        "observations": {"service": len(service), "access": len(access)},
    }
    return factors, parameters


def pack_speeds(factors: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    # float16: 3 significant digits of a speed factor, half the bytes
    np.savez_compressed(buffer, **{name: f.astype(np.float16) for name, f in factors.items()})
    return buffer.getvalue()


def _days_with_driving(before: date, window_days: int) -> list[date]:
    first = before - timedelta(days=window_days)
    start, _ = _day_bounds(first)
    _, end = _day_bounds(before)
    moments = DriverPosition.objects.filter(recorded_at__gte=start, recorded_at__lt=end).datetimes(
        "recorded_at", "day", tzinfo=_zone()
    )
    return sorted({moment.date() for moment in moments})


def travel_model_learn(
    *, held_out: date | None = None, now: datetime | None = None, note: str = "nightly"
) -> TravelModel | None:
    """Learn a new travel model version from the fleet's recent days; activate it if it predicts the
    held-out day (default: the latest day before today with positions) better than the active one.

    Returns the new version (active or not), or None when there is no driving to learn from.
    The nightly task, the admin's action and ``simulate_history`` all call this.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    today = timezone.localtime(now, _zone()).date()
    window = settings.LEARNING_WINDOW_DAYS
    days = [d for d in _days_with_driving(today - timedelta(days=1), window) if held_out is None or d <= held_out]
    if not days:
        logger.info("travel model: no driving in the last %d days, nothing learned", window)
        return None
    held_out = held_out or days[-1]
    network = get_road_network(moment=now)
    build = active_build()
    matchers: dict = {}
    data = {d: day_data(network, build, matchers, d) for d in days}
    training = [data[d] for d in days if d < held_out]
    candidate_factors, candidate_parameters = learn_parameters(network, training)
    # with its speeds (the selector leaves them out): scored here, and copied as they are by _recalibrate
    active = TravelModel.objects.filter(active=True).first()
    active_factors = travel_model_speeds(active) if active else None
    if active is not None and build is not None and active.network_path and active.network_path != build.path:
        active_factors = None  # learned on another road network: the processes drive it with the defaults too
    held = data.get(held_out, {})
    candidate_legs = evaluation.leg_errors(
        network, held, candidate_factors if training else None, candidate_parameters if training else None
    )
    # Scored on what an ETA is made of: the legs (driving and access) and the doorsteps (service).
    active_legs = evaluation.leg_errors(network, held, active_factors, active.parameters if active else None)
    score = {
        "candidate": evaluation.score(
            candidate_legs, evaluation.service_errors(held, candidate_parameters if training else None)
        ),
        "active": evaluation.score(active_legs, evaluation.service_errors(held, active.parameters if active else None)),
        "active_version": active.version if active else None,
    }
    if training:
        # The version is the candidate, exactly as scored. (Adding the held-out day to it afterwards made
        # the next night's candidate the active version itself, a tie that could only keep it: a new
        # version could win at most every other night.)
        final_factors, parameters = candidate_factors, candidate_parameters
        trained_to = max(d for d in days if d < held_out)
        parameters["arrival_error"] = evaluation.arrival_error(held, candidate_legs, candidate_parameters)
    else:
        # the first day of driving: nothing to score it on, kept inactive for the next night to beat
        final_factors, parameters = learn_parameters(network, [data[held_out]])
        trained_to = held_out
    # The plans' own legs against what they took: what the stretches' learned times leave out (junctions).
    # Learned on the week before the held-out day, like the candidate; only where the version has learned
    # speeds (a profile driven with the defaults is routed as it was).
    week = [d for d in days if d < held_out][-LEG_SCALE_DAYS:]
    scales = calibration.leg_scales(
        calibration.planned_legs(week, _visits, _zone()), [p for p in network.profiles if p in final_factors]
    )
    # a profile nobody drove this week keeps the active version's scale
    kept = ((active.parameters or {}).get("leg_scale") or {}) if active is not None and active_factors else {}
    parameters["leg_scale"] = calibration.carried(kept, scales["scale"], final_factors)
    parameters["leg_scale_legs"] = scales["legs"]
    recent = [d for d in days if d <= held_out][-windows.RESIDUAL_DAYS :]
    residual_table = windows.residual_table(*windows.arrival_residuals(recent))
    if residual_table is not None:
        parameters["eta_residuals"] = residual_table
    parameters["learning_seconds"] = round(time.perf_counter() - started, 2)
    activate = bool(training) and evaluation.better(score["candidate"], score["active"])
    with transaction.atomic():
        version = (TravelModel.objects.select_for_update().aggregate(v=Max("version"))["v"] or 0) + 1
        if activate:
            TravelModel.objects.filter(active=True).update(active=False)
        model = TravelModel.objects.create(
            version=version,
            trained_from=days[0],
            trained_to=trained_to,
            held_out_day=held_out,
            score=score,
            active=activate,
            activated_at=now if activate else None,
            network_path=build.path if build else "",
            speeds=pack_speeds(final_factors),
            parameters=parameters,
            note=note[:255],
        )
        if not activate and active is not None and active_factors:
            _recalibrate(active, set(active_factors), scales, residual_table, held_out=held_out, now=now,
                         version=version + 1)  # fmt: skip
    logger.info(
        "travel model v%s learned on %s..%s in %.1f s, held-out %s: %s (%s)",
        version, days[0], trained_to, time.perf_counter() - started, held_out, score,
        "activated" if activate else "it did not beat the active version",
    )  # fmt: skip
    return model


def _recalibrate(active: TravelModel, profiles: set, scales: dict, residual_table, *, held_out: date, now,
                 version: int) -> TravelModel | None:  # fmt: skip
    """(`active` with its speeds loaded.) When the candidate did not beat the active version: the active one's speeds and doorsteps, as they
    are, with the leg scale and the windows of the last week, as a version of its own (plans record
    the version they were timed with). Activated only if its leg scale predicts the held-out day's
    plan legs better than the active one's: the scale follows what the plans' legs take whatever the
    speeds do, and a stretch of nights without a better candidate no longer freezes it."""
    held_legs = calibration.planned_legs([held_out], _visits, _zone())
    old_scales = (active.parameters or {}).get("leg_scale") or {}
    new_scales = calibration.carried(old_scales, scales["scale"], profiles)  # its learned profiles only
    new = evaluation.summarize(calibration.scale_errors(held_legs, new_scales))
    old = evaluation.summarize(calibration.scale_errors(held_legs, old_scales))
    if not evaluation.better(new, old):
        return None
    parameters = {**(active.parameters or {}), "leg_scale": new_scales, "leg_scale_legs": scales["legs"],
                  "recalibrated_from": active.version}  # fmt: skip
    if residual_table is not None:
        parameters["eta_residuals"] = residual_table
    try:
        with transaction.atomic():
            # Another learner (the admin's "learn now" beside the nightly run) or "use this version" may
            # have changed the active version meanwhile: then this copy of the old one is not wanted.
            current = TravelModel.objects.select_for_update().filter(active=True).values_list("pk", flat=True)
            if list(current) != [active.pk]:
                return None
            TravelModel.objects.filter(pk=active.pk).update(active=False)
            model = TravelModel.objects.create(
                version=version, trained_from=active.trained_from, trained_to=active.trained_to,
                held_out_day=held_out,
                score={"candidate": new, "active": old, "active_version": active.version, "scored_on": "plan legs"},
                active=True, activated_at=now, network_path=active.network_path,
                speeds=active.speeds, parameters=parameters,
                note=f"v{active.version} recalibrated: its speeds and doorsteps, the last week's leg scale and windows",
            )  # fmt: skip
    except IntegrityError:  # the version number was taken by a learner running beside this one
        logger.warning("travel model v%s: not recalibrated, another learner saved a version meanwhile", version)
        return None
    logger.info("travel model v%s: v%s recalibrated on %s's plan legs: %s against %s", version, active.version,
                held_out, new, old)  # fmt: skip
    return model


def travel_model_learn_request(*, by=None) -> None:
    """Learn a new version in the background (the admin's "learn now")."""
    who = getattr(by, "username", "") or "someone"
    enqueue("routes.tasks.learn_travel_model", note=f"on demand by {who}")


def travel_model_activate(*, model: TravelModel) -> TravelModel:
    """Make a version the active one by hand (the admin's "use this version"): every process picks it
    up on its next use of the road network."""
    with transaction.atomic():
        TravelModel.objects.filter(active=True).exclude(pk=model.pk).update(active=False)
        TravelModel.objects.filter(pk=model.pk).update(active=True, activated_at=timezone.now())
    model.refresh_from_db()
    return model
