"""The entry point the planning service calls: ``solve(problem)``.

Default: a portfolio of searches on the two cores, for one wall-clock
budget, when PyVRP can model the day (``pyvrp_solver.unsupported_reason``:
every rule we model, but the ``balanced`` objective). This process runs
PyVRP from scratch for the whole budget; a child process runs VROOM (one
thread) for ``VROOM_SHARE`` of it, then PyVRP with another seed from VROOM's
plan. Above ``SMALL_DAY`` stops, both stop ``ONWARD_SHARE`` early and PyVRP
goes on alone from the better of the two. Since breaks are reserved time in
PyVRP's model (``pyvrp_solver``), PyVRP from scratch is the best plan on
most real days up to a few hundred stops, the search from VROOM's plan on
larger ones; on a small day the search from scratch is PyVRP alone's (same
seed, nearly the same time), and the child's different search adds to it.

Each answer is re-scored by ``evaluator.evaluate`` and the best *feasible*
one by ``evaluator.objective_key`` is kept; PyVRP's answers pass through
``pyvrp_solver.repair``, so they are clean by construction.

When the other core is busy (``spare_cores`` samples /proc/stat for
``SAMPLE_S``), two processes would share one core and each search half as
long; the portfolio then runs in this process only: VROOM for
``VROOM_SHARE`` of the budget (on a small day on one thread, at a lower
exploration level) and PyVRP from its plan for the rest. Otherwise
(``balanced``, portfolio off) VROOM runs alone on both threads.
Measurements: benchmarks/OPTIMIZER.md.

PyVRP runs in a child process (``PyvrpProcess``): neither library
releases the GIL, so threads would share one core.

Multi-trip vehicles (reloads): PyVRP models them exactly; VROOM has no
reloads, so it plans single trips (valid, just dearer or with more left
out); ``repair.chain_trips`` then joins them into multi-trip days (a
route takes another as its next trip when that is clean and cheaper) and
``repair.fill_trips`` puts the orders still left out into further trips
(joining routes gives a one-bike fleet no second trip), each in up to
``CHAIN_SHARE`` of the search time and together at least
``repair.MIN_JOIN_AND_FILL_S``. That plan is both a candidate and the warm
start PyVRP improves: on a busy machine PyVRP may get almost no time, and
VROOM's plan must then already hold the further trips (a re-plan once kept a
bike's six parcels in one 24 kg trip that way). Never for ``balanced``. The
evaluator picks the best valid plan, as for everything else.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .evaluator import evaluate, objective_key, sequences_of, summary
from .problem import Problem, Solution, validate
from .pyvrp_solver import PyvrpProcess, solve_with_pyvrp, unsupported_reason
from .repair import MIN_JOIN_AND_FILL_S, join_and_fill_trips, repair
from .vroom_solver import VROOM_THREADS, solve_with_vroom

OVERHEAD_S = 0.4
# Up to this many stops (Solomon's size) a day on two cores has no hand-over, and a day on one core
# gives VROOM one thread at ONE_CORE_SMALL_DAY_EXPLORATION.
SMALL_DAY = 100
# Of the search time, for VROOM before PyVRP continues from its plan. VROOM builds, PyVRP improves:
# since breaks are reserved time in PyVRP's model, its search from VROOM's plan gains more per
# second than VROOM's own (real days at 0.5: +1.7 % against VROOM alone for the whole budget; at
# 0.3 and 0.15: -0.8 % to -6.6 %, benchmarks/OPTIMIZER.md). On Solomon, VROOM for 0.3 of the
# child's time, then PyVRP, beside PyVRP from scratch: 0.092 % mean gap against 0.119 % for two
# searches from scratch with two seeds (session 17, single runs: a run moves a mean by ~0.04).
VROOM_SHARE = 0.3
# A small day on two cores: the child's PyVRP looks at each client's 40 nearest (PyVRP's default,
# which this process keeps, is 50). Two searches that differ find more than two seeds of one: on
# Solomon, beside PyVRP from scratch with 50, the child from VROOM's plan with 40 neighbours gave
# 0.067 % mean gap, with 50 0.092 % (session 17). Not in this process: on ten real days of 40-100
# stops (skills, zones, breaks, two depots), 40 from scratch was not clearly cheaper than 50
# (+0.73 % and -0.12 % with two seeds), so the search that stands for PyVRP alone keeps its default.
SMALL_DAY_CHILD_NEIGHBOURS = 40
ONE_CORE_OVERHEAD_S = 0.15  # kept back for re-scoring when no child process starts
# One core, up to SMALL_DAY stops: VROOM's exploration level for its share. ``exploration_for`` (5 at
# this size) is sized for the whole budget; here VROOM has 30 % of it on one thread. On session 18's
# slow machine level 5 used its whole 1.3-s cap (1.32 s median), level 2 1.23 s and level 1 0.73 s:
# the timings suggest level 5 was cut off before its search was done. With the other core spinning,
# level 2 then PyVRP gave 0.395 % mean gap on Solomon against 0.491 % at level 5 and 0.455 % for PyVRP
# alone in the same run (the benchmark: 0.324 % against PyVRP alone's 0.452 %); on ten real days of
# 40-100 stops, each solved twice, -0.68 % cost against level 5 (-0.27 % without day 7, whose cost
# moves 9 % from run to run). Level 1 was cheaper on those days (-0.82 %) but not run on Solomon.
# On a machine as fast as session 17's (PyVRP alone busy 0.201-0.203 %), session 19's busy benchmark
# gave 0.141 % and 0.129 % at level 2; with only the app run, level 2 0.146 % against level 5 0.183 %.
ONE_CORE_SMALL_DAY_EXPLORATION = 2
# Two cores: what this process keeps back after its own search, to take the child's answer and
# re-score up to four plans (~4 ms each at 600 stops). The child stops earlier, at the budget less
# OVERHEAD_S.
TWO_CORE_TAIL_S = 0.03
# A large day on two cores: for the last share of the search both searches stop, and PyVRP goes on
# from the better of their plans alone (no second search to share memory and cache with). On eight
# real days (benchmarks/OPTIMIZER.md, session 11) 0.2 gave -0.44 % on average against no hand-over.
ONWARD_SHARE = 0.2
MIN_ONWARD_S = 0.3  # less than this left, the hand-over is not worth the model PyVRP builds again
SAMPLE_S = 0.05  # how long ``spare_cores`` watches the machine
BUSY_BELOW = 1.5  # spare cores under which the portfolio stays in one process
# Of the search time, at most, for joining VROOM's single trips into multi-trip days (``chain_trips``),
# and as much again for putting the orders still left out into further trips (``fill_trips``).
CHAIN_SHARE = 0.1


def spare_cores(sample_s: float = SAMPLE_S) -> float:
    """Cores idle right now (machine-wide, from /proc/stat over ``sample_s``); on a system without
    /proc/stat, all of them (the portfolio then assumes the cores are free)."""
    stat = Path("/proc/stat")
    try:
        first = _cpu_times(stat)
        time.sleep(sample_s)
        second = _cpu_times(stat)
    except (OSError, ValueError, IndexError):
        return float(os.cpu_count() or 1)
    total = sum(second) - sum(first)
    if total <= 0:
        return float(os.cpu_count() or 1)
    idle = (second[3] + second[4]) - (first[3] + first[4])  # idle + iowait
    return (os.cpu_count() or 1) * idle / total


def _cpu_times(stat: Path) -> list[int]:
    return [int(v) for v in stat.read_text().splitlines()[0].split()[1:9]]


def default_time_budget(n_jobs: int) -> float:
    """Seconds of wall-clock search for a day of ``n_jobs`` stops.

    4.5 s at 100 stops, 40 s at 1,000, capped at 60 s: a dispatcher waits
    for a plan, and BENCHMARKS.md shows VROOM needs this order of time at
    1,000 stops even at its lowest exploration level.
    """
    return min(60.0, max(2.0, 0.5 + 0.04 * n_jobs))


@dataclass(frozen=True)
class SolverSettings:
    """How hard to search.

    ``time_budget_s`` None: ``default_time_budget``. ``portfolio`` False: VROOM
    only (both threads), e.g. for a quick what-if.
    """

    time_budget_s: float | None = None
    portfolio: bool = True
    seed: int = 1


def solve(problem: Problem, settings: SolverSettings = SolverSettings()) -> Solution:
    """Plan ``problem``; never raises for an unservable job, only for a bad Problem.

    Raises ``ProblemError`` (a ValueError) when the problem is malformed,
    e.g. a sentinel "unreachable" duration reaches the matrices.
    """
    validate(problem)
    started = time.monotonic()
    if not problem.jobs or not problem.vehicles:
        return evaluate(problem, {}, solver="none", notes=("nothing to plan",))
    # When re-planning, the plan being re-planned is the answer to beat, made first (its time counts
    # in the budget): a search never hands back a worse one.
    previous = _previous_plan(problem)
    return _not_worse_than(problem, _search(problem, settings, started), previous)


def _search(problem: Problem, settings: SolverSettings, started: float) -> Solution:
    """The solvers' best plan for the budget that started at ``started`` (see the module docstring)."""
    budget = settings.time_budget_s or default_time_budget(len(problem.jobs))
    # The budget bounds the whole call: keep room for the child's start-up,
    # the pickles and re-scoring (measured ~0.3-0.5 s on a loaded 2-core box).
    search_s = max(0.2, budget - OVERHEAD_S)
    reason = unsupported_reason(problem) if settings.portfolio else "portfolio disabled"
    if reason:
        # Joining trips puts more work on fewer vehicles: not what ``balanced`` asks for.
        reloads = any(v.reloads for v in problem.vehicles) and problem.objective != "balanced"
        # VROOM plans one trip per vehicle: joining its routes gives a one-bike fleet no second trip,
        # so the orders still left out are then put into further trips (``CHAIN_SHARE`` for each).
        sequences = solve_with_vroom(problem, search_s * (1 - 2 * CHAIN_SHARE if reloads else 1), threads=VROOM_THREADS)
        if reloads:
            sequences = join_and_fill_trips(problem, sequences, started + search_s, MIN_JOIN_AND_FILL_S)
        single = ["vroom plans single trips, joined and filled into multi-trip days afterwards"] if reloads else []
        return _best(
            problem, [evaluate(problem, sequences, solver="vroom")], [f"vroom only: {reason}", *single], started
        )

    if spare_cores() < BUSY_BELOW:
        return _solve_on_one_core(problem, settings, started, budget)
    return _solve_on_two_cores(problem, settings, started, budget)


