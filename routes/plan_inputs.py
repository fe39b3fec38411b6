"""From the database to an optimizer Problem: the orders and vehicles of a day, their road matrices.

Units handed to the optimizer: seconds from the day's local midnight, metres, money in cents,
loads as (kg rounded up, items, litres). Orders that cannot be routed at all (far from any road,
or cut off by closures) are dropped here with a reason, because a solver must never see an
"unreachable" duration (VROOM's matrices are unsigned integers).
"""

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings

from dispatch.models import Order, Vehicle
from routes import optimizer
from routes.network import RoadNetwork

# A pair of points no road connects (inside one profile) costs this much, so the solver never
# picks it, while the matrix stays a valid input (see optimizer.problem.MAX_MATRIX_VALUE).
DISCONNECTED_DURATION_S = 24 * 3600
DISCONNECTED_DISTANCE_M = 2_000_000
UNLIMITED = 2**31 - 1
PLANNABLE_STATUSES = (Order.Status.NEW, Order.Status.PLANNED)


@dataclass
class StartPoint:
    """Where and when a vehicle starts when re-planning mid-day (its last known position)."""

    lat: float
    lon: float
    at: datetime


@dataclass
class PlanInputs:
    day: date
    origin: datetime  # local midnight: the optimizer's time zero
    problem: optimizer.Problem
    orders: dict[int, Order]
    vehicles: dict[int, Vehicle]
    points: list[tuple[float, float]]
    snap_distances_m: list[float | None]
    dropped: dict[int, tuple[str, str]] = field(default_factory=dict)  # order id -> (code, reason)
    departure: datetime | None = None

    def seconds(self, moment: datetime) -> int:
        return int((moment - self.origin).total_seconds())

    def moment(self, seconds: float) -> datetime:
        return self.origin + timedelta(seconds=float(seconds))


def day_origin(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(settings.TIME_ZONE))


def break_rules_for(shift_s: int) -> tuple[optimizer.Break, ...]:
    """Breaks a shift of this length needs: the longest rule that applies (PLAN_BREAK_RULES)."""
    for rule in sorted(settings.PLAN_BREAK_RULES, key=lambda r: -r["min_shift_h"]):
        if shift_s > rule["min_shift_h"] * 3600:
            return (
                optimizer.Break(
                    windows=((rule["window_from_h"] * 3600, rule["window_to_h"] * 3600),),
                    duration_s=rule["minutes"] * 60,
                ),
            )
    return ()


def _capacity(vehicle: Vehicle) -> tuple[int, int, int]:
    return (
        int(math.floor(float(vehicle.capacity_kg))),
        vehicle.capacity_items if vehicle.capacity_items is not None else UNLIMITED,
        vehicle.capacity_volume_l if vehicle.capacity_volume_l is not None else UNLIMITED,
    )


def _delivery(order: Order) -> tuple[int, int, int]:
    return (int(math.ceil(float(order.weight_kg))), order.items, int(math.ceil(float(order.volume_l))))


def representative_departure(day: date, vehicles) -> datetime:
    """The traffic slot a day is planned on: the middle of the fleet's working hours.

    VROOM takes one matrix per profile, so the plan uses the traffic of one hour; ETAs are then
    recomputed leg by leg with the hour each leg is actually driven (see plan_saving).
    """
    starts = [v.shift_start for v in vehicles] or [time(8)]
    ends = [v.shift_end for v in vehicles] or [time(17)]
    origin = day_origin(day)
    first = datetime.combine(day, min(starts), tzinfo=origin.tzinfo)
    last = datetime.combine(day, max(ends), tzinfo=origin.tzinfo)
    return first + (last - first) / 2


