"""Drones on a planned day (issue 19, item 4): which orders a drone may take, a day planned with one,
and the admin's checks of a drone and of a no-fly zone.

The scene, on the demo region: depot A in Vaduz (47.14, 9.52), a micro-hub north of it in Schaan, and a
no-fly zone around the hospital's helipad just south of the depot.
"""

import json
from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from dispatch.demo.seeding import demo_seed_company, demo_seed_drone
from dispatch.fleet.services import driver_create
from dispatch.models import Depot, NoFlyZone, Order, Vehicle
from dispatch.no_fly_admin import NO_FLY_COLOR
from routes.models import Plan, RoadClosure
from routes.optimizer import drones
from routes.plans.inputs import build_plan_inputs
from routes.plans.saving import RouteDraft, time_route
from routes.plans.services import plan_dispatch
from routes.plans.tasks import optimize_plan
from routes.road_network import get_road_network
from tests.dispatch.test_api import assert_error_shape
from tests.routes.test_closure_reachability import MALBUN, MALBUN_ROAD
from tests.routes.test_plans import DAY

HOSPITAL_RING = [[9.5193, 47.1325], [9.5259, 47.1325], [9.5259, 47.1370], [9.5193, 47.1370], [9.5193, 47.1325]]
LIGHT = [(47.1450, 9.5235), (47.1475, 9.5180), (47.1510, 9.5250), (47.1420, 9.5160)]  # north of the zone, near
HEAVY = (47.1399, 9.5213)
INSIDE = (47.1352, 9.5230)  # the hospital
BEHIND = (47.1300, 9.5230)  # south of the zone: every straight flight from the depot or the hub crosses it
FAR = (47.2060, 9.5268)  # Eschen: 7 km from the depot, 5.5 km from the hub


def order_at(depot, reference: str, point, weight_kg=1.0) -> Order:
    # Read back: the weight as the table holds it (a Decimal), as planning reads orders.
    return Order.objects.select_related("zone").get(pk=_create_order(depot, reference, point, weight_kg).pk)


def _create_order(depot, reference: str, point, weight_kg) -> Order:
    return Order.objects.create(
        reference=reference, date=DAY, depot=depot, lat=point[0], lon=point[1], snap_distance_m=10,
        weight_kg=weight_kg, customer_name=f"Customer {reference}", email=f"{reference.lower()}@example.com",
    )  # fmt: skip


@pytest.fixture
def hospital(db):
    return NoFlyZone.objects.create(
        name="Landesspital", reason="helipad", polygon={"type": "Polygon", "coordinates": [HOSPITAL_RING]}
    )


@pytest.fixture
def drone(depot_a):
    hub = Depot.objects.create(code="HUB", name="Hub Schaan", lat=47.1560, lon=9.5140, is_micro_hub=True)
    drone = Vehicle.objects.create(
        name="A-Drone-1", depot=depot_a, kind=Vehicle.Kind.DRONE, capacity_kg=3, flight_speed_kmh=60, range_km=10,
        max_trips=10, reload_minutes=5, shift_start=time(8), shift_end=time(17), cost_per_hour=5, fixed_cost=5,
    )  # fmt: skip
    drone.reload_hubs.set([hub])
    return Vehicle.objects.select_related("depot").get(pk=drone.pk)  # the depot's hours as read from the table


def test_a_drone_may_take_only_light_orders_in_range_outside_no_fly_zones_on_clear_paths(
    road_network, depot_a, vehicle_a, drone, hospital
):
    light = order_at(depot_a, "L1", LIGHT[0])
    heavy = order_at(depot_a, "H1", HEAVY, weight_kg=12)
    inside = order_at(depot_a, "I1", INSIDE)
    behind = order_at(depot_a, "B1", BEHIND)
    far = order_at(depot_a, "F1", FAR)
    inputs = build_plan_inputs(
        network=get_road_network(), day=DAY, orders=[light, heavy, inside, behind, far], vehicles=[vehicle_a, drone]
    )
    flying = inputs.problem.vehicle_by_id()[drone.id]
    assert flying.profile == "drone-60" and flying.max_stops_per_trip == 1 and flying.max_trip_distance_m == 10_000
    assert flying.eligible_jobs == frozenset({light.id})
    assert not flying.breaks  # nobody on board to take one
    # Every order stays the vans': none is dropped, none gets a skill the van lacks.
    van = inputs.problem.vehicle_by_id()[vehicle_a.id]
    assert not inputs.dropped
    assert all(job.skills <= van.skills for job in inputs.problem.jobs)
    # The drone's matrix: straight flights, a day for the legs across the zone.
    matrix = inputs.problem.matrices["drone-60"]
    depot_index, behind_index = flying.start_index, inputs.problem.job_by_id()[behind.id].location_index
    assert matrix.durations[depot_index][behind_index] == 24 * 3600
    light_index = inputs.problem.job_by_id()[light.id].location_index
    metres = drones.flight_distance_m((depot_a.lat, depot_a.lon), LIGHT[0])
    assert matrix.distances[depot_index][light_index] == round(metres)
    assert matrix.durations[depot_index][light_index] == round(metres / (60 / 3.6) + drones.TAKE_OFF_LANDING_S)


