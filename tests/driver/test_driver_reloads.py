"""The driver's route of a multi-trip vehicle: "back to the hub to reload" between two trips (issue 19)."""

from datetime import timedelta

from dispatch.models import Depot

ROUTE = "/api/driver/route/"


def test_the_drivers_route_has_the_reload_between_the_trips(driver_client, dispatched_route):
    hub = Depot.objects.create(code="HUB", name="Hub Zentrum", lat=47.1405, lon=9.5210, is_micro_hub=True)
    route, stops = dispatched_route.route, dispatched_route.stops
    arrival = stops[0].etd + timedelta(minutes=6)
    route.reloads = [
        {"after_sequence": 1, "depot_id": hub.id, "arrival": arrival.isoformat(),
         "departure": (arrival + timedelta(minutes=10)).isoformat(), "leg_duration_s": 360, "leg_distance_m": 900},
    ]  # fmt: skip
    route.save(update_fields=["reloads"])
    answer = driver_client.get(ROUTE)
    assert answer.status_code == 200
    body = answer.json()["route"]
    [reload] = body["reloads"]
    assert reload["depot_name"] == "Hub Zentrum" and reload["after_sequence"] == 1
    assert reload["lat"] == hub.lat and reload["lon"] == hub.lon
    assert [(t["first_sequence"], t["last_sequence"]) for t in body["trips"]] == [(1, 1), (2, 3)]
    # The stops and their sequences are as before: the reload is a step between them, not a stop.
    assert [s["sequence"] for s in body["stops"]] == [1, 2, 3]


def test_a_route_without_reloads_is_one_trip(driver_client, dispatched_route):
    body = driver_client.get(ROUTE).json()["route"]
    assert body["reloads"] == [] and [(t["first_sequence"], t["last_sequence"]) for t in body["trips"]] == [(1, 3)]
