"""Solve a Problem with PyVRP 0.14 (iterated local search): every rule we model.

The encoding (benchmarks/OPTIMIZER.md, "How PyVRP models a real day"):

* money: PyVRP wants integer unit costs per metre and per second; cents per
  km and per hour are not integers per metre/second, so every cost is scaled
  by ``COST_SCALE`` = 18,000 (= lcm(1000 m/km, 3600 s/h)) and each PyVRP
  routing profile's *distance* matrix holds the scaled cost of each arc
  (``unit_distance_cost=1``, ``unit_duration_cost=0``): PyVRP prices exactly
  what the evaluator prices (driving time and distance, per vehicle type).
* skills, zones, pins, locked routes, a partner's area (everything
  ``can_serve`` decides): vehicles are grouped into PyVRP vehicle types by
  everything that matters, including the set of jobs they may serve (their
  *eligibility class*). Each class gets a routing profile whose cost matrix
  charges ``forbidden_cost`` for arriving at a job it may not serve: more
  than the job's prize plus any route, so a plan that serves it is always
  worse than one that leaves it out. Every job has its own PyVRP location
  (a copy of its road point), so two orders at one address with different
  skills are forbidden separately.
* several time windows: one client per window in a mutually exclusive
  client group (at most one is visited).
* priorities and unservable jobs: every client is optional with a prize far
  above any route's cost, 10x more per priority point; a pinned or locked job's prize is
  worth more than all the others' together.
* task limits: one more load dimension, every job delivers 1.
* reloads (multi-trip, ``Vehicle.max_trips``): each reload point is a PyVRP
  depot of its own (a copy per reload time and hub window: ``Depot`` with
  ``service_duration`` = the vehicle's ``reload_s`` and the hub's opening
  window), in the vehicle type's ``reload_depots``, ``max_reloads`` =
  ``max_trips - 1``. PyVRP empties every load dimension at a reload, so
  capacity applies per trip: exact. ``max_stops_per_trip`` (a drone's
  one parcel): one more load dimension, every job delivers 1, reset at each
  reload: exact. ``max_trip_distance_m`` (a drone's range): a job no trip
  to it alone can reach (``within_range``) is forbidden like a missing
  skill, which is exact for one-stop trips; longer trips are checked by
  ``repair``. Per-route limits that are load dimensions (task limits)
  are reset by a reload too, so on a multi-trip route they are only
  estimates that ``repair`` makes exact. On a day with reloads the search
  keeps ``FILL_SHARE`` of the budget for ``repair.chain_trips`` (a short
  route left over becomes another route's next trip where that is cheaper)
  and ``repair.fill_trips`` (an order left out gets a trip of its own where
  the evaluator accepts it).
* open starts or ends: a virtual depot with zero travel to and from every
  point, which is what the evaluator charges for the missing leg.
* driver breaks: their time is reserved, not modelled as visits: each
  vehicle type's shift ends the breaks' total duration earlier in PyVRP's
  model, and ``repair`` places each break where the evaluator's schedule
  accepts it (inside its window, where the vehicle stands). The evaluator
  holds a break where the vehicle is, with no leg of its own, and no
  static matrix can say "the leg after the break is the leg from the stop
  before". The earlier encoding, a break as a client at a virtual place
  with an estimated leg out of it, let PyVRP hide a route's longest leg
  behind its break: on real days its plans looked cheaper to PyVRP and
  cost the evaluator more than VROOM's plan they started from (a 297-stop
  day: 892 -> 916 CHF from VROOM's plan, 811 CHF with the time reserved;
  benchmarks/OPTIMIZER.md). ``repair`` re-checks every route with the
  evaluator's own rules (``RouteChecker``) and moves or adds breaks, and
  as a last resort leaves stops out, until each route is clean. So no
  PyVRP plan can break a rule of the evaluator: a route is only returned
  after the evaluator found nothing wrong with it, and the empty route
  always passes.

Warm starts: the problem's initial routes, or sequences from another solver
(the portfolio hands VROOM's plan to a second PyVRP search).
"""

from __future__ import annotations

import math
import os
import pickle  # nosec B403  # only between this process and its own child (PyvrpProcess)
import subprocess  # nosec B404  # one fixed command: this module in the same interpreter
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyvrp
from pyvrp.IteratedLocalSearch import IteratedLocalSearch, IteratedLocalSearchParams
from pyvrp.PenaltyManager import PenaltyManager, PenaltyParams
from pyvrp.search import LocalSearch, NeighbourhoodParams, PerturbationManager, PerturbationParams, compute_neighbours
from pyvrp.stop import MaxRuntime