def test_an_inactive_no_fly_zone_does_not_bind(road_network, depot_a, vehicle_a, drone, hospital):
    hospital.active = False
    hospital.save()
    inside = order_at(depot_a, "I1", INSIDE)
    behind = order_at(depot_a, "B1", BEHIND)
    inputs = build_plan_inputs(
        network=get_road_network(), day=DAY, orders=[inside, behind], vehicles=[vehicle_a, drone]
    )
    assert inputs.problem.vehicle_by_id()[drone.id].eligible_jobs == frozenset({inside.id, behind.id})


def test_a_stop_a_closure_cut_off_from_every_road_goes_to_the_drone_which_no_closure_touches(
    road_network, depot_a, vehicle_a, drone
):
    Vehicle.objects.filter(pk=drone.pk).update(range_km=20)
    drone.refresh_from_db()
    malbun = order_at(depot_a, "M1", MALBUN[0])
    RoadClosure.objects.create(geometry=MALBUN_ROAD, reason="rockfall", starts_at=timezone.now() - timedelta(minutes=1))
    inputs = build_plan_inputs(network=get_road_network(), day=DAY, orders=[malbun], vehicles=[vehicle_a, drone])
    assert malbun.id not in inputs.dropped
    assert inputs.problem.job_by_id()[malbun.id].skills == frozenset({"reach:drone"})
    # Too heavy for the drone: cut off, and the reason says why the drone could not help either.
    Order.objects.filter(pk=malbun.pk).update(weight_kg=8)
    malbun.refresh_from_db()
    inputs = build_plan_inputs(network=get_road_network(), day=DAY, orders=[malbun], vehicles=[vehicle_a, drone])
    code, reason = inputs.dropped[malbun.id]
    assert code == "closed_road"
    assert reason.endswith("and no drone may take it: it weighs 8 kg, more than a drone carries (3 kg)")


@pytest.fixture
def planned_day(road_network, depot_a, vehicle_a, driver_a, drone, hospital):
    Vehicle.objects.filter(pk=vehicle_a.pk).update(cost_per_km=0.5, cost_per_hour=40, fixed_cost=60)
    light = [order_at(depot_a, f"L{n}", point) for n, point in enumerate(LIGHT)]
    heavy = order_at(depot_a, "H1", HEAVY, weight_kg=12)
    others = [order_at(depot_a, "I1", INSIDE), order_at(depot_a, "B1", BEHIND)]
    plan = Plan.objects.create(date=DAY, depot=depot_a, version=1, request={"depots": [depot_a.id]})
    optimize_plan.apply(args=[plan.pk])
    plan.refresh_from_db()
    assert plan.status == "done", plan.error
    return plan, light, heavy, others


