"""Multi-trip vehicles (reloads at the own depot or at micro-hubs) and drones: the encodings, the
evaluator's rules for trips, and plans both solvers make on generated days with reloads."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routes.optimizer import (
    Break,
    BreakVisit,
    Job,
    Problem,
    ProblemError,
    ReloadVisit,
    SolverSettings,
    Vehicle,
    evaluate,
    explain_unassigned,
    solve,
    validate,
)
from routes.optimizer.pyvrp_solver import repair, solve_with_pyvrp, unsupported_reason
from routes.optimizer.repair import MIN_JOIN_AND_FILL_S, chain_trips, fill_trips, join_and_fill_trips
from routes.optimizer.split import (
    decode_problem,
    encode_problem,
    sequences_from_json,
    sequences_of,
    sequences_to_json,
    sub_problem,
)
from routes.optimizer.vroom_solver import solve_with_vroom

from .builders import HOUR, plane_matrices, random_day

LUNCH = Break(((12 * HOUR, 13 * HOUR),), 1800)
SHIFT = (8 * HOUR, 18 * HOUR)


def bike_day(n_jobs: int = 6, capacity: int = 2, max_trips: int = 4, **bike_fields) -> Problem:
    """A depot (point 0), a micro-hub (point 1) and ``n_jobs`` one-parcel orders around it; one
    cargo bike that carries ``capacity`` parcels per trip."""
    rng = np.random.default_rng(7)
    points = np.vstack([[0, 0], [3_000, 0], 3_000 + rng.random((n_jobs, 2)) * 2_000])
    fields = dict(
        profile="bike",
        start_index=0,
        end_index=0,
        capacity=(capacity,),
        shift=SHIFT,
        cost_per_hour=2000,
        max_trips=max_trips,
        reload_indices=(0, 1),
        reload_s=300,
    )
    fields.update(bike_fields)
    jobs = tuple(Job(id=i, location_index=i + 1, service_s=120, delivery=(1,)) for i in range(1, n_jobs + 1))
    return Problem(matrices={"bike": plane_matrices(points, 5.0)}, vehicles=(Vehicle(id="bike", **fields),), jobs=jobs)


def drone_day(range_m: int = 6_000) -> Problem:
    """A hub (point 0) with one drone: one parcel per flight, ``range_m`` out and back; orders at 1,
    2, 2.5 and 5 km (the last is out of a 6 km range)."""
    points = np.array([[0, 0], [1_000, 0], [0, 2_000], [-2_500, 0], [0, -5_000]])
    drone = Vehicle(
        id="drone",
        profile="air",
        start_index=0,
        end_index=0,
        capacity=(2,),
        shift=SHIFT,
        max_trips=6,
        reload_indices=(0,),
        reload_s=120,
        max_stops_per_trip=1,
        max_trip_distance_m=range_m,
    )
    jobs = tuple(Job(id=f"p{i}", location_index=i, service_s=30, delivery=(1,)) for i in range(1, 5))
    return Problem(matrices={"air": plane_matrices(points, 15.0)}, vehicles=(drone,), jobs=jobs)


def trips_of(route) -> list[list]:
    """A route's job ids per trip."""
    trips: list[list] = [[]]
    for stop in route.stops:
        if stop.kind == "reload":
            trips.append([])
        elif stop.kind == "job":
            trips[-1].append(stop.job_id)
    return trips