from .evaluator import BreakVisit, ReloadVisit, Sequences, evaluate, tidy_reloads
from .problem import Problem, can_serve, fleet_penalty, padded, vehicle_capacity, within_range
from .repair import MIN_JOIN_AND_FILL_S, join_and_fill_trips, repair
from .vroom_solver import solve_with_vroom

COST_SCALE = 18_000  # scaled units per cent: per metre = per_km * 18, per second = per_hour * 5
INT64_SAFE = 2**62
NO_LATE = np.iinfo(np.int64).max
UNLIMITED = 2**31 - 1
# Each eligibility class is a full matrix pair in the child process (a 600-stop day: 6.5 MB per
# profile); past this many (e.g. every vehicle with its own locked route and own breaks) the day
# goes to VROOM alone.
MAX_PROFILES = 64
FREE = "free"  # the virtual depot of open starts and ends
FILL_SHARE = 0.1  # of the budget, on days with reloads, for orders PyVRP left out (``fill_trips``)
# PyVRP's search only looks at each client's nearest clients (its granular neighbourhood: the
# local search's moves, the perturbation, where a left-out client is tried). Its default is 50. On
# the 20 real days (120-600 stops, skills, zones, two depots) 80 and 120 neighbours cost 1.0-1.45 %
# less than 50 at the same wall time, 30 cost 5 % more (benchmarks/OPTIMIZER.md, session 16); 100
# lies between the two measured. Days up to ``WIDE_NEIGHBOURHOOD_ABOVE`` stops keep the default:
# on ten real days of 40-100 stops 40 was not clearly cheaper than 50. Solomon's 100 stops (one vehicle
# type, one depot) do better with fewer (40: 0.079 % and 0.124 % mean gap against 0.192 % and
# 0.172 %, session 17), which the portfolio uses only in a second search (``SMALL_DAY_CHILD_NEIGHBOURS``).
PYVRP_DEFAULT_NEIGHBOURS = NeighbourhoodParams().num_neighbours
WIDE_NEIGHBOURS = 100
WIDE_NEIGHBOURHOOD_ABOVE = 100


def unsupported_reason(problem: Problem) -> str | None:
    """Why PyVRP cannot take this problem as stated, or None if it can."""
    if problem.objective == "balanced":
        return "balanced objective needs per-vehicle task caps from a first plan"
    types = len(_vehicle_groups(problem))
    if types > MAX_PROFILES:
        return f"{types} vehicle classes (skills, zones, pins, shifts) exceed {MAX_PROFILES} PyVRP profiles"
    return None


def neighbours_for(n_jobs: int) -> int:
    """How many nearest clients PyVRP's search considers for each client (its granular neighbourhood)."""
    return WIDE_NEIGHBOURS if n_jobs > WIDE_NEIGHBOURHOOD_ABOVE else PYVRP_DEFAULT_NEIGHBOURS


def solve_with_pyvrp(
    problem: Problem,
    time_budget_s: float,
    seed: int = 1,
    initial: Sequences | None = None,
    neighbours: int | None = None,
) -> Sequences:
    """Sequences per vehicle id, within ``time_budget_s`` (one core), each clean under the evaluator.

    ``initial``: sequences to start from (e.g. VROOM's plan); else the problem's initial routes.
    ``neighbours``: the local search's neighbourhood size; None: ``neighbours_for`` the day's size
    (the benchmarks' "PyVRP alone" passes ``PYVRP_DEFAULT_NEIGHBOURS``, PyVRP as shipped).
    Raises ValueError if ``unsupported_reason(problem)`` is not None.
    """
    reason = unsupported_reason(problem)
    if reason:
        raise ValueError(f"PyVRP cannot model this problem: {reason}")
    started = time.monotonic()
    model = _Model(problem)
    # Runtime only: an early stop after 20,000 idle iterations was tried and
    # cut R109 at +6.1 % (PyVRP's own restarts wait 150,000).
    # Multi-trip days keep a share of the budget for ``fill_trips``.
    search_s = time_budget_s * (1 - FILL_SHARE if any(v.reloads for v in problem.vehicles) else 1)
    stop = MaxRuntime(max(0.05, search_s - (time.monotonic() - started)))
    if neighbours is None:
        neighbours = neighbours_for(len(problem.jobs))
    sequences = repair(problem, model.sequences(_run(model, stop, seed, initial, neighbours)))
    if search_s < time_budget_s:
        # A short route left over is joined to another as its next trip where that is cheaper.
        sequences = join_and_fill_trips(problem, sequences, deadline=started + time_budget_s)
    return sequences


