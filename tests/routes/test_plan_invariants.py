"""Plan invariants on generated days (hypothesis), planned for real on the demo region's roads.

Each example is a small day: 5-25 orders at real addresses of Vaduz, Schaan and Eschen with random
windows (some none), weights, items, skills (some that no vehicle has) and priorities, and 1-4
vehicles of mixed kinds, capacities, shifts and skills. The plan is computed through the API
(tasks inline, a one-second solver budget), then some stops are pinned (and maybe a route locked)
by an edit and the plan is optimized again. On every saved plan:

- every order of the day is exactly once in a route or among the unassigned;
- no route carries more than its vehicle's capacity (kg, items);
- lateness is never silent: a stop has late_s > 0 exactly when it arrives after its window, and
  then says so in its warnings (the hourly-traffic re-timing may make a stop late; hiding it may not);
- a route back after its vehicle's shift says so in its warnings;
- a vehicle has every skill of each of its stops, and an order needing a skill no vehicle has is
  unassigned;
- pinned stops (and a locked route's stops) stay on their vehicle when the plan is optimized again.

A second property runs routes.optimizer.evaluate on random small problems and random sequences: its
times, loads, costs and violations agree with a plain recomputation.

The idempotent task and the failed run that leaves the previous version untouched are in
test_plans.py. Each example runs inside a savepoint that is rolled back, so examples never see
each other's rows.
"""

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.conf import settings
from django.db import transaction
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dispatch.models import Order, Vehicle
from routes.models import Plan
from tests.routes.test_plans import DAY

# Real addresses of the demo region (lat, lon), from its OSM extract: 20 each in Vaduz, Schaan, Eschen.
ADDRESSES = [
    (47.14425, 9.51985), (47.13474, 9.52018), (47.14530, 9.52097), (47.14579, 9.51330), (47.13256, 9.52055),
    (47.14947, 9.51186), (47.15012, 9.50871), (47.13982, 9.52280), (47.15521, 9.51531), (47.15027, 9.51114),
    (47.13391, 9.52330), (47.14448, 9.51567), (47.13473, 9.51423), (47.12325, 9.52288), (47.14094, 9.52249),
    (47.14772, 9.52132), (47.14576, 9.51535), (47.15170, 9.51220), (47.14062, 9.51774), (47.13975, 9.52099),
    (47.17072, 9.50939), (47.16638, 9.51002), (47.16178, 9.50600), (47.16042, 9.51035), (47.17547, 9.51257),
    (47.15775, 9.51559), (47.16416, 9.50973), (47.16823, 9.50250), (47.16964, 9.49800), (47.16327, 9.50687),
    (47.16212, 9.50661), (47.16851, 9.51077), (47.17669, 9.51812), (47.17024, 9.52006), (47.16499, 9.50733),
    (47.16480, 9.50895), (47.16580, 9.50587), (47.17420, 9.50905), (47.16369, 9.50123), (47.16026, 9.50556),
    (47.21435, 9.52586), (47.21010, 9.51755), (47.21032, 9.53034), (47.21737, 9.51764), (47.20631, 9.53501),
    (47.21122, 9.52218), (47.20824, 9.52770), (47.20829, 9.52263), (47.21085, 9.51374), (47.21527, 9.51859),
    (47.21028, 9.51107), (47.20523, 9.52245), (47.21152, 9.51323), (47.20890, 9.52563), (47.21617, 9.52025),
    (47.21005, 9.52807), (47.20982, 9.51700), (47.21651, 9.51614), (47.20664, 9.53271), (47.21467, 9.51820),
]  # fmt: skip
FLEET_SKILLS = ["fridge", "two_person", "tail_lift"]
UNKNOWN_SKILL = "frozen"  # no vehicle ever has it
KINDS = {  # kind -> (kg range, items range or None)
    "van": ((300, 900), (30, 120)),
    "car": ((100, 400), (10, 40)),
    "cargo_bike": ((40, 150), (5, 20)),
    "bike": ((10, 40), None),
}


def _local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=ZoneInfo(settings.TIME_ZONE))


