"""One evaluator for every solver's output, and for the tests.

Solvers only return *sequences* (which jobs, in which order, per vehicle);
``evaluate`` recomputes every time, load and cost from the Problem's own
matrices, so the two solvers are compared on the same numbers and a bug in
how we translate a solver's answer shows up as a violation, not as a
silently wrong ETA.

Scheduling rule: leave as late as possible without arriving later anywhere
(earliest-arrival pass, then the departure is pushed back by the waiting it
would absorb). This matches what VROOM reports and what a driver would do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .problem import (
    PARTNER,
    Id,
    Job,
    Problem,
    Route,
    Solution,
    Stop,
    Vehicle,
    can_serve,
    padded,
    vehicle_capacity,
)


@dataclass(frozen=True)
class BreakVisit:
    """A break placed in a sequence: the vehicle's ``index``-th break."""

    index: int


@dataclass(frozen=True)
class ReloadVisit:
    """A reload placed in a sequence: back to the vehicle's ``index``-th reload point
    (``Vehicle.reload_indices[index]``) to load the next trip. By position, like a break, so a
    sequence stays valid when a part of the day re-numbers its matrix points."""

    index: int


SequenceItem = Id | BreakVisit | ReloadVisit
Sequences = Mapping[Id, Sequence[SequenceItem]]


def is_job(item: SequenceItem) -> bool:
    """Whether a sequence item is a job (not a break or a reload)."""
    return not isinstance(item, BreakVisit | ReloadVisit)


def tidy_reloads(items: Sequence[SequenceItem]) -> list[SequenceItem]:
    """The sequence without reloads that start an empty trip (first, last, or right after another
    reload): they only cost a drive. Breaks stay where they are."""
    kept: list[SequenceItem] = []
    pending: ReloadVisit | None = None
    served = False
    for item in items:
        if isinstance(item, ReloadVisit):
            if served:
                pending = item
        elif isinstance(item, BreakVisit):
            kept.append(item)
        else:
            if pending is not None:
                kept.append(pending)
                pending = None
            served = True
            kept.append(item)
    return kept


def evaluate(
    problem: Problem,
    sequences: Sequences,
    *,
    solver: str,
    computing_time_s: float = 0.0,
    notes: Sequence[str] = (),
) -> Solution:
    """Schedule ``sequences`` on ``problem`` and list every broken rule.

    Checks: each job at most once, known ids, skills/zones/pins, capacity
    (all deliveries are on board at the start), time windows (service must
    *start* inside one), shift end, breaks taken once in their windows, and
    max tasks. Jobs in no sequence are unassigned (not a violation).

    Reloads (``ReloadVisit``) cut a route into trips: each trip's deliveries
    are on board when it starts (capacity per trip, in every dimension), a
    reload drives to the vehicle's reload point, waits for the hub to open
    and takes ``reload_s``; checked: trips <= ``max_trips``, only the
    vehicle's own reload points, no empty trip, the hub's window,
    ``max_stops_per_trip`` and ``max_trip_distance_m`` per trip.

    A courier partner's "route" (``Vehicle.kind == "partner"``) is no drive:
    it costs the sum of what its profile's distance matrix charges for
    arriving at each of its jobs (the partner's price per job, see
    ``partners.py``), has no travel, time windows or shift to break (the
    partner keeps the windows), and is checked for capacity, task limit,
    skills, zones and eligibility (its area). It adds no distance, driving
    time or vehicle to the plan's totals.
    """
    jobs = problem.job_by_id()
    vehicles = problem.vehicle_by_id()
    locks = problem.locked_vehicle_of()
    dims = problem.amount_dimensions
    violations: list[str] = []
    routes: list[Route] = []
    served: set[Id] = set()
    for vehicle_id, items in sequences.items():
        vehicle = vehicles.get(vehicle_id)
        if vehicle is None:
            violations.append(f"unknown vehicle {vehicle_id!r}")
            continue
        job_items = [item for item in items if is_job(item)]
        if not job_items:
            continue  # an unused vehicle takes no break
        for job_id in job_items:
            if job_id not in jobs:
                violations.append(f"vehicle {vehicle_id!r}: unknown job {job_id!r}")
            elif job_id in served:
                violations.append(f"job {job_id!r} is planned twice")
            served.add(job_id)
        if any(job_id not in jobs for job_id in job_items):
            continue
        schedule = _schedule_partner if vehicle.kind == PARTNER else _schedule
        route, broken = schedule(problem, vehicle, list(items), jobs, locks, dims)
        routes.append(route)
        violations.extend(broken)
    unassigned = tuple(job.id for job in problem.jobs if job.id not in served)
    return Solution(
        routes=tuple(routes),
        unassigned=unassigned,
        distance_m=sum(r.distance_m for r in routes),
        duration_s=sum(r.duration_s for r in routes),
        travel_s=sum(r.travel_s for r in routes),
        cost=sum(r.cost for r in routes),
        vehicles_used=sum(1 for r in routes if vehicles[r.vehicle_id].kind != PARTNER),
        computing_time_s=computing_time_s,
        solver=solver,
        violations=tuple(violations),
        notes=tuple(notes),
    )


