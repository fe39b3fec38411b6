"""From the database to an optimizer Problem: the orders and vehicles of a day, their road matrices.

Units handed to the optimizer: seconds from the day's local midnight (real elapsed seconds, so a
day with a clock change has 23 or 25 hours of them), metres, money in cents, loads as (kg rounded
up, items, litres). Orders that cannot be routed at all (far from any road, or cut off by
closures) are dropped here with a reason, because a solver must never see an "unreachable"
duration (VROOM's matrices are unsigned integers).

Planned from a moment (`now`), a day is planned from there on: each vehicle leaves at the later of
its shift start and now plus the preparation time (PLAN_PREPARATION_MINUTES), from its depot, or
from where it is if it is already out (a start point); a vehicle whose shift is over is not used;
an order whose window has closed by then is left out with that reason; a window that opened
before now is served from now on. For a later day nothing of this bites: the shifts start after now.
A shift whose end is at or before its start ends the next day (a night shift, 22:00-06:00).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings
from django.utils import timezone

from dispatch.models import Depot, Order, Vehicle
from routes import optimizer
from routes.flights import DRONE_PROFILE, drone_day, is_drone, optimizer_profile
from routes.learning.selectors import doorstep_seconds, main_vehicle_kind
from routes.network import RoadNetwork

# A pair of points no road connects (inside one profile) costs this much, so the solver never
# picks it, while the matrix stays a valid input (see optimizer.problem.MAX_MATRIX_VALUE).
DISCONNECTED_DURATION_S = 24 * 3600
DISCONNECTED_DISTANCE_M = 2_000_000
UNLIMITED = 2**31 - 1
PLANNABLE_STATUSES = (Order.Status.NEW, Order.Status.PLANNED)
# Reason codes of orders left out because time has passed (UnassignedOrder.code).
WINDOW_PASSED = "window_passed"
SHIFT_ENDED = "shift_ended"


@dataclass
class StartPoint:
    """Where and when a vehicle already out starts (its last known position, or the stop it is at)."""

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
    now: datetime | None = None  # the moment the day is planned from (None: the whole day)
    ready_at: datetime | None = None  # now + preparation: the earliest a vehicle leaves its depot
    not_used: dict[int, str] = field(default_factory=dict)  # vehicle id -> why it cannot go out
    # Matrix index -> the depot or micro-hub there (for naming reload stops and drawing their legs).
    depot_at: dict[int, Depot] = field(default_factory=dict)

    def seconds(self, moment: datetime) -> int:
        return seconds_from(self.origin, moment)

    def moment(self, seconds: float) -> datetime:
        # In UTC: aware local arithmetic adds wall-clock time and would be an hour off after a clock change.
        return (self.origin.astimezone(UTC) + timedelta(seconds=float(seconds))).astimezone(self.origin.tzinfo)

    def vehicles_not_used(self, *, routed=()) -> list[dict]:
        """For the plan's record and page: [{"vehicle", "name", "reason"}] by vehicle name, leaving out
        the vehicles that have a route all the same (`routed`: a driver out past the end of the shift)."""
        routed = set(routed)
        return [
            {"vehicle": vehicle_id, "name": self.vehicles[vehicle_id].name, "reason": reason}
            for vehicle_id, reason in sorted(self.not_used.items(), key=lambda item: self.vehicles[item[0]].name)
            if vehicle_id not in routed
        ]


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def day_origin(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=local_zone())


def seconds_from(origin: datetime, moment: datetime) -> int:
    """Real seconds between two aware moments (Python subtracts wall clocks when both share a zone)."""
    return int((moment.astimezone(UTC) - origin.astimezone(UTC)).total_seconds())


def preparation_time() -> timedelta:
    return timedelta(minutes=max(0, settings.PLAN_PREPARATION_MINUTES))


def shift_bounds(day: date, vehicle: Vehicle) -> tuple[datetime, datetime]:
    """A vehicle's shift on `day` as aware local moments; an end at or before the start is the next day's."""
    zone = local_zone()
    end_day = day if vehicle.shift_end > vehicle.shift_start else day + timedelta(days=1)
    return datetime.combine(day, vehicle.shift_start, tzinfo=zone), datetime.combine(
        end_day, vehicle.shift_end, tzinfo=zone
    )


def earliest_departure(day: date, vehicle: Vehicle, *, now: datetime | None, start: "StartPoint | None" = None):
    """When the vehicle can leave on `day`: its shift start, and no earlier than its start point's time
    (already out) or, from the depot, `now` plus the preparation time (loading, the driver getting in)."""
    leaves, _ = shift_bounds(day, vehicle)
    if start is not None:
        leaves = max(leaves, start.at)
    elif now is not None:
        leaves = max(leaves, now + preparation_time())
    return timezone.localtime(leaves, local_zone())


def clock_label(moment: datetime, day: date) -> str:
    """18:00, or 06:00 the next day / 09:00 on 3 Dec when the moment is not on the plan's day."""
    local = timezone.localtime(moment, local_zone())
    if local.date() == day:
        return f"{local:%H:%M}"
    if local.date() == day + timedelta(days=1):
        return f"{local:%H:%M} the next day"
    return f"{local:%H:%M} on {local.day} {local:%b}"