def build_plan_inputs(
    *,
    network: RoadNetwork,
    day: date,
    orders: list[Order],
    vehicles: list[Vehicle],
    objective: str = "cost",
    start_points: dict[int, StartPoint] | None = None,
    pinned: dict[int, int] | None = None,
    initial_routes: list[tuple[int, list[int], bool]] = (),
    drop_unroutable: bool = True,
) -> PlanInputs:
    """Gather points, compute one road matrix per profile, and describe the day to the optimizer.

    `start_points`: vehicle id -> where it is now (mid-day re-planning); otherwise vehicles start
    at their depot when their shift starts. `pinned`: order id -> vehicle id it must stay on.
    `initial_routes`: (vehicle id, order ids, locked) from the plan being revised.
    `drop_unroutable=False` keeps every order as a job (manual edits: the dispatcher decides; the
    reasons are still reported in `dropped`).
    """
    origin = day_origin(day)
    start_points = start_points or {}
    pinned = pinned or {}
    points: list[tuple[float, float]] = []
    index_of_depot: dict[int, int] = {}
    for vehicle in vehicles:
        if vehicle.depot_id not in index_of_depot:
            index_of_depot[vehicle.depot_id] = len(points)
            points.append((vehicle.depot.lat, vehicle.depot.lon))
    start_index: dict[int, int] = {}
    for vehicle_id, start in start_points.items():
        start_index[vehicle_id] = len(points)
        points.append((start.lat, start.lon))
    order_index = {}
    for order in orders:
        order_index[order.id] = len(points)
        points.append((order.lat, order.lon))

    departure = representative_departure(day, vehicles)
    profiles = sorted({v.profile for v in vehicles})
    raw = {p: network.matrix(points, p, departure) for p in profiles}
    snap_distances = _best_snap_distances(raw, len(points))

    dropped: dict[int, tuple[str, str]] = {}
    reach_skills: dict[int, frozenset[str]] = {}
    for order in orders:
        index = order_index[order.id]
        distance = snap_distances[index]
        if distance is None or distance > settings.SNAP_LIMIT_M:
            if order.snap_distance_m is not None and order.snap_distance_m <= settings.SNAP_LIMIT_M:
                # Close to a road when imported, cut off now: the roads around it are closed.
                dropped[order.id] = ("closed_road", "unreachable: the roads to it are closed")
            else:
                far = "no road nearby" if distance is None else f"{distance:.0f} m"
                dropped[order.id] = ("road", f"the address is {far} from the nearest road")
            continue
        reachable_by = [
            p for p in profiles if _round_trip_ok(raw[p].durations_s, index, vehicles, p, index_of_depot, start_index)
        ]
        if not reachable_by:
            dropped[order.id] = ("closed_road", "unreachable: every road to it is closed or cut off from the depots")
            continue
        # A stop only bikes can reach (a pedestrian street) may not go to a van, and vice versa.
        reach_skills[order.id] = (
            frozenset() if len(reachable_by) == len(profiles) else frozenset({f"reach:{reachable_by[0]}"})
        )

    matrices = {p: _integer_matrix(raw[p]) for p in profiles}
    zone_access = {o.zone_id: o.zone.access_time_s for o in orders if o.zone_id is not None}
    jobs = []
    for order in orders:
        if order.id in dropped and drop_unroutable:
            continue
        windows = ()
        if order.window_start and order.window_end:
            start_s = max(0, int((order.window_start - origin).total_seconds()))
            end_s = int((order.window_end - origin).total_seconds())
            windows = ((start_s, max(start_s, end_s)),)
        jobs.append(
            optimizer.Job(
                id=order.id,
                location_index=order_index[order.id],
                service_s=order.service_minutes * 60 + zone_access.get(order.zone_id, 0),
                delivery=_delivery(order),
                skills=frozenset(order.skills) | reach_skills.get(order.id, frozenset()),
                time_windows=windows,
                priority=order.priority,
                zone_id=order.zone_id,
                pinned_vehicle_id=pinned.get(order.id),
            )
        )

    optimizer_vehicles = []
    for vehicle in vehicles:
        shift_start = int((datetime.combine(day, vehicle.shift_start, tzinfo=origin.tzinfo) - origin).total_seconds())
        shift_end = int((datetime.combine(day, vehicle.shift_end, tzinfo=origin.tzinfo) - origin).total_seconds())
        start = start_points.get(vehicle.id)
        if start is not None:
            shift_start = max(shift_start, int((start.at - origin).total_seconds()))
        zones = frozenset(z.id for z in vehicle.allowed_zones.all())
        optimizer_vehicles.append(
            optimizer.Vehicle(
                id=vehicle.id,
                profile=vehicle.profile,
                start_index=start_index.get(vehicle.id, index_of_depot[vehicle.depot_id]),
                end_index=index_of_depot[vehicle.depot_id],
                capacity=_capacity(vehicle),
                skills=frozenset(vehicle.skills) | {f"reach:{vehicle.profile}"},
                shift=(shift_start, max(shift_start, shift_end)),
                breaks=break_rules_for(shift_end - shift_start) if start is None else (),
                cost_per_hour=int(round(float(vehicle.cost_per_hour) * 100)),
                cost_per_km=int(round(float(vehicle.cost_per_km) * 100)),
                fixed_cost=int(round(float(vehicle.fixed_cost) * 100)),
                zone_ids=zones or None,
            )
        )
    routes = tuple(
        optimizer.InitialRoute(vehicle_id=v, job_ids=tuple(j for j in job_ids if j not in dropped), locked=locked)
        for v, job_ids, locked in initial_routes
    )
    problem = optimizer.Problem(
        matrices=matrices,
        vehicles=tuple(optimizer_vehicles),
        jobs=tuple(jobs),
        initial_routes=routes,
        objective=objective,
        amount_units=("kg", "items", "l"),
    )
    return PlanInputs(
        day=day,
        origin=origin,
        problem=problem,
        orders={o.id: o for o in orders},
        vehicles={v.id: v for v in vehicles},
        points=points,
        snap_distances_m=snap_distances,
        dropped=dropped,
        departure=departure,
    )


def _best_snap_distances(raw: dict, count: int) -> list[float | None]:
    best: list[float | None] = [None] * count
    for result in raw.values():
        for index, snap in enumerate(result.snaps):
            if snap is not None and (best[index] is None or snap.distance_m < best[index]):
                best[index] = snap.distance_m
    return best


def _round_trip_ok(durations, index, vehicles, profile, index_of_depot, start_index) -> bool:
    """Some vehicle of this profile can get there from where it starts and back to its depot."""
    for vehicle in vehicles:
        if vehicle.profile != profile:
            continue
        start = start_index.get(vehicle.id, index_of_depot[vehicle.depot_id])
        end = index_of_depot[vehicle.depot_id]
        if np.isfinite(durations[start, index]) and np.isfinite(durations[index, end]):
            return True
    return False


def _integer_matrix(result) -> optimizer.RoadMatrix:
    durations = np.nan_to_num(result.durations_s, nan=DISCONNECTED_DURATION_S)
    distances = np.nan_to_num(result.distances_m, nan=DISCONNECTED_DISTANCE_M)
    return optimizer.RoadMatrix(
        durations=np.rint(durations).astype(np.int64), distances=np.rint(distances).astype(np.int64)
    )