def sequences_of(solution: Solution) -> dict[Id, list]:
    """A plan's routes as sequences again (what a solver returns, what ``evaluate`` takes), breaks
    and reloads where they were taken."""
    return {route.vehicle_id: [_sequence_item(s) for s in route.stops] for route in solution.routes}


def _sequence_item(stop):
    if stop.kind == "break":
        return BreakVisit(stop.break_index)
    if stop.kind == "reload":
        return ReloadVisit(stop.reload_index)
    return stop.job_id


def summary(solution: Solution) -> str:
    """One line of a plan's figures, as the portfolio's notes list its candidates."""
    state = "feasible" if solution.feasible else "infeasible"
    return f"{solution.solver}: {state}, {len(solution.unassigned)} unassigned, cost {solution.cost:.2f}"


def objective_key(problem: Problem, solution: Solution) -> tuple:
    """Smaller is better; infeasible plans always lose.

    Jobs the dispatcher pinned or locked on a vehicle come first: a plan that drops one of them
    to serve others loses to one that keeps them. Then VROOM's own ranking: serve the most
    priority first, then the most
    jobs, then (for ``fewest_vehicles``) the fewest vehicles, then the lowest
    money cost in cents. ``balanced`` needs no term of its own: balance is
    imposed as per-vehicle caps during the solve, so cost decides between
    two balanced plans.
    """
    jobs = problem.job_by_id()
    locks = problem.locked_vehicle_of()
    lost_priority = sum(jobs[job_id].priority for job_id in solution.unassigned)
    vehicles = solution.vehicles_used if problem.objective == "fewest_vehicles" else 0
    return (
        0 if solution.feasible else 1,
        sum(1 for job_id in solution.unassigned if job_id in locks),
        lost_priority,
        len(solution.unassigned),
        vehicles,
        round(solution.cost, 6),
    )


