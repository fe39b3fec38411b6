"""Make a solver's routes clean under the evaluator's own rules, and fill trips.

``repair`` is why no PyVRP plan can break a rule of the evaluator (see the
``pyvrp_solver`` docstring): each route is re-checked with ``RouteChecker``;
breaks are moved or added and, as a last resort, stops left out, until the
route is clean; the empty route always passes.

``fill_trips`` is a last greedy pass for multi-trip vehicles: an order left
out is tried as a new trip (a reload and the order) or inside a trip of a
vehicle with reloads, cheapest clean place first. PyVRP inserts an optional
client only where it fits the current trip and moves whole clients into new
trips (``RelocateWithDepot``), so on a drone day (one parcel per flight) a
short search can leave out an order that an extra flight would serve.
"""

from __future__ import annotations

import time

from .evaluator import BreakVisit, ReloadVisit, RouteChecker, Sequences, evaluate, is_job, tidy_reloads
from .problem import Problem, can_serve, within_range

SCANS = 3  # repair: full scans for the one stop to leave out before it drops stops from the end
FILL_CHECKS = 4000  # fill_trips: at most this many route checks (each a schedule of one route)
FILL_SECONDS = 1.0  # and at most this long (when the caller gives no deadline)
# What the portfolio gives joining and filling VROOM's trips at least, even past its deadline: on a
# loaded machine VROOM can spend the share meant for them, and PyVRP may then get no time to add the
# trips itself; a plan that leaves a bike's further trips out costs far more than a quarter second.
MIN_JOIN_AND_FILL_S = 0.25


def repair(problem: Problem, sequences: Sequences) -> Sequences:
    """Sequences each of which the evaluator finds clean (see the module docstring).

    Per route: jobs the vehicle may not serve are left out; then the route is kept as it is if
    it is clean; else its breaks are placed where the evaluator's schedule allows; else its last
    stop is left out and the placement tried again. Reloads stay where they are, but those that
    would start an empty trip (``tidy_reloads``). An empty route is always clean, so this
    ends, and everything it returns passes ``evaluate``.
    """
    checker = RouteChecker(problem)
    return {vehicle_id: _repair_route(checker, vehicle_id, list(items)) for vehicle_id, items in sequences.items()}


def _repair_route(checker: RouteChecker, vehicle_id, items: list) -> list:
    vehicle = checker.vehicles[vehicle_id]
    kept, seen = [], set()
    for item in items:
        if isinstance(item, BreakVisit):
            if 0 <= item.index < len(vehicle.breaks) and item.index not in seen:
                seen.add(item.index)
                kept.append(item)
        elif isinstance(item, ReloadVisit):
            if vehicle.reloads and 0 <= item.index < len(vehicle.reload_indices):
                kept.append(item)
        elif can_serve(vehicle, checker.jobs[item], checker.locks):
            kept.append(item)
    kept = tidy_reloads(kept)
    if len(seen) == len(vehicle.breaks) and not checker.violations(vehicle_id, kept):
        return _breaks_late(checker, vehicle_id, kept)
    # The jobs and reloads in their order, without breaks.
    base = [item for item in kept if not isinstance(item, BreakVisit)]
    placed = _place_breaks(checker, vehicle_id, base)
    scans = 0
    while placed is None and any(is_job(item) for item in base):
        # Leave out one stop, the least important first (a stop the dispatcher pinned or locked
        # here last) and among equals the latest (where lateness shows): the first whose removal
        # lets the route pass. Each scan tries every stop; after SCANS of them (a route far from
        # feasible) the last stop goes, unscanned.
        scans += 1
        stops = [n for n, item in enumerate(base) if is_job(item)]
        candidates = sorted(stops, key=lambda n: (base[n] in checker.locks, checker.jobs[base[n]].priority, -n))
        for n in candidates if scans <= SCANS else ():
            placed = _place_breaks(checker, vehicle_id, tidy_reloads(base[:n] + base[n + 1 :]))
            if placed is not None:
                break
        else:
            base = tidy_reloads(base[: stops[-1]] + base[stops[-1] + 1 :])
            placed = _place_breaks(checker, vehicle_id, base) if scans > SCANS else None
    return _breaks_late(checker, vehicle_id, placed) if placed else []