def _solve_on_two_cores(problem: Problem, settings: SolverSettings, started: float, budget: float) -> Solution:
    """Both cores free: PyVRP from scratch here for the whole budget; in a child process VROOM (one
    thread) for ``VROOM_SHARE`` of it, then PyVRP with another seed from VROOM's plan. Since breaks
    are reserved time in PyVRP's model, PyVRP from scratch is the best plan on most real days up to
    a few hundred stops, and the search from VROOM's plan on larger ones (benchmarks/OPTIMIZER.md).

    Above ``SMALL_DAY`` stops both stop ``ONWARD_SHARE`` of the budget early and PyVRP goes on alone
    from the better plan: two searches side by side each run slower than one alone (they share
    memory and cache), so the leader's last stretch gets the machine to itself. A small day has no
    hand-over: its search from scratch is PyVRP alone's, as long and with the same seed, so the
    portfolio is rarely worse than PyVRP alone, and the child's plan, from a different search
    (VROOM's start, ``SMALL_DAY_CHILD_NEIGHBOURS``), adds to it (Solomon, session 17: a search from
    scratch cut to 3 s of 4.5 lost to the full one on 5 instances; the portfolio lost to PyVRP
    alone on 1 instance in each of two runs)."""
    notes, candidates = [], []
    search_s = max(0.2, budget - OVERHEAD_S)
    end = started + budget - TWO_CORE_TAIL_S
    small = len(problem.jobs) <= SMALL_DAY
    onward_s = 0.0 if small else ONWARD_SHARE * search_s
    child = PyvrpProcess(
        problem,
        search_s - onward_s,
        seed=settings.seed + 1,
        vroom_s=VROOM_SHARE * search_s,
        neighbours=SMALL_DAY_CHILD_NEIGHBOURS if small else None,
    )
    try:
        scratch = solve_with_pyvrp(problem, max(0.1, end - onward_s - time.monotonic()), seed=settings.seed)
        candidates.append(evaluate(problem, scratch, solver="pyvrp"))
    except (ValueError, RuntimeError) as error:
        notes.append(f"pyvrp failed: {error}")
    try:
        warm = child.result()
        if child.vroom_sequences is not None:
            candidates.insert(0, evaluate(problem, child.vroom_sequences, solver="vroom"))
        candidates.append(evaluate(problem, warm, solver="pyvrp+vroom"))
    except RuntimeError as error:
        notes.append(f"vroom then pyvrp failed: {error}")
    if onward_s and candidates:  # a large day: the hand-over, when time enough is left for it
        if end - time.monotonic() > MIN_ONWARD_S:
            # The last share of the budget, on a core of its own: PyVRP on from the leader.
            leader = min(candidates, key=lambda s: objective_key(problem, s))
            try:
                onward = solve_with_pyvrp(
                    problem, end - time.monotonic(), seed=settings.seed + 2, initial=sequences_of(leader)
                )
                candidates.append(evaluate(problem, onward, solver=f"{leader.solver}, then pyvrp on"))
            except (ValueError, RuntimeError) as error:
                notes.append(f"pyvrp on from {leader.solver}'s plan failed: {error}")
        else:
            notes.append(f"no hand-over: {max(0.0, end - time.monotonic()):.2f} s left after the searches")
    if not candidates:  # both searches failed: VROOM here, with what time is left
        sequences = solve_with_vroom(problem, max(0.5, started + budget - time.monotonic()), threads=VROOM_THREADS)
        # VROOM plans single trips: a reloading bike gets its further trips here, as on every path.
        sequences = join_and_fill_trips(problem, sequences, time.monotonic(), MIN_JOIN_AND_FILL_S)
        candidates.append(evaluate(problem, sequences, solver="vroom"))
    return _best(problem, candidates, notes, started)