class RouteChecker:
    """The rules of ``evaluate`` for one vehicle's sequence at a time, with the lookups built
    once: a solver's repair step (see ``pyvrp_solver.repair``) tries many variants of a route
    and keeps only those this says are clean, so it never trusts its own model of the rules."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.jobs = problem.job_by_id()
        self.vehicles = problem.vehicle_by_id()
        self.locks = problem.locked_vehicle_of()
        self.dims = problem.amount_dimensions

    def violations(self, vehicle_id: Id, items: Sequence[SequenceItem]) -> list[str]:
        """What ``evaluate`` would say about this route alone (an unused vehicle: nothing)."""
        vehicle = self.vehicles[vehicle_id]
        if not any(is_job(item) for item in items):
            return []
        schedule = _schedule_partner if vehicle.kind == PARTNER else _schedule
        _, broken = schedule(self.problem, vehicle, list(items), self.jobs, self.locks, self.dims)
        return broken


def _pick_window(windows: Sequence[tuple[int, int]], time: int) -> tuple[int, int] | None:
    """The first window whose end is not yet past; None if all are."""
    if not windows:
        return (time, time)
    for start, end in sorted(windows):
        if time <= end:
            return (start, end)
    return None


def _forward(problem, vehicle, items, jobs, departure):
    """Earliest-arrival pass from ``departure``. Returns step tuples and the
    end time, plus the location-less facts needed for the slack computation."""
    matrix = problem.matrices[vehicle.profile]
    durations, distances = matrix.durations, matrix.distances
    first_job = next(item for item in items if is_job(item))
    location = vehicle.start_index if vehicle.start_index is not None else jobs[first_job].location_index
    time = departure
    steps = []
    for item in items:
        if isinstance(item, BreakVisit):
            brk = vehicle.breaks[item.index] if 0 <= item.index < len(vehicle.breaks) else None
            windows, service, leg, dist, at = (
                (brk.windows if brk else ()),
                (brk.duration_s if brk else 0),
                0,
                0,
                location,
            )
        elif isinstance(item, ReloadVisit):
            reloads = vehicle.reload_indices
            at = reloads[item.index] if 0 <= item.index < len(reloads) else location
            leg, dist = int(durations[location][at]), int(distances[location][at])
            window = vehicle.reload_windows.get(at)
            windows, service = ((window,) if window else ()), vehicle.reload_s
        else:
            job = jobs[item]
            at = job.location_index
            leg, dist = int(durations[location][at]), int(distances[location][at])
            windows, service = job.time_windows, job.service_s
        arrival = time + leg
        window = _pick_window(windows, arrival)
        start = arrival if window is None else max(arrival, window[0])
        latest = None if window is None else window[1]
        steps.append((item, at, arrival, start, latest, leg, dist, service))
        time = start + service
        location = at
    end_leg = end_dist = 0
    if vehicle.end_index is not None:
        end_leg = int(durations[location][vehicle.end_index])
        end_dist = int(distances[location][vehicle.end_index])
    return steps, time + end_leg, end_leg, end_dist


def _schedule(problem, vehicle: Vehicle, items, jobs: Mapping[Id, Job], locks, dims):
    violations: list[str] = []
    steps, end, end_leg, end_dist = _forward(problem, vehicle, items, jobs, vehicle.shift[0])
    # Push the departure back by as much waiting as the route can absorb
    # without any service starting later than its window allows.
    cumulative_wait, delay = 0, None
    for _, _, arrival, start, latest, *_ in steps:
        cumulative_wait += start - arrival
        if latest is not None:
            room = latest - start + cumulative_wait
            delay = room if delay is None else min(delay, room)
    delay = cumulative_wait if delay is None else max(0, min(delay, cumulative_wait))
    if delay:
        steps, end, end_leg, end_dist = _forward(problem, vehicle, items, jobs, vehicle.shift[0] + delay)
    departure = vehicle.shift[0] + delay

    route_jobs = [jobs[item] for item in items if is_job(item)]
    trip_loads = _trip_checks(problem, vehicle, items, steps, end_dist, jobs, dims, violations)
    load = list(trip_loads[0])
    load_at_start = tuple(load)
    if vehicle.max_tasks is not None and len(route_jobs) > vehicle.max_tasks:
        violations.append(f"vehicle {vehicle.id!r}: {len(route_jobs)} tasks > max {vehicle.max_tasks}")

    stops: list[Stop] = []
    breaks_taken: list[int] = []
    trip = 0
    for item, at, arrival, start, latest, leg, dist, service in steps:
        reload_index = None
        if isinstance(item, ReloadVisit):
            trip += 1
            load = list(trip_loads[trip])
            kind, job_id, break_index, reload_index = "reload", None, None, item.index
            if latest is None:
                violations.append(
                    f"vehicle {vehicle.id!r}: reload at point {at} starts at {arrival}, after the hub closes"
                )
        elif isinstance(item, BreakVisit):
            breaks_taken.append(item.index)
            kind, job_id, break_index = "break", None, item.index
            if latest is None:
                violations.append(f"vehicle {vehicle.id!r}: break {item.index} starts after its windows")
        else:
            job = jobs[item]
            kind, job_id, break_index = "job", item, None
            load = [a - b for a, b in zip(load, padded(job.delivery, dims))]
            if latest is None:
                violations.append(f"job {item!r}: vehicle {vehicle.id!r} arrives at {arrival}, after its windows")
            if not can_serve(vehicle, job, locks):
                violations.append(f"job {item!r}: vehicle {vehicle.id!r} lacks its skills, zone or pin")
        stops.append(
            Stop(
                kind,
                job_id,
                break_index,
                at,
                arrival,
                start,
                start - arrival,
                start + service,
                leg,
                dist,
                tuple(load),
                reload_index,
            )
        )
    if end > vehicle.shift[1]:
        violations.append(f"vehicle {vehicle.id!r} returns at {end}, after its shift ends at {vehicle.shift[1]}")
    if sorted(breaks_taken) != list(range(len(vehicle.breaks))):
        violations.append(f"vehicle {vehicle.id!r}: breaks taken {sorted(breaks_taken)}, expected each once")

    travel = sum(s.leg_duration_s for s in stops) + end_leg
    distance = sum(s.leg_distance_m for s in stops) + end_dist
    cost = vehicle.fixed_cost + vehicle.cost_per_hour * travel / 3600 + vehicle.cost_per_km * distance / 1000
    route = Route(
        vehicle_id=vehicle.id,
        stops=tuple(stops),
        start_s=departure,
        end_s=end,
        duration_s=end - departure,
        travel_s=travel,
        waiting_s=sum(s.waiting_s for s in stops),
        distance_m=distance,
        cost=cost,
        load_at_start=load_at_start,
        end_leg_duration_s=end_leg,
        end_leg_distance_m=end_dist,
    )
    return route, violations


def _trip_checks(problem, vehicle: Vehicle, items, steps, end_dist, jobs, dims, violations: list[str]) -> list:
    """Each trip's load at its start (the first trip's at the route's start), checked against the
    capacity, and the multi-trip rules (see ``evaluate``); appends to ``violations``."""
    capacity = vehicle_capacity(vehicle, dims)
    where = f"vehicle {vehicle.id!r}"
    trips: list[list[Job]] = [[]]
    distances = [0]
    for item, _, _, _, _, _, dist, _ in steps:
        distances[-1] += dist
        if isinstance(item, ReloadVisit):
            if not 0 <= item.index < len(vehicle.reload_indices) or not vehicle.reloads:
                violations.append(f"{where}: reload #{item.index} is not at one of its reload points")
            trips.append([])
            distances.append(0)
        elif is_job(item):
            trips[-1].append(jobs[item])
    distances[-1] += end_dist
    loads = []
    for n, trip_jobs in enumerate(trips, start=1):
        load = [sum(values) for values in zip(*(padded(j.delivery, dims) for j in trip_jobs))] or [0] * dims
        loads.append(tuple(load))
        over = [f"{a} {_unit(problem, k)} > {capacity[k]}" for k, a in enumerate(load) if a > capacity[k]]
        when = "at the start" if len(trips) == 1 else f"at the start of trip {n}"
        if over:
            violations.append(f"{where} is overloaded {when}: {', '.join(over)}")
        if not trip_jobs and len(trips) > 1:
            violations.append(f"{where}: trip {n} has no stop")
        if vehicle.max_stops_per_trip is not None and len(trip_jobs) > vehicle.max_stops_per_trip:
            violations.append(f"{where}: trip {n} has {len(trip_jobs)} stops > max {vehicle.max_stops_per_trip}")
        if vehicle.max_trip_distance_m is not None and distances[n - 1] > vehicle.max_trip_distance_m:
            violations.append(
                f"{where}: trip {n} is {distances[n - 1]} m > its range of {vehicle.max_trip_distance_m} m per trip"
            )
    if len(trips) > vehicle.max_trips:
        violations.append(f"{where}: {len(trips)} trips > max {vehicle.max_trips}")
    return loads


def _load_checks(problem, vehicle: Vehicle, route_jobs: list[Job], dims) -> tuple[list[int], list[str]]:
    violations = []
    capacity = vehicle_capacity(vehicle, dims)
    load = [sum(values) for values in zip(*(padded(j.delivery, dims) for j in route_jobs))] or [0] * dims
    over = [f"{amount} {_unit(problem, k)} > {capacity[k]}" for k, amount in enumerate(load) if amount > capacity[k]]
    if over:
        violations.append(f"vehicle {vehicle.id!r} is overloaded at the start: {', '.join(over)}")
    if vehicle.max_tasks is not None and len(route_jobs) > vehicle.max_tasks:
        violations.append(f"vehicle {vehicle.id!r}: {len(route_jobs)} tasks > max {vehicle.max_tasks}")
    return load, violations


def _schedule_partner(problem, vehicle: Vehicle, items, jobs: Mapping[Id, Job], locks, dims):
    """A partner's share of the day: the sum of its prices, no clock (see ``evaluate``)."""
    violations: list[str] = []
    if any(isinstance(item, BreakVisit) for item in items):
        violations.append(f"vehicle {vehicle.id!r}: a courier partner takes no break")
    if any(isinstance(item, ReloadVisit) for item in items):
        violations.append(f"vehicle {vehicle.id!r}: a courier partner does not reload")
    route_jobs = [jobs[item] for item in items if is_job(item)]
    load, broken = _load_checks(problem, vehicle, route_jobs, dims)
    violations.extend(broken)
    load_at_start = tuple(load)
    prices = problem.matrices[vehicle.profile].distances
    location = vehicle.start_index
    cost = float(vehicle.fixed_cost)
    stops: list[Stop] = []
    if location is None:
        violations.append(f"partner {vehicle.id!r} has no start point (its prices are charged from there)")
    for job in route_jobs:
        if not can_serve(vehicle, job, locks):
            violations.append(f"job {job.id!r}: partner {vehicle.id!r} lacks its skills, zone or area")
        # The price of arriving at this job, whatever came before: every row of a partner's column
        # holds the same price, but for the diagonal (no two priced jobs share a point).
        price = 0 if location is None else int(prices[location][job.location_index])
        cost += vehicle.cost_per_km * price / 1000
        load = [a - b for a, b in zip(load, padded(job.delivery, dims))]
        at = min((w[0] for w in job.time_windows), default=vehicle.shift[0])
        stops.append(Stop("job", job.id, None, job.location_index, at, at, 0, at + job.service_s, 0, 0, tuple(load)))
        location = job.location_index
    start = min((s.arrival_s for s in stops), default=vehicle.shift[0])
    end = max((s.departure_s for s in stops), default=start)
    route = Route(
        vehicle_id=vehicle.id,
        stops=tuple(stops),
        start_s=start,
        end_s=end,
        duration_s=0,
        travel_s=0,
        waiting_s=0,
        distance_m=0,
        cost=cost,
        load_at_start=load_at_start,
        end_leg_duration_s=0,
        end_leg_distance_m=0,
    )
    return route, violations


def _unit(problem: Problem, dimension: int) -> str:
    units = problem.amount_units
    return units[dimension] if dimension < len(units) else f"unit#{dimension}"
