"""Unassigned jobs are explained in the dispatcher's words."""

from __future__ import annotations

from dataclasses import replace

from routes.optimizer import NO_ROOM, SolverSettings, explain_unassigned, solve

from .builders import HOUR, simple_day

QUICK = SolverSettings(time_budget_s=0.5)


def _day_with(job_changes: dict, n_jobs: int = 4, **vehicle_fields):
    problem = simple_day(n_jobs=n_jobs, n_vehicles=2, **vehicle_fields)
    jobs = tuple(replace(job, **job_changes) if job.id == 1 else job for job in problem.jobs)
    return replace(problem, jobs=jobs)


def _reason_for_job_1(problem, precomputed=None):
    solution = solve(problem, QUICK)
    assert 1 in solution.unassigned
    return explain_unassigned(problem, solution, precomputed)[1]


def test_it_says_no_vehicle_has_the_skill():
    assert _reason_for_job_1(_day_with({"skills": frozenset({"fridge"})})) == "no vehicle has skill fridge"


def test_it_says_the_load_exceeds_every_capacity():
    problem = _day_with({"delivery": (120,)})
    assert _reason_for_job_1(problem) == "120 kg exceeds every vehicle's capacity"


def test_it_says_the_window_closes_before_anyone_gets_there():
    # Shifts start at 08:00 at the depot; the window closes at 08:00 sharp.
    problem = _day_with({"time_windows": ((7 * HOUR, 8 * HOUR),)})
    assert _reason_for_job_1(problem) == "its window closes before any vehicle can get there"


def test_it_says_no_vehicle_serves_the_zone():
    problem = _day_with({"zone_id": "east"}, zone_ids=frozenset({"west"}))
    assert _reason_for_job_1(problem) == "no vehicle serves zone east"


def test_it_says_there_is_no_room_left_when_the_fleet_is_full():
    # Two vans of 100 kg, five 45 kg orders: one cannot fit anywhere.
    problem = simple_day(n_jobs=5, n_vehicles=2)
    problem = replace(problem, jobs=tuple(replace(j, delivery=(45,)) for j in problem.jobs))
    solution = solve(problem, QUICK)
    reasons = explain_unassigned(problem, solution)
    assert len(reasons) == 1 and list(reasons.values()) == [NO_ROOM]


def test_it_passes_through_reasons_decided_before_solving():
    problem = simple_day(n_jobs=3)
    solution = solve(problem, QUICK)
    reasons = explain_unassigned(problem, solution, {"order-77": "its address is not on the road network"})
    assert reasons == {"order-77": "its address is not on the road network"}