def _breaks_late(checker: RouteChecker, vehicle_id, items: list) -> list:
    """The same clean route with each break as late in it as the rules allow.

    PyVRP minimizes a route's duration, waiting included, so with a break window opening late in a
    short day it puts the break first and starts the route hours after the shift (the evaluator
    then pushes the departure back by the waiting): the van would sit at the depot while its
    customers wait. A dispatcher sends it out at the start of the shift and lets the driver take the
    break after the stops, as VROOM plans it; the cost is the same (a break is taken where the van
    stands).
    """
    route = list(items)
    for brk in [item for item in route if isinstance(item, BreakVisit)]:
        rest = [item for item in route if item is not brk]
        for position in range(len(rest), -1, -1):
            candidate = rest[:position] + [brk] + rest[position:]
            if candidate == route:
                break  # already as late as it can be
            if not checker.violations(vehicle_id, candidate):
                route = candidate
                break
    return route


def _place_breaks(checker: RouteChecker, vehicle_id, job_ids: list) -> list | None:
    """The jobs (and reloads) in this order with each break at the first position the evaluator
    accepts."""
    vehicle = checker.vehicles[vehicle_id]
    route = list(job_ids)
    if not any(is_job(item) for item in route):
        return []  # an unused vehicle takes no break
    if not vehicle.breaks:
        return route if not checker.violations(vehicle_id, route) else None
    order = sorted(
        range(len(vehicle.breaks)), key=lambda b: vehicle.breaks[b].windows[0] if vehicle.breaks[b].windows else (0, 0)
    )
    for done, b in enumerate(order, start=1):
        last = done == len(order)
        for position in range(len(route) + 1):
            candidate = route[:position] + [BreakVisit(b)] + route[position:]
            broken = checker.violations(vehicle_id, candidate)
            if not last:
                broken = [v for v in broken if "breaks taken" not in v]
            if not broken:
                route = candidate
                break
        else:
            return None
    return route


def fill_trips(
    problem: Problem, sequences: Sequences, deadline: float | None = None, max_checks: int = FILL_CHECKS
) -> Sequences:
    """The sequences with orders left out put into vehicles with reloads where the evaluator
    accepts them, highest priority first, each at its cheapest clean place: inside an existing
    trip, or as a trip of its own (a reload at each of the vehicle's reload points, before or
    after an existing trip). Only ever adds orders to clean routes, so the result stays clean.
    Stops at ``deadline`` (monotonic clock; default: ``FILL_SECONDS`` from now) or after
    ``max_checks`` route checks."""
    reloading = [v for v in problem.vehicles if v.reloads]
    if not reloading:
        return sequences
    deadline = time.monotonic() + FILL_SECONDS if deadline is None else deadline
    checker = RouteChecker(problem)
    result = {vehicle_id: list(items) for vehicle_id, items in sequences.items()}
    planned = {item for items in result.values() for item in items if is_job(item)}
    left = sorted((j for j in problem.jobs if j.id not in planned), key=lambda j: -j.priority)
    checks = 0
    for job in left:
        best = None
        for vehicle in reloading:
            if not can_serve(vehicle, job, checker.locks) or not within_range(problem, vehicle, job):
                continue
            route = result.get(vehicle.id, [])
            before = evaluate(problem, {vehicle.id: route}, solver="fill").cost
            for candidate in _insertions(vehicle, route, job.id):
                checks += 1
                if checks > max_checks or time.monotonic() > deadline:
                    return result
                if checker.violations(vehicle.id, candidate):
                    continue
                cost = evaluate(problem, {vehicle.id: candidate}, solver="fill").cost - before
                if best is None or cost < best[0]:
                    best = (cost, vehicle.id, candidate)
        if best is not None:
            result[best[1]] = best[2]
    return result


