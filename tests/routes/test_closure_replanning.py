"""Road closures re-plan the day's dispatched routes by themselves (tasks run inline here; a real
worker is exercised in test_closure_worker.py)."""

import math

import pytest

from dispatch.models import Alert
from routes.closures.replanning import closure_apply
from routes.models import ClosureApplication, Plan, Stop
from tests.routes.test_plans import DAY, day_of_orders, request_plan  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("_run_on_commit")


@pytest.fixture
def _run_on_commit(django_capture_on_commit_callbacks):
    import tests.routes.test_plans as plans_module

    plans_module._capture = django_capture_on_commit_callbacks


@pytest.fixture
def today_is_the_plan_day(settings, monkeypatch):
    # The demo day is fixed; closures re-plan "today". Make today that day, at 09:00 local time.
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    fixed = datetime.combine(DAY, datetime.min.time(), tzinfo=ZoneInfo(settings.TIME_ZONE)).replace(hour=9)
    monkeypatch.setattr(timezone, "now", lambda: fixed)
    return fixed


@pytest.fixture
def dispatched(dispatcher_a_client, day_of_orders, today_is_the_plan_day):  # noqa: F811
    plan_id = request_plan(dispatcher_a_client)["id"]
    response = dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/")
    assert response.status_code == 200, response.json()
    return Plan.objects.get(pk=plan_id)


def square(lat, lon, half_m):
    dlat = half_m / 111_320
    dlon = half_m / (111_320 * math.cos(math.radians(lat)))
    ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat], [lon - dlon, lat + dlat]]
    return {"type": "Polygon", "coordinates": [ring + [ring[0]]]}


