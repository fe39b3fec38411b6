"""The live map's closures and re-planned routes, and the running routes of the closures page.

/live/ draws every closure that is active or announced (with its reason), and marks the routes the
newest re-plan changed against the version drivers followed before; /ws/dispatch/ tells every
depot's dashboards when a closure is drawn, changed or lifted; /closures/ lists and draws the routes
running today.
"""

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from config.asgi import application
from dispatch.models import Driver
from dispatch.orders.services import order_change_status
from routes.models import Plan, RoadClosure
from tests.live.conftest import ORIGIN, isolated_live_state, token_header  # noqa: F401 - its own groups and seqs
from tests.live_map.conftest import today_at
from tests.live_map.test_live_page import browser_for, page_config

# A short stretch of road in Schaan, away from the Vaduz stops of the dispatched route.
SCHAAN_ROAD = {"type": "LineString", "coordinates": [[9.5095, 47.1650], [9.5105, 47.1655]]}


def _closure(client, reason, *, starts_in=timedelta(0), ends_in=None, capture=None):
    now = timezone.now()
    body = {"geometry": SCHAAN_ROAD, "reason": reason, "starts_at": (now + starts_in).isoformat()}
    if ends_in is not None:
        body["ends_at"] = (now + ends_in).isoformat()
    with capture(execute=True):
        response = client.post("/api/closures/", body, format="json")
    assert response.status_code == 201, response.json()
    return RoadClosure.objects.get(pk=response.json()["id"])


def test_it_draws_active_and_announced_closures_with_their_reasons(
    dispatched_route, dispatcher_a, dispatcher_a_client, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    active = _closure(dispatcher_a_client, "Burst water main", capture=capture)
    announced = _closure(
        dispatcher_a_client, "Market day", starts_in=timedelta(hours=2), ends_in=timedelta(hours=5), capture=capture
    )
    lifted = _closure(dispatcher_a_client, "Fallen tree", capture=capture)
    with capture(execute=True):
        assert dispatcher_a_client.delete(f"/api/closures/{lifted.pk}/").status_code in (200, 204)
    RoadClosure.objects.create(
        geometry=SCHAAN_ROAD,
        reason="Yesterday's race",
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() - timedelta(hours=20),
    )

    state = page_config(browser_for(dispatcher_a).get("/live/"))["state"]
    closures = {c["reason"]: c for c in state["closures"]}
    assert set(closures) == {"Burst water main", "Market day"}
    assert closures["Burst water main"]["state"] == "active" and closures["Burst water main"]["closure"] == active.pk
    assert closures["Market day"]["state"] == "announced"
    assert closures["Market day"]["starts_at"] == announced.starts_at.isoformat()
    assert closures["Market day"]["geometry"] == SCHAAN_ROAD


@pytest.fixture
def morning_route(request):
    """dispatched_route planned, dispatched and re-planned at 09:30 today: the drivers' shifts are young
    (at the evening hours the suite may run at, a re-plan of the rest of the day has no time left)."""
    with time_machine.travel(today_at(9, 30), tick=True):
        yield request.getfixturevalue("dispatched_route")


def test_it_leaves_routes_of_a_first_dispatch_unmarked(dispatched_route, manager):
    [route] = browser_for(manager).get("/live/?format=json").json()["routes"]
    assert route["changed"] is None


def test_it_marks_the_route_a_replan_changed_with_the_reason(
    morning_route, dispatcher_a, dispatcher_a_client, driver_a, django_capture_on_commit_callbacks
):
    dispatched_route = morning_route
    stops = list(dispatched_route.stops.select_related("order").order_by("sequence"))
    order_change_status(order=stops[0].order, to_status="arrived")
    order_change_status(order=stops[0].order, to_status="delivered")
    # The van is at its first stop: the re-plan drives on from there, not from the depot.
    Driver.objects.filter(pk=driver_a.pk).update(
        last_lat=stops[0].order.lat, last_lon=stops[0].order.lon, last_position_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher_a_client.post(
            f"/api/plans/{dispatched_route.plan_id}/replan/", {"reason": "driver called in"}, format="json"
        )
    assert response.status_code == 202, response.json()
    replan = Plan.objects.get(pk=response.json()["id"])
    assert replan.status == Plan.Status.DONE and replan.dispatched_at is not None, replan.error

    [route] = browser_for(dispatcher_a).get("/live/?format=json").json()["routes"]
    assert route["plan"] == replan.pk
    changed = route["changed"]
    assert changed is not None
    assert changed["reason"].startswith("driver called in")
    assert (changed["previous_version"], changed["version"]) == (dispatched_route.plan.version, replan.version)
    assert changed["removed"] == [] and changed["added"] == []  # keep mode: every stop stays with its driver
    assert changed["detour"] or changed["reordered"] or changed["eta_shift_max_min"] >= 1


def test_it_tells_every_depots_dashboard_when_a_closure_is_drawn_and_lifted(
    transactional_db, dispatcher_a, dispatcher_b, manager, dispatcher_a_client
):
    headers = [[ORIGIN, token_header(user)] for user in (dispatcher_a, dispatcher_b)]

    async def scenario():
        sockets = []
        for user_headers in headers:
            communicator = WebsocketCommunicator(application, "/ws/dispatch/", headers=user_headers)
            accepted, _ = await communicator.connect(timeout=5)
            assert accepted
            assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
            sockets.append(communicator)

        response = await database_sync_to_async(dispatcher_a_client.post)(
            "/api/closures/",
            {"geometry": SCHAAN_ROAD, "reason": "Gas leak", "starts_at": timezone.now().isoformat()},
            format="json",
        )
        assert response.status_code == 201
        closure_id = response.json()["id"]
        for communicator in sockets:
            message = await _next_of(communicator, "closure")
            assert (message["closure"], message["reason"], message["state"]) == (closure_id, "Gas leak", "active")
            assert message["geometry"] == SCHAAN_ROAD and isinstance(message["seq"], int)

        response = await database_sync_to_async(dispatcher_a_client.delete)(f"/api/closures/{closure_id}/")
        assert response.status_code in (200, 204)
        for communicator in sockets:
            message = await _next_of(communicator, "closure")
            assert (message["closure"], message["state"]) == (closure_id, "ended") and message["lifted_at"]
            await communicator.disconnect()

    async_to_sync(scenario)()


async def _next_of(communicator, kind):
    while True:
        message = await communicator.receive_json_from(timeout=5)
        if message["type"] == kind:
            return message


@pytest.mark.usefixtures("dispatched_route")
def test_it_lists_and_draws_the_running_routes_on_the_closures_page(dispatcher_a, dispatcher_b, driver_a):
    response = browser_for(dispatcher_a).get("/closures/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="running-routes"' in html and "Dana Driver" in html and "0 of 6 stops done" in html
    # The map (an iframe's srcdoc) carries the route's layer.
    assert "DispatchMap.routes(" in html

    other = browser_for(dispatcher_b).get("/closures/").content.decode()
    assert "Dana Driver" not in other and "No route is running today" in other
