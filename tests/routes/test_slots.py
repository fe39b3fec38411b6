"""Delivery slots (issue 21): what the API offers, why a window is not available, what booking does.

Days are a few days ahead of the moment the test runs at (the clock may be pinned: `make test-clock`),
so they are days still to come, planned as a whole.
"""

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from dispatch.models import Order, Vehicle
from routes.models import SlotPolicy
from routes.slots.grid import booking_closes_at, day_grid, local_zone, policy_for
from routes.slots.selectors import OrderSize, slot_offer

pytestmark = pytest.mark.clock

VADUZ = (47.1399, 9.5213)
NEAR_VADUZ = [(47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230), (47.1420, 9.5160), (47.1475, 9.5180)]


def next_weekday(weekday: int, *, after: date | None = None, at_least: int = 2) -> date:
    start = (after or timezone.localdate()) + timedelta(days=at_least)
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def slots_of(client, day, **params):
    response = client.get("/api/slots/", {"date": str(day), "lat": VADUZ[0], "lon": VADUZ[1], **params})
    assert response.status_code == 200, response.json()
    return {slot["start"]: slot for slot in response.json()["slots"]}, response.json()


def book(client, day, start, end, reference, *, lat=VADUZ[0], lon=VADUZ[1], **columns):
    body = {"reference": reference, "date": str(day), "start": start, "end": end, "lat": lat, "lon": lon, **columns}
    return client.post("/api/slots/book/", body, format="json")