def close(client, geometry, reason="water main burst", **extra):
    import tests.routes.test_plans as plans_module

    with plans_module._capture(execute=True):
        response = client.post("/api/closures/", {"geometry": geometry, "reason": reason, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def a_busy_point(plan):
    """A point in the middle of the longest leg between two stops of a route, away from any stop."""
    route = max(plan.routes.all(), key=lambda r: len(r.geometry["coordinates"]))
    coordinates = route.geometry["coordinates"]
    stops = [(s.order.lat, s.order.lon) for s in Stop.objects.filter(route__plan=plan).select_related("order")]
    for lon, lat in coordinates[len(coordinates) // 3 :]:
        if min(math.dist((lat, lon), s) for s in stops) > 0.003:
            return lat, lon
    pytest.skip("no road point far enough from the stops")


def test_it_replans_a_dispatched_day_around_a_new_closure(dispatcher_a_client, dispatched):
    lat, lon = a_busy_point(dispatched)
    closure_id = close(dispatcher_a_client, square(lat, lon, 40))
    application = ClosureApplication.objects.get(closure_id=closure_id, phase="change")
    assert application.status == "done" and application.checked_plans == [dispatched.pk]
    [new_id] = application.new_plans
    new = Plan.objects.get(pk=new_id)
    assert new.parent_id == dispatched.pk and new.reason.startswith(f"closure {closure_id}")
    # Applied by itself, or held for the dispatcher by a guard rail that says which (test_replan_guard_rails.py).
    applied = new.state == "active" and new.dispatched_at is not None and not new.proposal["held_because"]
    held = new.state == "proposed" and new.dispatched_at is None and new.proposal["held_because"]
    assert applied or held, (new.state, new.proposal)
    assert new.version == dispatched.version + 1
    before = set(Stop.objects.filter(route__plan=dispatched).values_list("order_id", flat=True))
    after = set(Stop.objects.filter(route__plan=new).values_list("order_id", flat=True))
    assert after | set(new.unassigned.values_list("order_id", flat=True)) == before
    # no new route drives through the closed square
    half = 40 / 111_320
    for route in new.routes.all():
        for point_lon, point_lat in route.geometry["coordinates"]:
            assert not (
                abs(point_lat - lat) < half * 0.8 and abs(point_lon - lon) < half * 0.8 / math.cos(math.radians(lat))
            )


def test_it_flags_stops_the_closure_cuts_off(dispatcher_a_client, dispatched):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("order").order_by("-sequence").first()
    closure_id = close(dispatcher_a_client, square(stop.order.lat, stop.order.lon, 500), reason="festival")
    [new_id] = ClosureApplication.objects.get(closure_id=closure_id).new_plans
    unassigned = Plan.objects.get(pk=new_id).unassigned.get(order=stop.order)
    assert unassigned.code == "closed_road" and "closed" in unassigned.reason
    alert = Alert.objects.get(order=stop.order, kind="closed_road", resolved_at__isnull=True)
    assert "festival" in alert.message and alert.data["actions"] == ["reschedule", "contact_customer"]


def test_it_runs_once_per_closure_state(dispatcher_a_client, dispatched):
    stop = Stop.objects.filter(route__plan=dispatched).select_related("order").first()
    closure_id = close(dispatcher_a_client, square(stop.order.lat, stop.order.lon, 500))
    versions = Plan.objects.count()
    closure_apply(closure_id=closure_id, version=1, phase="change")
    assert Plan.objects.count() == versions
    assert ClosureApplication.objects.get(closure_id=closure_id).attempts == 1


def test_lifting_a_closure_whose_replan_was_only_proposed_withdraws_it_and_changes_nothing(
    dispatcher_a_client, dispatched
):
    import tests.routes.test_plans as plans_module

    stop = Stop.objects.filter(route__plan=dispatched).select_related("order").first()
    closure_id = close(dispatcher_a_client, square(stop.order.lat, stop.order.lon, 500))
    [proposed] = ClosureApplication.objects.get(closure_id=closure_id, version=1).new_plans
    assert Plan.objects.get(pk=proposed).state == "proposed"  # it cuts a stop off: the dispatcher decides
    with plans_module._capture(execute=True):
        assert dispatcher_a_client.delete(f"/api/closures/{closure_id}/").status_code == 204
    lifted = ClosureApplication.objects.get(closure_id=closure_id, version=2)
    # Drivers still follow the morning's version, which serves the stop: nothing to repair...
    assert lifted.status == "done" and lifted.new_plans == []
    # ...and the proposal to re-plan around a road open again can no longer be approved.
    assert Plan.objects.get(pk=proposed).state == "superseded"
    assert not Alert.objects.filter(dedup_key=f"replan:{proposed}", resolved_at__isnull=True).exists()
    assert dispatcher_a_client.post(f"/api/plans/{proposed}/approve/").status_code == 409


def test_it_leaves_plans_alone_when_the_closure_is_elsewhere(dispatcher_a_client, dispatched):
    closure_id = close(dispatcher_a_client, square(47.245, 9.55, 30))  # a field near Ruggell, far from Vaduz
    application = ClosureApplication.objects.get(closure_id=closure_id)
    assert application.status == "done" and application.new_plans == []


RECEIVED = []


def record_plan_updated(**payload):
    RECEIVED.append(payload)


def test_it_announces_the_new_version_to_the_live_layer(dispatcher_a_client, dispatched, monkeypatch):
    import tests.routes.test_plans as plans_module
    from dispatch import events

    monkeypatch.setitem(events.HANDLERS, "plan_updated", ("tests.routes.test_closure_replanning.record_plan_updated",))
    RECEIVED.clear()
    stop = Stop.objects.filter(route__plan=dispatched).select_related("order").first()
    closure_id = close(dispatcher_a_client, square(stop.order.lat, stop.order.lon, 500))
    [new_id] = ClosureApplication.objects.get(closure_id=closure_id).new_plans
    # It drops a stop, so it waits for a dispatcher: nothing is announced until it is approved.
    assert Plan.objects.get(pk=new_id).state == "proposed" and RECEIVED == []
    with plans_module._capture(execute=True):
        assert dispatcher_a_client.post(f"/api/plans/{new_id}/approve/").status_code == 200
    assert [(p["plan_id"], p["previous_plan_id"]) for p in RECEIVED] == [(new_id, dispatched.pk)]
    dropped = [item["order"] for item in Plan.objects.get(pk=new_id).proposal["dropped"]]
    assert stop.order_id in dropped and RECEIVED[0]["changes"]["removed"] == sorted(dropped)