def test_a_planned_day_flies_one_parcel_a_trip_from_the_hubs_around_the_zone_and_drives_the_rest(
    planned_day, vehicle_a, drone, hospital
):
    plan, light, heavy, others = planned_day
    assert not plan.unassigned.exists()
    routes = {route.vehicle_id: route for route in plan.routes.all()}
    assert drone.id in routes, "the drone, cheap per hour, takes the light orders near its depot"
    flown = routes[drone.id]
    stops = list(flown.stops.order_by("sequence"))
    assert stops and {s.order_id for s in stops} <= {o.id for o in light}
    assert heavy.id in set(routes[vehicle_a.id].stops.values_list("order_id", flat=True))
    assert {o.id for o in others} <= set(routes[vehicle_a.id].stops.values_list("order_id", flat=True))
    # One parcel a trip: back to the depot or the hub after every stop but the last.
    hubs = {drone.depot_id, *drone.reload_hubs.values_list("id", flat=True)}
    reloads = sorted(flown.reloads, key=lambda r: r["after_sequence"])
    assert [r["after_sequence"] for r in reloads] == [s.sequence for s in stops[:-1]]
    assert {r["depot_id"] for r in reloads} <= hubs
    # Drawn as straight flights, none of which crosses the zone.
    area = drones.NoFlyArea.from_geojson(hospital.name, hospital.polygon)
    line = [(lat, lon) for lon, lat, *_ in flown.geometry["coordinates"]]
    assert len(line) == 2 * len(stops) + 1  # depot, then each stop and the hub it goes back to
    assert not any(area.crossed_by(a, b) for a, b in zip(line, line[1:]))
    # Each leg is a flight: the distance of the straight line, the time at 60 km/h plus take-off and landing.
    first = stops[0]
    metres = drones.flight_distance_m((drone.depot.lat, drone.depot.lon), (first.order.lat, first.order.lon))
    assert first.leg_distance_m == pytest.approx(metres, abs=1)
    assert first.leg_duration_s == pytest.approx(metres / (60 / 3.6) + drones.TAKE_OFF_LANDING_S, abs=1)


# --- The admin -------------------------------------------------------------------------------------


def test_a_drone_without_its_speed_or_range_is_refused_naming_the_fields(depot_a):
    drone = Vehicle(name="D", depot=depot_a, kind=Vehicle.Kind.DRONE, capacity_kg=2)
    with pytest.raises(ValidationError) as refused:
        drone.full_clean()
    assert refused.value.message_dict["flight_speed_kmh"] == ["A drone needs its flight speed in km/h."]
    assert refused.value.message_dict["range_km"] == ["A drone needs its range in km (one trip, out and back)."]
    drone.flight_speed_kmh, drone.range_km = 60, 12
    drone.full_clean()
    # A van needs neither.
    Vehicle(name="V", depot=depot_a, kind=Vehicle.Kind.VAN, capacity_kg=500).full_clean()


@pytest.fixture
def manager_web(manager):
    client = Client()
    client.force_login(manager)
    return client


def test_the_vehicle_admin_shows_the_drone_fields_and_refuses_a_drone_without_them(manager_web, depot_a):
    url = reverse("admin:dispatch_vehicle_add")
    page = manager_web.get(url).content.decode()
    assert 'name="flight_speed_kmh"' in page and 'name="range_km"' in page
    form = {
        "name": "A-Drone-9", "depot": depot_a.pk, "kind": "drone", "available": "on", "capacity_kg": "2.5",
        "shift_start": "08:00", "shift_end": "17:00", "cost_per_km": "0", "cost_per_hour": "0", "fixed_cost": "0",
        "skills": "[]", "max_trips": "10", "reload_minutes": "5", "flight_speed_kmh": "", "range_km": "",
    }  # fmt: skip
    response = manager_web.post(url, form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["flight_speed_kmh"] == ["A drone needs its flight speed in km/h."]
    assert errors["range_km"] == ["A drone needs its range in km (one trip, out and back)."]
    response = manager_web.post(url, {**form, "flight_speed_kmh": "60", "range_km": "12"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    saved = Vehicle.objects.get(name="A-Drone-9")
    assert saved.profile == "drone" and saved.flight_speed_kmh == 60


def test_the_no_fly_zone_admin_draws_and_saves_the_polygon(manager_web, depot_a):
    url = reverse("admin:dispatch_noflyzone_add")
    page = manager_web.get(url).content.decode()
    assert "srcdoc=" in page and NO_FLY_COLOR in page  # the map editor, in the no-fly colour
    polygon = {"type": "Polygon", "coordinates": [HOSPITAL_RING]}
    response = manager_web.post(
        url, {"name": "Landesspital", "reason": "helipad", "active": "on", "polygon": json.dumps(polygon)}
    )
    assert response.status_code == 302
    assert NoFlyZone.objects.get(name="Landesspital").polygon == polygon
    crossing = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.2], [9.6, 47.1], [9.5, 47.2], [9.5, 47.1]]]}
    response = manager_web.post(url, {"name": "Bow tie", "polygon": json.dumps(crossing)})
    assert response.status_code == 200 and "crosses itself" in response.context["adminform"].form.errors["polygon"][0]


