"""The entry point the planning service calls: ``solve(problem)``.

Default: a portfolio of three searches on the two cores, for one wall-clock
budget, when PyVRP can model the day (``pyvrp_solver.unsupported_reason``:
every rule we model, but the ``balanced`` objective):

* up to ``SMALL_DAY`` stops: a child process runs PyVRP from scratch for
  the whole budget; this process runs VROOM (one thread) for
  ``VROOM_SHARE`` of it, then PyVRP with another seed from VROOM's plan;
* larger days: VROOM (exploration ``LARGE_EXPLORATION``, both threads) for
  ``LARGE_VROOM_SHARE`` of the budget, then two PyVRP searches (this
  process and a child, two seeds) improve VROOM's plan for the rest: from
  scratch PyVRP is far behind on a few hundred stops within the budget.

Each answer is re-scored by ``evaluator.evaluate`` and the best *feasible*
one by ``evaluator.objective_key`` is kept; PyVRP's answers pass through
``pyvrp_solver.repair``, so they are clean by construction.

When the other core is busy (``spare_cores`` samples /proc/stat for
``SAMPLE_S``), two processes would share one core and each search half as
long; the portfolio then runs in this process only: on a small day PyVRP from
scratch for the whole budget, on a larger one VROOM for its share and
PyVRP from its plan for the rest. Otherwise (``balanced``, portfolio off)
VROOM runs alone on both threads. Measurements: benchmarks/OPTIMIZER.md.

PyVRP runs in a child process (``PyvrpProcess``): neither library
releases the GIL, so threads would share one core.

Multi-trip vehicles (reloads): PyVRP models them exactly; VROOM has no
reloads, so it plans single trips (valid, just dearer or with more left
out); ``repair.chain_trips`` then joins them into multi-trip days (a
route takes another as its next trip when that is clean and cheaper), and
that plan is both a candidate and the warm start PyVRP improves. The
evaluator picks the best valid plan, as for everything else.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .evaluator import evaluate, objective_key
from .problem import Problem, Solution, validate
from .pyvrp_solver import PyvrpProcess, solve_with_pyvrp, unsupported_reason
from .repair import chain_trips
from .vroom_solver import VROOM_THREADS, solve_with_vroom

OVERHEAD_S = 0.4
VROOM_SHARE = 0.3  # of the search time, for VROOM before PyVRP continues from its plan
# Above this many stops PyVRP from scratch falls far behind within the budget (a 360-stop real
# day: +50 % after 15 s), so VROOM builds first, for a larger share, and both cores then improve
# its plan with PyVRP (two seeds).
SMALL_DAY = 100
LARGE_VROOM_SHARE = 0.5
LARGE_EXPLORATION = 5
ONE_CORE_OVERHEAD_S = 0.15  # kept back for re-scoring when no child process starts
SAMPLE_S = 0.05  # how long ``spare_cores`` watches the machine
BUSY_BELOW = 1.5  # spare cores under which the portfolio stays in one process
# Of the search time, at most, for joining VROOM's single trips into multi-trip days (``chain_trips``).
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
    budget = settings.time_budget_s or default_time_budget(len(problem.jobs))
    # The budget bounds the whole call: keep room for the child's start-up,
    # the pickles and re-scoring (measured ~0.3-0.5 s on a loaded 2-core box).
    search_s = max(0.2, budget - OVERHEAD_S)
    reason = unsupported_reason(problem) if settings.portfolio else "portfolio disabled"
    if reason:
        # Joining trips puts more work on fewer vehicles: not what ``balanced`` asks for.
        reloads = any(v.reloads for v in problem.vehicles) and problem.objective != "balanced"
        sequences = solve_with_vroom(problem, search_s * (1 - CHAIN_SHARE if reloads else 1), threads=VROOM_THREADS)
        if reloads:
            sequences = chain_trips(problem, sequences, deadline=started + search_s)
        single = ("vroom plans single trips, joined into multi-trip days afterwards",) if reloads else ()
        return evaluate(
            problem,
            sequences,
            solver="vroom",
            computing_time_s=time.monotonic() - started,
            notes=(f"vroom only: {reason}", *single),
        )

    notes = []
    candidates = []
    deadline = started + search_s
    busy = spare_cores() < BUSY_BELOW
    large = len(problem.jobs) > SMALL_DAY
    if busy and not large:
        return _solve_on_one_core(problem, settings, started, budget)
    child = None
    if not large and not busy:
        # The other core's search: PyVRP from scratch for the whole budget.
        child = PyvrpProcess(problem, max(0.1, deadline - time.monotonic()), seed=settings.seed)
    if large:
        # VROOM's constructions first, on every core it can have; then PyVRP improves its plan.
        vroom_sequences = solve_with_vroom(
            problem,
            LARGE_VROOM_SHARE * search_s,
            threads=1 if busy else VROOM_THREADS,
            exploration=LARGE_EXPLORATION,
        )
        vroom_sequences = chain_trips(problem, vroom_sequences, deadline=time.monotonic() + CHAIN_SHARE * search_s)
        if not busy:
            child = PyvrpProcess(
                problem, max(0.1, deadline - time.monotonic()), seed=settings.seed + 2, initial=vroom_sequences
            )
    else:
        vroom_sequences = solve_with_vroom(problem, VROOM_SHARE * search_s, threads=1)
        vroom_sequences = chain_trips(problem, vroom_sequences, deadline=time.monotonic() + CHAIN_SHARE * search_s)
    candidates.append(evaluate(problem, vroom_sequences, solver="vroom"))
    try:
        warm = solve_with_pyvrp(
            problem, max(0.1, deadline - time.monotonic()), seed=settings.seed + 1, initial=vroom_sequences
        )
        candidates.append(evaluate(problem, warm, solver="pyvrp+vroom"))
    except (ValueError, RuntimeError) as error:  # keep the others' plans rather than fail the day
        notes.append(f"pyvrp from vroom's plan failed: {error}")
    if child is not None:
        try:
            candidates.append(evaluate(problem, child.result(), solver="pyvrp" if not large else "pyvrp+vroom#2"))
        except RuntimeError as error:
            notes.append(f"pyvrp failed: {error}")
    if busy:
        notes.append("one process: the other core was busy")
    elapsed = time.monotonic() - started
    # min() keeps the first of equals: VROOM wins ties.
    best = min(candidates, key=lambda s: objective_key(problem, s))
    notes += [
        f"{c.solver}: {'feasible' if c.feasible else 'infeasible'}, {len(c.unassigned)} unassigned, cost {c.cost:.2f}"
        for c in candidates
    ]
    return replace(best, computing_time_s=elapsed, notes=tuple(notes))


def _solve_on_one_core(problem: Problem, settings: SolverSettings, started: float, budget: float) -> Solution:
    """A small day while the other core is busy: PyVRP from scratch, here, for the whole budget
    (no child to start, so only re-scoring is kept back). On ~100 stops it beats VROOM at any
    share of one core (benchmarks/OPTIMIZER.md); VROOM takes over only if PyVRP fails."""
    deadline = started + budget - ONE_CORE_OVERHEAD_S
    notes = ["one process: the other core was busy"]
    try:
        sequences = solve_with_pyvrp(problem, max(0.1, deadline - time.monotonic()), seed=settings.seed)
        solver = "pyvrp"
    except (ValueError, RuntimeError) as error:
        notes.append(f"pyvrp failed: {error}")
        sequences = solve_with_vroom(problem, max(0.1, deadline - time.monotonic()), threads=1)
        solver = "vroom"
    solution = evaluate(problem, sequences, solver=solver, computing_time_s=time.monotonic() - started)
    notes.append(
        f"{solver}: {'feasible' if solution.feasible else 'infeasible'}, {len(solution.unassigned)} unassigned, "
        f"cost {solution.cost:.2f}"
    )
    return replace(solution, notes=tuple(notes))