def _best(problem: Problem, candidates: list[Solution], notes: list[str], started: float) -> Solution:
    """The best candidate by ``objective_key`` (min() keeps the first of equals: VROOM, listed
    first, wins ties), with every candidate's figures in its notes."""
    best = min(candidates, key=lambda s: objective_key(problem, s))
    notes = notes + [summary(c) for c in candidates]
    return replace(best, computing_time_s=time.monotonic() - started, notes=tuple(notes))


def _previous_plan(problem: Problem) -> Solution | None:
    """The initial routes (the plan being re-planned) with their breaks placed, made clean by
    ``repair`` (it leaves out a stop that no longer fits), or None when there are none.

    Not for ``balanced`` (the old plan may not keep its caps), nor when a vehicle of the old plan
    reloads: an initial route lists its jobs without the reloads between its trips, so repair
    would drop stops for a whole trip's load (slowly) and the candidate could never win."""
    if not problem.initial_routes or problem.objective == "balanced":
        return None
    known, vehicles = problem.job_by_id(), problem.vehicle_by_id()
    sequences: dict = {}
    for route in problem.initial_routes:
        vehicle = vehicles.get(route.vehicle_id)
        if vehicle is None:
            continue
        if vehicle.reloads:
            return None
        sequences.setdefault(route.vehicle_id, []).extend(j for j in route.job_ids if j in known)
    sequences = {v: items for v, items in sequences.items() if items}
    if not sequences:
        return None
    return evaluate(problem, repair(problem, sequences), solver="previous plan")