def assert_clean_and_complete(problem: Problem, solution) -> None:
    """Every order once, in a route or unassigned with a reason; no rule of the evaluator broken;
    trips within their limits."""
    planned = [job_id for route in solution.routes for job_id in route.job_ids]
    assert len(planned) == len(set(planned))
    assert sorted(planned + list(solution.unassigned), key=str) == sorted((job.id for job in problem.jobs), key=str)
    assert solution.violations == ()
    reasons = explain_unassigned(problem, solution)
    assert set(reasons) == set(solution.unassigned)
    assert all(isinstance(text, str) and text for text in reasons.values())
    vehicles = problem.vehicle_by_id()
    jobs = problem.job_by_id()
    for route in solution.routes:
        vehicle = vehicles[route.vehicle_id]
        assert route.trips <= vehicle.max_trips
        for trip in trips_of(route):
            assert trip, "no empty trip"
            for k, limit in enumerate(vehicle.capacity):
                assert sum(jobs[j].delivery[k] if k < len(jobs[j].delivery) else 0 for j in trip) <= limit
            if vehicle.max_stops_per_trip is not None:
                assert len(trip) <= vehicle.max_stops_per_trip
        for stop in route.stops:
            if stop.kind == "reload":
                assert stop.location_index == vehicle.reload_indices[stop.reload_index]
                assert stop.departure_s - stop.service_start_s == vehicle.reload_s
                window = vehicle.reload_windows.get(stop.location_index)
                if window:
                    assert window[0] <= stop.service_start_s <= window[1]


# --- encodings -----------------------------------------------------------------------------------


def test_a_bike_carrying_two_parcels_does_three_trips_for_six():
    problem = bike_day()
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.5), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == ()
    (route,) = solution.routes
    assert route.trips >= 3
    reloads = [stop for stop in route.stops if stop.kind == "reload"]
    assert all(stop.load_after[0] <= 2 for stop in reloads)
    assert route.load_at_start[0] <= 2


def test_the_bike_does_no_more_trips_than_allowed():
    problem = bike_day(max_trips=2)
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.5), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    (route,) = solution.routes
    assert route.trips == 2
    assert len(route.job_ids) == 4 and len(solution.unassigned) == 2


def test_the_portfolio_plans_the_reloads():
    problem = bike_day()
    solution = solve(problem, SolverSettings(time_budget_s=1.5))
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == ()
    assert solution.routes[0].trips >= 3


def test_a_drone_flies_one_parcel_per_trip_and_leaves_what_is_out_of_range():
    problem = drone_day()
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.5), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == ("p4",)  # 10 km there and back, 6 km range
    assert "range" in explain_unassigned(problem, solution)["p4"]
    (route,) = solution.routes
    assert [len(trip) for trip in trips_of(route)] == [1, 1, 1]


def test_vroom_gives_a_drone_a_single_one_parcel_trip():
    problem = drone_day()
    sequences = solve_with_vroom(problem, 0.3, threads=1)
    solution = evaluate(problem, sequences, solver="vroom")
    assert_clean_and_complete(problem, solution)
    assert not any(isinstance(item, ReloadVisit) for items in sequences.values() for item in items)
    assert [len(route.job_ids) for route in solution.routes] == [1]


def test_a_reload_at_a_micro_hub_starts_while_the_hub_is_open():
    # The own depot is no reload point; the hub opens at 10:00 for half an hour.
    problem = bike_day(n_jobs=4, reload_indices=(1,), reload_windows={1: (10 * HOUR, 10 * HOUR + 1800)})
    solution = evaluate(problem, solve_with_pyvrp(problem, 0.5), solver="pyvrp")
    assert_clean_and_complete(problem, solution)
    (route,) = solution.routes
    reloads = [stop for stop in route.stops if stop.kind == "reload"]
    assert solution.unassigned == () and len(reloads) == 1
    assert 10 * HOUR <= reloads[0].service_start_s <= 10 * HOUR + 1800
    assert reloads[0].location_index == 1


def test_a_closed_hub_is_a_violation():
    problem = bike_day(n_jobs=4, reload_indices=(1,), reload_windows={1: (8 * HOUR, 8 * HOUR + 60)})
    solution = evaluate(problem, {"bike": [1, 2, ReloadVisit(0), 3, 4]}, solver="hand")
    assert any("after the hub closes" in text for text in solution.violations)


