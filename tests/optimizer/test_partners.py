"""Courier partners in the solver: the encoding's costs in the evaluator, both solvers, and the
make-or-buy property (never worse than our own fleet alone, with the same budget)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routes.optimizer import Job, Problem, SolverSettings, Vehicle, evaluate, solve
from routes.optimizer.partners import (
    PartnerOffer,
    own_fleet_only,
    partner_routes,
    solve_make_or_buy,
    with_partners,
)
from routes.optimizer.pyvrp_solver import solve_with_pyvrp

from .builders import HOUR, plane_matrices

QUICK = SolverSettings(time_budget_s=0.4, portfolio=False)


def day(n_jobs=10, n_vans=1, van_capacity=(100,), seed=0, shared_points=False, spread=10_000):
    """A depot in the middle, random orders; `shared_points`: jobs two by two at one address."""
    rng = np.random.default_rng(seed)
    n_points = (n_jobs + 1) // 2 if shared_points else n_jobs
    points = np.vstack([[spread / 2, spread / 2], rng.random((n_points, 2)) * spread])
    vans = tuple(
        Vehicle(
            id=f"van{n}",
            start_index=0,
            end_index=0,
            capacity=van_capacity,
            shift=(8 * HOUR, 18 * HOUR),
            cost_per_km=50,
            cost_per_hour=2000,
            fixed_cost=3000,
        )
        for n in range(n_vans)
    )
    jobs = tuple(
        Job(
            id=i,
            location_index=(1 + (i - 1) // 2) if shared_points else i,
            service_s=180,
            delivery=(int(rng.integers(1, 20)),),
            time_windows=((9 * HOUR, 12 * HOUR),) if i % 3 == 0 else (),
        )
        for i in range(1, n_jobs + 1)
    )
    return Problem(matrices={"car": plane_matrices(points)}, vehicles=vans, jobs=jobs)


def test_a_partner_route_costs_the_sum_of_its_prices_even_at_one_address():
    problem = day(n_jobs=6, shared_points=True)
    prices = {1: 450, 2: 700, 3: 1_250, 4: 90}
    extended = with_partners(problem, [PartnerOffer("alpen", prices)])
    # Jobs 1 and 2 shared an address: each now has a point of its own, still the same place for a van.
    locations = {job.id: job.location_index for job in extended.jobs}
    assert len({locations[j] for j in prices}) == len(prices)
    car = extended.matrices["car"]
    assert car.distances[0][locations[1]] == car.distances[0][locations[2]]

    plan = evaluate(extended, {"alpen": [1, 2, 3, 4]}, solver="test")
    assert plan.violations == ()
    (route,) = plan.routes
    assert route.cost == 450 + 700 + 1_250 + 90
    # No driving, no time, no vehicle of ours: the partner adds nothing but its prices.
    assert (route.travel_s, route.distance_m, route.duration_s) == (0, 0, 0)
    assert (plan.distance_m, plan.travel_s, plan.vehicles_used, plan.cost) == (0, 0, 0, 2_490)
    # The order of its stops does not change what it costs.
    assert evaluate(extended, {"alpen": [4, 2, 3, 1]}, solver="test").cost == 2_490


def test_the_evaluator_holds_a_partner_to_its_area_capacity_and_skills():
    problem = day(n_jobs=6)
    problem = Problem(
        matrices=problem.matrices,
        vehicles=problem.vehicles,
        jobs=tuple(
            Job(**{**job.__dict__, "skills": frozenset({"fridge"})}) if job.id == 3 else job for job in problem.jobs
        ),
    )
    offer = PartnerOffer("alpen", {1: 100, 2: 100, 3: 100}, capacity_stops=2, capacity_kg=1_000)
    extended = with_partners(problem, [offer])

    outside = evaluate(extended, {"alpen": [1, 5]}, solver="test")
    assert any("job 5" in v and "area" in v for v in outside.violations)
    no_fridge = evaluate(extended, {"alpen": [3]}, solver="test")
    assert any("job 3" in v for v in no_fridge.violations)
    too_many = evaluate(extended, {"alpen": [1, 2, 4]}, solver="test")
    assert any("3 stops > 2" in v for v in too_many.violations)
    light = with_partners(problem, [PartnerOffer("alpen", {1: 1, 2: 1}, capacity_kg=0)])
    assert any("kg" in v or "unit#0" in v for v in evaluate(light, {"alpen": [1]}, solver="test").violations)


def test_the_evaluator_prices_our_vans_as_before():
    problem = day(n_jobs=8, shared_points=True)
    extended = with_partners(problem, [PartnerOffer("alpen", {j.id: 500 for j in problem.jobs})])
    sequences = {"van0": [1, 2, 3, 4, 5, 6, 7, 8]}
    before = evaluate(problem, sequences, solver="test")
    after = evaluate(extended, sequences, solver="test")
    assert after.cost == before.cost and after.distance_m == before.distance_m
    assert after.violations == before.violations == ()


def test_a_bad_offer_is_refused_with_what_and_where():
    problem = day(n_jobs=3)
    with pytest.raises(ValueError, match=r"partner 'alpen'.prices\[2\]: negative price -5"):
        with_partners(problem, [PartnerOffer("alpen", {2: -5})])
    with pytest.raises(ValueError, match="unknown job 99"):
        with_partners(problem, [PartnerOffer("alpen", {99: 5})])
    with pytest.raises(ValueError, match="already a vehicle"):
        with_partners(problem, [PartnerOffer("van0", {1: 5})])


def test_vroom_buys_the_orders_our_van_has_no_room_for_from_the_partner_whose_area_it_is():
    # One van with room for 5 orders of 10; two partners, each for half the orders.
    problem = day(n_jobs=10, van_capacity=(5 * 19,), seed=3)
    problem = Problem(
        matrices=problem.matrices,
        vehicles=tuple(Vehicle(**{**v.__dict__, "max_tasks": 5}) for v in problem.vehicles),
        jobs=problem.jobs,
    )
    north = PartnerOffer("north", {j: 800 for j in range(1, 6)}, capacity_stops=3)
    south = PartnerOffer("south", {j: 900 for j in range(6, 11)})
    extended = with_partners(problem, [north, south])
    plan = solve(extended, QUICK)
    assert plan.violations == () and plan.unassigned == ()
    handed = partner_routes(extended, plan)
    assert set(handed.get("north", [])) <= set(range(1, 6)) and len(handed.get("north", [])) <= 3
    assert set(handed.get("south", [])) <= set(range(6, 11))
    assert sum(len(jobs) for jobs in handed.values()) >= 5


def test_pyvrp_prices_a_partner_like_the_evaluator():
    # PyVRP takes a partner who may take every order (no area, no skills): the same encoding.
    problem = day(n_jobs=8, van_capacity=(40,), seed=5)
    extended = with_partners(problem, [PartnerOffer("city", {j.id: 300 for j in problem.jobs})])
    sequences = solve_with_pyvrp(extended, 0.5)
    plan = evaluate(extended, sequences, solver="pyvrp")
    assert plan.violations == ()
    partner_cost = sum(r.cost for r in plan.routes if r.vehicle_id == "city")
    assert partner_cost == 300 * len(sequences.get("city", []))
    assert len(plan.unassigned) == 0


def with_far_order(km: float):
    problem = day(n_jobs=6, seed=7, spread=4_000)
    far = Job(id=99, location_index=len(problem.jobs) + 1, service_s=60, delivery=(1,))
    points = np.vstack([[2_000, 2_000], np.random.default_rng(7).random((6, 2)) * 4_000, [[2_000 + km * 1000, 2_000]]])
    return Problem(matrices={"car": plane_matrices(points)}, vehicles=problem.vehicles, jobs=problem.jobs + (far,))


def test_a_partner_takes_a_far_order_when_it_is_cheaper_and_not_when_it_is_dearer():
    problem = with_far_order(km=60)  # our van can go: 2 x 60 km, 3 h 20 min of driving
    cheap = with_partners(problem, [PartnerOffer("valley", {99: 1_500})])
    result = solve_make_or_buy(cheap, QUICK)
    assert result.own_fleet.unassigned == () and result.best.unassigned == ()
    assert partner_routes(cheap, result.best) == {"valley": [99]}
    assert result.best.cost < result.own_fleet.cost
    dear = solve_make_or_buy(with_partners(problem, [PartnerOffer("valley", {99: 1_000_000})]), QUICK)
    assert dear.best.cost == dear.own_fleet.cost and dear.best.unassigned == ()


def test_a_partner_is_the_only_way_to_an_order_out_of_our_reach():
    problem = with_far_order(km=200)  # 11 h there and back: beyond any shift of ours
    extended = with_partners(problem, [PartnerOffer("valley", {99: 50_000})])
    result = solve_make_or_buy(extended, QUICK)
    assert result.own_fleet.unassigned == (99,)
    assert result.best.unassigned == () and partner_routes(extended, result.best) == {"valley": [99]}
    assert result.best.cost == pytest.approx(result.own_fleet.cost + 50_000)


@st.composite
def days_with_partners(draw):
    seed = draw(st.integers(0, 10_000))
    n_jobs = draw(st.integers(4, 14))
    vans = draw(st.integers(1, 2))
    capacity = draw(st.integers(20, 120))
    problem = day(n_jobs=n_jobs, n_vans=vans, van_capacity=(capacity,), seed=seed, shared_points=draw(st.booleans()))
    offers = []
    for n in range(draw(st.integers(1, 2))):
        area = draw(st.sets(st.integers(1, n_jobs), max_size=n_jobs))
        price = draw(st.integers(0, 6_000))
        offers.append(
            PartnerOffer(
                f"p{n}",
                {j: price + 7 * j for j in sorted(area)},
                capacity_stops=draw(st.none() | st.integers(0, n_jobs)),
                capacity_kg=draw(st.none() | st.integers(0, 100)),
            )
        )
    return problem, offers


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days_with_partners())
def test_make_or_buy_is_never_worse_than_our_own_fleet_with_the_same_budget(case):
    problem, offers = case
    extended = with_partners(problem, offers)
    result = solve_make_or_buy(extended, SolverSettings(time_budget_s=0.3, portfolio=False))
    best, own = result.best, result.own_fleet
    # Every order exactly once: on a van, with a partner, or unassigned.
    planned = [job for route in best.routes for job in route.job_ids]
    assert sorted(planned + list(best.unassigned)) == sorted(j.id for j in problem.jobs)
    assert best.violations == ()  # capacity, area (eligibility) and skills of every partner held
    for partner, jobs in partner_routes(extended, best).items():
        offer = next(o for o in offers if o.id == partner)
        assert set(jobs) <= set(offer.prices)
        assert offer.capacity_stops is None or len(jobs) <= offer.capacity_stops
        # Its cost is its prices, exactly.
        assert next(r.cost for r in best.routes if r.vehicle_id == partner) == sum(offer.prices[j] for j in jobs)
    # Never worse: as many orders served at least, and for as many never dearer.
    assert len(best.unassigned) <= len(own.unassigned)
    if len(best.unassigned) == len(own.unassigned):
        assert best.cost <= own.cost + 1e-6
    # The own-fleet plan is also a plan of the problem without partners, at the same cost.
    again = evaluate(own_fleet_only(extended), {r.vehicle_id: r.job_ids for r in own.routes}, solver="check")
    assert again.cost == pytest.approx(own.cost)


def test_make_or_buy_keeps_the_trips_of_a_bike_that_reloads():
    # One cargo bike, two parcels a trip, six orders: three trips with reloads between them. The
    # own-fleet plan is re-scored with the partners present; its reloads must come back as reloads
    # (read as a job without an id, the plan lost its trips and the day failed).
    from .test_reloads import bike_day

    problem = bike_day(n_jobs=6, capacity=2)
    extended = with_partners(problem, [PartnerOffer("valley", {1: 1_000_000})])
    result = solve_make_or_buy(extended, SolverSettings(time_budget_s=0.5, portfolio=False))
    own = result.own_fleet
    assert own.violations == () and own.unassigned == ()
    assert sum(1 for s in own.routes[0].stops if s.kind == "reload") >= 2
    assert result.best.unassigned == () and partner_routes(extended, result.best) == {}
    assert result.best.cost == pytest.approx(own.cost)
