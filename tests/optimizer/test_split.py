"""Big days in parts (routes.optimizer.split): the split covers every stop once, the fleet is shared
without double use, a stored part comes back the same, and the merged plan keeps every rule."""

from dataclasses import replace

import numpy as np
import pytest

from routes.optimizer import BreakVisit, InitialRoute, ProblemError, evaluate, explain_unassigned
from routes.optimizer.split import (
    border_pairs,
    budgets,
    decode_problem,
    encode_problem,
    improve_borders,
    merge,
    sequences_from_json,
    sequences_to_json,
    split_day,
    sub_problem,
)
from routes.optimizer.vroom_solver import solve_with_vroom
from tests.optimizer.builders import random_day


def day_points(problem):
    """The builders' plane coordinates are not kept on the Problem: recover them from the distance
    matrix by classical multidimensional scaling (exact for straight-line distances)."""
    d = np.asarray(problem.matrices["car"].distances, dtype=float)
    n = len(d)
    centring = np.eye(n) - np.ones((n, n)) / n
    values, vectors = np.linalg.eigh(-0.5 * centring @ (d**2) @ centring)
    top = np.argsort(values)[::-1][:2]
    return [tuple(p) for p in vectors[:, top] * np.sqrt(np.maximum(values[top], 0))]


@pytest.mark.parametrize("seed", range(6))
def test_every_stop_is_in_exactly_one_region_and_every_vehicle_in_one(seed):
    problem = random_day(seed, n_jobs=120, n_vehicles=12)
    regions = split_day(problem, day_points(problem), region_jobs=30)

    jobs = [j for r in regions for j in r.job_ids]
    vehicles = [v for r in regions for v in r.vehicle_ids]
    assert sorted(jobs) == sorted(j.id for j in problem.jobs)
    assert sorted(vehicles) == sorted(v.id for v in problem.vehicles)
    assert len(regions) == 4
    assert all(r.vehicle_ids for r in regions)


@pytest.mark.parametrize("seed", range(4))
def test_a_pinned_stop_is_in_its_vehicles_region_and_a_fridge_stop_where_a_fridge_van_is(seed):
    problem = random_day(seed, n_jobs=120, n_vehicles=12)
    regions = split_day(problem, day_points(problem), region_jobs=30)
    region_of = {j: r for r in regions for j in r.job_ids}
    vehicles = problem.vehicle_by_id()
    for job in problem.jobs:
        fleet = [vehicles[v] for v in region_of[job.id].vehicle_ids]
        if job.pinned_vehicle_id is not None:
            assert job.pinned_vehicle_id in region_of[job.id].vehicle_ids
        elif "fridge" in job.skills:
            assert any("fridge" in v.skills for v in fleet)


def test_vehicles_are_shared_in_proportion_to_demand():
    problem = random_day(3, n_jobs=200, n_vehicles=20)
    regions = split_day(problem, day_points(problem), region_jobs=50)
    for region in regions:
        share = len(region.job_ids) / len(problem.jobs)
        assert abs(len(region.vehicle_ids) / len(problem.vehicles) - share) <= 0.15, region


def test_a_small_day_is_one_region_and_no_vehicle_is_refused():
    problem = random_day(1, n_jobs=20, n_vehicles=3)
    (region,) = split_day(problem, day_points(problem), region_jobs=350)
    assert len(region.job_ids) == 20 and len(region.vehicle_ids) == 3

    with pytest.raises(ProblemError, match="points"):
        split_day(problem, day_points(problem)[:5])


def test_a_stored_part_comes_back_the_same_and_plans_the_same():
    problem = random_day(2, n_jobs=60, n_vehicles=6)
    regions = split_day(problem, day_points(problem), region_jobs=30)
    part = sub_problem(problem, regions[0].job_ids, regions[0].vehicle_ids)
    again = decode_problem(encode_problem(part))

    assert again.vehicles == part.vehicles and again.jobs == part.jobs
    assert again.initial_routes == part.initial_routes
    for profile, matrix in part.matrices.items():
        assert np.array_equal(again.matrices[profile].durations, matrix.durations)
        assert np.array_equal(again.matrices[profile].distances, matrix.distances)
    # The part is indexed on its own points but keeps the day's ids: its plan is a plan of the day.
    sequences = {"v0": [BreakVisit(0), 5]}
    assert sequences_from_json(sequences_to_json(sequences)) == sequences
    plan = solve_with_vroom(part, 1.0, threads=1)
    assert evaluate(problem, plan, solver="x").violations == evaluate(part, plan, solver="x").violations