def test_the_evaluator_flags_an_overloaded_trip():
    problem = bike_day()
    solution = evaluate(problem, {"bike": [1, 2, 3, ReloadVisit(0), 4]}, solver="hand")
    assert solution.violations == ("'bike' is overloaded at the start of trip 1: 3 kg > 2",) or any(
        "overloaded at the start of trip 1" in text for text in solution.violations
    )
    assert not any("trip 2" in text for text in solution.violations)
    clean = evaluate(problem, {"bike": [1, 2, ReloadVisit(0), 3, 4, ReloadVisit(1), 5, 6]}, solver="hand")
    assert clean.violations == ()
    assert clean.routes[0].trips == 3
    assert [s.load_after for s in clean.routes[0].stops if s.kind == "reload"] == [(2,), (2,)]


def test_the_evaluator_flags_every_broken_trip_rule():
    problem = bike_day(max_trips=2, max_stops_per_trip=2, max_trip_distance_m=9_000)
    broken = evaluate(
        problem,
        {"bike": [ReloadVisit(0), 1, ReloadVisit(1), ReloadVisit(0), 2, 3, 4, ReloadVisit(5), 5]},
        solver="hand",
    )
    text = " | ".join(broken.violations)
    assert "trips > max 2" in text
    assert "has no stop" in text
    assert "stops > max 2" in text
    assert "not at one of its reload points" in text
    assert "range of 9000 m" in text
    plain = replace(problem, vehicles=(replace(problem.vehicles[0], max_trips=1, reload_indices=()),))
    assert any(
        "not at one of its reload points" in t
        for t in evaluate(plain, {"bike": [1, ReloadVisit(0), 2]}, solver="hand").violations
    )


def test_repair_drops_empty_trips_and_trips_beyond_range():
    problem = drone_day()
    fixed = repair(problem, {"drone": [ReloadVisit(0), "p1", ReloadVisit(0), ReloadVisit(0), "p4", ReloadVisit(0)]})
    assert fixed == {"drone": ["p1"]}
    assert evaluate(problem, fixed, solver="repaired").violations == ()


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(max_trips=0), "max_trips"),
        (dict(max_trips=2, reload_indices=()), "reload_indices: empty"),
        (dict(reload_indices=(0, 99)), "outside the matrix"),
        (dict(reload_indices=(0, 0)), "lists a point twice"),
        (dict(reload_s=-1), "reload_s"),
        (dict(max_stops_per_trip=0), "max_stops_per_trip"),
        (dict(max_trip_distance_m=0), "max_trip_distance_m"),
        (dict(reload_windows={5: (0, 10)}), "reload_windows: point 5"),
        (dict(reload_windows={1: (10, 0)}), "bad window"),
    ],
)
def test_validate_names_the_field_the_vehicle_and_the_value(fields, message):
    with pytest.raises(ProblemError, match=message) as error:
        validate(bike_day(**fields))
    assert "'bike'" in str(error.value)


# --- the split path keeps reloads ------------------------------------------------------------------


def test_a_part_of_the_day_renumbers_reload_points_and_keeps_the_reloads():
    problem = bike_day(reload_windows={1: (9 * HOUR, 12 * HOUR)})
    stored = decode_problem(encode_problem(problem))
    assert stored.vehicles[0].reload_windows == {1: (9 * HOUR, 12 * HOUR)}
    assert stored.vehicles[0].reload_indices == (0, 1)
    part = sub_problem(problem, [3, 4, 5, 6], ["bike"])  # orders 1 and 2's points drop out
    sequences = solve_with_pyvrp(part, 0.4)
    solution = evaluate(part, sequences, solver="pyvrp")
    assert_clean_and_complete(part, solution)
    assert solution.routes[0].trips >= 2
    again = sequences_from_json(sequences_to_json(sequences_of(solution)))
    assert again == {v: list(items) for v, items in sequences.items()}
    assert evaluate(problem, again, solver="whole day").violations == ()


# --- generated days ------------------------------------------------------------------------------