def _not_used_reason(day: date, leaves: datetime, shift_end: datetime, now: datetime) -> str:
    if shift_end <= now:
        return f"shift ended at {clock_label(shift_end, day)}"
    return f"shift ends at {clock_label(shift_end, day)}, before it could leave (ready at {clock_label(leaves, day)})"


def break_rules_for(day: date, leaves_s: int, end_s: int) -> tuple[optimizer.Break, ...]:
    """The break a working time from `leaves_s` to `end_s` needs: the longest rule that applies
    (PLAN_BREAK_RULES), in its hours of the day if they meet the working time (as always for a day
    shift), else as wide and centred on its middle (a night shift, or a day shift begun late)."""
    origin = day_origin(day)
    for rule in sorted(settings.PLAN_BREAK_RULES, key=lambda r: -r["min_shift_h"]):
        if end_s - leaves_s <= rule["min_shift_h"] * 3600:
            continue
        duration = rule["minutes"] * 60
        opens = seconds_from(origin, origin + timedelta(hours=rule["window_from_h"]))
        closes = seconds_from(origin, origin + timedelta(hours=rule["window_to_h"]))
        latest = end_s - duration
        if closes < leaves_s or opens > latest:
            middle, half = (leaves_s + end_s) // 2, (closes - opens) // 2
            opens, closes = max(leaves_s, middle - half), min(latest, middle + half)
        return (optimizer.Break(windows=((opens, closes),), duration_s=duration),) if opens <= closes else ()
    return ()


def _capacity(vehicle: Vehicle) -> tuple[int, int, int]:
    return (
        int(math.floor(float(vehicle.capacity_kg))),
        vehicle.capacity_items if vehicle.capacity_items is not None else UNLIMITED,
        vehicle.capacity_volume_l if vehicle.capacity_volume_l is not None else UNLIMITED,
    )


def _delivery(order: Order) -> tuple[int, int, int]:
    return (int(math.ceil(float(order.weight_kg))), order.items, int(math.ceil(float(order.volume_l))))


def reload_depots(vehicle: Vehicle) -> list[Depot]:
    """Where a multi-trip vehicle may reload: its own depot, then its reload hubs that are micro-hubs
    (a depot no longer marked a hub is not offered, whatever the vehicle still lists). A vehicle of
    one trip reloads nowhere."""
    if vehicle.max_trips <= 1:
        return []
    hubs = [hub for hub in vehicle.reload_hubs.all() if hub.is_micro_hub and hub.id != vehicle.depot_id]
    return [vehicle.depot, *sorted(hubs, key=lambda hub: hub.code)]


def opening_hours(day: date, depot: Depot, shift: tuple[int, int]) -> tuple[int, int]:
    """A depot's opening hours on `day` as real seconds from the day's origin (23 or 25 hours on a
    clock-change day). A shift running past midnight reloads by the next day's hours: the depot is
    open from the day's opening until the next day's closing if it opens again before the shift ends."""
    zone = local_zone()
    origin = day_origin(day)
    # A depot created in this process still holds the model's "HH:MM" defaults as text.
    opening, closing = (Depot._meta.get_field(name).to_python(getattr(depot, name)) for name in ("opens", "closes"))
    opens = seconds_from(origin, datetime.combine(day, opening, tzinfo=zone))
    closes = seconds_from(origin, datetime.combine(day, closing, tzinfo=zone))
    next_day = day + timedelta(days=1)
    if shift[1] > seconds_from(origin, datetime.combine(next_day, opening, tzinfo=zone)):
        closes = seconds_from(origin, datetime.combine(next_day, closing, tzinfo=zone))
    return opens, closes


