"""The leg scale: how long the legs the planner gives really take, learned from the plans' own legs.

Learned speeds are the roads' own: the time between two GPS fixes is spread over the stretches
matched between them, so whatever slows a van at a junction (turning, signals, giving way) is
already inside the stretch's learned speed. The road network adds its junction costs on top
(routes.network: turns, signals, signs), and a profile's matched metres can come out a little long
or short. Scoring on the stretches actually driven (routes.learning.evaluation) sees none of that;
the plan's legs, routed through the matrix, do. In the demo this made a van's planned leg 15-20 %
longer than it took, and a cargo bike's 5-15 % shorter: over a route of 25 stops, ETAs minutes off.

So every version also learns, per profile and day type (Monday-Friday, Saturday, Sunday), the ratio
of what the legs of the recent dispatched plans took to what the plans said. A leg is the drive from
one stop's completion to the next stop's arrival, the next stop being the one the plan put next. What
it took is measured on the whole stop, as an ETA adds it up: the leg and the doorstep after it, less
the doorstep the plan counted there (service and access; the split between the two, learned from the
positions, is less certain than their sum, and a van stopped at a door drives nothing). Legs after a
break or a reload, the first leg of a route and legs planned with the defaults (no version) are left
out; failed attempts are in (their short doorsteps are part of what a route's ETAs add up, as the
failure rate is). A leg planned with version v was scaled by v's own scale, so it is divided by it
first: the ratio is of the roads' times under v's speeds, and a stable scale stays put instead of
compounding. For a version whose speeds are v's (services._recalibrate) that is exact; a candidate's
speeds differ a little from the ones that planned the week, which the next week's legs correct. A
re-plan's copies of the stops already served keep their legs, and are read with the re-plan's
version: the same one unless a version was activated that day. Each day type is shrunk
towards its profile's ratio, which is shrunk towards 1, by SHRINK_S seconds of planned driving; the
network multiplies every duration of that profile and day type by the result
(RoadNetwork.set_learned_speeds). It never changes which way is fastest, only how long it takes.

Given a road network, every leg is also routed again to count its junctions per class: the junction
factors (routes.learning.junctions) are fitted first, and the scale is then learned on the legs
re-priced with them, so it no longer stands in for the junctions as well.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from django.utils import timezone

from dispatch.models import Vehicle
from routes.models import Plan, Route, Stop, TravelModel
from routes.network import JUNCTION_CLASSES, PointNotSnapped, RoadNetwork, RouteNotFound, UnknownProfile
from routes.network.traffic import day_type

DAY_TYPES = 3
SHRINK_S = 1800.0  # half an hour of planned driving weighs as much as the prior (the profile's ratio, then 1)
MIN_PLANNED_S = 10.0  # shorter legs (next door) are mostly walking: no driving to scale
# A stop that took half an hour more or less than its plan was not the planned drive and doorstep (a
# pause nobody recorded, a detour). A bound in seconds, not a ratio: a ratio would leave out the short
# legs' doorstep errors of one sign more than of the other.
MAX_OFF_S = 1800.0
SCALE_BOUNDS = (0.5, 2.0)
# A leg routed again for its junctions must be the one the plan drove: its length within this much
# of the plan's (the roads or the closures may have changed since).
ROUTED_AGAIN_OFF = (0.05, 50.0)  # share of the planned length, plus metres


@dataclass
class PlannedLeg:
    profile: str
    day_type: int
    planned_s: float  # the plan's leg divided by the scale of the version that planned it
    driven_s: float  # the leg and the doorstep after it as they took, less the doorstep the plan counted
    # with a road network (planned_legs(network=)): the leg's default seconds per junction class
    # (JUNCTION_CLASSES order) and the roads' own time, planned_s less the junctions at the planning
    # version's factors; None where the leg could not be routed again as planned
    junction_s: np.ndarray | None = None
    road_s: float = 0.0


def scale_of(scales: dict | None, profile: str, day: int) -> float:
    """The leg scale of a profile and day type in a version's ``leg_scale`` ({profile: [Monday-Friday,
    Saturday, Sunday]}; 1: none learned)."""
    factors = (scales or {}).get(profile)
    if not factors or day >= len(factors):
        return 1.0
    return float(factors[day])


def carried(old: dict, new: dict, profiles) -> dict:
    """New scales over old ones (a profile with no legs this week keeps its scale), for `profiles` only."""
    return {profile: s for profile, s in {**old, **new}.items() if profile in profiles}


def factor_vector(factors: dict | None) -> np.ndarray:
    """{junction class: factor} (a class left out: 1) as a vector in JUNCTION_CLASSES order."""
    factors = factors or {}
    return np.asarray([float(factors.get(name, 1.0)) for name in JUNCTION_CLASSES])


def counted(leg: PlannedLeg) -> bool:
    """A stop half an hour off its plan was not the planned drive and doorstep (MAX_OFF_S)."""
    return abs(leg.driven_s - leg.planned_s) <= MAX_OFF_S


def planned_legs(days: list[date], visits_of_day, zone, network: RoadNetwork | None = None) -> list[PlannedLeg]:
    """The legs the dispatched plans of `days` gave, with what they took (see the module docstring).

    `visits_of_day(day)`: per driver, (arrival, completion, order id) in time order (as the learner
    reads them from the stop actions). With `network`, each leg's junctions are counted too.
    """
    legs: list[PlannedLeg] = []
    to_route: list[tuple] = []
    versions: dict[int, tuple] = {}
    for day in days:
        visits = visits_of_day(day)
        served = {order_id for items in visits.values() for _, _, order_id in items}
        if not served:
            continue
        # Plain values: a Stop with its route would decode the route's geometry for every stop.
        rows = (
            Stop.objects.filter(
                order_id__in=served, route__plan__date=day, route__plan__status=Plan.Status.DONE,
                route__plan__dispatched_at__isnull=False, route__plan__travel_model_version__isnull=False,
            )
            .order_by("route__plan__version")
            .values_list("order_id", "route_id", "sequence", "leg_duration_s", "service_s",
                         "route__plan__travel_model_version", "route__vehicle__kind", "order__window_start",
                         "leg_distance_m", "pk", "leg_junctions")
        )  # fmt: skip
        by_order = {row[0]: row for row in rows}  # the newest dispatched version's stop wins
        routes = {row[1] for row in by_order.values()}
        order_at, place = {}, {}
        for route_id, sequence, order_id, lat, lon in Stop.objects.filter(route_id__in=routes).values_list(
            "route_id", "sequence", "order_id", "order__lat", "order__lon"
        ):
            order_at[(route_id, sequence)] = order_id
            place[order_id] = (lat, lon)
        pauses = {
            route_id: {int(p.get("after_sequence") or 0) for p in (breaks or []) + (reloads or [])}
            for route_id, breaks, reloads in Route.objects.filter(pk__in=routes).values_list("pk", "breaks", "reloads")
        }
        missing = {row[5] for row in by_order.values()} - versions.keys()
        versions.update(
            (version, (scales, junctions))
            for version, scales, junctions in TravelModel.objects.filter(version__in=missing).values_list(
                "version", "parameters__leg_scale", "parameters__junction_factors"
            )
        )
        for items in visits.values():
            for (_, completion, previous_order), (arrival, done, order_id) in zip(items, items[1:]):
                row = by_order.get(order_id)
                if row is None:
                    continue
                _, route_id, sequence, leg_s, service_s, version, kind, window_start, leg_m, stop_id, counted_s = row
                if sequence < 2 or leg_s < MIN_PLANNED_S or sequence - 1 in pauses[route_id]:
                    continue  # from the depot, next door, or after a break or a reload
                if order_at.get((route_id, sequence - 1)) != previous_order:
                    continue  # not driven as planned (re-ordered, skipped): not this leg's drive
                # an early arrival waits for the window: the plan counts that wait apart (waiting_s)
                opens = window_start.timestamp() if window_start else arrival
                took = arrival - completion + done - max(arrival, opens) - service_s
                day_kind = day_type(timezone.localtime(datetime.fromtimestamp(completion, tz=zone), zone))
                profile = Vehicle.PROFILE_BY_KIND.get(kind, "car")
                scales, junction_factors = versions.get(version, (None, None))
                planned = leg_s / scale_of(scales, profile, day_kind)
                leg = PlannedLeg(profile, day_kind, planned, took)
                legs.append(leg)
                if network is not None and profile in network.profiles:  # a drone flies: no junctions
                    departed = datetime.fromtimestamp(completion, tz=zone)
                    factors = ((junction_factors or {}).get(profile)) or {}
                    stored = (
                        counted_s if isinstance(counted_s, list) and len(counted_s) == len(JUNCTION_CLASSES) else None
                    )
                    to_route.append(
                        (leg, place[previous_order], place[order_id], departed, leg_m, factors, stop_id, stored)
                    )
    # Routed by profile and hour: each learned hour is a metric of its own, customized once, not once
    # per driver (the network keeps a few metrics only). A leg counted on an earlier night keeps its
    # count (Stop.leg_junctions): each leg is routed once, the first night after it was driven.
    to_route.sort(key=lambda item: (item[0].profile, item[0].day_type, item[3].hour))
    newly_counted = []
    for leg, start, end, departed, leg_m, factors, stop_id, stored in to_route:
        if stored is None:
            exposure = _junctions(network, leg.profile, start, end, departed, leg_m)
            # A leg that cannot be routed as planned tonight (a closure since, say) is tried again the
            # next night: only a count is kept.
            stored = None if exposure is None else [round(float(x), 3) for x in exposure]
            if stored is not None:
                newly_counted.append(Stop(pk=stop_id, leg_junctions=stored))
        if stored:
            exposure = np.asarray(stored, dtype=float)
            planned_factors = factor_vector(factors)
            leg.junction_s, leg.road_s = exposure, leg.planned_s - float(exposure @ planned_factors)
    # in pk order: two learners at once (the nightly one and the admin's) lock the rows in one order
    Stop.objects.bulk_update(sorted(newly_counted, key=lambda stop: stop.pk), ["leg_junctions"], batch_size=500)
    return legs


def _junctions(network: RoadNetwork, profile: str, start, end, departed: datetime, planned_m: float):
    """The default seconds per junction class of the fastest route start -> end at `departed`, or None
    where it is not the way the plan went (no route now, or another length)."""
    try:
        junctions, length = network.leg_junctions([start, end], profile, departed)
    except (PointNotSnapped, RouteNotFound, UnknownProfile):
        return None
    share, metres = ROUTED_AGAIN_OFF
    if abs(length - planned_m) > share * planned_m + metres:
        return None
    return np.asarray([junctions[name] for name in JUNCTION_CLASSES])


def leg_scales(legs: list[PlannedLeg], profiles) -> dict:
    """{"scale": {profile: [Monday-Friday, Saturday, Sunday]}, "legs": {profile: [...]}} (see the
    module docstring); a profile without legs is left out (its durations stay as routed)."""
    totals = defaultdict(lambda: np.zeros((DAY_TYPES, 3)))  # planned, driven, legs
    for leg in legs:
        if leg.profile not in profiles or leg.planned_s <= 0 or not counted(leg):
            continue
        totals[leg.profile][leg.day_type] += (leg.planned_s, leg.driven_s, 1)
    scales, counts = {}, {}
    for profile, t in totals.items():
        planned, driven = t[:, 0], t[:, 1]
        overall = (driven.sum() + SHRINK_S) / (planned.sum() + SHRINK_S)
        per_day = (driven + SHRINK_S * overall) / (planned + SHRINK_S)
        scales[profile] = [round(float(np.clip(s, *SCALE_BOUNDS)), 4) for s in per_day]
        counts[profile] = [int(n) for n in t[:, 2]]
    return {"scale": scales, "legs": counts}


def scale_errors(legs: list[PlannedLeg], scales: dict, *, checked: bool = False) -> np.ndarray:
    """Errors (s, what each leg took - what the roads' time times the scale says; positive is late) of
    `legs` under leg scales per profile ({profile: [3 day types]}; a profile without: 1). `checked`: the
    legs were already filtered with `counted` (as planned, before a re-pricing that would move some)."""
    return np.asarray(
        [
            leg.driven_s - leg.planned_s * scale_of(scales, leg.profile, leg.day_type)
            for leg in legs
            if checked or counted(leg)
        ],
        float,
    )