@st.composite
def vehicles(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    kg_range, items_range = KINDS[kind]
    start = draw(st.integers(7, 10))
    return {
        "kind": kind,
        "capacity_kg": draw(st.integers(*kg_range)),
        "capacity_items": draw(st.none() | st.integers(*items_range)) if items_range else None,
        "shift_start": time(start),
        "shift_end": time(min(start + draw(st.integers(4, 10)), 21)),
        "skills": draw(st.lists(st.sampled_from(FLEET_SKILLS), unique=True, max_size=2)),
    }


@st.composite
def orders(draw):
    window = draw(st.none() | st.tuples(st.integers(8, 16), st.sampled_from([0, 30]), st.integers(1, 4)))
    skills = draw(st.sampled_from([[]] * 6 + [["fridge"], ["two_person"], ["fridge", "tail_lift"], [UNKNOWN_SKILL]]))
    return {
        "point": draw(st.sampled_from(ADDRESSES)),
        "window": window,
        "weight_kg": Decimal(draw(st.integers(0, 120))) / 2,
        "items": draw(st.integers(1, 6)),
        "skills": skills,
        "priority": draw(st.integers(0, 100)),
        "service_minutes": draw(st.integers(2, 8)),
    }


@st.composite
def days(draw):
    return {
        "vehicles": draw(st.lists(vehicles(), min_size=1, max_size=4)),
        "orders": draw(st.lists(orders(), min_size=5, max_size=25)),
        # Which routed stops to pin afterwards (indexes into the routed orders) and whether to lock a route.
        "pins": draw(st.lists(st.integers(0, 100), max_size=3, unique=True)),
        "lock_first_route": draw(st.booleans()),
    }


def _create_day(day, depot) -> tuple[list[Order], list[Vehicle]]:
    fleet = [
        Vehicle.objects.create(
            name=f"V{number}-{spec['kind']}",
            depot=depot,
            kind=spec["kind"],
            capacity_kg=spec["capacity_kg"],
            capacity_items=spec["capacity_items"],
            shift_start=spec["shift_start"],
            shift_end=spec["shift_end"],
            skills=spec["skills"],
            cost_per_km=Decimal("0.4"),
            cost_per_hour=30,
            fixed_cost=40,
        )  # fmt: skip
        for number, spec in enumerate(day["vehicles"])
    ]
    rows = []
    for number, spec in enumerate(day["orders"]):
        window_start = window_end = None
        if spec["window"]:
            hour, minute, length = spec["window"]
            window_start = _local(hour, minute)
            window_end = window_start + timedelta(hours=length)
        rows.append(
            Order.objects.create(
                reference=f"H{number}",
                date=DAY,
                depot=depot,
                lat=spec["point"][0],
                lon=spec["point"][1],
                window_start=window_start,
                window_end=window_end,
                weight_kg=spec["weight_kg"],
                items=spec["items"],
                skills=spec["skills"],
                priority=spec["priority"],
                service_minutes=spec["service_minutes"],
            )  # fmt: skip
        )
    return rows, fleet


def check_invariants(plan: dict, *, orders: list[Order], fleet: list[Vehicle]) -> None:
    assert plan["status"] == "done", plan["error"]
    vehicles = {v.id: v for v in fleet}
    by_id = {o.id: o for o in orders}
    routed = [stop["order"] for route in plan["routes"] for stop in route["stops"]]
    unassigned = [u["order"] for u in plan["unassigned"]]
    assert sorted(routed + unassigned) == sorted(by_id), "every order exactly once, in a route or unassigned"
    for route in plan["routes"]:
        vehicle = vehicles[route["vehicle"]]
        stops = [by_id[stop["order"]] for stop in route["stops"]]
        # A pinned stop is the dispatcher's decision and stays even where it breaks a rule — never
        # silently: the route or the stop says so. Everything the optimizer placed keeps the rules.
        free = [by_id[stop["order"]] for stop in route["stops"] if not stop["pinned"]]
        assert sum(o.weight_kg for o in free) <= vehicle.capacity_kg, (vehicle.name, route["load_kg"])
        if sum(o.weight_kg for o in stops) > vehicle.capacity_kg:
            assert any("exceeds capacity" in w for w in route["warnings"]), route["warnings"]
        assert Decimal(str(route["load_kg"])) == sum(o.weight_kg for o in stops)
        if vehicle.capacity_items is not None:
            assert sum(o.items for o in free) <= vehicle.capacity_items, (vehicle.name, route["load_items"])
            if sum(o.items for o in stops) > vehicle.capacity_items:
                assert any("exceed capacity" in w for w in route["warnings"]), route["warnings"]
        for stop in route["stops"]:
            order = by_id[stop["order"]]
            if stop["pinned"] and not set(order.skills) <= set(vehicle.skills):
                assert any("lacks skill" in w for w in stop["warnings"]), stop["warnings"]
                continue
            assert set(order.skills) <= set(vehicle.skills), (vehicle.name, order.reference, order.skills)
            eta = datetime.fromisoformat(stop["eta"])
            assert eta.microsecond == 0, stop["eta"]  # whole seconds: no lateness hides in a fraction
            late = order.window_end is not None and eta > order.window_end
            assert (stop["late_s"] > 0) == late, (order.reference, stop["eta"], order.window_end, stop["late_s"])
            if late:
                assert any(w.startswith("late by") for w in stop["warnings"]), stop
                assert any("late" in w for w in route["warnings"]), route["warnings"]
        shift_end = _local(vehicle.shift_end.hour, vehicle.shift_end.minute)
        if datetime.fromisoformat(route["end"]) > shift_end:
            assert any("after the shift ends" in w for w in route["warnings"]), (vehicle.name, route["end"])
    for order in orders:
        if UNKNOWN_SKILL in order.skills:
            assert order.id in unassigned, order.reference


def _request(client, capture, url: str, body: dict) -> int:
    with capture(execute=True):
        response = client.post(url, body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["id"]


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    # The test's transaction never commits: run what would run on commit (the optimization task).
    return django_capture_on_commit_callbacks


@hypothesis_settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(day=days())
def test_it_keeps_plan_invariants_on_generated_days(day, dispatcher_a_client, depot_a, road_network, capture):
    with transaction.atomic():
        orders, fleet = _create_day(day, depot_a)
        client = dispatcher_a_client
        plan_id = _request(client, capture, "/api/plans/", {"date": str(DAY), "time_budget_s": 1})
        plan = client.get(f"/api/plans/{plan_id}/").json()
        check_invariants(plan, orders=orders, fleet=fleet)
        event(f"routes: {len(plan['routes'])}, unassigned: {len(plan['unassigned'])} of {len(orders)}")
        for item in plan["unassigned"]:
            event(f"unassigned because: {item['code']}")

        stops = [(route["vehicle"], stop["order"]) for route in plan["routes"] for stop in route["stops"]]
        pins = {stops[i % len(stops)] for i in day["pins"]} if stops else set()
        operations = [{"op": "pin", "order": order, "pinned": True} for _, order in sorted(pins)]
        locked = {}
        if day["lock_first_route"] and plan["routes"]:
            route = plan["routes"][0]
            operations.append({"op": "lock", "vehicle": route["vehicle"], "locked": True})
            locked = {stop["order"]: route["vehicle"] for stop in route["stops"]}
        if operations:
            response = client.post(f"/api/plans/{plan_id}/edit/", {"operations": operations}, format="json")
            assert response.status_code == 200, response.json()
            edited = response.json()
            assert edited["id"] == plan_id
            assert {(r["vehicle"], s["order"]) for r in edited["routes"] for s in r["stops"] if s["pinned"]} == pins
            check_invariants(edited, orders=orders, fleet=fleet)

            again_id = _request(client, capture, f"/api/plans/{plan_id}/reoptimize/", {"time_budget_s": 1})
            again = client.get(f"/api/plans/{again_id}/").json()
            check_invariants(again, orders=orders, fleet=fleet)
            assert again["parent"] == plan_id
            where = {stop["order"]: route["vehicle"] for route in again["routes"] for stop in route["stops"]}
            for vehicle_id, order_id in pins:
                assert where.get(order_id) == vehicle_id, f"pinned order {order_id} left vehicle {vehicle_id}"
            for order_id, vehicle_id in locked.items():
                assert where.get(order_id) == vehicle_id, f"locked order {order_id} left vehicle {vehicle_id}"
            assert Plan.objects.filter(date=DAY).count() == 2
            event(f"re-optimized with {len(pins)} pins{' and a lock' if locked else ''}")
        transaction.set_rollback(True)


# --- The shared evaluator on random sequences ----------------------------------------------------


@st.composite
def evaluated_problems(draw):
    """A small problem (one car matrix, depot at index 0) and random sequences over its jobs."""
    from routes.optimizer.problem import Job, Problem, RoadMatrix
    from routes.optimizer.problem import Vehicle as ProblemVehicle

    size = draw(st.integers(2, 8))  # points: the depot and size - 1 customers
    durations = [[0 if i == j else draw(st.integers(60, 1800)) for j in range(size)] for i in range(size)]
    distances = [[durations[i][j] * 10 for j in range(size)] for i in range(size)]
    jobs = tuple(
        Job(
            id=100 + number,
            location_index=draw(st.integers(1, size - 1)),
            service_s=draw(st.integers(0, 600)),
            delivery=(draw(st.integers(0, 40)), draw(st.integers(0, 5))),
            skills=frozenset(draw(st.lists(st.sampled_from(FLEET_SKILLS), max_size=1))),
            time_windows=draw(st.sampled_from([(), ((30_000, 40_000),), ((36_000, 37_000),), ((50_000, 60_000),)])),
        )  # fmt: skip
        for number in range(draw(st.integers(1, 10)))
    )
    fleet = tuple(
        ProblemVehicle(
            id=number,
            start_index=0,
            end_index=0,
            capacity=(draw(st.integers(10, 120)), draw(st.integers(2, 20))),
            skills=frozenset(draw(st.lists(st.sampled_from(FLEET_SKILLS), unique=True, max_size=2))),
            shift=(28_800, draw(st.integers(36_000, 64_800))),
            cost_per_hour=3000,
            cost_per_km=40,
            fixed_cost=4000,
        )  # fmt: skip
        for number in range(draw(st.integers(1, 3)))
    )
    order = draw(st.permutations([job.id for job in jobs]))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), min_size=len(fleet), max_size=len(fleet))))
    sequences, begin = {}, 0
    for vehicle, end in zip(fleet, cuts, strict=True):
        sequences[vehicle.id] = list(order[begin:end])
        begin = end
    matrix = RoadMatrix(durations=np.array(durations), distances=np.array(distances))
    return Problem(matrices={"car": matrix}, vehicles=fleet, jobs=jobs), sequences


