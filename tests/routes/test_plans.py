"""Plans through the API on the demo region: optimization, reasons, versions, dispatch."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from dispatch.fleet.services import driver_create
from dispatch.models import Order, Vehicle
from routes.models import Plan, RoadNetworkBuild, Stop
from routes.plans.tasks import optimize_plan


def future_tuesday() -> date:
    """A Tuesday more than 400 days ahead: a day still to come, even where the suite runs with the
    clock pinned (`make test-clock` pins moments up to a year ahead, and this module may be imported
    before the clock is pinned), so it is planned as a whole from its shifts' start, at any hour."""
    later = datetime.now(ZoneInfo(settings.TIME_ZONE)).date() + timedelta(days=400)
    return later + timedelta(days=(1 - later.weekday()) % 7)


# Today's plans, planned from now, are tests/routes/test_same_day_planning.py's.
DAY = future_tuesday()
_capture = None
# Real addresses around Vaduz (lat, lon).
VADUZ_POINTS = [
    (47.1399, 9.5213), (47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230), (47.1420, 9.5160),
    (47.1475, 9.5180), (47.1330, 9.5265), (47.1385, 9.5290), (47.1510, 9.5250), (47.1280, 9.5180),
]  # fmt: skip


def import_orders(client, rows: list[str]):
    from django.core.files.uploadedfile import SimpleUploadedFile

    header = "reference,date,latitude,longitude,window_start,window_end,weight_kg,skills,priority\n"
    upload = SimpleUploadedFile("orders.csv", (header + "\n".join(rows) + "\n").encode(), content_type="text/csv")
    response = client.post("/api/orders/import/", {"file": upload}, format="multipart")
    assert response.status_code == 201, response.json()
    return response.json()["orders"]


@pytest.fixture
def day_of_orders(dispatcher_a_client, depot_a, vehicle_a, driver_a, road_network):
    bike = Vehicle.objects.create(
        name="A-Bike", depot=depot_a, kind="cargo_bike", capacity_kg=150, shift_start=time(8), shift_end=time(17)
    )
    # R8 is 274 m from a van's road but 31 m from a path: only the bike reaches it, so the bike drives.
    driver_create(username="driver_bike", password="x" * 12, name="Bea Bike", vehicle=bike)
    Vehicle.objects.update(cost_per_km=0.4, cost_per_hour=30, fixed_cost=40)
    rows = [
        f"R{i},{DAY},{lat},{lon},{'10:00' if i % 3 == 0 else ''},{'13:00' if i % 3 == 0 else ''},{2 + i},,{i * 10}"
        for i, (lat, lon) in enumerate(VADUZ_POINTS)
    ]
    return import_orders(dispatcher_a_client, rows)


@pytest.fixture(autouse=True)
def _run_on_commit(django_capture_on_commit_callbacks):
    # The test's transaction never commits: run what would run on commit (the optimization task).
    global _capture
    _capture = django_capture_on_commit_callbacks


def request_plan(client, **extra):
    with _capture(execute=True):
        response = client.post("/api/plans/", {"date": str(DAY), **extra}, format="json")
    assert response.status_code == 202, response.json()
    return response.json()


def test_it_plans_every_order_exactly_once_with_road_geometry(dispatcher_a_client, day_of_orders):
    queued = request_plan(dispatcher_a_client)
    plan = dispatcher_a_client.get(f"/api/plans/{queued['id']}/").json()
    assert plan["status"] == "done", plan["error"]
    assert plan["version"] == 1 and plan["stage"] == "done" and plan["progress"] == 100
    routed = [stop["order"] for route in plan["routes"] for stop in route["stops"]]
    unassigned = [u["order"] for u in plan["unassigned"]]
    assert sorted(routed + unassigned) == sorted(day_of_orders)
    assert len(set(routed)) == len(routed)
    assert set(plan["totals"]) >= {"distance_m", "duration_s", "cost", "vehicles_used", "unassigned"}
    for route in plan["routes"]:
        assert route["geometry"]["type"] == "LineString" and len(route["geometry"]["coordinates"]) > 2
        etas = [stop["eta"] for stop in route["stops"]]
        assert etas == sorted(etas)
        assert [s["sequence"] for s in route["stops"]] == list(range(1, len(route["stops"]) + 1))
        for stop in route["stops"]:
            assert stop["etd"] >= stop["eta"]
            if stop["window_end"]:
                assert stop["late_s"] == 0 or stop["eta"] > stop["window_end"]
    assert plan["totals"]["cost"] > 0
    statuses = set(Order.objects.filter(id__in=routed).values_list("status", flat=True))
    assert statuses == {"planned"}


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("X1,{day},47.1399,9.5213,,,2,frozen,0", "no vehicle has skill frozen"),
        ("X2,{day},47.1399,9.5213,,,5000,,0", "exceeds every vehicle's capacity"),
        ("X3,{day},47.1399,9.5213,03:00,04:00,2,,0", "its window closes before any vehicle can get there"),
        ("X4,{day},47.30,9.80,,,2,,0", "from the nearest road"),
    ],
)
def test_it_explains_unassigned_orders_in_dispatcher_words(dispatcher_a_client, day_of_orders, settings, row, reason):
    settings.ORDER_SKILLS = [*settings.ORDER_SKILLS, "frozen"]
    [order_id] = import_orders(dispatcher_a_client, [row.format(day=DAY)])
    plan = dispatcher_a_client.get(f"/api/plans/{request_plan(dispatcher_a_client)['id']}/").json()
    reasons = {u["order"]: u["reason"] for u in plan["unassigned"]}
    assert reason in reasons[order_id]