@pytest.mark.parametrize("seed", range(3))
def test_merged_and_mended_plan_keeps_every_rule_and_explains_every_stop_left_out(seed):
    problem = random_day(seed, n_jobs=90, n_vehicles=9)
    points = day_points(problem)
    regions = split_day(problem, points, region_jobs=30)
    parts = [solve_with_vroom(sub_problem(problem, r.job_ids, r.vehicle_ids), 1.0, threads=1) for r in regions]
    merged = merge(problem, parts)
    first = evaluate(problem, merged, solver="split")
    assert first.feasible, first.violations

    mended, _notes = improve_borders(
        problem, merged, regions, points, budget_s=6, solve=lambda p, s: solve_with_vroom(p, s, threads=1)
    )
    final = evaluate(problem, mended, solver="split")
    assert final.feasible, final.violations
    planned = [j for r in final.routes for j in r.job_ids]
    assert len(planned) == len(set(planned))
    assert set(planned) | set(final.unassigned) == {j.id for j in problem.jobs}
    assert set(explain_unassigned(problem, final)) == set(final.unassigned)
    # Mending only ever accepts a better border: never more left out, never dearer at the same service.
    assert len(final.unassigned) <= len(first.unassigned)
    if len(final.unassigned) == len(first.unassigned):
        assert final.cost <= first.cost + 1e-6


def test_merge_keeps_a_stop_stored_twice_once_and_drops_ids_the_day_no_longer_has():
    problem = random_day(0, n_jobs=10, n_vehicles=3)
    merged = merge(problem, [{"v0": [1, 2]}, {"v1": [2, 3, 999], "ghost": [4]}])
    assert merged == {"v0": [1, 2], "v1": [3]}


def test_warm_start_of_a_border_part_keeps_locked_routes_locked():
    problem = random_day(0, n_jobs=10, n_vehicles=3)
    problem = type(problem)(
        matrices=problem.matrices, vehicles=problem.vehicles, jobs=problem.jobs,
        initial_routes=(InitialRoute("v1", (1, 2), locked=True),),
    )  # fmt: skip
    part = sub_problem(problem, [1, 2, 3], ["v1", "v2"], warm={"v1": [2, 1], "v2": [3]})
    assert {(r.vehicle_id, r.job_ids, r.locked) for r in part.initial_routes} == {
        ("v1", (2, 1), True),
        ("v2", (3,), False),
    }


def test_border_pairs_are_neighbours_and_budgets_fit_the_total():
    problem = random_day(4, n_jobs=120, n_vehicles=12)
    points = day_points(problem)
    regions = split_day(problem, points, region_jobs=30)
    pairs = border_pairs(problem, regions, points)
    assert pairs and all(a < b and ids for a, b, ids in pairs)

    per_region, border = budgets(600, n_regions=15, parallel=2, border_share=0.25)
    assert 8 * per_region + border == pytest.approx(600)
    assert budgets(60, n_regions=1, parallel=2, border_share=0.25) == (60, 0.0)


def test_a_day_without_loads_is_cut_by_stops_alone():
    problem = random_day(5, n_jobs=40, n_vehicles=4)
    problem = type(problem)(
        matrices=problem.matrices,
        vehicles=problem.vehicles,
        jobs=tuple(
            replace(j, delivery=(), skills=frozenset(), zone_id=None, pinned_vehicle_id=None) for j in problem.jobs
        ),
    )
    regions = split_day(problem, day_points(problem), region_jobs=10)
    assert sorted(len(r.job_ids) for r in regions) == [10, 10, 10, 10]
