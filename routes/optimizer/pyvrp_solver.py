"""Solve a Problem with PyVRP 0.14 (iterated local search), when it can.

PyVRP 0.14 models: one time window per client, multi-dimensional capacity,
several depots, a mixed fleet (vehicle types, each with a routing profile),
fixed + distance + duration costs, optional clients with prizes. It has no
skills or per-client allowed vehicles, no driver breaks, no task limit and
no open routes, so ``unsupported_reason`` sends such problems to VROOM only.

Money: PyVRP wants integer unit costs per metre and per second; cents per km
and per hour are not integers per metre/second, so every cost is scaled by
``COST_SCALE`` = 18,000 (= lcm(1000 m/km, 3600 s/h)). To price exactly what
VROOM prices (driving time and distance only, not waiting or service), each
(road profile, cents/hour, cents/km) combination becomes a PyVRP routing
profile whose *distance* matrix holds the scaled travel cost of each arc,
with ``unit_distance_cost=1`` and ``unit_duration_cost=0``.

Unservable jobs: every client is optional with a prize far above any
route's cost (more for higher priority), so PyVRP drops a job only when it
cannot be fitted, like VROOM does.
"""

from __future__ import annotations

import math
import os
import pickle  # nosec B403  # only between this process and its own child (PyvrpProcess), over pipes
import subprocess  # nosec B404  # one fixed command: this module in the same interpreter
import sys
import time
from pathlib import Path

import numpy as np
import pyvrp
from pyvrp.IteratedLocalSearch import IteratedLocalSearch, IteratedLocalSearchParams
from pyvrp.PenaltyManager import PenaltyManager, PenaltyParams
from pyvrp.search import LocalSearch, PerturbationManager, PerturbationParams, compute_neighbours
from pyvrp.stop import MaxRuntime

from .evaluator import Sequences, evaluate
from .problem import Problem, can_serve, fleet_penalty, padded, vehicle_capacity

COST_SCALE = 18_000  # scaled units per cent: per metre = per_km * 18, per second = per_hour * 5
INT64_SAFE = 2**62


def unsupported_reason(problem: Problem) -> str | None:
    """Why PyVRP cannot take this problem as stated, or None if it can."""
    if problem.objective == "balanced":
        return "balanced objective needs per-vehicle task caps"
    locks = problem.locked_vehicle_of()
    for vehicle in problem.vehicles:
        if vehicle.start_index is None or vehicle.end_index is None:
            return f"vehicle {vehicle.id!r} has an open start or end"
        if vehicle.breaks:
            return f"vehicle {vehicle.id!r} has driver breaks"
        if vehicle.max_tasks is not None:
            return f"vehicle {vehicle.id!r} has a task limit"
    for job in problem.jobs:
        if len(job.time_windows) > 1:
            return f"job {job.id!r} has several time windows"
        if not all(can_serve(v, job, locks) for v in problem.vehicles):
            return f"job {job.id!r} needs skills, a zone or a pin that only some vehicles have"
    return None


def solve_with_pyvrp(problem: Problem, time_budget_s: float, seed: int = 1) -> Sequences:
    """Sequences per vehicle id, within ``time_budget_s`` (one core).

    Raises ValueError if ``unsupported_reason(problem)`` is not None.
    """
    reason = unsupported_reason(problem)
    if reason:
        raise ValueError(f"PyVRP cannot model this problem: {reason}")
    model = _Model(problem)
    # Runtime only: an early stop after 20,000 idle iterations was tried and
    # cut R109 at +6.1 % (PyVRP's own restarts wait 150,000), while VROOM
    # uses the whole budget beside it anyway.
    stop = MaxRuntime(max(0.05, time_budget_s))
    return model.sequences(_run(model, stop, seed))


