"""Live ETAs of a multi-trip route: the stops after a reload still to come wait for the drive to the hub
and the reload (dispatch.live.reloads); a reload the driver has made is not counted again."""

from datetime import timedelta

import pytest
from django.core.cache import cache

from dispatch.live import eta as live_eta
from dispatch.models import Depot, Order, OrderStatusChange
from routes.models import Stop
from tests.live_map.conftest import place_driver

pytestmark = pytest.mark.clock
HUB = (47.1405, 9.5210)


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def stops_of(route):
    return list(Stop.objects.filter(route=route).select_related("order").order_by("sequence"))


def with_reload_after(route, sequence: int, minutes: int = 20):
    hub = Depot.objects.create(code="HUB", name="Hub Zentrum", lat=HUB[0], lon=HUB[1], is_micro_hub=True)
    route.vehicle.reload_minutes = minutes
    route.vehicle.save(update_fields=["reload_minutes"])
    stops = stops_of(route)
    arrival = stops[sequence - 1].etd + timedelta(minutes=5)
    route.reloads = [
        {"after_sequence": sequence, "depot_id": hub.id, "arrival": arrival.isoformat(),
         "departure": (arrival + timedelta(minutes=minutes)).isoformat(), "leg_duration_s": 300, "leg_distance_m": 1000},
    ]  # fmt: skip
    route.save(update_fields=["reloads"])
    return hub


def test_a_reload_still_to_come_pushes_the_stops_after_it_by_the_drive_to_the_hub_and_the_reload(
    dispatched_route, driver_a, depot_a
):
    route = dispatched_route
    now = route.start + timedelta(hours=3)
    place_driver(driver_a, depot_a.lat, depot_a.lon, now)
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    without = {stop.sequence: stop.live_eta for stop in stops_of(route)}

    with_reload_after(route, 3, minutes=20)
    cache.clear()
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    with_reload = {stop.sequence: stop.live_eta for stop in stops_of(route)}

    assert all(with_reload[n] == without[n] for n in (1, 2, 3))
    # Stop 4 waits for the reload (20 min) and the detour through the hub (less any window waiting saved).
    assert with_reload[4] - without[4] >= timedelta(minutes=10)
    assert all(with_reload[n] >= without[n] for n in without)


def test_a_reload_the_driver_made_already_is_not_counted_again(dispatched_route, driver_a, depot_a):
    route = dispatched_route
    stops = stops_of(route)
    now = route.start + timedelta(hours=3)
    # Delivered 40 minutes before `now`, on the route's own day (at the evening moment the fixture's
    # dispatch is recorded hours after this day's stops: only the delivery marks the trip's end).
    Order.objects.filter(pk__in=[s.order_id for s in stops[:3]]).update(status=Order.Status.DELIVERED)
    for stop in stops[:3]:
        OrderStatusChange.objects.create(
            order_id=stop.order_id, from_status=Order.Status.EN_ROUTE, to_status=Order.Status.DELIVERED,
            changed_at=now - timedelta(minutes=40), received_at=now - timedelta(minutes=40),
        )  # fmt: skip
    somewhere = (stops[3].order.lat + 0.004, stops[3].order.lon)
    place_driver(driver_a, *somewhere, now)
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    without = stops_of(route)[3].live_eta

    with_reload_after(route, 3, minutes=20)
    cache.clear()
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    not_yet = stops_of(route)[3].live_eta
    assert not_yet - without >= timedelta(minutes=20)  # still to reload: the hub, then stop 4

    place_driver(driver_a, *HUB, now - timedelta(minutes=25))  # was at the hub, then drove on
    place_driver(driver_a, *somewhere, now)
    cache.clear()
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    assert stops_of(route)[3].live_eta == without


def test_the_live_map_shows_the_hub_and_the_routes_trip(dispatched_route, dispatcher_a, client):
    route = dispatched_route
    hub = with_reload_after(route, 3)
    stops = stops_of(route)
    Order.objects.filter(pk__in=[s.order_id for s in stops[:3]]).update(status=Order.Status.DELIVERED)
    client.force_login(dispatcher_a)
    state = client.get("/live/?format=json").json()
    [shown] = [d for d in state["depots"] if d["id"] == hub.id]
    assert shown["is_micro_hub"] is True and shown["code"] == "HUB"
    [item] = [r for r in state["routes"] if r["id"] == route.pk]
    assert [r["after_sequence"] for r in item["reloads"]] == [3] and item["reloads"][0]["depot_name"] == "Hub Zentrum"
    assert item["trips"] == 2 and item["trip"] == 2  # the first trip's stops are done
