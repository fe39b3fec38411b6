"""The map on an order's page: the route serving the order (its line, the order's stop emphasized, the
other stops faint), its depot, and the route's driver where last seen while the route is being driven,
with how old that position is."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dispatch.maps.drawing import position_age_label
from dispatch.models import Driver, Order
from dispatch.order_desk.selectors import order_driver_sighting, order_placement, order_route_for_map
from routes.models import Plan, Route
from tests.driver.conftest import dispatched_route, driver_b, todays_orders, vehicle_a2, write_plan  # noqa: F401

pytestmark = pytest.mark.clock


@pytest.fixture
def day(request):
    """tests/driver/conftest.py's dispatched day: driver_a's route of three stops (D0-D2), driver_b's of one."""
    return request.getfixturevalue("dispatched_route")


@pytest.fixture
def orders(request):
    return request.getfixturevalue("todays_orders")


def _layer(map_html: str, kind: str):
    """The data of `DispatchMap.<kind>(map, data)` in a map document."""
    match = re.search(rf"DispatchMap\.{kind}\([^,]+, (.*?)\);\n", map_html)
    return json.loads(match.group(1)) if match else None


def _page(user, order):
    client = Client()
    client.force_login(user)
    return client.get(f"/orders/{order.pk}/")


def _on_the_road(day, *, minutes_ago: int = 3, started_hours_ago: float = 1.0) -> None:
    """The route's driver sent a position `minutes_ago`; the route set out `started_hours_ago`."""
    now = timezone.now()
    Route.objects.filter(pk=day.route.pk).update(start=now - timedelta(hours=started_hours_ago))
    Driver.objects.filter(pk=day.route.driver_id).update(
        last_lat=47.1420, last_lon=9.5220, last_heading=90.0, last_position_at=now - timedelta(minutes=minutes_ago)
    )


def test_it_draws_the_route_serving_the_order_with_its_stop_emphasized(dispatcher_a, day):
    order = day.stops[1].order
    response = _page(dispatcher_a, order)
    assert response.status_code == 200
    (route,) = _layer(response.context["map_html"], "routes")
    assert route["id"] == day.route.id and route["focus"] == order.pk
    assert route["geometry"]["type"] == "LineString" and len(route["geometry"]["coordinates"]) == 3
    assert [s["order"] for s in route["stops"]] == [s.order_id for s in day.stops]
    assert _layer(response.context["map_html"], "orders") is None  # the stop stands for the order
    assert [d["code"] for d in _layer(response.context["map_html"], "depots")] == [order.depot.code]
    assert _layer(response.context["map_html"], "driverPosition") is None  # nobody has sent a position


def test_it_draws_an_order_on_no_route_alone(dispatcher_a, orders):
    response = _page(dispatcher_a, orders[0])
    html = response.context["map_html"]
    assert _layer(html, "routes") is None
    assert [o["id"] for o in _layer(html, "orders")] == [orders[0].pk]


def test_it_shows_where_the_driver_is_while_the_route_is_driven(dispatcher_a, driver_a, day):
    _on_the_road(day, minutes_ago=3)
    response = _page(dispatcher_a, day.stops[2].order)
    driver = _layer(response.context["map_html"], "driverPosition")
    assert (driver["lat"], driver["lon"], driver["name"]) == (47.1420, 9.5220, driver_a.name)
    assert driver["label"].startswith(f"{driver_a.name} · ") and driver["label"].endswith(", 3 min ago")
    html = response.content.decode()
    assert re.search(r'data-field="driver-position">\d\d:\d\d, 3 min ago', html), html


@pytest.mark.parametrize(
    "situation",
    ["position-before-the-route-set-out", "every-stop-done", "plan-not-dispatched", "plan-of-another-day"],
)
def test_it_shows_no_driver_when_the_route_is_not_being_driven(situation, depot_a, vehicle_a, driver_a, day):
    _on_the_road(day, minutes_ago=3)
    order = day.stops[0].order
    if situation == "position-before-the-route-set-out":
        _on_the_road(day, minutes_ago=3 * 60, started_hours_ago=1)
    elif situation == "every-stop-done":
        Order.objects.filter(pk__in=[s.order_id for s in day.stops]).update(status="delivered")
    elif situation == "plan-not-dispatched":
        tomorrow = timezone.localdate() + timedelta(days=1)
        Order.objects.filter(pk=order.pk).update(date=tomorrow)
        draft = write_plan(day=tomorrow, depot=depot_a, routes={(vehicle_a, driver_a): [order]})
        Plan.objects.filter(pk=draft.pk).update(selected=True)
    elif situation == "plan-of-another-day":
        earlier = timezone.localdate() - timedelta(days=3)
        Plan.objects.filter(pk=day.plan.pk).update(date=earlier)
        Order.objects.filter(pk=order.pk).update(date=earlier)
    order.refresh_from_db()
    placement = order_placement(order)
    route = order_route_for_map(placement)
    assert route is not None and placement.dispatched == (situation != "plan-not-dispatched")
    assert order_driver_sighting(placement, route) is None


def test_it_follows_the_driver_of_a_route_past_midnight(day):
    # Yesterday's route still out after midnight: its driver is still shown.
    _on_the_road(day, minutes_ago=5, started_hours_ago=6)
    order = day.stops[0].order
    yesterday = timezone.localdate() - timedelta(days=1)
    Plan.objects.filter(pk=day.plan.pk).update(date=yesterday)
    Order.objects.filter(pk=order.pk).update(date=yesterday)
    order.refresh_from_db()
    placement = order_placement(order)
    sighting = order_driver_sighting(placement, order_route_for_map(placement))
    assert sighting is not None and sighting.heading == 90.0


def test_it_reads_the_map_in_few_queries(day, django_assert_max_num_queries):
    _on_the_road(day)
    placement = order_placement(day.stops[0].order)
    with django_assert_max_num_queries(2):  # the route with vehicle and driver, its stops with their orders
        route = order_route_for_map(placement)
        assert order_driver_sighting(placement, route) is not None


@pytest.mark.parametrize(
    "minutes, said", [(0, "just now"), (4, "4 min ago"), (59, "59 min ago"), (125, "2 h 5 min ago")]
)
def test_it_says_how_old_a_position_is(minutes, said):
    now = timezone.now()
    label = position_age_label(now - timedelta(minutes=minutes, seconds=20), now=now)
    assert label == f"{timezone.localtime(now - timedelta(minutes=minutes, seconds=20)):%H:%M}, {said}"