def _not_worse_than(problem: Problem, solution: Solution, previous: Solution | None) -> Solution:
    """``solution``, or the plan being re-planned when that is strictly better by ``objective_key``
    (a short search that drops a pinned stop or serves fewer orders never replaces a plan that did
    better); the previous plan's figures join the notes either way."""
    if previous is None:
        return solution
    notes = (*solution.notes, summary(previous))
    if objective_key(problem, previous) < objective_key(problem, solution):
        return replace(previous, computing_time_s=solution.computing_time_s, notes=notes)
    return replace(solution, notes=notes)


def _solve_on_one_core(problem: Problem, settings: SolverSettings, started: float, budget: float) -> Solution:
    """The other core is busy: in this process (no child to start, so only re-scoring is kept
    back), VROOM for ``VROOM_SHARE`` of the budget (one thread and ``ONE_CORE_SMALL_DAY_EXPLORATION``
    on a small day, both threads and the size's level on a larger one), then PyVRP from its plan
    for the rest. On the 56 Solomon instances on one core (single side runs, session 17, VROOM at
    level 5), VROOM's start for 0.3 of the budget averaged 0.116 % and 0.089 % over
    the best known (seeds 1 and 2) against 0.192 % for PyVRP from scratch over the whole budget,
    0.160 % at 0.15 of the budget, 0.186 % at 0.22 and 0.151 % at 0.45; the benchmark with one core
    spinning then gave 0.171 % against PyVRP alone's 0.202 % (benchmarks/OPTIMIZER.md). On session
    18's slower machine, where VROOM at level 5 used its whole share, that path lost to PyVRP
    alone in three paired runs (+0.04 to +0.13 points) and beat it in one unpaired run (-0.05),
    hence level 2 on small days. The better of the two plans is kept; VROOM's alone if PyVRP
    fails."""
    deadline = started + budget - ONE_CORE_OVERHEAD_S
    notes = ["one process: the other core was busy"]
    large = len(problem.jobs) > SMALL_DAY
    vroom_sequences = solve_with_vroom(
        problem,
        VROOM_SHARE * (deadline - time.monotonic()),
        threads=VROOM_THREADS if large else 1,
        exploration=None if large else ONE_CORE_SMALL_DAY_EXPLORATION,
    )
    vroom_sequences = join_and_fill_trips(
        problem, vroom_sequences, time.monotonic() + 2 * CHAIN_SHARE * (deadline - started), MIN_JOIN_AND_FILL_S
    )
    candidates = [evaluate(problem, vroom_sequences, solver="vroom")]
    try:
        warm = solve_with_pyvrp(
            problem, max(0.1, deadline - time.monotonic()), seed=settings.seed, initial=vroom_sequences
        )
        candidates.append(evaluate(problem, warm, solver="pyvrp+vroom"))
    except (ValueError, RuntimeError) as error:
        notes.append(f"pyvrp from vroom's plan failed: {error}")
    return _best(problem, candidates, notes, started)
