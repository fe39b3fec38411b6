"""Route optimisation engine: plain Python, no Django.

The planning service builds a ``Problem`` (matrices, vehicles, jobs), calls
``solve`` and saves the returned ``Solution``; ``explain_unassigned`` turns
its unassigned jobs into sentences for the dispatcher.
"""

from .evaluator import BreakVisit, ReloadVisit, evaluate, objective_key
from .portfolio import SolverSettings, default_time_budget, solve
from .problem import (
    Break,
    InitialRoute,
    Job,
    Problem,
    ProblemError,
    RoadMatrix,
    Route,
    Solution,
    Stop,
    Vehicle,
    validate,
    within_range,
)
from .reasons import NO_ROOM, explain_unassigned

__all__ = [
    "Break",
    "BreakVisit",
    "InitialRoute",
    "Job",
    "NO_ROOM",
    "Problem",
    "ProblemError",
    "ReloadVisit",
    "RoadMatrix",
    "Route",
    "Solution",
    "SolverSettings",
    "Stop",
    "Vehicle",
    "default_time_budget",
    "evaluate",
    "explain_unassigned",
    "objective_key",
    "solve",
    "validate",
    "within_range",
]
