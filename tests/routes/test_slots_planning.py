"""Slots against a real plan on the demo region: the marginal cost is an insertion into the day's plan,
a booked window is a hard window the next plan keeps, and two customers never both get the last place."""

import threading
import time as clock
from datetime import time, timedelta

import pytest
from django.db import connection

from dispatch.models import Order, Vehicle
from routes.models import Plan, SlotBookingDay, SlotPolicy, Stop
from routes.slots import selectors as slot_selectors
from routes.slots import services as slot_services
from routes.slots.selectors import slot_offer
from tests.conftest import _client_for
from tests.routes.test_slots import NEAR_VADUZ, VADUZ, book, next_weekday, own_cache, slots_of  # noqa: F401

pytestmark = pytest.mark.clock

WINDOWS = [("09:00", "11:00"), ("11:00", "13:00"), ("13:00", "15:00"), ("15:00", "17:00")]
_capture = None


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks):
    global _capture
    _capture = django_capture_on_commit_callbacks


@pytest.fixture
def fleet(depot_a, vehicle_a, road_network):
    Vehicle.objects.create(
        name="A-Van-2", depot=depot_a, kind="van", capacity_kg=800, shift_start=time(8), shift_end=time(17)
    )
    Vehicle.objects.update(cost_per_km=0.5, cost_per_hour=30, fixed_cost=40)
    return depot_a


def plan_day(client, day) -> Plan:
    with _capture(execute=True):
        response = client.post("/api/plans/", {"date": str(day), "depot": "A"}, format="json")
    assert response.status_code == 202, response.json()
    plan = Plan.objects.get(pk=response.json()["id"])
    assert plan.status == Plan.Status.DONE, plan.error
    return plan


def test_a_booked_window_is_kept_by_the_next_plan_and_prices_insertions(dispatcher_a_client, fleet, monkeypatch):
    day = next_weekday(1)
    points = [VADUZ, *NEAR_VADUZ, (47.1330, 9.5265), (47.1385, 9.5290)]
    for number, (lat, lon) in enumerate(points):
        start, end = WINDOWS[number % len(WINDOWS)]
        response = book(dispatcher_a_client, day, start, end, f"B-{number}", lat=lat, lon=lon)
        assert response.status_code == 201, response.json()
    plan = plan_day(dispatcher_a_client, day)
    stops = list(Stop.objects.filter(route__plan=plan).select_related("order"))
    assert {stop.order.reference for stop in stops} == {f"B-{n}" for n in range(len(points))}
    for stop in stops:
        serves_at = stop.eta + timedelta(seconds=stop.waiting_s)
        assert stop.order.window_start <= serves_at <= stop.order.window_end, stop.order.reference
        assert stop.late_s == 0
    # Now the day has a plan: the cost of a window is the cheapest insertion into it.
    insertions = []
    real_insertion = slot_selectors._route_insertion
    monkeypatch.setattr(slot_selectors, "_route_insertion", lambda *args: insertions.append(1) or real_insertion(*args))
    slots, body = slots_of(dispatcher_a_client, day)
    assert insertions  # priced by insertion into the plan's routes
    assert body["basis"] == "plan" and body["plan"] == plan.pk
    available = [slot for slot in slots.values() if slot["available"]]
    assert available and all(slot["marginal_cost"] is not None for slot in available)
    green = [slot for slot in available if slot["green"]]
    assert len(green) == 1 and green[0]["marginal_cost"] == min(slot["marginal_cost"] for slot in available)
    insertions.clear()
    assert slots_of(dispatcher_a_client, day)[0] == slots  # cached per plan version: no insertion again
    assert insertions == []


def test_a_dispatched_day_prices_insertions_into_the_routes_the_vans_follow(dispatcher_a_client, fleet, driver_a):
    day = next_weekday(3)
    for number, (lat, lon) in enumerate(NEAR_VADUZ[:3]):
        assert book(dispatcher_a_client, day, "09:00", "11:00", f"D-{number}", lat=lat, lon=lon).status_code == 201
    plan = plan_day(dispatcher_a_client, day)
    Vehicle.objects.filter(name="A-Van-2").update(available=False)  # only driver_a's van goes out
    plan = plan_day(dispatcher_a_client, day)
    response = dispatcher_a_client.post(f"/api/plans/{plan.pk}/dispatch/")
    assert response.status_code == 200, response.json()
    # Shifts end at 17:00: nothing can be served in 17-19 whatever the plan; 15-17 still can.
    slots, body = slots_of(dispatcher_a_client, day)
    assert body["basis"] == "plan"
    assert slots["15:00"]["available"] and slots["17:00"]["reason_code"] == "closed"
    assert body["plan"] == plan.pk and all(s["marginal_cost"] is not None for s in slots.values() if s["available"])
    # Next to a stop of the route and in its window, a stop costs less than far from every stop.
    near, _ = slots_of(dispatcher_a_client, day, lat=NEAR_VADUZ[0][0] + 0.0003, lon=NEAR_VADUZ[0][1])
    far, _ = slots_of(dispatcher_a_client, day, lat=47.1750, lon=9.5100)
    assert near["09:00"]["marginal_cost"] < far["09:00"]["marginal_cost"]


@pytest.mark.django_db(transaction=True)
def test_two_customers_never_both_take_the_last_place(dispatcher_a, depot_a, vehicle_a, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs a database that runs two transactions at once (PostgreSQL)")
    # 1 % of the day's stops: one place per window.
    SlotPolicy.objects.create(depot=depot_a, max_share_percent=1)
    day = next_weekday(2)
    # The day's row exists already (its first insert would serialize the bookings by itself), and each
    # booking dawdles between counting the window and writing its order: without the lock all four
    # would count an empty window.
    SlotBookingDay.objects.create(depot=depot_a, date=day)

    def slow_offer(**kwargs):
        offer = slot_offer(**kwargs)
        clock.sleep(0.3)
        return offer

    monkeypatch.setattr(slot_services, "slot_offer", slow_offer)
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def customer(number: int):
        client = _client_for(dispatcher_a)
        try:
            barrier.wait()
            response = book(client, day, "11:00", "13:00", f"RACE-{number}", lat=NEAR_VADUZ[number][0])
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=customer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers) == [201, 409, 409, 409]
    assert Order.objects.filter(reference__startswith="RACE-").count() == 1