def day_with_reloads(seed: int, n_jobs: int = 18, n_vehicles: int = 4) -> Problem:
    """random_day (skills, zones, pins, windows, priorities, a mixed fleet) with lunch breaks, the
    bikes reloading at the depot or at a micro-hub (order 1's point, open 10:00-15:00), three
    trips at most, and a van with a trip cap of 4 stops reloading at the depot."""
    problem = random_day(seed, n_jobs=n_jobs, n_vehicles=n_vehicles)
    vehicles = []
    for vehicle in problem.vehicles:
        vehicle = replace(vehicle, breaks=(LUNCH,))
        if vehicle.profile == "bike":
            vehicle = replace(
                vehicle,
                capacity=(40, 3),
                max_trips=3,
                reload_indices=(0, 1),
                reload_s=600,
                reload_windows={1: (10 * HOUR, 15 * HOUR)},
            )
        elif vehicle.id == "v2":
            vehicle = replace(vehicle, max_trips=2, reload_indices=(0,), reload_s=900, max_stops_per_trip=4)
        vehicles.append(vehicle)
    return replace(problem, vehicles=tuple(vehicles))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=10_000), solver=st.sampled_from(["pyvrp", "vroom"]))
def test_both_solvers_keep_every_rule_on_generated_days_with_reloads(seed, solver):
    problem = day_with_reloads(seed)
    assert unsupported_reason(problem) is None
    if solver == "pyvrp":
        sequences = solve_with_pyvrp(problem, 0.5, seed=seed % 7 + 1)
    else:
        sequences = solve_with_vroom(problem, 0.4, threads=1)
    solution = evaluate(problem, sequences, solver=solver)
    assert_clean_and_complete(problem, solution)
    assert len(solution.unassigned) < len(problem.jobs)
    for route in solution.routes:
        breaks = [s for s in route.stops if s.kind == "break"]
        assert len(breaks) == 1 and 12 * HOUR <= breaks[0].service_start_s <= 13 * HOUR


def test_pyvrp_uses_reloads_on_a_generated_day_where_bikes_are_short_of_room():
    problem = day_with_reloads(11, n_jobs=24)
    jobs = tuple(replace(job, pinned_vehicle_id=None, priority=0) for job in problem.jobs)
    bikes_only = replace(problem, jobs=jobs, vehicles=tuple(v for v in problem.vehicles if v.profile == "bike"))
    solution = evaluate(bikes_only, solve_with_pyvrp(bikes_only, 1.0), solver="pyvrp")
    assert_clean_and_complete(bikes_only, solution)
    assert max(route.trips for route in solution.routes) >= 2


def test_a_warm_start_with_reloads_maps_onto_pyvrp():
    problem = bike_day()
    warm = {"bike": [1, 2, ReloadVisit(1), 3, 4, ReloadVisit(0), 5, 6]}
    sequences = solve_with_pyvrp(problem, 0.2, initial=warm)
    assert_clean_and_complete(problem, evaluate(problem, sequences, solver="pyvrp"))
    assert BreakVisit(0) not in sequences["bike"]


def test_vroom_single_trips_are_joined_into_a_multi_trip_day():
    problem = bike_day()
    second = replace(problem.vehicles[0], id="bike2")
    problem = replace(problem, vehicles=(problem.vehicles[0], second, replace(second, id="bike3")))
    single = {"bike": [1, 2], "bike2": [3, 4], "bike3": [5, 6]}
    before = evaluate(problem, single, solver="vroom")
    assert before.violations == () and before.vehicles_used == 3
    joined = evaluate(problem, chain_trips(problem, single), solver="chained")
    assert_clean_and_complete(problem, joined)
    assert joined.vehicles_used == 1 and joined.routes[0].trips == 3
    assert joined.cost < before.cost


def test_fill_trips_adds_an_order_left_out_as_a_trip_of_its_own():
    problem = drone_day()
    filled = fill_trips(problem, {"drone": ["p1"]})
    solution = evaluate(problem, filled, solver="filled")
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == ("p4",) and solution.routes[0].trips == 3


def test_vroom_alone_joins_its_single_trips_into_multi_trip_days():
    problem = bike_day()
    second = replace(problem.vehicles[0], id="bike2")
    problem = replace(problem, vehicles=(problem.vehicles[0], second, replace(second, id="bike3")))
    solution = solve(problem, SolverSettings(time_budget_s=1.0, portfolio=False))
    assert_clean_and_complete(problem, solution)
    assert solution.solver == "vroom" and solution.unassigned == ()
    assert max(route.trips for route in solution.routes) >= 2