@hypothesis_settings(max_examples=200, deadline=None)
@given(case=evaluated_problems())
def test_it_evaluates_any_sequence_consistently(case):
    from routes.optimizer import evaluate

    problem, sequences = case
    solution = evaluate(problem, sequences, solver="test")
    jobs, vehicles = problem.job_by_id(), problem.vehicle_by_id()
    served = [job_id for ids in sequences.values() for job_id in ids]
    assert sorted(solution.unassigned) == sorted(set(jobs) - set(served))
    assert not any("twice" in v for v in solution.violations)
    for route in solution.routes:
        vehicle = vehicles[route.vehicle_id]
        assert route.job_ids == list(sequences[route.vehicle_id])
        assert route.start_s >= vehicle.shift[0]
        clock = route.start_s
        for stop in route.stops:
            job = jobs[stop.job_id]
            assert stop.arrival_s == clock + stop.leg_duration_s
            assert stop.waiting_s == stop.service_start_s - stop.arrival_s >= 0
            assert stop.departure_s == stop.service_start_s + job.service_s
            late = bool(job.time_windows) and stop.arrival_s > max(end for _, end in job.time_windows)
            assert late == any(
                f"job {job.id!r}: vehicle" in v and "after its windows" in v for v in solution.violations
            )
            if job.time_windows and not late:
                assert any(start <= stop.service_start_s <= end for start, end in job.time_windows)
            clock = stop.departure_s
        assert route.end_s == clock + route.end_leg_duration_s
        assert route.distance_m == sum(s.leg_distance_m for s in route.stops) + route.end_leg_distance_m
        load = [sum(jobs[j].delivery[k] for j in route.job_ids) for k in range(2)]
        overloaded = any(amount > capacity for amount, capacity in zip(load, vehicle.capacity, strict=True))
        assert overloaded == any(f"vehicle {vehicle.id!r} is overloaded" in v for v in solution.violations)
        lacking = any(not jobs[j].skills <= vehicle.skills for j in route.job_ids)
        assert lacking == any(f"vehicle {vehicle.id!r} lacks" in v for v in solution.violations)
        assert (route.end_s > vehicle.shift[1]) == any(
            f"vehicle {vehicle.id!r} returns" in v for v in solution.violations
        )
        expected_cost = 4000 + 3000 * route.travel_s / 3600 + 40 * route.distance_m / 1000
        assert route.cost == pytest.approx(expected_cost)
    assert solution.feasible == (not solution.violations)