def test_it_is_idempotent_when_the_task_runs_twice(dispatcher_a_client, day_of_orders):
    plan_id = request_plan(dispatcher_a_client)["id"]
    stops_before = list(Stop.objects.filter(route__plan_id=plan_id).values_list("order_id", "sequence"))
    optimize_plan.apply(args=[plan_id])
    assert list(Stop.objects.filter(route__plan_id=plan_id).values_list("order_id", "sequence")) == stops_before
    assert Plan.objects.count() == 1


def test_it_leaves_the_previous_version_untouched_when_a_plan_fails(dispatcher_a_client, day_of_orders):
    first = request_plan(dispatcher_a_client)["id"]
    before = dispatcher_a_client.get(f"/api/plans/{first}/").json()
    RoadNetworkBuild.objects.update(active=False)
    second = request_plan(dispatcher_a_client)["id"]
    failed = dispatcher_a_client.get(f"/api/plans/{second}/").json()
    assert failed["status"] == "failed" and "road network" in failed["error"].lower()
    assert failed["version"] == 2
    assert dispatcher_a_client.get(f"/api/plans/{first}/").json() == before


def test_it_dispatches_a_plan_once_and_marks_orders_dispatched(dispatcher_a_client, day_of_orders):
    plan_id = request_plan(dispatcher_a_client)["id"]
    response = dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/")
    assert response.status_code == 200 and response.json()["dispatched_at"]
    routed = Stop.objects.filter(route__plan_id=plan_id).values_list("order_id", flat=True)
    assert set(Order.objects.filter(id__in=routed).values_list("status", flat=True)) == {"dispatched"}
    again = dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/")
    assert again.json()["dispatched_at"] == response.json()["dispatched_at"]


def test_it_offers_alternatives_and_lets_the_dispatcher_pick_one(dispatcher_a_client, day_of_orders):
    queued = request_plan(dispatcher_a_client, alternatives=["cost", "balanced", "fewest_vehicles"])
    assert len(queued["alternatives"]) == 3
    plans = [dispatcher_a_client.get(f"/api/plans/{pid}/").json() for pid in queued["alternatives"]]
    assert [p["objective"] for p in plans] == ["cost", "balanced", "fewest_vehicles"]
    assert all(p["status"] == "done" and not p["selected"] for p in plans)
    assert plans[2]["totals"]["vehicles_used"] <= plans[0]["totals"]["vehicles_used"]
    chosen = dispatcher_a_client.post(f"/api/plans/{plans[1]['id']}/select/")
    assert chosen.status_code == 200 and chosen.json()["selected"] is True
    listed = dispatcher_a_client.get("/api/plans/", {"date": str(DAY)}).json()
    assert [p["version"] for p in listed] == sorted((p["version"] for p in listed), reverse=True)
    assert [p["id"] for p in listed if p["selected"]] == [plans[1]["id"]]


def test_it_hides_another_depots_plans(dispatcher_a_client, dispatcher_b_client, day_of_orders):
    plan_id = request_plan(dispatcher_a_client)["id"]
    assert dispatcher_b_client.get(f"/api/plans/{plan_id}/").status_code == 404
    assert dispatcher_b_client.post(f"/api/plans/{plan_id}/dispatch/").status_code == 404
    assert dispatcher_b_client.get("/api/plans/").json() == []
