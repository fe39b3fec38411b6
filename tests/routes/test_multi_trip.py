"""Multi-trip vehicles and micro-hubs outside the solver (issue 19, item 4): the planning inputs offer
each multi-trip vehicle its reload points and their opening hours, the saved route keeps its reloads
with real times and the legs to the hub, edits keep them, and the plan API, the fleet API and the
admin know hubs."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from dispatch.fleet.services import driver_create
from dispatch.models import Depot, Order, Vehicle
from routes.models import Plan
from routes.plans.editing import plan_edit
from routes.plans.inputs import build_plan_inputs, day_origin, seconds_from
from routes.plans.saving import RouteDraft, time_route, write_plan_content
from routes.road_network import get_road_network
from tests.routes.test_plans import DAY, VADUZ_POINTS
from tests.routes.test_same_day_planning import ZONE, next_clock_change

# A micro-hub in Vaduz's centre (the demo's), a few hundred metres from the stops.
HUB = (47.1405, 9.5210)


@pytest.fixture
def hub(db):
    return Depot.objects.create(
        code="H", name="Hub Zentrum", lat=HUB[0], lon=HUB[1], is_micro_hub=True, opens=time(9), closes=time(18)
    )


@pytest.fixture
def bike(depot_a, hub, depot_b):
    bike = Vehicle.objects.create(
        name="A-Bike-Trips", depot=depot_a, kind="cargo_bike", capacity_kg=10, capacity_items=40,
        shift_start=time(8), shift_end=time(17), max_trips=3, reload_minutes=12,
    )  # fmt: skip
    bike.reload_hubs.set([hub, depot_b])  # depot B is no micro-hub: never a reload point
    return bike


def orders_of(depot, day, count=4, weight=4):
    return [
        Order.objects.create(
            reference=f"T{n}",
            date=day,
            depot=depot,
            lat=lat,
            lon=lon,
            weight_kg=weight,
            snap_distance_m=5,
            customer_name=f"Customer {n}",
        )  # fmt: skip
        for n, (lat, lon) in enumerate(VADUZ_POINTS[:count])
    ]


def inputs_for(day, orders, vehicles):
    return build_plan_inputs(network=get_road_network(), day=day, orders=orders, vehicles=vehicles)


# --- Planning inputs ------------------------------------------------------------------------------


def test_a_multi_trip_vehicle_may_reload_at_its_depot_and_its_micro_hubs_by_their_hours_on_a_clock_change_day(
    road_network, depot_a, depot_b, hub, bike, vehicle_a
):
    day = next_clock_change(3)  # 23 hours: 09:00 is 8 real hours after midnight
    inputs = inputs_for(day, orders_of(depot_a, day), [bike, vehicle_a])
    vehicles = inputs.problem.vehicle_by_id()
    planned = vehicles[bike.id]
    assert planned.max_trips == 3 and planned.reload_s == 12 * 60
    assert [inputs.depot_at[i] for i in planned.reload_indices] == [depot_a, hub]
    assert depot_b not in inputs.depot_at.values()
    hub_index = planned.reload_indices[1]
    assert inputs.points[hub_index] == HUB
    origin = day_origin(day)
    opens = seconds_from(origin, datetime.combine(day, time(9), tzinfo=ZONE))
    assert opens == 8 * 3600
    # A reload starts once the hub is open and is done when it closes (18:00, 17 real hours in).
    assert planned.reload_windows[hub_index] == (opens, 17 * 3600 - 12 * 60)
    assert planned.reload_windows[planned.reload_indices[0]][0] == 6 * 3600  # depot A opens at 07:00
    van = vehicles[vehicle_a.id]
    assert van.max_trips == 1 and van.reload_indices == ()


def test_a_vehicle_loses_a_hub_that_is_no_micro_hub_any_more(road_network, depot_a, hub, bike):
    hub.is_micro_hub = False
    hub.save()
    inputs = inputs_for(DAY, orders_of(depot_a, DAY), [bike])
    planned = inputs.problem.vehicle_by_id()[bike.id]
    assert [inputs.depot_at[i] for i in planned.reload_indices] == [depot_a]


# --- Saving, the plan API, edits --------------------------------------------------------------------


def _plan_with_two_trips(depot_a, hub, bike):
    orders = orders_of(depot_a, DAY)
    inputs = inputs_for(DAY, orders, [bike])
    draft = RouteDraft(
        vehicle_id=bike.id,
        start=datetime.combine(DAY, time(8), tzinfo=ZONE),
        order_ids=[o.id for o in orders],
        reloads_after={1: hub.id},  # after the second stop, back to the hub
    )
    timed = time_route(get_road_network(), inputs, draft)
    plan = Plan.objects.create(date=DAY, depot=depot_a, version=1, status=Plan.Status.DONE, stage="done", progress=100)
    write_plan_content(plan=plan, routes=[timed], unassigned={}, drivers=None)
    plan.save()
    return plan, timed, orders


def test_a_saved_route_keeps_its_reloads_with_their_times_and_the_legs_to_the_hub(road_network, depot_a, hub, bike):
    plan, timed, _ = _plan_with_two_trips(depot_a, hub, bike)
    [reload] = timed.reloads
    stops = timed.stops
    assert [s.sequence for s in stops] == [1, 2, 3, 4]  # one numbering across the trips
    arrival, departure = datetime.fromisoformat(reload["arrival"]), datetime.fromisoformat(reload["departure"])
    assert reload["after_sequence"] == 2 and reload["depot_id"] == hub.id
    assert arrival == stops[1].etd + timedelta(seconds=reload["leg_duration_s"]) and reload["leg_distance_m"] > 0
    # The hub opens at 09:00: a bike back earlier waits for it, then reloads for 12 minutes.
    assert departure == max(arrival, datetime.combine(DAY, time(9), tzinfo=ZONE)) + timedelta(minutes=12)
    assert stops[2].eta == departure + timedelta(seconds=stops[2].leg_duration_s)
    # Each trip carries 8 kg of the bike's 10: no overload, the heaviest trip is the route's load.
    assert timed.load_kg == Decimal("8") and not any("capacity" in w for w in timed.warnings)
    assert Decimal(reload["load_kg"]) == Decimal("8") and reload["load_items"] == 2
    # The drive to the hub and back out is in the route's geometry.
    near = [c for c in timed.geometry["coordinates"] if abs(c[1] - HUB[0]) < 0.001 and abs(c[0] - HUB[1]) < 0.0015]
    assert near
    route = plan.routes.get()
    assert route.reloads == timed.reloads
    # The route's distance counts the leg to the hub besides the legs to the stops (and the way home).
    assert timed.distance_m > sum(s.leg_distance_m for s in stops) + reload["leg_distance_m"]


def test_the_plan_api_returns_reloads_and_trips(road_network, depot_a, hub, bike, dispatcher_a_client):
    plan, timed, _ = _plan_with_two_trips(depot_a, hub, bike)
    answer = dispatcher_a_client.get(f"/api/plans/{plan.id}/")
    assert answer.status_code == 200
    [route] = answer.json()["routes"]
    [reload] = route["reloads"]
    assert reload["depot"] == hub.id and reload["depot_code"] == "H" and reload["depot_name"] == "Hub Zentrum"
    assert reload["is_micro_hub"] and reload["after_sequence"] == 2 and (reload["lat"], reload["lon"]) == HUB
    assert datetime.fromisoformat(reload["departure"]) == datetime.fromisoformat(timed.reloads[0]["departure"])
    first, second = route["trips"]
    assert (first["first_sequence"], first["last_sequence"], second["first_sequence"], second["last_sequence"]) == (
        1, 2, 3, 4,
    )  # fmt: skip
    assert first["load_kg"] == 8 and second["load_kg"] == 8
    assert datetime.fromisoformat(second["start"]) == datetime.fromisoformat(reload["departure"])
    assert datetime.fromisoformat(first["end"]) == datetime.fromisoformat(reload["arrival"])


def test_the_plan_api_documents_reloads_and_trips(dispatcher_a_client):
    schema = dispatcher_a_client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    components = schema.json()["components"]["schemas"]
    assert {"reloads", "trips"} <= set(components["RouteOutput"]["properties"])
    assert {"depot", "arrival", "departure", "after_sequence"} <= set(components["ReloadOutput"]["properties"])


def test_the_plan_page_shows_the_reload_between_the_trips(road_network, depot_a, hub, bike, dispatcher_a, client):
    plan, _, _ = _plan_with_two_trips(depot_a, hub, bike)
    client.force_login(dispatcher_a)
    page = client.get(reverse("routes:plan_detail", args=[plan.id]))
    assert page.status_code == 200
    assert "Reload at Hub Zentrum" in page.content.decode() and "2 trips" in page.content.decode()


def test_an_edit_keeps_the_reload_after_the_stop_it_followed_and_says_when_a_trip_is_overloaded(
    road_network, depot_a, hub, bike, dispatcher_a
):
    plan, _, orders = _plan_with_two_trips(depot_a, hub, bike)
    # The fourth stop moves to the front: trip 1 now carries 12 kg on a 10 kg bike.
    edited = plan_edit(plan=plan, operations=[{"op": "move", "order": orders[3].id, "vehicle": bike.id, "position": 1}])
    route = edited.routes.get()
    [reload] = route.reloads
    sequence_of = {s.order_id: s.sequence for s in route.stops.all()}
    assert reload["after_sequence"] == sequence_of[orders[1].id] == 3
    assert any(w.startswith("trip 1: load 12") for w in route.warnings), route.warnings
    assert route.load_kg == Decimal("12")


# --- Fleet API and admin --------------------------------------------------------------------------


def test_the_fleet_api_creates_a_micro_hub_and_a_vehicle_that_reloads_there(manager_client, depot_a):
    created = manager_client.post(
        "/api/depots/",
        {"code": "hub-2", "name": "Hub 2", "lat": 47.14, "lon": 9.52, "is_micro_hub": True},
        format="json",
    )
    assert created.status_code == 201 and created.json()["is_micro_hub"] is True
    body = {"name": "Bike-X", "depot": "A", "kind": "cargo_bike", "capacity_kg": "150", "max_trips": 3,
            "reload_minutes": 8, "reload_hubs": ["hub-2"]}  # fmt: skip
    vehicle = manager_client.post("/api/vehicles/", body, format="json")
    assert vehicle.status_code == 201, vehicle.json()
    assert vehicle.json()["max_trips"] == 3 and vehicle.json()["reload_hubs"] == ["hub-2"]
    refused = manager_client.post("/api/vehicles/", {**body, "name": "Bike-Y", "reload_hubs": ["A"]}, format="json")
    assert refused.status_code == 400 and "reload_hubs" in str(refused.json())
    assert not Vehicle.objects.filter(name="Bike-Y").exists()


@pytest.fixture
def admin_client(client, db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(user)
    return client


def test_the_vehicle_admin_offers_only_micro_hubs_and_names_the_field_when_one_is_not(admin_client, depot_a, hub):
    url = reverse("admin:dispatch_vehicle_add")
    form = admin_client.get(url).content.decode()
    assert "Hub Zentrum" in form and 'name="max_trips"' in form and 'name="reload_minutes"' in form
    data = {
        "name": "Bike-Admin", "depot": depot_a.id, "kind": "cargo_bike", "available": "on", "capacity_kg": "150",
        "shift_start": "08:00", "shift_end": "17:00", "cost_per_km": "0", "cost_per_hour": "0", "fixed_cost": "0",
        "skills": "[]", "max_trips": "3", "reload_minutes": "10", "reload_hubs": [str(depot_a.id)],
    }  # fmt: skip
    refused = admin_client.post(url, data)
    assert refused.status_code == 200 and not Vehicle.objects.filter(name="Bike-Admin").exists()
    errors = refused.context["adminform"].form.errors
    assert "reload_hubs" in errors and "micro-hub" in str(errors["reload_hubs"])
    accepted = admin_client.post(url, {**data, "reload_hubs": [str(hub.id)]})
    assert accepted.status_code == 302, accepted.context["adminform"].form.errors if accepted.context else ""
    assert list(Vehicle.objects.get(name="Bike-Admin").reload_hubs.all()) == [hub]


def test_the_depot_admin_filters_micro_hubs(admin_client, depot_a, hub):
    answer = admin_client.get(reverse("admin:dispatch_depot_changelist") + "?is_micro_hub__exact=1")
    assert answer.status_code == 200
    assert list(answer.context["cl"].queryset) == [hub]


# --- A whole plan ---------------------------------------------------------------------------------


def test_a_plan_sends_a_small_bike_out_again_after_reloading_instead_of_leaving_orders_out(
    road_network, depot_a, hub, bike, dispatcher_a_client, django_capture_on_commit_callbacks
):
    orders = orders_of(depot_a, DAY, count=6, weight=4)  # 24 kg for a 10 kg bike: three trips of two
    with django_capture_on_commit_callbacks(execute=True):
        queued = dispatcher_a_client.post(
            "/api/plans/", {"date": str(DAY), "depot": "A", "vehicles": [bike.id]}, format="json"
        )
    assert queued.status_code == 202, queued.json()
    plan = dispatcher_a_client.get(f"/api/plans/{queued.json()['id']}/").json()
    assert plan["status"] == "done", plan.get("error")
    [route] = plan["routes"]
    assert sorted(s["order"] for s in route["stops"]) == sorted(o.id for o in orders) and not plan["unassigned"]
    assert len(route["reloads"]) == 2 and len(route["trips"]) == 3
    assert all(trip["load_kg"] <= 10 for trip in route["trips"])
    assert [s["sequence"] for s in route["stops"]] == list(range(1, 7))
    for reload in route["reloads"]:
        before = next(s for s in route["stops"] if s["sequence"] == reload["after_sequence"])
        after = next(s for s in route["stops"] if s["sequence"] == reload["after_sequence"] + 1)
        assert datetime.fromisoformat(before["etd"]) < datetime.fromisoformat(reload["arrival"])
        assert datetime.fromisoformat(reload["departure"]) <= datetime.fromisoformat(after["eta"])
        assert reload["depot"] in (depot_a.id, hub.id)


def re_plan_a_bike_day(client, bike, capture, before_re_plan=lambda: None) -> dict:
    """A bike's day of six 4 kg parcels, planned, dispatched and re-planned in keep mode: the
    re-planned route, as the API gives it."""
    driver_create(username="rider", password="x" * 12, name="Bea Rider", vehicle=bike)
    with capture(execute=True):
        queued = client.post("/api/plans/", {"date": str(DAY), "depot": "A", "vehicles": [bike.id]}, format="json")
    plan_id = queued.json()["id"]
    before_re_plan()
    with capture(execute=True):
        sent = client.post(f"/api/plans/{plan_id}/dispatch/")
        assert sent.status_code == 200, sent.json()
        replanned = client.post(f"/api/plans/{plan_id}/replan/", {"mode": "keep"}, format="json")
    assert replanned.status_code == 202, replanned.json()
    result = client.get(f"/api/plans/{replanned.json()['id']}/").json()
    assert result["status"] == "done", result["error"]
    [route] = result["routes"]
    return route


def test_a_re_plan_keeps_the_trips_and_the_reloads_between_them(
    road_network, depot_a, hub, bike, dispatcher_a_client, django_capture_on_commit_callbacks
):
    orders = orders_of(depot_a, DAY, count=6, weight=4)
    route = re_plan_a_bike_day(dispatcher_a_client, bike, django_capture_on_commit_callbacks)
    assert sorted(s["order"] for s in route["stops"]) == sorted(o.id for o in orders)
    assert [s["sequence"] for s in route["stops"]] == list(range(1, 7))
    assert len(route["reloads"]) == 2 and all(trip["load_kg"] <= 10 for trip in route["trips"])
    sequences = [r["after_sequence"] for r in route["reloads"]]
    assert sequences == sorted(sequences) and all(1 <= s < 6 for s in sequences)


def test_a_re_plan_cut_short_keeps_the_orders_it_left_out_in_trips_of_their_own(
    road_network, depot_a, hub, bike, dispatcher_a_client, django_capture_on_commit_callbacks, monkeypatch
):
    # A search cut short on a busy machine serves two of the bike's six parcels (one trip): the
    # four it left out stay on the bike, as further trips with reloads, never piled onto that trip.
    from routes import optimizer

    orders = orders_of(depot_a, DAY, count=6, weight=4)
    solve = optimizer.solve

    def cut_short(problem, settings=optimizer.SolverSettings()):
        [route] = solve(problem, settings).routes
        return optimizer.evaluate(problem, {route.vehicle_id: list(route.job_ids[:2])}, solver="cut short")

    route = re_plan_a_bike_day(
        dispatcher_a_client,
        bike,
        django_capture_on_commit_callbacks,
        before_re_plan=lambda: monkeypatch.setattr(optimizer, "solve", cut_short),
    )
    assert sorted(s["order"] for s in route["stops"]) == sorted(o.id for o in orders)
    assert len(route["reloads"]) == 2 and all(trip["load_kg"] <= 10 for trip in route["trips"])
    assert not route["warnings"], route["warnings"]


# --- Imports --------------------------------------------------------------------------------------


def test_an_order_booked_on_a_hub_without_vehicles_is_planned_from_the_depot_whose_bikes_reload_there(
    manager_client, depot_a, hub, bike
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv = f"reference,date,depot,latitude,longitude,weight_kg\nHUB-1,{DAY},H,47.1399,9.5213,3\n"
    upload = SimpleUploadedFile("orders.csv", csv.encode(), content_type="text/csv")
    answer = manager_client.post("/api/orders/import/", {"file": upload}, format="multipart")
    assert answer.status_code == 201, answer.json()
    assert Order.objects.get(reference="HUB-1").depot == depot_a
    [warning] = [w for w in answer.json()["warnings"] if w["field"] == "depot"]
    assert warning["value"] == "H" and "planned from depot A" in warning["message"]


def test_an_order_booked_on_a_hub_with_vehicles_of_its_own_stays_there(manager_client, depot_a, hub, bike):
    from django.core.files.uploadedfile import SimpleUploadedFile

    Vehicle.objects.create(name="H-Bike", depot=hub, kind="cargo_bike", capacity_kg=100)
    csv = f"reference,date,depot,latitude,longitude,weight_kg\nHUB-2,{DAY},H,47.1399,9.5213,3\n"
    upload = SimpleUploadedFile("orders.csv", csv.encode(), content_type="text/csv")
    answer = manager_client.post("/api/orders/import/", {"file": upload}, format="multipart")
    assert answer.status_code == 201, answer.json()
    assert Order.objects.get(reference="HUB-2").depot == hub
    assert not [w for w in answer.json()["warnings"] if w["field"] == "depot"]