def _run(
    model: _Model,
    stop,
    seed: int,
    initial_sequences: Sequences | None,
    neighbours: int,
) -> pyvrp.Solution:
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
    neighbourhood = compute_neighbours(data, NeighbourhoodParams(num_neighbours=neighbours))
    search = LocalSearch(data, rng, neighbourhood, PerturbationManager(PerturbationParams()))
    for operator in pyvrp.search.OPERATORS:
        if operator.supports(data):
            search.add_operator(operator(data))
    manager = PenaltyManager(penalties, params)
    initial = model.solution_from(initial_sequences) if initial_sequences else None
    if initial is None and model.problem.initial_routes:
        initial = model.solution_from({r.vehicle_id: list(r.job_ids) for r in model.problem.initial_routes})
    if initial is None:
        initial = search(pyvrp.Solution.make_random(data, rng), manager.max_cost_evaluator(), exhaustive=True)
    algorithm = IteratedLocalSearch(data, manager, search, initial, IteratedLocalSearchParams())
    return algorithm.run(stop, collect_stats=False, display=False).best


def _vehicle_groups(problem: Problem) -> dict[tuple, list]:
    """Vehicles PyVRP may treat as interchangeable: same road profile, prices, depots, capacity,
    shift, breaks, task limit, trips (reload points, reload time, hub windows, stops per trip) and
    the same set of jobs they may serve."""
    dims = problem.amount_dimensions
    locks = problem.locked_vehicle_of()
    groups: dict[tuple, list] = {}
    for vehicle in problem.vehicles:
        eligible = np.packbits(
            [can_serve(vehicle, job, locks) and within_range(problem, vehicle, job) for job in problem.jobs]
        ).tobytes()
        trips = (
            (vehicle.max_trips, vehicle.reload_indices, vehicle.reload_s, tuple(sorted(vehicle.reload_windows.items())))
            if vehicle.reloads
            else None
        )
        key = (
            vehicle.profile,
            vehicle.cost_per_hour,
            vehicle.cost_per_km,
            vehicle.start_index,
            vehicle.end_index,
            vehicle_capacity(vehicle, dims),
            vehicle.shift,
            vehicle.fixed_cost,
            vehicle.breaks,
            vehicle.max_tasks,
            trips,
            vehicle.max_stops_per_trip,
            eligible,
        )
        groups.setdefault(key, []).append(vehicle)
    return groups