def _run(model: _Model, stop, seed: int) -> pyvrp.Solution:
    """``pyvrp.solve`` with penalties sized to our cost scale.

    PyVRP's defaults (penalties 0.1..100,000 per unit of excess load or time
    warp, starting mid-way) are tuned for Solomon-like magnitudes. Our arcs
    cost up to ``model.arc_scale`` units and dropping a job up to
    ``model.max_prize``: the ceiling must exceed the prize or PyVRP would
    rather overload a van than leave a stop out.
    """
    data = model.data
    params = PenaltyParams(max_penalty=max(100_000.0, 2.0 * model.max_prize))
    start = 50_000.0 * max(1.0, model.arc_scale / 10_000)
    penalties = ([start] * data.num_load_dimensions, start, start)
    rng = pyvrp.RandomNumberGenerator(seed=seed)
    search = LocalSearch(data, rng, compute_neighbours(data), PerturbationManager(PerturbationParams()))
    for operator in pyvrp.search.OPERATORS:
        if operator.supports(data):
            search.add_operator(operator(data))
    manager = PenaltyManager(penalties, params)
    initial = model.warm_start()
    if initial is None:
        initial = search(pyvrp.Solution.make_random(data, rng), manager.max_cost_evaluator(), exhaustive=True)
    algorithm = IteratedLocalSearch(data, manager, search, initial, IteratedLocalSearchParams())
    return algorithm.run(stop, collect_stats=False, display=False).best


