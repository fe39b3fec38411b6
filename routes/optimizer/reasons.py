"""Why a job is not in the plan, in words a dispatcher acts on.

Checks run from the most to the least actionable: a missing skill (buy a
fridge van), a stop beyond the range of every vehicle that may take it (a
drone's flight out and back; give it to a van or a bike), a load too big for
any vehicle (split the order), a window no
vehicle can reach in its shift (call the customer), a stop off the road
network (fix the address; decided by the caller before solving), and only
then "no room left" (add a vehicle or move orders to another day).
"""

from __future__ import annotations

from collections.abc import Mapping

from .problem import Id, Job, Problem, Solution, Vehicle, can_serve, padded, vehicle_capacity, within_range

NO_ROOM = "no room left in any route within shifts and windows"


def explain_unassigned(
    problem: Problem,
    solution: Solution | None = None,
    precomputed: Mapping[Id, str] | None = None,
) -> dict[Id, str]:
    """Job id -> reason, for ``solution.unassigned`` plus ``precomputed``.

    ``precomputed`` holds reasons decided before solving, e.g. the stops the
    planning service dropped as unreachable on the road network; they are
    passed through unchanged and may name jobs absent from ``problem``.
    """
    reasons = dict(precomputed or {})
    jobs = problem.job_by_id()
    for job_id in solution.unassigned if solution else ():
        if job_id not in reasons:
            reasons[job_id] = explain_job(problem, jobs[job_id])
    return reasons


def explain_job(problem: Problem, job: Job) -> str:
    """The first failing check for one job (see the module docstring)."""
    locks = problem.locked_vehicle_of()
    compatible = [v for v in problem.vehicles if can_serve(v, job, locks)]
    if not compatible:
        return _compatibility_reason(problem, job, locks)
    compatible = [v for v in compatible if within_range(problem, v, job)]
    if not compatible:
        return "it is beyond the range of every vehicle that may take it (a drone's flight there and back)"
    dims = problem.amount_dimensions
    delivery = padded(job.delivery, dims)
    fitting = [v for v in compatible if all(a <= c for a, c in zip(delivery, vehicle_capacity(v, dims)))]
    if not fitting:
        too_big = [
            f"{amount} {_unit(problem, k)}"
            for k, amount in enumerate(delivery)
            if all(amount > vehicle_capacity(v, dims)[k] for v in compatible)
        ]
        what = " and ".join(too_big) or "its load"
        return f"{what} exceeds every vehicle's capacity"
    reachable = [v for v in fitting if _window_reachable(problem, v, job)]
    if not reachable:
        if any(_window_reachable(problem, v, job, check_return=False) for v in fitting):
            return "no vehicle can serve it and get back before its shift ends"
        return "its window closes before any vehicle can get there"
    return NO_ROOM


def _compatibility_reason(problem: Problem, job: Job, locks) -> str:
    locked_to = locks.get(job.id)
    if locked_to is not None and locked_to not in problem.vehicle_by_id():
        return f"it is pinned to vehicle {locked_to}, which is not in today's fleet"
    for skill in sorted(job.skills):
        if not any(skill in v.skills for v in problem.vehicles):
            return f"no vehicle has skill {skill}"
    if job.zone_id is not None and not any(v.zone_ids is None or job.zone_id in v.zone_ids for v in problem.vehicles):
        return f"no vehicle serves zone {job.zone_id}"
    if locked_to is not None:
        return f"it is pinned to vehicle {locked_to}, which lacks its skills or zone"
    return f"no single vehicle has all of its skills ({', '.join(sorted(job.skills))}) for zone {job.zone_id}"


def _window_reachable(problem: Problem, vehicle: Vehicle, job: Job, check_return: bool = True) -> bool:
    """Could ``vehicle`` serve ``job`` alone, leaving at shift start?"""
    matrix = problem.matrices[vehicle.profile]
    shift_start, shift_end = vehicle.shift
    arrival = shift_start
    if vehicle.start_index is not None:
        arrival += int(matrix.durations[vehicle.start_index][job.location_index])
    windows = job.time_windows or ((arrival, arrival),)
    back_leg = 0
    if vehicle.end_index is not None:
        back_leg = int(matrix.durations[job.location_index][vehicle.end_index])
    for window_start, window_end in windows:
        if arrival > window_end:
            continue
        service_start = max(arrival, window_start)
        if not check_return or service_start + job.service_s + back_leg <= shift_end:
            return True
    return False


def _unit(problem: Problem, dimension: int) -> str:
    units = problem.amount_units
    return units[dimension] if dimension < len(units) else f"units of dimension {dimension}"