def _insertions(vehicle, route: list, job_id) -> list[list]:
    """Candidate routes with ``job_id`` added: at every position, and as its own trip at every
    trip boundary (start, each reload, end) via each reload point."""
    candidates = [route[:n] + [job_id] + route[n:] for n in range(len(route) + 1)]
    if not any(is_job(item) for item in route):
        return candidates
    boundaries = [0] + [n for n, item in enumerate(route) if isinstance(item, ReloadVisit)] + [len(route)]
    for n in boundaries:
        for k in range(len(vehicle.reload_indices)):
            reload = ReloadVisit(k)
            if n == 0:
                candidates.append([job_id, reload] + route)
            else:
                candidates.append(route[:n] + [reload, job_id] + route[n:])
    return [tidy_reloads(c) for c in candidates]


def join_and_fill_trips(problem: Problem, sequences: Sequences, deadline: float, min_s: float = 0.0) -> Sequences:
    """Multi-trip days from a plan whose vehicles reload: ``chain_trips`` until halfway from now to
    ``deadline`` (short routes become other routes' next trips), then ``fill_trips`` until it (the
    orders still left out get trips of their own). What every solver's plan gets before it is kept,
    when its vehicles reload and the search has not placed the reloads itself. Gets at least
    ``min_s`` from now, past ``deadline`` if need be."""
    deadline = max(deadline, time.monotonic() + min_s)
    halfway = (time.monotonic() + deadline) / 2
    return fill_trips(problem, chain_trips(problem, sequences, deadline=halfway), deadline=deadline)


def chain_trips(problem: Problem, sequences: Sequences, deadline: float | None = None) -> Sequences:
    """Single-trip routes joined into multi-trip days: a route of a vehicle with reloads takes on
    another route as its next trip (a reload at the cheapest of its reload points in between)
    when the evaluator finds the joined route clean and it costs less than the two apart (one
    vehicle fewer, the fixed cost and the way home saved). The classic second phase of multi-trip
    planning (plan trips, then pack trips into days), here for VROOM's plan, which has no reloads,
    before PyVRP improves it. Greedy, the dearest saving first; stops at ``deadline``."""
    if not any(v.reloads for v in problem.vehicles):
        return sequences
    deadline = time.monotonic() + FILL_SECONDS if deadline is None else deadline
    checker = RouteChecker(problem)
    result = {vehicle_id: list(items) for vehicle_id, items in sequences.items() if any(is_job(i) for i in items)}
    cost = {v: evaluate(problem, {v: items}, solver="chain").cost for v, items in result.items()}
    merged = True
    while merged and time.monotonic() < deadline:
        # One round: every saving of joining two routes, then the best joins that share no route.
        savings = []
        for host, first in result.items():
            vehicle = checker.vehicles[host]
            if not vehicle.reloads:
                continue
            trips = 1 + sum(isinstance(i, ReloadVisit) for i in first)
            for guest, second in result.items():
                if guest == host or time.monotonic() > deadline:
                    continue
                if trips + 1 + sum(isinstance(i, ReloadVisit) for i in second) > vehicle.max_trips:
                    continue
                if not all(can_serve(vehicle, checker.jobs[j], checker.locks) for j in second if is_job(j)):
                    continue
                # The guest's trips keep their reloads; its breaks go (the host has its own).
                tail = [i for i in second if not isinstance(i, BreakVisit)]
                for k in range(len(vehicle.reload_indices)):
                    candidate = first + [ReloadVisit(k)] + tail
                    if checker.violations(host, candidate):
                        continue
                    joined = evaluate(problem, {host: candidate}, solver="chain").cost
                    if cost[host] + cost[guest] - joined > 0:
                        savings.append((cost[host] + cost[guest] - joined, host, guest, candidate, joined))
        merged = False
        touched: set = set()
        for _, host, guest, candidate, joined in sorted(savings, key=lambda s: -s[0]):
            if host in touched or guest in touched:
                continue
            touched |= {host, guest}
            result[host], cost[host] = candidate, joined
            del result[guest], cost[guest]
            merged = True
    return result
