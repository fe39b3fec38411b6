"""Manual plan edits: moves, pins, locks, warnings, and versions for dispatched plans."""

import pytest

from routes.models import Plan, PlanChange, Stop
from tests.routes.test_plans import DAY, day_of_orders, import_orders, request_plan  # noqa: F401 - fixtures

pytestmark = pytest.mark.usefixtures("_run_on_commit")


@pytest.fixture
def _run_on_commit(django_capture_on_commit_callbacks):
    import tests.routes.test_plans as plans_module

    plans_module._capture = django_capture_on_commit_callbacks


def get_plan(client, plan_id):
    return client.get(f"/api/plans/{plan_id}/").json()


def edit(client, plan_id, *operations, status=200):
    response = client.post(f"/api/plans/{plan_id}/edit/", {"operations": list(operations)}, format="json")
    assert response.status_code == status, response.json()
    return response.json()


def routes_by_vehicle(plan):
    return {r["vehicle"]: [s["order"] for s in r["stops"]] for r in plan["routes"]}


@pytest.fixture
def planned(dispatcher_a_client, day_of_orders):  # noqa: F811 - the imported fixture
    plan = get_plan(dispatcher_a_client, request_plan(dispatcher_a_client)["id"])
    assert plan["status"] == "done"
    return plan


def test_it_moves_a_stop_to_another_vehicle_and_retimes_both(dispatcher_a_client, planned, vehicle_a):
    routes = routes_by_vehicle(planned)
    source = next(v for v, stops in routes.items() if stops)
    target = next(r["vehicle"] for r in planned["routes"] if r["vehicle"] != source) if len(routes) > 1 else None
    order = routes[source][-1]
    if target is None:  # one route only: move to the other vehicle of the depot
        from dispatch.models import Vehicle

        target = Vehicle.objects.exclude(id=source).filter(depot__code="A").first().id
    edited = edit(dispatcher_a_client, planned["id"], {"op": "move", "order": order, "vehicle": target, "position": 1})
    assert edited["id"] == planned["id"]
    after = routes_by_vehicle(edited)
    assert after[target][0] == order and order not in after.get(source, [])
    moved = next(s for r in edited["routes"] if r["vehicle"] == target for s in r["stops"] if s["order"] == order)
    assert moved["sequence"] == 1 and moved["eta"] <= moved["etd"]
    assert PlanChange.objects.filter(plan_id=planned["id"]).count() == 1


def test_it_warns_about_skills_and_capacity_without_refusing(
    dispatcher_a_client, planned, vehicle_a, depot_a, settings
):
    from dispatch.models import Vehicle

    bike = Vehicle.objects.get(name="A-Bike")
    [heavy] = import_orders(dispatcher_a_client, [f"H1,{DAY},47.1399,9.5213,,,140,fridge,0"])
    edited = edit(
        dispatcher_a_client, planned["id"], {"op": "move", "order": heavy, "vehicle": bike.id},
        *[{"op": "move", "order": o, "vehicle": bike.id} for o in routes_by_vehicle(planned).get(vehicle_a.id, [])[:3]],
    )  # fmt: skip
    bike_route = next(r for r in edited["routes"] if r["vehicle"] == bike.id)
    stop = next(s for s in bike_route["stops"] if s["order"] == heavy)
    assert any("lacks skill fridge" in w for w in stop["warnings"])
    assert any("exceeds capacity" in w for w in bike_route["warnings"])


def test_it_rejects_an_unknown_order_naming_the_operation(dispatcher_a_client, planned):
    body = edit(dispatcher_a_client, planned["id"], {"op": "pin", "order": 10**9}, status=400)
    assert body["errors"][0]["field"] == "operations[0].order" and body["errors"][0]["value"] == 10**9
    assert get_plan(dispatcher_a_client, planned["id"]) == planned


ANNOUNCED = []


def record_plan_updated(*, plan_id, previous_plan_id, changes, **_):
    ANNOUNCED.append((plan_id, previous_plan_id, changes["removed"]))


def test_it_versions_edits_of_a_dispatched_plan(dispatcher_a_client, planned, monkeypatch):
    from dispatch import events

    monkeypatch.setitem(events.HANDLERS, "plan_updated", ("tests.routes.test_plan_edits.record_plan_updated",))
    ANNOUNCED.clear()
    dispatcher_a_client.post(f"/api/plans/{planned['id']}/dispatch/")
    order = next(stops for stops in routes_by_vehicle(planned).values() if stops)[0]
    import tests.routes.test_plans as plans_module

    with plans_module._capture(execute=True):
        edited = edit(dispatcher_a_client, planned["id"], {"op": "unassign", "order": order})
    assert edited["id"] != planned["id"] and edited["parent"] == planned["id"]
    assert edited["version"] == planned["version"] + 1 and edited["dispatched_at"]
    assert any(u["order"] == order for u in edited["unassigned"])
    original = get_plan(dispatcher_a_client, planned["id"])
    assert original["routes"] == get_plan(dispatcher_a_client, planned["id"])["routes"]
    assert order in [s["order"] for r in original["routes"] for s in r["stops"]]
    from dispatch.models import Order

    assert Order.objects.get(id=order).status == "new"
    assert ANNOUNCED == [(edited["id"], planned["id"], [order])]


def test_it_keeps_pins_and_locks_when_optimizing_again(dispatcher_a_client, planned, vehicle_a):
    from dispatch.models import Vehicle

    bike = Vehicle.objects.get(name="A-Bike")
    any_order = next(stops for stops in routes_by_vehicle(planned).values() if stops)[0]
    edit(
        dispatcher_a_client, planned["id"],
        {"op": "move", "order": any_order, "vehicle": bike.id}, {"op": "pin", "order": any_order, "pinned": True},
    )  # fmt: skip
    locked_vehicle = vehicle_a.id
    edited = get_plan(dispatcher_a_client, planned["id"])
    if locked_vehicle in routes_by_vehicle(edited):
        edit(dispatcher_a_client, planned["id"], {"op": "lock", "vehicle": locked_vehicle, "locked": True})
    locked_orders = set(routes_by_vehicle(get_plan(dispatcher_a_client, planned["id"])).get(locked_vehicle, []))
    with pytest.MonkeyPatch.context():
        import tests.routes.test_plans as plans_module

        with plans_module._capture(execute=True):
            response = dispatcher_a_client.post(f"/api/plans/{planned['id']}/reoptimize/", {}, format="json")
    assert response.status_code == 202
    again = get_plan(dispatcher_a_client, response.json()["id"])
    assert again["status"] == "done" and again["parent"] == planned["id"]
    after = routes_by_vehicle(again)
    assert any_order in after[bike.id]
    assert locked_orders <= set(after.get(locked_vehicle, []))
    assert Stop.objects.get(route__plan_id=again["id"], order_id=any_order).pinned
    assert Plan.objects.filter(date=DAY).count() == 2
