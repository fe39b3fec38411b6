"""PyVRP models every rule of a real day: the encodings, and plans both solvers make on generated days."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routes.optimizer import (
    Break,
    BreakVisit,
    InitialRoute,
    Job,
    Problem,
    SolverSettings,
    Vehicle,
    evaluate,
    explain_unassigned,
    portfolio,
    solve,
)
from routes.optimizer.pyvrp_solver import _Model, repair, solve_with_pyvrp, unsupported_reason
from routes.optimizer.vroom_solver import solve_with_vroom

from .builders import HOUR, plane_matrices, random_day

LUNCH = Break(((12 * HOUR, 13 * HOUR),), 1800)


def day_with_breaks(seed: int, n_jobs: int = 18, n_vehicles: int = 4) -> Problem:
    """random_day (skills, zones as territories, pins, windows, priorities, a mixed fleet) with a
    lunch break for every driver and a second depot for one van."""
    problem = random_day(seed, n_jobs=n_jobs, n_vehicles=n_vehicles)
    vehicles = [replace(v, breaks=(LUNCH,)) for v in problem.vehicles]
    vehicles[-1] = replace(vehicles[-1], start_index=1, end_index=1)  # a second depot at order 1's point
    return replace(problem, vehicles=tuple(vehicles))


def assert_clean_and_complete(problem: Problem, solution) -> None:
    """Every order once, in a route or unassigned with a reason; no rule of the evaluator broken."""
    planned = [job_id for route in solution.routes for job_id in route.job_ids]
    assert len(planned) == len(set(planned))
    assert sorted(planned + list(solution.unassigned)) == sorted(job.id for job in problem.jobs)
    assert solution.violations == ()
    reasons = explain_unassigned(problem, solution)
    assert set(reasons) == set(solution.unassigned)
    assert all(isinstance(text, str) and text for text in reasons.values())
    vehicles = problem.vehicle_by_id()
    for route in solution.routes:
        breaks = [stop for stop in route.stops if stop.kind == "break"]
        assert len(breaks) == len(vehicles[route.vehicle_id].breaks)
        for stop in breaks:
            window = vehicles[route.vehicle_id].breaks[stop.break_index].windows[0]
            assert window[0] <= stop.service_start_s <= window[1]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10_000), solver=st.sampled_from(["pyvrp", "vroom"]))
def test_both_solvers_keep_every_rule_on_generated_days(seed, solver):
    problem = day_with_breaks(seed)
    assert unsupported_reason(problem) is None  # skills, zones, pins, breaks, two depots: all modelled
    if solver == "pyvrp":
        sequences = solve_with_pyvrp(problem, 0.4, seed=seed % 7 + 1)
    else:
        sequences = solve_with_vroom(problem, 0.4, threads=1)
    solution = evaluate(problem, sequences, solver=solver)
    assert_clean_and_complete(problem, solution)
    assert len(solution.unassigned) < len(problem.jobs)


def test_pyvrp_keeps_pinned_and_locked_jobs_on_their_vehicle():
    problem = day_with_breaks(3, n_jobs=14)
    jobs = [replace(job, pinned_vehicle_id=None, skills=frozenset(), zone_id=None) for job in problem.jobs]
    jobs[0] = replace(jobs[0], pinned_vehicle_id="v2")
    problem = replace(problem, jobs=tuple(jobs), initial_routes=(InitialRoute("v1", (2, 3), locked=True),))
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.5), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    on = {job_id: route.vehicle_id for route in solution.routes for job_id in route.job_ids}
    assert on.get(1, "v2") == "v2" and on.get(2, "v1") == "v1" and on.get(3, "v1") == "v1"
    assert {1, 2, 3} <= set(on)


def two_vans_one_fridge(**fridge_job) -> Problem:
    """Two orders at the same address, one needing a fridge; one van has it."""
    points = np.array([[0, 0], [1_000, 0], [2_000, 0]])
    matrix = plane_matrices(points)
    vans = (
        Vehicle(id="plain", start_index=0, end_index=0, capacity=(100,), shift=(8 * HOUR, 18 * HOUR)),
        Vehicle(
            id="cold",
            start_index=0,
            end_index=0,
            capacity=(100,),
            shift=(8 * HOUR, 18 * HOUR),
            skills=frozenset({"fridge"}),
        ),
    )
    jobs = (
        Job(id="milk", location_index=1, delivery=(5,), skills=frozenset({"fridge"}), **fridge_job),
        Job(id="book", location_index=1, delivery=(5,)),
        Job(id="far", location_index=2, delivery=(5,)),
    )
    return Problem(matrices={"car": matrix}, vehicles=vans, jobs=jobs)


def test_the_skill_profile_forbids_a_job_only_to_vehicles_without_the_skill():
    problem = two_vans_one_fridge()
    model = _Model(problem)
    plain, cold = model.type_of["plain"], model.type_of["cold"]
    profile = {t: model.data.vehicle_type(t).profile for t in (plain, cold)}
    assert profile[plain] != profile[cold]
    cost = {t: np.asarray(model.data.distance_matrix(profile[t])) for t in (plain, cold)}
    milk, book = (model.data.clients()[model.job_clients[n][0]].location for n in (0, 1))
    assert milk != book  # same address, own locations: forbidding one leaves the other alone
    depot = 0
    assert cost[plain][depot, milk] >= model.forbidden_cost
    assert cost[cold][depot, milk] < model.forbidden_cost
    assert cost[plain][depot, book] == cost[cold][depot, book] < model.forbidden_cost
    # Dearer than any prize: serving the milk from the plain van never pays.
    assert model.forbidden_cost > model.max_prize


def test_pyvrp_gives_a_skill_job_only_to_a_vehicle_with_the_skill():
    problem = two_vans_one_fridge()
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.3), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    on = {job_id: route.vehicle_id for route in solution.routes for job_id in route.job_ids}
    assert on["milk"] == "cold"


def test_a_zone_restricted_vehicle_gets_its_own_profile():
    problem = two_vans_one_fridge()
    jobs = tuple(
        replace(job, skills=frozenset(), zone_id="north" if job.id == "far" else "south") for job in problem.jobs
    )
    vans = (replace(problem.vehicles[0], zone_ids=frozenset({"south"})), problem.vehicles[1])
    problem = replace(problem, jobs=jobs, vehicles=vans)
    model = _Model(problem)
    south_only = model.data.vehicle_type(model.type_of["plain"]).profile
    far = model.data.clients()[model.job_clients[2][0]].location
    assert np.asarray(model.data.distance_matrix(south_only))[0, far] >= model.forbidden_cost


def test_a_break_is_time_reserved_in_its_vehicle_types_shift_not_a_visit():
    """PyVRP never sees a break as a place to go: a virtual break stop with a guessed leg out of
    it let the search hide a route's longest drive behind the break. Its time comes off the
    shift instead, for that vehicle type only, and ``repair`` places it."""
    problem = two_vans_one_fridge()
    vans = (replace(problem.vehicles[0], breaks=(LUNCH,)), problem.vehicles[1])
    model = _Model(replace(problem, vehicles=vans))
    plain, cold = model.type_of["plain"], model.type_of["cold"]
    assert model.data.num_clients == len(problem.jobs)  # jobs only
    assert model.data.vehicle_type(plain).tw_late == vans[0].shift[1] - LUNCH.duration_s
    assert model.data.vehicle_type(cold).tw_late == vans[1].shift[1]
    assert model.data.vehicle_type(plain).capacity == model.data.vehicle_type(cold).capacity


def test_a_warm_start_with_breaks_maps_and_comes_back_with_each_break_in_its_window():
    problem = two_vans_one_fridge()
    vans = tuple(replace(v, breaks=(LUNCH,)) for v in problem.vehicles)
    problem = replace(problem, vehicles=vans)
    start = repair(problem, {"plain": ["book", "far"], "cold": ["milk"]})
    assert _Model(problem).solution_from(start) is not None
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.3, initial=start), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    for route in solution.routes:
        (lunch,) = [stop for stop in route.stops if stop.kind == "break"]
        assert LUNCH.windows[0][0] <= lunch.service_start_s <= LUNCH.windows[0][1]


def test_repair_adds_a_missing_break_inside_its_window():
    problem = two_vans_one_fridge()
    vans = (replace(problem.vehicles[0], breaks=(LUNCH,)), problem.vehicles[1])
    problem = replace(problem, vehicles=vans)
    fixed = repair(problem, {"plain": ["book", "far"]})
    assert fixed["plain"].count(BreakVisit(0)) == 1
    assert_clean_and_complete(problem, evaluate(problem, fixed, solver="repaired"))


def test_repair_leaves_out_stops_it_cannot_fit_and_ineligible_jobs():
    problem = two_vans_one_fridge()
    # Lunch starts by 12:30, the shift is 12:00-13:20, each order takes 30 minutes: lunch and one
    # order fit (break, 100 s there, 30 min, 100 s back), not two.
    tight = Break(((12 * HOUR, 12 * HOUR + 1800),), 1800)
    jobs = tuple(replace(job, service_s=1800) for job in problem.jobs)
    vans = (replace(problem.vehicles[0], breaks=(tight,), shift=(12 * HOUR, 12 * HOUR + 4800)), problem.vehicles[1])
    problem = replace(problem, jobs=jobs, vehicles=vans)
    fixed = repair(problem, {"plain": ["milk", "book", BreakVisit(0), "far"]})
    assert "milk" not in fixed["plain"]  # the plain van lacks the fridge
    assert evaluate(problem, {"plain": ["book", BreakVisit(0), "far"]}, solver="hand").violations != ()
    solution = evaluate(problem, fixed, solver="repaired")
    assert solution.violations == ()
    (route,) = solution.routes
    assert len(route.job_ids) == 1 and [s.kind for s in route.stops].count("break") == 1


def test_pyvrp_models_task_limits_open_ends_and_several_windows():
    problem = two_vans_one_fridge()
    vans = (replace(problem.vehicles[0], max_tasks=1, end_index=None), problem.vehicles[1])
    jobs = (problem.jobs[0], replace(problem.jobs[1], time_windows=((9 * HOUR, 9 * HOUR + 60), (15 * HOUR, 16 * HOUR))))
    problem = replace(problem, vehicles=vans, jobs=jobs + problem.jobs[2:])
    assert unsupported_reason(problem) is None
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.3), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == ()
    for route in solution.routes:
        if route.vehicle_id == "plain":
            assert len(route.job_ids) <= 1
            assert route.end_leg_duration_s == 0  # an open end: the route ends at its last stop


def test_pyvrp_leaves_balanced_days_to_vroom():
    problem = replace(two_vans_one_fridge(), objective="balanced")
    assert "balanced" in unsupported_reason(problem)
    with pytest.raises(ValueError):
        solve_with_pyvrp(problem, 0.1)


def _solvers_in(solution) -> set[str]:
    return {note.split(":")[0] for note in solution.notes}


def test_the_portfolio_keeps_the_best_of_three_searches_when_both_cores_are_free(monkeypatch):
    monkeypatch.setattr(portfolio, "spare_cores", lambda: 2.0)
    problem = day_with_breaks(11, n_jobs=20)
    solution = solve(problem, SolverSettings(time_budget_s=1.0))
    assert _solvers_in(solution) == {"vroom", "pyvrp+vroom", "pyvrp"}
    assert_clean_and_complete(problem, solution)
    # The kept plan is the cheapest of the candidates that served as many orders.
    costs = [
        float(note.rsplit("cost ", 1)[1]) for note in solution.notes if f"{len(solution.unassigned)} unassigned" in note
    ]
    assert solution.cost == pytest.approx(min(costs), abs=0.01)


def test_the_portfolio_stays_in_one_process_when_the_other_core_is_busy(monkeypatch):
    monkeypatch.setattr(portfolio, "spare_cores", lambda: 0.2)
    problem = day_with_breaks(12, n_jobs=20)
    solution = solve(problem, SolverSettings(time_budget_s=0.8))
    assert _solvers_in(solution) == {"one process", "vroom", "pyvrp+vroom"}
    assert_clean_and_complete(problem, solution)
    costs = [
        float(note.rsplit("cost ", 1)[1]) for note in solution.notes if f"{len(solution.unassigned)} unassigned" in note
    ]
    assert solution.cost == pytest.approx(min(costs), abs=0.01)


def test_a_larger_day_searches_from_scratch_here_and_from_vroom_in_a_child(monkeypatch):
    monkeypatch.setattr(portfolio, "spare_cores", lambda: 2.0)
    problem = day_with_breaks(13, n_jobs=portfolio.SMALL_DAY + 10, n_vehicles=8)
    solution = solve(problem, SolverSettings(time_budget_s=2.0))
    # VROOM's plan comes back from the child beside the search that started from it; PyVRP goes on
    # from the better plan when the hand-over leaves it time enough (MIN_ONWARD_S), as on a fast machine.
    solvers = _solvers_in(solution)
    assert {"vroom", "pyvrp+vroom", "pyvrp"} <= solvers
    others = solvers - {"vroom", "pyvrp+vroom", "pyvrp", "no hand-over"}
    assert all(name.endswith(", then pyvrp on") for name in others), solvers
    assert_clean_and_complete(problem, solution)
    costs = [
        float(note.rsplit("cost ", 1)[1]) for note in solution.notes if f"{len(solution.unassigned)} unassigned" in note
    ]
    assert solution.cost == pytest.approx(min(costs), abs=0.01)