# --- The demo --------------------------------------------------------------------------------------


def test_the_demo_has_a_drone_reloading_at_a_micro_hub_and_the_hospitals_no_fly_zone(db):
    demo_seed_company()
    drone = demo_seed_drone()
    demo_seed_drone()  # a second `make run` changes nothing
    drone.refresh_from_db()
    drone.full_clean()
    assert Vehicle.objects.filter(kind=Vehicle.Kind.DRONE).count() == 1
    assert [hub.is_micro_hub for hub in drone.reload_hubs.all()] == [True]
    assert drone.drivers.count() == 1  # its pilot dispatches it like a driver
    (zone,) = NoFlyZone.objects.all()
    area = drones.NoFlyArea.from_geojson(zone.name, zone.polygon)
    assert area.contains(47.13476, 9.52259)  # the Landesspital's helipad (OSM)
    hub = drone.reload_hubs.get()
    assert not area.contains(hub.lat, hub.lon) and not area.contains(drone.depot.lat, drone.depot.lon)


def test_the_plan_page_and_the_live_map_draw_the_no_fly_zone_and_the_flights_dashed(
    planned_day, drone, dispatcher_a, django_capture_on_commit_callbacks
):
    plan, *_ = planned_day
    client = Client()
    client.force_login(dispatcher_a)
    page = client.get(reverse("routes:plan_detail", args=[plan.pk])).content.decode()
    assert "DispatchMap.noFlyZones" in page and "Landesspital" in page
    assert "&quot;flight&quot;: true" in page  # in the map's srcdoc: the drone's route is drawn dashed
    driver_create(username="pilot", password="x" * 12, name="Pia Pilot", vehicle=drone)  # dispatched like a driver
    plan.routes.filter(vehicle=drone).update(driver=drone.drivers.get())
    with django_capture_on_commit_callbacks(execute=True):
        plan_dispatch(plan=plan, by=dispatcher_a)
    Plan.objects.filter(pk=plan.pk).update(date=timezone.localdate())  # the live map shows today's routes
    state = client.get(reverse("dashboard:live") + "?format=json").json()
    assert [zone["name"] for zone in state["no_fly_zones"]] == ["Landesspital"]
    flights = {route["vehicle"]: route["flight"] for route in state["routes"]}
    assert flights[drone.id] is True and not any(f for v, f in flights.items() if v != drone.id)


def test_an_order_put_on_a_drone_by_hand_that_it_may_not_fly_is_flagged(road_network, depot_a, vehicle_a, drone):
    heavy = order_at(depot_a, "H1", HEAVY, weight_kg=12)
    light = order_at(depot_a, "L1", LIGHT[0])
    network = get_road_network()
    inputs = build_plan_inputs(
        network=network, day=DAY, orders=[heavy, light], vehicles=[vehicle_a, drone], drop_unroutable=False
    )
    start = inputs.moment(inputs.problem.vehicle_by_id()[drone.id].shift[0])
    timed = time_route(network, inputs, RouteDraft(vehicle_id=drone.id, start=start, order_ids=[light.id, heavy.id]))
    warnings = {stop.order_id: stop.warnings for stop in timed.stops}
    assert warnings[light.id] == []
    assert "A-Drone-1 may not fly it (payload, range or a no-fly zone)" in warnings[heavy.id]
    # Two parcels on one flight, where a drone carries one: the route says so.
    assert "2 stops, more than the 1 a trip may have" in timed.warnings


def test_the_vehicles_api_creates_a_drone_with_its_speed_and_range_and_refuses_one_without(
    dispatcher_a_client, depot_a
):
    base = {"name": "Drone 7", "depot": "A", "kind": "drone", "capacity_kg": "2.5"}
    response = dispatcher_a_client.post("/api/vehicles/", base | {"range_km": "12"})
    assert_error_shape(response, 400, "flight_speed_kmh")
    response = dispatcher_a_client.post("/api/vehicles/", base | {"flight_speed_kmh": 60})
    assert assert_error_shape(response, 400, "range_km")["message"] == (
        "A drone needs its range in km (one trip, out and back)."
    )
    response = dispatcher_a_client.post("/api/vehicles/", base | {"flight_speed_kmh": 60, "range_km": "12"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["profile"], body["flight_speed_kmh"], body["range_km"]) == ("drone", 60, 12.0)