class _Model:
    """Problem -> pyvrp.ProblemData, and the way back."""

    def __init__(self, problem: Problem):
        self.problem = problem
        dims = problem.amount_dimensions
        points = sorted(
            {j.location_index for j in problem.jobs}
            | {i for v in problem.vehicles for i in (v.start_index, v.end_index)}
        )
        position = {point: n for n, point in enumerate(points)}
        depot_points = sorted({i for v in problem.vehicles for i in (v.start_index, v.end_index)})
        depot_of = {point: n for n, point in enumerate(depot_points)}
        depots = [pyvrp.Depot(position[p]) for p in depot_points]
        locations = [pyvrp.Location(0, 0) for _ in points]  # coordinates unused with explicit matrices

        # One PyVRP profile per (road profile, cents/hour, cents/km).
        profile_keys = sorted({(v.profile, v.cost_per_hour, v.cost_per_km) for v in problem.vehicles}, key=repr)
        profile_of = {key: n for n, key in enumerate(profile_keys)}
        cost_matrices, duration_matrices = [], []
        for road, per_hour, per_km in profile_keys:
            matrix = problem.matrices[road]
            durations = np.asarray(matrix.durations, dtype=np.int64)[np.ix_(points, points)]
            distances = np.asarray(matrix.distances, dtype=np.int64)[np.ix_(points, points)]
            cost_matrices.append(
                per_km * (COST_SCALE // 1000) * distances + per_hour * (COST_SCALE // 3600) * durations
            )
            duration_matrices.append(durations)
        extra_fixed = fleet_penalty(problem) if problem.objective == "fewest_vehicles" else 0
        fixed_costs = [(v.fixed_cost + extra_fixed) * COST_SCALE for v in problem.vehicles]
        # Divide out the common factor (e.g. Solomon: every cost is 18 x metres)
        # so arc costs keep the magnitudes PyVRP's search is tuned for.
        divisor = math.gcd(*(int(np.gcd.reduce(m, axis=None)) for m in cost_matrices), *fixed_costs) or 1
        cost_matrices = [m // divisor for m in cost_matrices]
        self.arc_scale = float(max(int(m.max(initial=0)) for m in cost_matrices))

        # Identical vehicles share a vehicle type: fewer types, faster search.
        groups: dict[tuple, list] = {}
        for vehicle in problem.vehicles:
            key = (
                vehicle.profile,
                vehicle.cost_per_hour,
                vehicle.cost_per_km,
                vehicle.start_index,
                vehicle.end_index,
                vehicle_capacity(vehicle, dims),
                vehicle.shift,
                vehicle.fixed_cost,
            )
            groups.setdefault(key, []).append(vehicle.id)
        self.type_vehicles = list(groups.values())
        vehicle_types = []
        for key, members in groups.items():
            road, per_hour, per_km, start, end, capacity, shift, fixed = key
            vehicle_types.append(
                pyvrp.VehicleType(
                    num_available=len(members),
                    capacity=list(capacity),
                    start_depot=depot_of[start],
                    end_depot=depot_of[end],
                    fixed_cost=(fixed + extra_fixed) * COST_SCALE // divisor,
                    tw_early=shift[0],
                    tw_late=shift[1],
                    unit_distance_cost=1,
                    unit_duration_cost=0,
                    profile=profile_of[(road, per_hour, per_km)],
                )
            )

        # Dropping a job must cost more than any route (and, for
        # fewest_vehicles, more than opening a vehicle). Higher priority
        # weighs 10x per point; capped so prizes stay in int64.
        base = 2 * int(self.arc_scale) + max(fixed_costs) // divisor + 1
        weights = [1 + 10 * job.priority for job in problem.jobs]
        base = min(base, INT64_SAFE // max(1, sum(weights)))
        self.max_prize = float(base * max(weights))
        clients = []
        for job, weight in zip(problem.jobs, weights):
            early, late = job.time_windows[0] if job.time_windows else (0, np.iinfo(np.int64).max)
            clients.append(
                pyvrp.Client(
                    position[job.location_index],
                    delivery=list(padded(job.delivery, dims)),
                    service_duration=job.service_s,
                    tw_early=early,
                    tw_late=late,
                    required=False,
                    prize=base * weight,
                )
            )
        self.client_index = {job.id: n for n, job in enumerate(problem.jobs)}
        self.data = pyvrp.ProblemData(locations, clients, depots, vehicle_types, cost_matrices, duration_matrices)

    def warm_start(self) -> pyvrp.Solution | None:
        """The problem's initial routes, if all of them are still feasible."""
        problem = self.problem
        if not problem.initial_routes:
            return None
        sequences = {r.vehicle_id: list(r.job_ids) for r in problem.initial_routes if r.job_ids}
        if not evaluate(problem, sequences, solver="initial").feasible:
            return None
        type_of = {vid: t for t, members in enumerate(self.type_vehicles) for vid in members}
        routes = [
            pyvrp.Route(self.data, [self.client_index[j] for j in jobs], type_of[vid])
            for vid, jobs in sequences.items()
        ]
        return pyvrp.Solution(self.data, routes)

    def sequences(self, solution: pyvrp.Solution) -> Sequences:
        jobs = self.problem.jobs
        free = [list(members) for members in self.type_vehicles]
        result = {}
        for route in solution.routes():
            vehicle_id = free[route.vehicle_type()].pop(0)
            result[vehicle_id] = [jobs[a.idx].id for a in route if a.is_client()]
        return result


class PyvrpProcess:
    """PyVRP in a child process, so it can search while VROOM runs here.

    Why a process: neither pyvroom nor PyVRP release the GIL while they
    search (measured: a Python thread beside a VROOM solve is starved), so
    two threads would take turns on one core. Why ``subprocess`` and not
    ``multiprocessing``: a Celery prefork worker is a daemon process and may
    not start multiprocessing children. The Problem goes down a pipe as a
    pickle (our own data, same interpreter) and sequences come back.
    """

    STARTUP_GRACE_S = 30.0  # on top of the budget before we give up on the child

    def __init__(self, problem: Problem, time_budget_s: float, seed: int = 1):
        # On the monotonic clock, which parent and child share (system-wide) and which a test that
        # pins the wall clock (time_machine) leaves alone: a pinned time.time() here against the
        # child's real one gave PyVRP days to search, until the grace period killed it.
        self.deadline = time.monotonic() + time_budget_s
        self.time_budget_s = time_budget_s
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        self.process = subprocess.Popen(  # nosec B603  # fixed argv, no shell, no outside input
            [sys.executable, "-m", "routes.optimizer.pyvrp_solver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        payload = pickle.dumps((problem, self.deadline, seed), protocol=pickle.HIGHEST_PROTOCOL)
        self.process.stdin.write(payload)
        self.process.stdin.close()
        self.process.stdin = None  # so communicate() only reads

    def result(self) -> Sequences:
        """Wait for the child; raises RuntimeError if it failed or hung."""
        remaining = max(0.0, self.deadline - time.monotonic()) + self.STARTUP_GRACE_S
        try:
            output, errors = self.process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise RuntimeError("PyVRP child process did not finish in time") from None
        if self.process.returncode != 0:
            message = errors.decode(errors="replace")[-2000:]
            raise RuntimeError(f"PyVRP child process failed ({self.process.returncode}): {message}")
        return pickle.loads(output)  # nosec B301  # our child's answer on its stdout pipe


def _child_main() -> None:
    problem, deadline, seed = pickle.loads(sys.stdin.buffer.read())  # nosec B301  # from our parent's pipe
    sequences = solve_with_pyvrp(problem, max(0.05, deadline - time.monotonic()), seed=seed)
    sys.stdout.buffer.write(pickle.dumps(sequences, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    _child_main()
