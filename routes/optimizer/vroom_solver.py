"""Solve a Problem with VROOM (pyvroom 1.15).

How the dispatcher's rules map onto VROOM:

* money: ``vroom.VehicleCosts(fixed, per_hour, per_km)``; VROOM 1.15 prices
  *driving* time (duration matrix) and distance (distance matrix), exactly
  what our evaluator charges, so its cost is the company's cost in cents.
* skills: VROOM skills are integers; each skill name gets a number.
* zones as territories: one synthetic skill ``zone:<id>`` per zone. A job in
  zone z requires it; a vehicle limited to some zones holds only theirs, an
  unrestricted vehicle holds every zone's skill.
* pins and locked routes ("keep assignments"): one synthetic skill
  ``vehicle:<id>`` per vehicle, required by the pinned job.
* priority: VROOM priority (0-100, VROOM serves the highest total first); a pinned job or one of
  a locked route gets the top priority, 100, since the dispatcher put it there (VROOM may still
  drop it for several others worth more together: the portfolio's ranking, ``objective_key``,
  counts lost locked jobs first and keeps the plan being re-planned as a candidate).
* a vehicle limited to some jobs (``eligible_jobs``, a courier partner's
  area): one synthetic skill ``outside:<id>`` per such vehicle, held by every
  other vehicle and required by the jobs it may not take.
* courier partners (``kind="partner"``, see partners.py): VROOM vehicle
  ``type`` "partner", and every job's service time for that type is 0 (with
  the partner profile's zero durations, windows never bind it; the partner
  keeps them). Its prices come in through its profile's distance matrix.
* ``fewest_vehicles``: a fixed cost per used vehicle larger than any route's
  variable cost (``fleet_penalty``), so a vehicle is only added when the
  jobs cannot otherwise be served.
* ``balanced``: solve once for cost, then solve again with every vehicle
  capped to 1.2x its fair share of the served tasks (``max_tasks``); the
  capped plan is kept only if it serves as many jobs. A driving-time cap
  (``max_travel_time`` at 1.2x the mean) was tried and dropped: splitting a
  one-depot day adds out-and-back legs, and on the test day the capped
  solve dropped jobs, so the unbalanced plan came back.
* initial routes: passed as vehicle ``steps`` (VROOM's warm start) when they
  are still feasible; retried without them if VROOM rejects them.
* breaks: VROOM may take a break after the drive to the next stop (it
  arrives, then rests), the evaluator holds it where the vehicle is, before
  the drive; on a tight window the two schedules differ by that drive. So
  VROOM's answer goes through ``repair.repair`` like PyVRP's: a route the
  evaluator finds clean is kept as it is, else its breaks are moved to where
  the evaluator accepts them (a stop is left out only as a last resort).
* reloads: VROOM has none, so every vehicle does a single trip here:
  ``max_stops_per_trip`` becomes ``max_tasks`` and ``max_trip_distance_m``
  VROOM's ``max_distance``. Its plan is valid, just without reloads; the
  portfolio joins its routes into multi-trip days (``repair.chain_trips``),
  fills the orders left out into further trips (``repair.fill_trips``), and
  PyVRP improves on that (benchmarks/OPTIMIZER.md, "Multi-trip").
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import timedelta

import numpy as np
import vroom

from .evaluator import BreakVisit, Sequences, evaluate
from .problem import PARTNER, Problem, fleet_penalty, padded, vehicle_capacity
from .repair import repair

VROOM_THREADS = 2  # the app's machines have 2 cores
MAX_PRIORITY = 100  # VROOM's highest job priority


def exploration_for(n_jobs: int) -> int:
    """VROOM's exploration level for a day of ``n_jobs`` stops.

    From BENCHMARKS.md (one thread): level 5 costs 4.5 s at 100 stops but
    20 min at 1000, level 1 still 50-150 s at 1000. The time budget is the
    hard bound (``timeout``); the level decides how much of it the
    construction phase eats before local search can be cut off.
    """
    if n_jobs <= 150:
        return 5
    if n_jobs <= 300:
        return 4
    if n_jobs <= 600:
        return 2
    return 1


def solve_with_vroom(
    problem: Problem, time_budget_s: float, threads: int = VROOM_THREADS, exploration: int | None = None
) -> Sequences:
    """Sequences per vehicle id (job ids and BreakVisit), within ``time_budget_s``.

    ``exploration`` None: ``exploration_for`` the day's size (benchmarks pin it).
    For ``balanced`` the budget is split: 40 % for the unconstrained solve
    that measures the fair share, 60 % for the capped solve.
    """
    if problem.objective != "balanced":
        return repair(problem, _solve_once(problem, time_budget_s, threads, exploration))
    started = time.monotonic()
    first = repair(problem, _solve_once(problem, 0.4 * time_budget_s, threads))
    baseline = evaluate(problem, first, solver="vroom")
    capped = _balanced_variant(problem, baseline)
    if capped is None:
        return first
    remaining = max(0.5, time_budget_s - (time.monotonic() - started))
    second = repair(problem, _solve_once(capped, remaining, threads))
    balanced = evaluate(problem, second, solver="vroom")
    if balanced.feasible and len(balanced.unassigned) <= len(baseline.unassigned):
        return second
    return first


def _balanced_variant(problem: Problem, baseline):
    """The problem with per-vehicle caps from the baseline plan's totals."""
    served = len(problem.jobs) - len(baseline.unassigned)
    fleet = len(problem.vehicles)
    if served == 0 or fleet < 2:
        return None
    fair_tasks = math.ceil(1.2 * served / fleet)
    vehicles = tuple(
        replace(
            v,
            max_tasks=fair_tasks if v.max_tasks is None else min(v.max_tasks, fair_tasks),
        )
        for v in problem.vehicles
    )
    return replace(problem, vehicles=vehicles, objective="cost")