@pytest.fixture(autouse=True)
def own_cache(settings):
    """Own cache keys: the insertion cache is keyed by plan id, which a new test database reuses."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-slots-{uuid.uuid4().hex[:10]}"}}


@pytest.fixture
def tuesday():
    return next_weekday(1)


def test_it_offers_the_depots_grid_with_the_reason_for_each_window_it_cannot_serve(
    dispatcher_a_client, depot_a, vehicle_a, tuesday
):
    slots, body = slots_of(dispatcher_a_client, tuesday)
    # Depot hours 07:00-19:00 in two-hour windows; the van works 08:00-17:00.
    assert list(slots) == ["07:00", "09:00", "11:00", "13:00", "15:00", "17:00"]
    assert body["depot"] == "A" and body["basis"] == "estimate" and body["plan"] is None
    assert slots["17:00"]["available"] is False and slots["17:00"]["reason_code"] == "closed"
    assert all(slots[s]["available"] for s in ("07:00", "09:00", "11:00", "13:00", "15:00"))
    assert all(slot["marginal_cost"] is not None for slot in slots.values() if slot["available"])


def test_it_marks_green_the_window_a_van_is_nearby_anyway(dispatcher_a_client, depot_a, vehicle_a, tuesday):
    Vehicle.objects.update(cost_per_km=0.5, cost_per_hour=30, fixed_cost=40)
    schaan = (47.1650, 9.5090)  # 3 km from the depot
    empty, _ = slots_of(dispatcher_a_client, tuesday, lat=schaan[0], lon=schaan[1])
    assert not any(slot["green"] for slot in empty.values())  # every window costs the same: none is greener
    assert (
        book(dispatcher_a_client, tuesday, "11:00", "13:00", "NEXT-DOOR", lat=schaan[0], lon=schaan[1]).status_code
        == 201
    )
    slots, _ = slots_of(dispatcher_a_client, tuesday, lat=schaan[0] + 0.0005, lon=schaan[1])
    assert [start for start, slot in slots.items() if slot["green"]] == ["11:00"]
    assert slots["11:00"]["marginal_cost"] < slots["13:00"]["marginal_cost"]


def test_it_refuses_windows_under_capacity_and_skills(dispatcher_a_client, depot_a, vehicle_a, tuesday):
    too_heavy, _ = slots_of(dispatcher_a_client, tuesday, weight_kg="900")
    assert {slot["reason_code"] for s, slot in too_heavy.items() if s != "17:00"} == {"capacity"}
    chilled, _ = slots_of(dispatcher_a_client, tuesday, skills="fridge")
    assert chilled["09:00"]["available"] is True
    two_person, _ = slots_of(dispatcher_a_client, tuesday, skills="two_person")
    assert two_person["09:00"]["reason_code"] == "skills" and "two_person" in two_person["09:00"]["reason"]
    # The day's load: the van carries 800 kg, 700 are booked already.
    Order.objects.create(reference="HEAVY", date=tuesday, depot=depot_a, lat=47.14, lon=9.52, weight_kg=700)
    loaded, _ = slots_of(dispatcher_a_client, tuesday, weight_kg="150")
    assert loaded["09:00"]["reason_code"] == "capacity"
    assert slots_of(dispatcher_a_client, tuesday, weight_kg="50")[0]["09:00"]["available"] is True


def test_it_closes_a_window_that_holds_its_share_of_the_day(dispatcher_a_client, depot_a, vehicle_a, tuesday):
    # 9 van-hours at 6 stops an hour in the grid (07-09 counts one hour): 54 stops; 10 % of them is 5.
    SlotPolicy.objects.create(depot=depot_a, max_share_percent=10)
    for number in range(5):
        response = book(dispatcher_a_client, tuesday, "09:00", "11:00", f"S-{number}", lat=NEAR_VADUZ[number][0])
        assert response.status_code == 201, response.json()
    slots, _ = slots_of(dispatcher_a_client, tuesday)
    assert slots["09:00"]["available"] is False and slots["09:00"]["reason_code"] == "full"
    assert slots["09:00"]["booked"] == 5
    assert slots["11:00"]["available"] is True
    refused = book(dispatcher_a_client, tuesday, "09:00", "11:00", "S-late")
    assert refused.status_code == 409 and "no longer available" in refused.json()["detail"]
    assert not Order.objects.filter(reference="S-late").exists()


def test_it_books_the_order_with_the_windows_times(dispatcher_a_client, depot_a, vehicle_a, tuesday):
    response = book(
        dispatcher_a_client, tuesday, "11:00", "13:00", "WEB-1", customer_name="Eva", email="eva@example.com",
        weight_kg="3.5", items=2, skills=["fridge"], notes="ring twice",
    )  # fmt: skip
    assert response.status_code == 201, response.json()
    order = Order.objects.get(reference="WEB-1")
    zone = local_zone()
    assert order.window_start == datetime.combine(tuesday, time(11), tzinfo=zone)
    assert order.window_end == datetime.combine(tuesday, time(13), tzinfo=zone)
    assert (order.weight_kg, order.items, order.skills, order.notes) == (Decimal("3.5"), 2, ["fridge"], "ring twice")
    assert response.json()["tracking_url"]  # the web shop hands it to its customer
    # Not a window of the grid: the field is named.
    wrong = book(dispatcher_a_client, tuesday, "11:30", "13:30", "WEB-2")
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "start"


def test_it_answers_another_depots_dispatcher_as_if_the_depot_were_unknown(
    dispatcher_b_client, depot_a, depot_b, vehicle_a, tuesday
):
    response = dispatcher_b_client.get("/api/slots/", {"date": str(tuesday), "lat": 47.14, "lon": 9.52, "depot": "A"})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "depot"
    # Without a depot the nearest one the dispatcher sees serves.
    assert slots_of(dispatcher_b_client, tuesday)[1]["depot"] == "B"


def test_it_needs_a_place(dispatcher_a_client, depot_a, vehicle_a, tuesday):
    response = dispatcher_a_client.get("/api/slots/", {"date": str(tuesday)})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "address"


@pytest.mark.parametrize(("hour", "minute", "open_tomorrow"), [(17, 55, True), (23, 40, False)])
def test_it_closes_booking_at_the_day_before_cut_off(
    dispatcher_a_client, depot_a, vehicle_a, hour, minute, open_tomorrow
):
    SlotPolicy.objects.create(depot=depot_a, day_before_cutoff=time(18), weekdays=list(range(7)))
    wednesday = next_weekday(2)
    with time_machine.travel(datetime.combine(wednesday, time(hour, minute), tzinfo=local_zone()), tick=False):
        tomorrow = wednesday + timedelta(days=1)
        slots, _ = slots_of(dispatcher_a_client, tomorrow)
        assert slots["09:00"]["available"] is open_tomorrow
        if not open_tomorrow:
            assert slots["09:00"]["reason_code"] == "cutoff"
        # The day after is open either way; today's windows close `lead_minutes` before they start.
        assert slots_of(dispatcher_a_client, tomorrow + timedelta(days=1))[0]["09:00"]["available"] is True
        today, _ = slots_of(dispatcher_a_client, wednesday)
        assert {slot["reason_code"] for s, slot in today.items() if s != "17:00"} == {"cutoff"}


def test_it_leaves_out_windows_the_clock_change_skips_and_counts_real_minutes_to_the_cut_off(depot_a):
    zone = local_zone()
    year = timezone.localdate().year + 1
    spring = max(date(year, 3, d) for d in range(25, 32) if date(year, 3, d).weekday() == 6)
    autumn = max(date(year, 10, d) for d in range(25, 32) if date(year, 10, d).weekday() == 6)
    policy = SlotPolicy(depot=depot_a, slot_minutes=60, first_slot_start=time(0), last_slot_end=time(6))
    spring_labels = [slot.start_label for slot in day_grid(depot_a, spring, policy)]
    assert "02:00" not in spring_labels and "01:00" not in spring_labels  # 02:00-03:00 never happens
    assert spring_labels == ["00:00", "03:00", "04:00", "05:00"]
    autumn_slots = day_grid(depot_a, autumn, policy)
    assert [slot.start_label for slot in autumn_slots] == ["00:00", "01:00", "02:00", "03:00", "04:00", "05:00"]
    # Two hours before 04:00 on the spring-forward night is 01:00 (the 02:00 hour does not exist).
    four = next(slot for slot in day_grid(depot_a, spring, policy) if slot.start_label == "04:00")
    closes = booking_closes_at(four, spring, policy)
    assert closes == datetime.combine(spring, time(1), tzinfo=zone)


def test_the_defaults_offer_saturdays_and_evenings_but_not_sundays(depot_a):
    policy = policy_for(depot_a)
    assert policy.pk is None and set(policy.weekdays) == {0, 1, 2, 3, 4, 5}
    saturday, sunday = next_weekday(5), next_weekday(6)
    Vehicle.objects.create(
        name="Late van", depot=depot_a, capacity_kg=500, shift_start=time(11), shift_end=time(20)
    )  # works evenings
    offer = slot_offer(depot=depot_a, day=saturday, lat=VADUZ[0], lon=VADUZ[1], size=OrderSize())
    assert next(o for o in offer.slots if o.slot.start_label == "17:00").available
    offer = slot_offer(depot=depot_a, day=sunday, lat=VADUZ[0], lon=VADUZ[1], size=OrderSize())
    assert {o.reason_code for o in offer.slots} == {"closed"}


def test_a_manager_sets_a_depots_slot_policy_in_the_admin(client, depot_a):
    admin_user = get_user_model().objects.create_superuser("boss", password="x" * 12)
    client.force_login(admin_user)
    assert client.get("/admin/routes/slotpolicy/add/").status_code == 200
    response = client.post(
        "/admin/routes/slotpolicy/add/",
        {
            "depot": depot_a.pk, "self_service": "on", "slot_minutes": 60, "first_slot_start": "09:00",
            "last_slot_end": "20:00", "weekdays": "[0, 1, 2, 3, 4, 5]", "hidden_slots": '["12:00"]',
            "days_ahead": 10, "lead_minutes": 90, "day_before_cutoff": "18:00", "max_share_percent": 30,
            "stops_per_vehicle_hour": "5",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    policy = SlotPolicy.objects.get(depot=depot_a)
    labels = [slot.start_label for slot in day_grid(depot_a, next_weekday(1), policy)]
    assert labels[:4] == ["09:00", "10:00", "11:00", "13:00"] and labels[-1] == "19:00"
    assert client.get("/admin/routes/slotpolicy/").status_code == 200
    bad = client.post(f"/admin/routes/slotpolicy/{policy.pk}/change/", {"depot": depot_a.pk, "slot_minutes": 60,
        "weekdays": "[9]", "hidden_slots": "[]", "days_ahead": 10, "lead_minutes": 90, "max_share_percent": 30,
        "stops_per_vehicle_hour": "5"})  # fmt: skip
    assert bad.status_code == 200 and "0 (Monday) to 6 (Sunday)" in bad.content.decode()
