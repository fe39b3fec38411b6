"""The entry point the planning service calls: ``solve(problem)``.

Default: a portfolio. When PyVRP can model the problem (see
``pyvrp_solver.unsupported_reason``), VROOM (one thread) and PyVRP run side
by side on the two cores for the same wall-clock budget; both answers are
re-scored by ``evaluator.evaluate`` and the better *feasible* one by
``evaluator.objective_key`` is kept. Otherwise VROOM runs alone on both
threads. The Solomon measurements behind this default are in
benchmarks/OPTIMIZER.md: at the default 4.5 s budget the portfolio's mean gap
was 0.83 % against 4.31 % for VROOM alone on both threads.

PyVRP runs in a child process (``PyvrpProcess``): neither library
releases the GIL, so threads would share one core.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from .evaluator import evaluate, objective_key
from .problem import Problem, Solution, validate
from .pyvrp_solver import PyvrpProcess, unsupported_reason
from .vroom_solver import VROOM_THREADS, solve_with_vroom

OVERHEAD_S = 0.4


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
        sequences = solve_with_vroom(problem, search_s, threads=VROOM_THREADS)
        return evaluate(
            problem,
            sequences,
            solver="vroom",
            computing_time_s=time.monotonic() - started,
            notes=(f"vroom only: {reason}",),
        )

    # PyVRP searches in a child process while VROOM (one thread, it holds
    # the GIL) searches here: one core each for the same wall-clock budget.
    child = PyvrpProcess(problem, search_s, seed=settings.seed)
    vroom_sequences = solve_with_vroom(problem, search_s, threads=1)
    notes = []
    try:
        pyvrp_sequences = child.result()
    except RuntimeError as error:  # keep VROOM's plan rather than fail the day
        pyvrp_sequences = None
        notes.append(f"pyvrp failed: {error}")
    elapsed = time.monotonic() - started
    candidates = [evaluate(problem, vroom_sequences, solver="vroom", computing_time_s=elapsed)]
    if pyvrp_sequences is not None:
        candidates.append(evaluate(problem, pyvrp_sequences, solver="pyvrp", computing_time_s=elapsed))
    # min() keeps the first of equals: VROOM wins ties.
    best = min(candidates, key=lambda s: objective_key(problem, s))
    notes += [
        f"{c.solver}: {'feasible' if c.feasible else 'infeasible'}, {len(c.unassigned)} unassigned, cost {c.cost:.2f}"
        for c in candidates
    ]
    return replace(best, notes=tuple(notes))