class _Model:
    """Problem -> pyvrp.ProblemData, and the way back (see the module docstring)."""

    def __init__(self, problem: Problem):
        self.problem = problem
        dims = problem.amount_dimensions
        jobs = problem.jobs
        groups = list(_vehicle_groups(problem).items())
        self.type_vehicles = [[v.id for v in members] for _, members in groups]
        self.type_of = {vid: t for t, members in enumerate(self.type_vehicles) for vid in members}
        task_dim = any(v.max_tasks is not None for v in problem.vehicles)
        trip_dim = any(v.max_stops_per_trip is not None for v in problem.vehicles)
        width = dims + int(task_dim) + int(trip_dim)

        # Locations: depots (real points, and the virtual free depot), one per job client.
        # ``point`` is the road matrix index, None for the virtual one.
        point: list[int | None] = []
        depot_of: dict = {}
        for vehicle in problem.vehicles:
            for index in (vehicle.start_index, vehicle.end_index):
                key = FREE if index is None else index
                if key not in depot_of:
                    depot_of[key] = len(point)
                    point.append(None if index is None else index)
        free_location = depot_of.get(FREE)
        depots = [pyvrp.Depot(location) for location in range(len(point))]
        # Reload points: a depot (and location) per (point, reload time, hub window).
        reload_depot_of: dict[tuple, int] = {}
        self.reload_depots: list[dict[int, int]] = []  # per type: reload position -> depot
        self.reload_visit: dict[tuple[int, int], int] = {}  # (type, depot) -> reload position
        for t, (key, _) in enumerate(groups):
            trips, own = key[-3], {}
            if trips is not None:
                _, reload_indices, reload_s, windows = trips
                hours = dict(windows)
                for k, index in enumerate(reload_indices):
                    early, late = hours.get(index, (0, NO_LATE))
                    rkey = (index, reload_s, early, late)
                    if rkey not in reload_depot_of:
                        reload_depot_of[rkey] = len(depots)
                        depots.append(pyvrp.Depot(len(point), early, late, service_duration=reload_s))
                        point.append(index)
                    own[k] = reload_depot_of[rkey]
                    self.reload_visit[(t, own[k])] = k
            self.reload_depots.append(own)

        clients: list[pyvrp.Client] = []
        client_groups: list[pyvrp.ClientGroup] = []
        self.client_job: list[int] = []  # per client, its job's index
        self.job_clients: list[list[int]] = []
        for n, job in enumerate(jobs):
            windows = job.time_windows or ((0, NO_LATE),)
            group = len(client_groups) if len(windows) > 1 else None
            members = []
            for early, late in windows:
                members.append(len(clients))
                self.client_job.append(n)
                clients.append((len(point), early, late, group, n))
                point.append(job.location_index)
            if group is not None:
                client_groups.append(pyvrp.ClientGroup(members, required=False))
            self.job_clients.append(members)
        size = len(point)
        real = np.array([p is not None for p in point])
        real_points = [p for p in point if p is not None]

        # Profiles: one per (road profile, prices, eligibility).
        profile_keys: list[tuple] = []
        profile_of_type = []
        for key, _ in groups:
            pkey = (key[0], key[1], key[2], key[-1])
            if pkey not in profile_keys:
                profile_keys.append(pkey)
            profile_of_type.append(profile_keys.index(pkey))
        cost_matrices, duration_matrices = [], []
        for road, per_hour, per_km, _ in profile_keys:
            matrix = problem.matrices[road]
            durations = np.zeros((size, size), dtype=np.int64)
            sub = np.ix_(real, real)
            road_idx = np.ix_(real_points, real_points)
            durations[sub] = np.asarray(matrix.durations, dtype=np.int64)[road_idx]
            distances = np.zeros((size, size), dtype=np.int64)
            distances[sub] = np.asarray(matrix.distances, dtype=np.int64)[road_idx]
            cost_matrices.append(
                per_km * (COST_SCALE // 1000) * distances + per_hour * (COST_SCALE // 3600) * durations
            )
            duration_matrices.append(durations)
        extra_fixed = fleet_penalty(problem) if problem.objective == "fewest_vehicles" else 0
        fixed_costs = [(key[7] + extra_fixed) * COST_SCALE for key, _ in groups]
        # Divide out the common factor (e.g. Solomon: every cost is 18 x metres)
        # so arc costs keep the magnitudes PyVRP's search is tuned for.
        divisor = math.gcd(*(int(np.gcd.reduce(m, axis=None)) for m in cost_matrices), *fixed_costs) or 1
        cost_matrices = [m // divisor for m in cost_matrices]
        self.arc_scale = float(max(int(m.max(initial=0)) for m in cost_matrices)) or 1.0

        # Dropping a job must cost more than any route (and, for
        # fewest_vehicles, more than opening a vehicle). Higher priority
        # weighs 10x per point; capped so prizes stay in int64.
        base = 2 * int(self.arc_scale) + max(fixed_costs, default=0) // divisor + 1
        weights = [1 + 10 * job.priority for job in jobs]
        # A pinned job or one of a locked route (the dispatcher put it there) is worth more than all
        # the others together: PyVRP drops every other job before it (objective_key ranks the same way).
        locks = problem.locked_vehicle_of()
        regular = [w for job, w in zip(jobs, weights) if job.id not in locks]
        weights = [1 + sum(regular) if job.id in locks else w for job, w in zip(jobs, weights)]
        base = min(base, INT64_SAFE // (4 * max(1, sum(weights))))
        # The penalties' ceiling (``_run``) follows the other jobs' prizes, not the pinned ones': a
        # penalty per second of lateness as high as a pinned job's prize could overflow PyVRP's
        # integer costs. Where PyVRP then keeps a pinned job at the price of lateness, ``repair``
        # leaves out other stops first.
        self.max_prize = float(base * max(regular, default=1))
        forbidden_cost = int(2 * base * max(weights, default=1) + 4 * self.arc_scale + 1)

        if free_location is not None:
            for cost, durations in zip(cost_matrices, duration_matrices):
                cost[free_location, :] = cost[:, free_location] = 0
                durations[free_location, :] = durations[:, free_location] = 0
        for n, (_, _, _, eligible) in enumerate(profile_keys):
            allowed = np.unpackbits(np.frombuffer(eligible, dtype=np.uint8))[: len(jobs)]
            forbidden_locations = [clients[c][0] for j in np.flatnonzero(allowed == 0) for c in self.job_clients[j]]
            if forbidden_locations:
                cost_matrices[n][:, forbidden_locations] += forbidden_cost
                np.fill_diagonal(cost_matrices[n], 0)
        self.forbidden_cost = forbidden_cost

        pyvrp_clients = []
        for location, early, late, group, n in clients:
            job = jobs[n]
            delivery = [0] * width
            delivery[:dims] = padded(job.delivery, dims)
            if task_dim:
                delivery[dims] = 1
            if trip_dim:
                delivery[dims + int(task_dim)] = 1
            pyvrp_clients.append(
                pyvrp.Client(
                    location,
                    delivery=delivery,
                    service_duration=job.service_s,
                    tw_early=early,
                    tw_late=late,
                    required=False,
                    prize=base * weights[n],
                    group=group,
                )
            )
        vehicle_types = []
        for t, (key, members) in enumerate(groups):
            _, _, _, start, end, capacity, shift, fixed, breaks, max_tasks, trips, per_trip, _ = key
            extra = ([UNLIMITED if max_tasks is None else max_tasks] if task_dim else []) + (
                [UNLIMITED if per_trip is None else per_trip] if trip_dim else []
            )
            reloads = {}
            if trips is not None:
                reloads = {"reload_depots": sorted(set(self.reload_depots[t].values())), "max_reloads": trips[0] - 1}
            vehicle_types.append(
                pyvrp.VehicleType(
                    num_available=len(members),
                    capacity=list(capacity) + extra,
                    start_depot=depot_of[FREE if start is None else start],
                    end_depot=depot_of[FREE if end is None else end],
                    fixed_cost=(fixed + extra_fixed) * COST_SCALE // divisor,
                    tw_early=shift[0],
                    # The breaks' time is reserved: ``repair`` places them (module docstring).
                    tw_late=shift[1] - sum(b.duration_s for b in breaks),
                    unit_distance_cost=1,
                    unit_duration_cost=0,
                    profile=profile_of_type[t],
                    **reloads,
                )
            )
        locations = [pyvrp.Location(0, 0) for _ in range(size)]  # coordinates unused with explicit matrices
        self.data = pyvrp.ProblemData(
            locations, pyvrp_clients, depots, vehicle_types, cost_matrices, duration_matrices, groups=client_groups
        )
        self.client_windows = [(early, late) for _, early, late, _, _ in clients]

    def solution_from(self, sequences: Sequences) -> pyvrp.Solution | None:
        """A PyVRP solution from per-vehicle sequences (a warm start), None if they do not map."""
        problem = self.problem
        index_of = {job.id: n for n, job in enumerate(problem.jobs)}
        try:
            plan = evaluate(problem, sequences, solver="initial")
        except (KeyError, IndexError):
            return None
        starts = {s.job_id: s.service_start_s for r in plan.routes for s in r.stops if s.kind == "job"}
        routes = []
        for vehicle_id, items in sequences.items():
            t = self.type_of.get(vehicle_id)
            if t is None:
                return None
            visits = []
            for item in items:
                if isinstance(item, ReloadVisit):
                    depot = self.reload_depots[t].get(item.index)
                    if depot is None:
                        return None
                    visits.append(pyvrp.Activity(pyvrp.ActivityType.DEPOT, depot))
                    continue
                if isinstance(item, BreakVisit):
                    continue  # not in PyVRP's model: its time is reserved
                if item not in index_of:
                    return None
                members = self.job_clients[index_of[item]]
                at = starts.get(item)
                chosen = members[0]
                for c in members:
                    early, late = self.client_windows[c]
                    if at is not None and early <= at <= late:
                        chosen = c
                        break
                visits.append(chosen)
            if any(isinstance(v, pyvrp.Activity) for v in visits):
                client = pyvrp.ActivityType.CLIENT
                visits = [v if isinstance(v, pyvrp.Activity) else pyvrp.Activity(client, v) for v in visits]
            if visits:
                routes.append(pyvrp.Route(self.data, visits, t))
        try:
            return pyvrp.Solution(self.data, routes)
        except (ValueError, IndexError, RuntimeError):
            return None

    def sequences(self, solution: pyvrp.Solution) -> Sequences:
        jobs = self.problem.jobs
        free = [list(members) for members in self.type_vehicles]
        result = {}
        for route in solution.routes():
            t = route.vehicle_type()
            vehicle_id = free[t].pop(0)
            items = []
            for activity in route:
                if activity.is_depot():
                    # Start and end depots are never reload depots (copies of their own).
                    if (t, activity.idx) in self.reload_visit:
                        items.append(ReloadVisit(self.reload_visit[(t, activity.idx)]))
                    continue
                if not activity.is_client():
                    continue
                items.append(jobs[self.client_job[activity.idx]].id)
            result[vehicle_id] = tidy_reloads(items)
        return result


class PyvrpProcess:
    """PyVRP in a child process, so it can search while this process searches too.

    ``vroom_s`` > 0: the child first runs VROOM on one thread for that long (its single trips
    joined where the vehicles reload) and starts PyVRP from that plan; ``vroom_sequences`` then
    holds VROOM's plan too, a candidate of its own. ``neighbours``: as for ``solve_with_pyvrp``.

    Why a process: neither pyvroom nor PyVRP release the GIL while they
    search (measured: a Python thread beside a VROOM solve is starved), so
    two threads would take turns on one core. Why ``subprocess`` and not
    ``multiprocessing``: a Celery prefork worker is a daemon process and may
    not start multiprocessing children. The Problem goes to the child's stdin as a
    pickle in a temporary file (our own data, same interpreter) and sequences come back
    on its stdout.
    """

    STARTUP_GRACE_S = 30.0  # on top of the budget before we give up on the child

    def __init__(
        self,
        problem: Problem,
        time_budget_s: float,
        seed: int = 1,
        initial: Sequences | None = None,
        vroom_s: float = 0.0,
        neighbours: int | None = None,
    ):
        # On the monotonic clock, which parent and child share (system-wide) and which a test that
        # pins the wall clock (time_machine) leaves alone: a pinned time.time() here against the
        # child's real one gave PyVRP days to search, until the grace period killed it.
        self.deadline = time.monotonic() + time_budget_s
        self.time_budget_s = time_budget_s
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        # The problem goes in through an unnamed temporary file, not a pipe: a pipe holds 64 KiB, and
        # writing a larger problem (Solomon's matrix alone is 82 KB) blocked this process until the
        # child had imported numpy, PyVRP and VROOM and began to read, 0.3-0.6 s of its own search.
        with tempfile.TemporaryFile() as problem_file:
            pickle.dump(
                (problem, self.deadline, seed, initial, vroom_s, neighbours),
                problem_file,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
            problem_file.seek(0)
            self.process = subprocess.Popen(  # nosec B603  # fixed argv, no shell, no outside input
                [sys.executable, "-m", "routes.optimizer.pyvrp_solver"],
                stdin=problem_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        self.vroom_sequences: Sequences | None = None

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
        answer = pickle.loads(output)  # nosec B301  # our child's answer on its stdout pipe
        self.vroom_sequences = answer["vroom"]
        return answer["pyvrp"]


CHILD_CHAIN_SHARE = 0.1  # of VROOM's time, for joining its single trips on reloading vehicles (as much for filling)


def _child_main() -> None:
    problem, deadline, seed, initial, vroom_s, neighbours = pickle.loads(sys.stdin.buffer.read())  # nosec B301  # from our parent
    vroom_sequences = None
    if vroom_s > 0:
        vroom_sequences = solve_with_vroom(problem, vroom_s, threads=1)
        vroom_sequences = join_and_fill_trips(
            problem, vroom_sequences, time.monotonic() + 2 * CHILD_CHAIN_SHARE * vroom_s, MIN_JOIN_AND_FILL_S
        )
        initial = vroom_sequences
    sequences = solve_with_pyvrp(
        problem, max(0.05, deadline - time.monotonic()), seed=seed, initial=initial, neighbours=neighbours
    )
    answer = {"pyvrp": sequences, "vroom": vroom_sequences}
    sys.stdout.buffer.write(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


if __name__ == "__main__":
    _child_main()