def representative_departure(day: date, working: list[tuple[datetime, datetime]]) -> datetime:
    """The traffic slot a day is planned on: the middle of the fleet's working hours (from when the
    vehicles can leave to when their shifts end).

    VROOM takes one matrix per profile, so the plan uses the traffic of one hour; ETAs are then
    recomputed leg by leg with the hour each leg is actually driven (see plan_saving).
    """
    zone = local_zone()
    if not working:
        working = [(datetime.combine(day, time(8), tzinfo=zone), datetime.combine(day, time(17), tzinfo=zone))]
    first = min(leaves for leaves, _ in working).astimezone(UTC)
    last = max(end for _, end in working).astimezone(UTC)
    return (first + (last - first) / 2).astimezone(zone)


def _window_passed(order: Order, day: date, now: datetime, earliest: datetime | None) -> str | None:
    """Why an order's window is out of reach from now on, in a dispatcher's words (None: it is not).

    Closed already, or closing before the first vehicle can leave because of the time it is (not
    because of the shifts: a window before every shift of a day to come is the solver's to explain)."""
    if not order.window_end:
        return None
    if order.window_end <= now:
        return f"its delivery window closed at {clock_label(order.window_end, day)}"
    if earliest is None:
        return None
    if order.window_end <= min(earliest, now + preparation_time()):
        return (
            f"its delivery window closes at {clock_label(order.window_end, day)}, before the first vehicle "
            f"can leave at {clock_label(earliest, day)}"
        )
    return None


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
    now: datetime | None = None,
    keep_passed: Iterable[int] = (),
) -> PlanInputs:
    """Gather points, compute one road matrix per profile, and describe the day to the optimizer.

    `start_points`: vehicle id -> where it is now (mid-day re-planning, or a vehicle already out);
    otherwise vehicles start at their depot when their shift starts. `pinned`: order id -> vehicle
    id it must stay on. `initial_routes`: (vehicle id, order ids, locked) from the plan being
    revised. `drop_unroutable=False` keeps every order as a job (manual edits: the dispatcher
    decides; the reasons are still reported in `dropped`). `now`: plan from this moment (see the
    module docstring); None plans the whole day, as for a day still to come. `keep_passed`: orders
    already on a driver's route, which a passed window does not take off it (re-planning keeps
    them on their vehicle, flagged late); their window stays as booked.

    A vehicle at its depot whose shift is over is not offered to the solver; one already out (a
    start point) stays, with no time left to take anything new. Both are in `not_used`.
    """
    origin = day_origin(day)
    start_points = start_points or {}
    pinned = pinned or {}

    keep_passed = set(keep_passed)
    # When each vehicle can work: from its shift start (or later: now, or where it is) to its shift end.
    shifts: dict[int, tuple[datetime, datetime]] = {}
    not_used: dict[int, str] = {}
    for vehicle in vehicles:
        leaves = earliest_departure(day, vehicle, now=now, start=start_points.get(vehicle.id))
        _, shift_end = shift_bounds(day, vehicle)
        shifts[vehicle.id] = (leaves, shift_end)
        if now is not None and leaves >= shift_end:
            not_used[vehicle.id] = _not_used_reason(day, leaves, shift_end, now)
    working = {v: bounds for v, bounds in shifts.items() if v not in not_used}
    left_home = {v for v in not_used if v not in start_points}  # not offered to the solver
    names = {v.id: v.name for v in vehicles}

    points: list[tuple[float, float]] = []
    index_of_depot: dict[int, int] = {}
    for vehicle in vehicles:
        if vehicle.depot_id not in index_of_depot:
            index_of_depot[vehicle.depot_id] = len(points)
            points.append((vehicle.depot.lat, vehicle.depot.lon))
    depot_at = {index: next(v.depot for v in vehicles if v.depot_id == d) for d, index in index_of_depot.items()}
    reloads_at = {vehicle.id: reload_depots(vehicle) for vehicle in vehicles}
    for hub in (hub for depots in reloads_at.values() for hub in depots):
        # Micro-hubs are points of the matrices like depots: a trip may end there and the next start.
        if hub.id not in index_of_depot:
            index_of_depot[hub.id] = len(points)
            depot_at[len(points)] = hub
            points.append((hub.lat, hub.lon))
    start_index: dict[int, int] = {}
    for vehicle_id, start in start_points.items():
        start_index[vehicle_id] = len(points)
        points.append((start.lat, start.lon))
    order_index = {}
    for order in orders:
        order_index[order.id] = len(points)
        points.append((order.lat, order.lon))

    departure = representative_departure(day, list(working.values()))
    # Road profiles only: drones fly straight (routes.flights), over closed roads too.
    profiles = sorted({v.profile for v in vehicles} - {DRONE_PROFILE})
    raw = {p: network.matrix(points, p, departure) for p in profiles}
    flights = drone_day(
        vehicles=vehicles,
        orders=orders,
        points=points,
        order_index=order_index,
        bases={v.id: reloads_at[v.id] for v in vehicles},
    )
    snap_distances = _best_snap_distances(raw, len(points))

    dropped: dict[int, tuple[str, str]] = {}
    earliest = min((leaves for leaves, _ in working.values()), default=None)
    locked_to = {o: v for v, job_ids, locked in initial_routes if locked for o in job_ids}
    reach_skills: dict[int, frozenset[str]] = {}
    for order in orders:
        if now is not None and order.id not in keep_passed:
            passed = _window_passed(order, day, now, earliest)
            if passed:
                dropped[order.id] = (WINDOW_PASSED, passed)
                continue
            if not working:
                dropped[order.id] = (SHIFT_ENDED, "no vehicle can go out any more today: every shift is over")
                continue
            kept_on = pinned.get(order.id) or locked_to.get(order.id)
            if kept_on in left_home:
                how = "pinned" if pinned.get(order.id) == kept_on else "its route is locked"
                dropped[order.id] = (SHIFT_ENDED, f"it must stay on {names[kept_on]} ({how}): {not_used[kept_on]}")
                continue
        index = order_index[order.id]
        distance = snap_distances[index]
        if profiles and (distance is None or distance > settings.SNAP_LIMIT_M):
            if order.snap_distance_m is not None and order.snap_distance_m <= settings.SNAP_LIMIT_M:
                # Close to a road when imported, cut off now: the roads around it are closed.
                if flights.may_take(order.id):
                    reach_skills[order.id] = frozenset({f"reach:{DRONE_PROFILE}"})  # closures never touch drones
                    continue
                reason = "unreachable: the roads to it are closed"
                if order.id in flights.refusals:
                    reason += f", and no drone may take it: {flights.refusals[order.id]}"
                dropped[order.id] = ("closed_road", reason)
            else:
                far = "no road nearby" if distance is None else f"{distance:.0f} m"
                dropped[order.id] = ("road", f"the address is {far} from the nearest road")
            continue
        # Each profile by its own roads: a closure that cuts a valley off for vans leaves the nearest
        # van road kilometres away even where a bike path still leads to the door; that van "reached"
        # the stop through a road point across the closure (issue 14).
        reachable_by = [
            p
            for p in profiles
            if _snapped_within_limit(raw[p].snaps[index])
            and _round_trip_ok(raw[p].durations_s, index, vehicles, p, index_of_depot, start_index)
        ]
        if not reachable_by and flights.may_take(order.id):
            reach_skills[order.id] = frozenset({f"reach:{DRONE_PROFILE}"})  # only a drone gets there
            continue
        if not reachable_by:
            reason = "unreachable: every road to it is closed or cut off from the depots"
            if order.id in flights.refusals:
                reason += f", and no drone may take it: {flights.refusals[order.id]}"
            dropped[order.id] = ("closed_road", reason)
            continue
        # A stop only bikes can reach (a pedestrian street) may not go to a van, and vice versa.
        reach_skills[order.id] = (
            frozenset() if len(reachable_by) == len(profiles) else frozenset({f"reach:{reachable_by[0]}"})
        )

    matrices = {p: _integer_matrix(raw[p]) for p in profiles} | flights.matrices
    # The time at each door: the order's own service minutes, else the active travel model's learned
    # service time; plus parking and walking (learned, else the zone's setting).
    doorstep = doorstep_seconds(orders, vehicle_kind=main_vehicle_kind(vehicles))
    now_s = seconds_from(origin, now) if now is not None else 0
    jobs = []
    for order in orders:
        if order.id in dropped and drop_unroutable:
            continue
        windows = ()
        if order.window_start and order.window_end:
            start_s = max(0, seconds_from(origin, order.window_start))
            end_s = seconds_from(origin, order.window_end)
            if end_s > now_s:
                # A window that opened before now is served from now on: no stop is timed, and no
                # customer promised, a moment that has already passed.
                start_s = max(start_s, now_s)
            windows = ((start_s, max(start_s, end_s)),)
        jobs.append(
            optimizer.Job(
                id=order.id,
                location_index=order_index[order.id],
                service_s=sum(doorstep[order.id]),
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
        if vehicle.id in left_home:
            continue  # its shift is over: it is not offered to the solver at all
        leaves, shift_end = shifts[vehicle.id]
        leaves_s, end_s = seconds_from(origin, leaves), seconds_from(origin, shift_end)
        zones = frozenset(z.id for z in vehicle.allowed_zones.all())
        optimizer_vehicles.append(
            optimizer.Vehicle(
                id=vehicle.id,
                profile=optimizer_profile(vehicle),
                start_index=start_index.get(vehicle.id, index_of_depot[vehicle.depot_id]),
                end_index=index_of_depot[vehicle.depot_id],
                capacity=_capacity(vehicle),
                # A drone reaches any door its flights allow (its eligible orders), whatever the roads.
                skills=frozenset(vehicle.skills)
                | {f"reach:{p}" for p in ([*profiles, DRONE_PROFILE] if is_drone(vehicle) else [vehicle.profile])},
                shift=(leaves_s, max(leaves_s, end_s)),
                # A vehicle already out may have had its break; one leaving the depot gets what its hours need.
                breaks=break_rules_for(day, leaves_s, end_s)
                if vehicle.id not in start_points and not is_drone(vehicle)
                else (),
                cost_per_hour=int(round(float(vehicle.cost_per_hour) * 100)),
                cost_per_km=int(round(float(vehicle.cost_per_km) * 100)),
                fixed_cost=int(round(float(vehicle.fixed_cost) * 100)),
                zone_ids=zones or None,
                **_reloads(day, vehicle, reloads_at[vehicle.id], index_of_depot, (leaves_s, max(leaves_s, end_s))),
                **flights.vehicle_fields(vehicle),
            )
        )
    routes = tuple(
        optimizer.InitialRoute(vehicle_id=v, job_ids=tuple(j for j in job_ids if j not in dropped), locked=locked)
        for v, job_ids, locked in initial_routes
        if v not in left_home
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
        now=now,
        ready_at=timezone.localtime(now + preparation_time(), local_zone()) if now is not None else None,
        not_used=not_used,
        depot_at=depot_at,
    )


def _reloads(day: date, vehicle: Vehicle, depots: list[Depot], index_of_depot, shift) -> dict:
    """The multi-trip part of an optimizer vehicle: how many trips, where and how long it reloads,
    and when each reload point is open (matrix index -> when a reload may start). Nothing for one trip."""
    if vehicle.max_trips <= 1 or not depots:
        return {}
    return {
        "max_trips": vehicle.max_trips,
        "reload_indices": tuple(index_of_depot[depot.id] for depot in depots),
        "reload_s": vehicle.reload_minutes * 60,
        "reload_windows": {index_of_depot[depot.id]: _reload_starts(day, depot, shift, vehicle) for depot in depots},
    }


def _reload_starts(day: date, depot: Depot, shift, vehicle: Vehicle) -> tuple[int, int]:
    # A reload starts once the hub is open and is done by the time it closes.
    opens, closes = opening_hours(day, depot, shift)
    return opens, max(opens, closes - vehicle.reload_minutes * 60)


def _best_snap_distances(raw: dict, count: int) -> list[float | None]:
    best: list[float | None] = [None] * count
    for result in raw.values():
        for index, snap in enumerate(result.snaps):
            if snap is not None and (best[index] is None or snap.distance_m < best[index]):
                best[index] = snap.distance_m
    return best


def _snapped_within_limit(snap) -> bool:
    return snap is not None and snap.distance_m <= settings.SNAP_LIMIT_M


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