def _solve_once(problem: Problem, time_budget_s: float, threads: int, exploration: int | None = None) -> Sequences:
    translation = _Translation(problem)
    deadline = timedelta(seconds=max(0.1, time_budget_s))
    level = exploration_for(len(problem.jobs)) if exploration is None else exploration
    try:
        solution = translation.build(warm_start=True).solve(
            exploration_level=level, nb_threads=threads, timeout=deadline
        )
    except Exception:  # noqa: BLE001 - VROOM rejects stale warm starts with a generic error
        if not translation.used_warm_start:
            raise
        solution = translation.build(warm_start=False).solve(
            exploration_level=level, nb_threads=threads, timeout=deadline
        )
    return translation.sequences(solution.to_dict())


class _Translation:
    """Our ids and names <-> VROOM's integers, for one solve."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.job_ids = {job.id: n for n, job in enumerate(problem.jobs, start=1)}
        self.vehicle_ids = {v.id: n for n, v in enumerate(problem.vehicles, start=1)}
        self.job_of = {n: job_id for job_id, n in self.job_ids.items()}
        self.vehicle_of = {n: vehicle_id for vehicle_id, n in self.vehicle_ids.items()}
        self.skill_numbers: dict[str, int] = {}
        self.break_of: dict[int, int] = {}  # VROOM break id -> index in its vehicle
        self.used_warm_start = False

    def skill(self, name: str) -> int:
        return self.skill_numbers.setdefault(name, len(self.skill_numbers) + 1)

    def build(self, warm_start: bool) -> vroom.Input:
        problem = self.problem
        dims = problem.amount_dimensions
        locks = problem.locked_vehicle_of()
        all_zones = {job.zone_id for job in problem.jobs if job.zone_id is not None}
        extra_fixed = fleet_penalty(problem) if problem.objective == "fewest_vehicles" else 0
        warm = _feasible_initial_routes(problem) if warm_start else {}
        limited = [v for v in problem.vehicles if v.eligible_jobs is not None]
        partner_services = {PARTNER: 0} if any(v.kind == PARTNER for v in problem.vehicles) else None
        self.used_warm_start = bool(warm)
        data = vroom.Input()
        for profile, matrix in problem.matrices.items():
            data.set_durations_matrix(profile, np.asarray(matrix.durations, dtype=np.uint32))
            data.set_distances_matrix(profile, np.asarray(matrix.distances, dtype=np.uint32))
        next_break_id = 1
        for vehicle in problem.vehicles:
            skills = {self.skill(s) for s in vehicle.skills}
            zones = all_zones if vehicle.zone_ids is None else all_zones & set(vehicle.zone_ids)
            skills |= {self.skill(f"zone:{z!r}") for z in zones}
            skills.add(self.skill(f"vehicle:{vehicle.id!r}"))
            skills |= {self.skill(f"outside:{other.id!r}") for other in limited if other.id != vehicle.id}
            breaks = []
            for index, brk in enumerate(vehicle.breaks):
                self.break_of[next_break_id] = index
                breaks.append(vroom.Break(next_break_id, time_windows=list(brk.windows), service=brk.duration_s))
                next_break_id += 1
            steps = []
            if vehicle.id in warm:
                steps = (
                    [vroom.VehicleStepStart()]
                    + [vroom.VehicleStepSingle(self.job_ids[j]) for j in warm[vehicle.id]]
                    + [vroom.VehicleStepEnd()]
                )
            options = {}
            limits = [n for n in (vehicle.max_tasks, vehicle.max_stops_per_trip) if n is not None]
            if limits:
                options["max_tasks"] = min(limits)
            if vehicle.max_trip_distance_m is not None:
                options["max_distance"] = vehicle.max_trip_distance_m
            data.add_vehicle(
                vroom.Vehicle(
                    self.vehicle_ids[vehicle.id],
                    start=vehicle.start_index,
                    end=vehicle.end_index,
                    profile=vehicle.profile,
                    capacity=list(vehicle_capacity(vehicle, dims)),
                    skills=skills,
                    time_window=vroom.TimeWindow(*vehicle.shift),
                    breaks=breaks,
                    costs=vroom.VehicleCosts(
                        fixed=vehicle.fixed_cost + extra_fixed,
                        per_hour=vehicle.cost_per_hour,
                        per_km=vehicle.cost_per_km,
                    ),
                    steps=steps,
                    type=vehicle.kind,
                    **options,
                )
            )
        for job in problem.jobs:
            skills = {self.skill(s) for s in job.skills}
            if job.zone_id is not None:
                skills.add(self.skill(f"zone:{job.zone_id!r}"))
            if job.id in locks:
                skills.add(self.skill(f"vehicle:{locks[job.id]!r}"))
            skills |= {self.skill(f"outside:{v.id!r}") for v in limited if job.id not in v.eligible_jobs}
            data.add_job(
                vroom.Job(
                    self.job_ids[job.id],
                    location=job.location_index,
                    default_service=job.service_s,
                    delivery=list(padded(job.delivery, dims)),
                    skills=skills,
                    priority=MAX_PRIORITY if job.id in locks else job.priority,
                    time_windows=[vroom.TimeWindow(*w) for w in job.time_windows],
                    service_per_type=partner_services,
                )
            )
        return data

    def sequences(self, answer: dict) -> Sequences:
        result: dict = {}
        for route in answer.get("routes", []):
            items = []
            for step in route["steps"]:
                if step["type"] == "job":
                    items.append(self.job_of[step["id"]])
                elif step["type"] == "break":
                    items.append(BreakVisit(self.break_of[step["id"]]))
            result[self.vehicle_of[route["vehicle"]]] = items
        return result


def _feasible_initial_routes(problem: Problem) -> dict:
    """Initial routes VROOM can start from: feasible now, on vehicles without
    breaks (VROOM would need the break placed too)."""
    vehicles = problem.vehicle_by_id()
    warm = {}
    for route in problem.initial_routes:
        if not route.job_ids or vehicles[route.vehicle_id].breaks:
            continue
        check = evaluate(problem, {route.vehicle_id: list(route.job_ids)}, solver="initial")
        if check.feasible:
            warm[route.vehicle_id] = list(route.job_ids)
    return warm
