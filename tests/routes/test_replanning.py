"""Mid-day re-planning of a dispatched day from where the vehicles are."""

import pytest
from django.utils import timezone

from dispatch.models import Driver, Order
from dispatch.orders.services import order_change_status
from routes.models import Plan, Stop
from tests.routes.test_plans import DAY, day_of_orders, import_orders, request_plan  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("_run_on_commit")


@pytest.fixture
def _run_on_commit(django_capture_on_commit_callbacks):
    import tests.routes.test_plans as plans_module

    plans_module._capture = django_capture_on_commit_callbacks


@pytest.fixture
def dispatched(dispatcher_a_client, day_of_orders, driver_a):  # noqa: F811 - the imported fixture
    from dispatch.fleet.services import driver_create
    from dispatch.models import Vehicle

    bike = Vehicle.objects.get(name="A-Bike")
    driver_create(username="bike_rider", password="x" * 12, name="Bea Rider", vehicle=bike)
    plan_id = request_plan(dispatcher_a_client)["id"]
    assert dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/").status_code == 200
    return Plan.objects.get(pk=plan_id)


def replan(client, plan_id, **body):
    import tests.routes.test_plans as plans_module

    with plans_module._capture(execute=True):
        response = client.post(f"/api/plans/{plan_id}/replan/", body, format="json")
    assert response.status_code == 202, response.json()
    return client.get(f"/api/plans/{response.json()['id']}/").json()


def test_it_keeps_done_and_current_stops_and_adds_new_orders(dispatcher_a_client, dispatched, driver_a):
    route = dispatched.routes.filter(driver=driver_a).first() or dispatched.routes.first()
    stops = list(route.stops.order_by("sequence"))
    assert len(stops) >= 3
    first, second = stops[0].order, stops[1].order
    order_change_status(order=first, to_status="arrived")
    order_change_status(order=first, to_status="delivered")
    order_change_status(order=second, to_status="en_route")
    Driver.objects.filter(pk=route.driver_id).update(
        last_lat=first.lat, last_lon=first.lon, last_position_at=timezone.now()
    )
    [newcomer] = import_orders(dispatcher_a_client, [f"N1,{DAY},47.1440,9.5200,,,3,,0"])

    result = replan(dispatcher_a_client, dispatched.pk, mode="keep")
    assert result["status"] == "done", result["error"]
    assert result["parent"] == dispatched.pk and result["dispatched_at"] and result["version"] == dispatched.version + 1
    new_route = next(r for r in result["routes"] if r["vehicle"] == route.vehicle_id)
    assert [s["order"] for s in new_route["stops"][:2]] == [first.id, second.id]
    # keep mode: every open stop stays with its driver
    old_owner = {s.order_id: s.route.vehicle_id for s in Stop.objects.filter(route__plan=dispatched)}
    for r in result["routes"]:
        for s in r["stops"]:
            if s["order"] in old_owner:
                assert old_owner[s["order"]] == r["vehicle"]
    routed = {s["order"] for r in result["routes"] for s in r["stops"]}
    assert newcomer in routed | {u["order"] for u in result["unassigned"]}
    assert Order.objects.get(id=newcomer).status in ("dispatched", "new")
    assert Order.objects.get(id=first.id).status == "delivered"


def test_it_only_moves_stops_when_that_saves_more_than_the_moves_cost(dispatcher_a_client, dispatched):
    result = replan(dispatcher_a_client, dispatched.pk, mode="moves", move_cost="100000")
    assert result["status"] == "done", result["error"]
    assert result["reason"].endswith("keep")


def test_it_refuses_to_replan_a_plan_that_was_never_dispatched(dispatcher_a_client, day_of_orders):  # noqa: F811
    plan_id = request_plan(dispatcher_a_client)["id"]
    response = dispatcher_a_client.post(f"/api/plans/{plan_id}/replan/", {}, format="json")
    assert response.status_code == 409
