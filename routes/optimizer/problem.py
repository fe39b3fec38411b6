"""The solver-neutral description of a planning day and of its plan.

Units everywhere in this package:

* time: integer seconds from the planning day's origin (e.g. local midnight);
* distance: integer metres;
* durations in matrices: integer seconds of driving;
* money: integer minor currency units (cents). ``cost_per_hour`` is cents per
  hour of *driving*, ``cost_per_km`` cents per kilometre, ``fixed_cost`` cents
  per vehicle used. Plan costs are reported as floats in cents.
* amounts (capacities, deliveries): integer vectors, one entry per dimension
  named in ``Problem.amount_units`` (by default kilograms, then items).

Locations are matrix indices: the caller (the planning service) builds one
duration matrix and one distance matrix per routing profile over the same
list of points (depots first or not, it does not matter here).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Id = Hashable  # order / vehicle primary keys, usually int or str
Objective = Literal["cost", "balanced", "fewest_vehicles"]
OBJECTIVES: tuple[str, ...] = ("cost", "balanced", "fewest_vehicles")

# Upper bound for a single matrix entry. VROOM stores matrices as uint32 and
# multiplies durations by 100 internally, so anything near 2**32 is a router's
# "unreachable" sentinel rather than a real trip; 10 days of driving is
# already absurd for last-mile work.
MAX_MATRIX_VALUE = 10 * 24 * 3600 * 10
# Shift end when a vehicle has no explicit shift: one week, in seconds.
OPEN_SHIFT_END = 7 * 24 * 3600


class ProblemError(ValueError):
    """The problem cannot be handed to a solver: says what, where and the value."""


@dataclass(frozen=True)
class RoadMatrix:
    """Travel between all points for one routing profile.

    ``durations`` in seconds, ``distances`` in metres; both square, same
    shape, non-negative integers, ``[i, j]`` is the trip from i to j.
    """

    durations: np.ndarray
    distances: np.ndarray


@dataclass(frozen=True)
class Break:
    """A driver break: may *start* in any of ``windows`` and lasts ``duration_s``."""

    windows: tuple[tuple[int, int], ...]
    duration_s: int


@dataclass(frozen=True)
class Vehicle:
    """One vehicle and its driver's shift.

    ``start_index``/``end_index`` are matrix indices (None: the route starts
    or ends at its first/last stop). ``shift`` is (start, end) in seconds; the
    route must leave no earlier than start and be back by end.
    ``zone_ids`` None means the vehicle may serve any zone.

    Multi-trip (cargo bikes from a micro-hub, drones): ``max_trips`` > 1 lets the vehicle come back
    to one of ``reload_indices`` (matrix indices: its own depot, its allowed micro-hubs), reload for
    ``reload_s`` and go out again; capacity then applies per trip. A reload must *start* inside the
    hub's opening window ``reload_windows[index]`` (absent: always open). ``max_stops_per_trip``
    (a drone carries one parcel) and ``max_trip_distance_m`` (a drone's range, out and back) limit
    each trip.
    """

    id: Id
    profile: str = "car"
    start_index: int | None = None
    end_index: int | None = None
    capacity: tuple[int, ...] = ()
    skills: frozenset[str] = frozenset()
    shift: tuple[int, int] = (0, OPEN_SHIFT_END)
    breaks: tuple[Break, ...] = ()
    cost_per_hour: int = 3600  # cents per driving hour (VROOM's default weight)
    cost_per_km: int = 0  # cents per km
    fixed_cost: int = 0  # cents when the vehicle is used at all
    max_tasks: int | None = None
    zone_ids: frozenset[Id] | None = None
    # "own": one of our vans. "partner": a courier partner modelled as a vehicle (see partners.py):
    # its profile's matrices carry its prices, and its "route" is priced without time or shift.
    kind: str = "own"
    # None: any job its skills, zones and pins allow; else only these jobs (a partner's service area).
    eligible_jobs: frozenset[Id] | None = None
    max_trips: int = 1  # 1: no reload
    reload_indices: tuple[int, ...] = ()
    reload_s: int = 0
    max_stops_per_trip: int | None = None
    max_trip_distance_m: int | None = None
    # hub matrix index -> (opens, closes) for the start of a reload; excluded from the hash (a dict).
    reload_windows: Mapping[int, tuple[int, int]] = field(default_factory=dict, hash=False)

    @property
    def reloads(self) -> bool:
        """Whether this vehicle may do more than one trip."""
        return self.max_trips > 1 and bool(self.reload_indices)


PARTNER = "partner"


@dataclass(frozen=True)
class Job:
    """One delivery stop.

    ``time_windows``: service may *start* inside any of them (empty: any time).
    ``priority`` 0-100, higher is more important: when not every job fits,
    solvers drop low-priority jobs first.
    """

    id: Id
    location_index: int
    service_s: int = 0
    delivery: tuple[int, ...] = ()
    skills: frozenset[str] = frozenset()
    time_windows: tuple[tuple[int, int], ...] = ()
    priority: int = 0
    zone_id: Id | None = None
    pinned_vehicle_id: Id | None = None


@dataclass(frozen=True)
class InitialRoute:
    """A route from an earlier plan, used when re-planning.

    The order is a warm start for the solvers. ``locked`` keeps these jobs on
    this vehicle ("keep assignments"); the order may still change.
    """

    vehicle_id: Id
    job_ids: tuple[Id, ...]
    locked: bool = False


@dataclass(frozen=True)
class Problem:
    """Everything a solver needs; no ORM objects, so solvers stay testable."""

    matrices: Mapping[str, RoadMatrix]
    vehicles: tuple[Vehicle, ...]
    jobs: tuple[Job, ...]
    initial_routes: tuple[InitialRoute, ...] = ()
    objective: Objective = "cost"
    amount_units: tuple[str, ...] = ("kg", "items")

    @property
    def amount_dimensions(self) -> int:
        """Number of amount dimensions any vehicle or job uses."""
        sizes = [len(v.capacity) for v in self.vehicles] + [len(j.delivery) for j in self.jobs]
        return max(sizes, default=0)

    def job_by_id(self) -> dict[Id, Job]:
        return {job.id: job for job in self.jobs}

    def vehicle_by_id(self) -> dict[Id, Vehicle]:
        return {vehicle.id: vehicle for vehicle in self.vehicles}

    def locked_vehicle_of(self) -> dict[Id, Id]:
        """Job id -> vehicle id it must stay on (explicit pins and locked routes)."""
        locks = {job.id: job.pinned_vehicle_id for job in self.jobs if job.pinned_vehicle_id is not None}
        for route in self.initial_routes:
            if route.locked:
                for job_id in route.job_ids:
                    locks.setdefault(job_id, route.vehicle_id)
        return locks


def padded(amount: Sequence[int], dimensions: int) -> tuple[int, ...]:
    """An amount vector extended with zeros (a vehicle without an items limit
    has capacity 0 items only if it says so; see ``vehicle_capacity``)."""
    return tuple(amount) + (0,) * (dimensions - len(amount))


def vehicle_capacity(vehicle: Vehicle, dimensions: int) -> tuple[int, ...]:
    """Capacity per dimension; a dimension the vehicle does not declare is
    unlimited (2**31-1) so that adding a new unit never grounds the fleet."""
    return tuple(vehicle.capacity) + (2**31 - 1,) * (dimensions - len(vehicle.capacity))


def can_serve(vehicle: Vehicle, job: Job, locks: Mapping[Id, Id]) -> bool:
    """Skills, zone, pin and eligibility compatibility (not capacity or time)."""
    if vehicle.eligible_jobs is not None and job.id not in vehicle.eligible_jobs:
        return False
    if not job.skills <= vehicle.skills:
        return False
    if vehicle.zone_ids is not None and job.zone_id is not None and job.zone_id not in vehicle.zone_ids:
        return False
    locked_to = locks.get(job.id)
    return locked_to is None or locked_to == vehicle.id


def within_range(problem: Problem, vehicle: Vehicle, job: Job) -> bool:
    """Whether a trip to ``job`` alone fits ``vehicle.max_trip_distance_m`` (a drone's range): out
    from its start or a reload point, back to its end or a reload point. A necessary condition
    only: a trip with more stops is checked by the evaluator."""
    if vehicle.max_trip_distance_m is None:
        return True
    distances = problem.matrices[vehicle.profile].distances
    reloads = vehicle.reload_indices if vehicle.reloads else ()
    here = job.location_index
    out = [int(distances[i][here]) for i in (vehicle.start_index, *reloads) if i is not None] or [0]
    back = [int(distances[here][i]) for i in (vehicle.end_index, *reloads) if i is not None] or [0]
    return min(out) + min(back) <= vehicle.max_trip_distance_m


def fleet_penalty(problem: Problem) -> int:
    """A per-vehicle fixed cost (cents) above any single route's variable cost.

    Bound: (stops + 1) legs, each at most the most expensive arc any vehicle
    could drive between the points in use.
    """
    points = sorted(
        {j.location_index for j in problem.jobs}
        | {i for v in problem.vehicles for i in (v.start_index, v.end_index) if i is not None}
        | {i for v in problem.vehicles if v.reloads for i in v.reload_indices}
    )
    # A reload adds a leg; there are never more reloads than stops in a tidy route.
    legs = len(problem.jobs) * (2 if any(v.reloads for v in problem.vehicles) else 1) + 1
    worst_leg = 0.0
    for vehicle in problem.vehicles:
        matrix = problem.matrices[vehicle.profile]
        durations = np.asarray(matrix.durations)[np.ix_(points, points)]
        distances = np.asarray(matrix.distances)[np.ix_(points, points)]
        leg = vehicle.cost_per_hour * durations / 3600 + vehicle.cost_per_km * distances / 1000
        worst_leg = max(worst_leg, float(leg.max(initial=0)))
    return int(math.ceil(worst_leg * legs)) + 1


def validate(problem: Problem) -> None:
    """Raise ProblemError on anything a solver would mis-handle silently.

    In particular no matrix entry a route could use may be negative,
    non-finite or a router's "unreachable" sentinel: VROOM takes uint32
    matrices and would wrap or treat them as real trips. The planning
    service drops unreachable stops *before* building the Problem.
    """
    if problem.objective not in OBJECTIVES:
        raise ProblemError(f"objective: unknown value {problem.objective!r}, expected one of {OBJECTIVES}")
    _unique_ids("vehicle", [v.id for v in problem.vehicles])
    _unique_ids("job", [j.id for j in problem.jobs])
    used: dict[str, set[int]] = {}
    sizes: dict[str, int] = {}
    for profile, matrix in problem.matrices.items():
        durations, distances = np.asarray(matrix.durations), np.asarray(matrix.distances)
        if durations.ndim != 2 or durations.shape[0] != durations.shape[1]:
            raise ProblemError(f"matrices[{profile!r}].durations: not square, shape {durations.shape}")
        if distances.shape != durations.shape:
            raise ProblemError(
                f"matrices[{profile!r}].distances: shape {distances.shape} differs from durations {durations.shape}"
            )
        sizes[profile] = durations.shape[0]
    n_points = min(sizes.values(), default=0)
    for vehicle in problem.vehicles:
        if vehicle.profile not in problem.matrices:
            raise ProblemError(f"vehicle {vehicle.id!r}.profile: no matrix for profile {vehicle.profile!r}")
        points = used.setdefault(vehicle.profile, set())
        for name in ("start_index", "end_index"):
            index = getattr(vehicle, name)
            if index is not None:
                _check_index(f"vehicle {vehicle.id!r}.{name}", index, sizes[vehicle.profile])
                points.add(index)
        if vehicle.shift[0] > vehicle.shift[1]:
            raise ProblemError(f"vehicle {vehicle.id!r}.shift: starts after it ends {vehicle.shift}")
        if any(c < 0 for c in vehicle.capacity):
            raise ProblemError(f"vehicle {vehicle.id!r}.capacity: negative value {vehicle.capacity}")
        if min(vehicle.cost_per_hour, vehicle.cost_per_km, vehicle.fixed_cost) < 0:
            raise ProblemError(f"vehicle {vehicle.id!r}: negative cost")
        for brk in vehicle.breaks:
            _check_windows(f"vehicle {vehicle.id!r}.breaks", brk.windows)
        points.update(_check_trips(vehicle, sizes[vehicle.profile]))
    for job in problem.jobs:
        _check_index(f"job {job.id!r}.location_index", job.location_index, n_points)
        _check_windows(f"job {job.id!r}.time_windows", job.time_windows)
        if not 0 <= job.priority <= 100:
            raise ProblemError(f"job {job.id!r}.priority: {job.priority} outside 0-100")
        if job.service_s < 0 or any(a < 0 for a in job.delivery):
            raise ProblemError(f"job {job.id!r}: negative service time or delivery amount")
        for points in used.values():
            points.add(job.location_index)
    for profile, points in used.items():
        _check_entries(profile, problem.matrices[profile], sorted(points))
    known_jobs = {j.id for j in problem.jobs}
    known_vehicles = {v.id for v in problem.vehicles}
    seen: set[Id] = set()
    for route in problem.initial_routes:
        if route.vehicle_id not in known_vehicles:
            raise ProblemError(f"initial route: unknown vehicle {route.vehicle_id!r}")
        for job_id in route.job_ids:
            if job_id not in known_jobs:
                raise ProblemError(f"initial route of vehicle {route.vehicle_id!r}: unknown job {job_id!r}")
            if job_id in seen:
                raise ProblemError(f"initial routes: job {job_id!r} appears twice")
            seen.add(job_id)


def _check_trips(vehicle: Vehicle, size: int) -> list[int]:
    """The multi-trip fields of one vehicle; returns the reload points its routes may use."""
    where = f"vehicle {vehicle.id!r}"
    if not isinstance(vehicle.max_trips, int) or vehicle.max_trips < 1:
        raise ProblemError(f"{where}.max_trips: {vehicle.max_trips!r}, expected a whole number of at least 1")
    if vehicle.max_trips > 1 and not vehicle.reload_indices:
        raise ProblemError(f"{where}.reload_indices: empty, but max_trips is {vehicle.max_trips} (where to reload?)")
    if vehicle.max_trips > 1 and vehicle.kind == PARTNER:
        raise ProblemError(f"{where}.max_trips: {vehicle.max_trips}, a courier partner does not reload")
    if len(set(vehicle.reload_indices)) != len(vehicle.reload_indices):
        raise ProblemError(f"{where}.reload_indices: {vehicle.reload_indices} lists a point twice")
    for index in vehicle.reload_indices:
        _check_index(f"{where}.reload_indices", index, size)
    if vehicle.reload_s < 0:
        raise ProblemError(f"{where}.reload_s: negative value {vehicle.reload_s}")
    if vehicle.max_stops_per_trip is not None and vehicle.max_stops_per_trip < 1:
        raise ProblemError(f"{where}.max_stops_per_trip: {vehicle.max_stops_per_trip}, expected at least 1")
    if vehicle.max_trip_distance_m is not None and vehicle.max_trip_distance_m <= 0:
        raise ProblemError(f"{where}.max_trip_distance_m: {vehicle.max_trip_distance_m}, expected more than 0")
    for index, window in vehicle.reload_windows.items():
        if index not in vehicle.reload_indices:
            raise ProblemError(f"{where}.reload_windows: point {index} is not one of its reload_indices")
        _check_windows(f"{where}.reload_windows[{index}]", [window])
    return list(vehicle.reload_indices) if vehicle.reloads else []


def _unique_ids(kind: str, ids: list[Id]) -> None:
    seen: set[Id] = set()
    for value in ids:
        if value in seen:
            raise ProblemError(f"{kind} id {value!r}: duplicated")
        seen.add(value)


def _check_index(where: str, index: int, size: int) -> None:
    if not 0 <= index < size:
        raise ProblemError(f"{where}: {index} outside the matrix (size {size})")


def _check_windows(where: str, windows: Sequence[tuple[int, int]]) -> None:
    for start, end in windows:
        if start > end or start < 0:
            raise ProblemError(f"{where}: bad window ({start}, {end})")


def _check_entries(profile: str, matrix: RoadMatrix, points: list[int]) -> None:
    for name in ("durations", "distances"):
        full = np.asarray(getattr(matrix, name))
        if not (np.issubdtype(full.dtype, np.integer) or np.issubdtype(full.dtype, np.floating)):
            raise ProblemError(f"matrices[{profile!r}].{name}: dtype {full.dtype} is not numeric")
        sub = full[np.ix_(points, points)]
        bad = ~np.isfinite(sub) | (sub < 0) | (sub > MAX_MATRIX_VALUE)
        if np.issubdtype(full.dtype, np.floating):
            bad |= sub != np.round(sub)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ProblemError(
                f"matrices[{profile!r}].{name}[{points[i]}][{points[j]}]: {sub[i, j]!r} is not a usable "
                "trip (negative, fractional, infinite or an unreachable sentinel); drop unreachable stops "
                "before solving"
            )


@dataclass(frozen=True)
class Stop:
    """One scheduled step of a route: a job visit, a driver break or a reload.

    ``arrival_s`` is when the vehicle gets there, ``service_start_s`` when work
    starts (after ``waiting_s`` for the window), ``departure_s`` when it leaves.
    ``leg_duration_s``/``leg_distance_m`` is the drive from the previous
    step (0 for a break). ``load_after`` is what is still on board.

    A reload (``kind == "reload"``): back at ``location_index`` (the own depot or a micro-hub) to
    load the next trip; ``service_start_s`` is when the reload starts (inside the hub's window),
    it takes the vehicle's ``reload_s``, ``load_after`` is the next trip's load and
    ``reload_index`` the position of the point in the vehicle's ``reload_indices``.
    """

    kind: Literal["job", "break", "reload"]
    job_id: Id | None
    break_index: int | None
    location_index: int
    arrival_s: int
    service_start_s: int
    waiting_s: int
    departure_s: int
    leg_duration_s: int
    leg_distance_m: int
    load_after: tuple[int, ...]
    reload_index: int | None = None


@dataclass(frozen=True)
class Route:
    """A vehicle's day: leaves at ``start_s``, back at ``end_s`` (seconds).

    ``duration_s`` is working time (end - start), ``travel_s`` the driving part,
    ``cost`` in cents (fixed + per driving hour + per km).
    """

    vehicle_id: Id
    stops: tuple[Stop, ...]
    start_s: int
    end_s: int
    duration_s: int
    travel_s: int
    waiting_s: int
    distance_m: int
    cost: float
    load_at_start: tuple[int, ...]
    end_leg_duration_s: int
    end_leg_distance_m: int

    @property
    def job_ids(self) -> list[Id]:
        return [stop.job_id for stop in self.stops if stop.kind == "job"]

    @property
    def trips(self) -> int:
        """Trips driven: one, plus one per reload."""
        return 1 + sum(1 for stop in self.stops if stop.kind == "reload")


@dataclass(frozen=True)
class Solution:
    """A plan as re-scored by ``evaluate``: the numbers are ours, not the solver's.

    ``violations`` is empty for a feasible plan; each entry is a sentence.
    ``computing_time_s`` is wall-clock seconds spent in the solver(s).
    """

    routes: tuple[Route, ...]
    unassigned: tuple[Id, ...]
    distance_m: int
    duration_s: int
    travel_s: int
    cost: float
    vehicles_used: int
    computing_time_s: float
    solver: str
    violations: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def feasible(self) -> bool:
        return not self.violations