def test_vroom_alone_gives_a_single_bike_its_further_trips():
    # VROOM plans one trip per vehicle; with one bike there is nothing to join, so what it left out
    # goes into further trips (before: four of six orders unassigned).
    problem = bike_day(n_jobs=6, capacity=2)
    solution = solve(problem, SolverSettings(time_budget_s=1.0, portfolio=False))
    assert_clean_and_complete(problem, solution)
    assert solution.solver == "vroom" and solution.unassigned == ()
    assert solution.routes[0].trips == 3


def test_vroom_alone_with_reloads_keeps_to_its_budget():
    # Joining and filling trips run in the budget's last share, each up to its deadline: 60 orders
    # for a bike of two parcels leave fill_trips far more to try than it has time for.
    problem = bike_day(n_jobs=60, capacity=2, max_trips=40)
    solution = solve(problem, SolverSettings(time_budget_s=1.0, portfolio=False))
    assert_clean_and_complete(problem, solution)
    assert solution.routes and solution.routes[0].trips >= 2
    assert solution.computing_time_s < 1.0 + 1.0  # room for a busy machine, not for a second budget


def test_a_reload_before_the_hub_opens_waits_for_it():
    opens = 12 * HOUR
    problem = bike_day(n_jobs=4, reload_indices=(1,), reload_windows={1: (opens, 13 * HOUR)})
    solution = evaluate(problem, {"bike": [1, 2, ReloadVisit(0), 3, 4]}, solver="hand")
    assert solution.violations == ()
    (reload,) = [stop for stop in solution.routes[0].stops if stop.kind == "reload"]
    assert reload.arrival_s < opens == reload.service_start_s
    assert reload.waiting_s == opens - reload.arrival_s and reload.departure_s == opens + 300


def test_the_portfolio_flies_drones_and_keeps_only_valid_plans():
    problem = drone_day()
    solution = solve(problem, SolverSettings(time_budget_s=1.5))
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == ("p4",) and solution.routes[0].trips == 3


# --- a busy machine ------------------------------------------------------------------------------


class _StarvedChild:
    """A PyVRP child process that got no time on a busy machine."""

    vroom_sequences = None

    def __init__(self, *args, **kwargs):
        pass

    def result(self):
        raise RuntimeError("PyVRP child process did not finish in time")


def _starved(problem, time_budget_s, seed=1, initial=None):
    raise RuntimeError("no time left to search")


@pytest.mark.parametrize("spare", [0.0, 2.0], ids=["one core", "two cores"])
def test_a_busy_machine_still_gives_a_single_bike_its_further_trips(monkeypatch, spare):
    # Under load PyVRP may get no time at all: VROOM's single trip, joined and filled, must then
    # already hold the further trips (a re-plan once left four of a bike's six parcels out this way,
    # and they were then piled onto its one trip).
    from routes.optimizer import portfolio

    monkeypatch.setattr(portfolio, "spare_cores", lambda *args, **kwargs: spare)
    monkeypatch.setattr(portfolio, "solve_with_pyvrp", _starved)
    monkeypatch.setattr(portfolio, "PyvrpProcess", _StarvedChild)
    problem = bike_day(n_jobs=6, capacity=2)
    solution = solve(problem, SolverSettings(time_budget_s=1.0))
    assert_clean_and_complete(problem, solution)
    assert solution.solver == "vroom" and any(
        "no time left" in note or "did not finish" in note for note in solution.notes
    )
    assert solution.unassigned == () and solution.routes[0].trips == 3


def test_joining_and_filling_trips_get_their_own_minimum_time_after_a_spent_budget():
    problem = bike_day(n_jobs=6, capacity=2)
    filled = join_and_fill_trips(problem, {"bike": [1, 2]}, time.monotonic() - 5, MIN_JOIN_AND_FILL_S)
    solution = evaluate(problem, filled, solver="filled")
    assert_clean_and_complete(problem, solution)
    assert solution.unassigned == () and solution.routes[0].trips == 3
