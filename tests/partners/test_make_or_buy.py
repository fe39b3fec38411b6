"""Make or buy in planning: the optimizer gives orders to courier partners, the plan shows them per
partner, the dispatcher moves them by hand, and dispatching hands them over."""

from datetime import time
from decimal import Decimal

import pytest

from dispatch.models import Alert, CourierPartner, Handoff, Order, Vehicle
from dispatch.partners.services import partner_create
from routes.models import Plan, PlanChange
from tests.partners.conftest import SQUARE
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures
from tests.routes.test_plans import DAY, VADUZ_POINTS

FAR_SQUARE = {"type": "Polygon", "coordinates": [[[8.0, 46.0], [8.1, 46.0], [8.1, 46.1], [8.0, 46.1], [8.0, 46.0]]]}


@pytest.fixture(autouse=True)
def _on_commit(django_capture_on_commit_callbacks):
    global _capture
    _capture = django_capture_on_commit_callbacks


def request_plan(client, **extra):
    with _capture(execute=True):
        response = client.post("/api/plans/", {"date": str(DAY), "time_budget_s": 2, **extra}, format="json")
    assert response.status_code == 202, response.json()
    plan = client.get(f"/api/plans/{response.json()['id']}/").json()
    assert plan["status"] == "done", plan["error"]
    return plan


@pytest.fixture
def peak_day(request, depot_a, vehicle_a, driver_a):
    """Ten orders of 10 kg around Vaduz; our only van carries 40 kg: four fit."""
    request.getfixturevalue("road_network")  # the demo region (tests.routes.conftest)
    Vehicle.objects.filter(pk=vehicle_a.pk).update(capacity_kg=40, cost_per_km=0.4, cost_per_hour=30, fixed_cost=40)
    return [
        Order.objects.create(
            reference=f"P{n}", date=DAY, depot=depot_a, lat=lat, lon=lon, weight_kg=Decimal("10"), customer_name="Erika"
        ).pk
        for n, (lat, lon) in enumerate(VADUZ_POINTS)
    ]


@pytest.fixture
def courier(manager):
    return partner_create(
        by=manager, code="berg", name="Berg Bote", area=SQUARE, price_per_stop=Decimal("12"),
        price_per_kg=Decimal("0.10"), capacity_stops=5, cutoff=time(17, 55), opens=time(8), closes=time(18),
    )  # fmt: skip


def placed(plan) -> list[int]:
    routed = [stop["order"] for route in plan["routes"] for stop in route["stops"]]
    handed = [order for group in plan["handoffs"] for order in group["orders"]]
    return routed + handed + [u["order"] for u in plan["unassigned"]]


def test_a_peak_day_gives_what_our_van_cannot_carry_to_the_partner_within_its_capacity(
    dispatcher_a_client, peak_day, courier
):
    plan = request_plan(dispatcher_a_client)
    assert sorted(placed(plan)) == sorted(peak_day)  # every order exactly once
    (group,) = plan["handoffs"]
    assert group["partner"] == "berg" and len(group["orders"]) == 5  # its capacity of the day
    assert Decimal(group["cost"]) == 5 * (Decimal("12") + Decimal("1.00"))  # per stop + 10 kg x 0.10
    assert plan["make_or_buy"]["own_fleet"]["served"] == 4
    assert plan["make_or_buy"]["with_partners"]["served"] == 9
    assert plan["make_or_buy"]["with_partners"]["handed_off"] == 5
    assert plan["make_or_buy"]["partners"] == ["berg"]
    # Nothing is handed over before the plan goes out.
    assert not Handoff.objects.exists()


def test_without_partners_when_the_request_says_so_or_none_serves_the_area(
    dispatcher_a_client, peak_day, courier, manager
):
    plan = request_plan(dispatcher_a_client, partners=False)
    assert plan["handoffs"] == [] and plan["make_or_buy"] is None
    assert len(plan["unassigned"]) == 6
    CourierPartner.objects.filter(pk=courier.pk).update(area=FAR_SQUARE)
    elsewhere = request_plan(dispatcher_a_client)
    assert elsewhere["handoffs"] == [] and elsewhere["make_or_buy"] is None


def test_dispatching_hands_the_planned_orders_over_once(dispatcher_a_client, peak_day, courier):
    plan = request_plan(dispatcher_a_client)
    given = plan["handoffs"][0]["orders"]
    with _capture(execute=True):
        response = dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/")
    assert response.status_code == 200, response.json()
    handoffs = Handoff.objects.filter(plan_id=plan["id"])
    assert sorted(h.order_id for h in handoffs) == sorted(given)
    assert {h.status for h in handoffs} == {Handoff.Status.OFFERED}
    assert {h.cost for h in handoffs} == {Decimal("13.00")}
    assert set(Order.objects.filter(pk__in=given).values_list("status", flat=True)) == {Order.Status.DISPATCHED}
    # The plan shows them once, now as hand-offs made.
    again = dispatcher_a_client.get(f"/api/plans/{plan['id']}/").json()
    assert again["handoffs"] == [{"partner": "berg", "orders": sorted(given), "cost": "65.00"}]


def test_the_dispatcher_moves_an_order_between_a_partner_and_our_van_audited(
    dispatcher_a_client, peak_day, courier, vehicle_a
):
    plan = request_plan(dispatcher_a_client)
    bought = plan["handoffs"][0]["orders"][0]
    ours = plan["routes"][0]["stops"][0]["order"]
    response = dispatcher_a_client.post(
        f"/api/plans/{plan['id']}/edit/",
        {
            "operations": [
                {"op": "move", "order": bought, "vehicle": vehicle_a.pk},
                {"op": "move", "order": ours, "partner": "berg"},
            ],
            "reason": "swap",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    edited = response.json()
    handed = edited["handoffs"][0]["orders"]
    assert ours in handed and bought not in handed
    assert bought in [stop["order"] for route in edited["routes"] for stop in route["stops"]]
    assert sorted(placed(edited)) == sorted(peak_day)
    change = PlanChange.objects.get(plan_id=plan["id"], reason="swap")
    assert {"op": "move", "order": ours, "partner": "berg"} in change.operations


def test_a_move_to_a_partner_outside_its_area_or_unknown_is_refused_naming_the_operation(
    dispatcher_a_client, peak_day, courier
):
    plan = request_plan(dispatcher_a_client, partners=False)
    order = plan["routes"][0]["stops"][0]["order"]
    CourierPartner.objects.filter(pk=courier.pk).update(area=FAR_SQUARE)
    for code, message in (("berg", "does not serve this order"), ("nobody", "unknown or inactive")):
        response = dispatcher_a_client.post(
            f"/api/plans/{plan['id']}/edit/",
            {"operations": [{"op": "move", "order": order, "partner": code}]},
            format="json",
        )
        assert response.status_code == 400, response.json()
        error = response.json()["errors"][0]
        assert error["field"] == "operations[0].partner" and error["value"] == code
        assert message in error["message"]
    assert Plan.objects.get(pk=plan["id"]).make_or_buy == {}


def test_the_plan_page_shows_each_partners_orders_and_cost_beside_our_routes(
    client, dispatcher_a, dispatcher_a_client, peak_day, courier
):
    plan = request_plan(dispatcher_a_client)
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan['id']}/").content.decode()
    (group,) = plan["handoffs"]
    assert 'data-partner="berg"' in page and "Berg Bote" in page and "65.00" in page
    for reference in Order.objects.filter(pk__in=group["orders"]).values_list("reference", flat=True):
        assert f">{reference}</a>" in page
    assert "Own fleet only: cost" in page and "4 orders served" in page and "9 orders served" in page


def test_orders_the_partner_can_no_longer_take_at_dispatch_stay_out_with_an_alert(
    dispatcher_a_client, peak_day, courier
):
    plan = request_plan(dispatcher_a_client)
    given = plan["handoffs"][0]["orders"]
    CourierPartner.objects.filter(pk=courier.pk).update(capacity_stops=2)  # sold to someone else meanwhile
    with _capture(execute=True):
        assert dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/").status_code == 200
    handed = set(Handoff.objects.filter(plan_id=plan["id"]).values_list("order_id", flat=True))
    assert len(handed) == 2 and handed <= set(given)
    left = {u["order"]: u for u in dispatcher_a_client.get(f"/api/plans/{plan['id']}/").json()["unassigned"]}
    for order_id in set(given) - handed:
        assert "partner berg" in left[order_id]["reason"] and "full" in left[order_id]["reason"]
        assert Alert.objects.filter(order_id=order_id, kind=Alert.Kind.HANDOFF_RETURNED, resolved_at=None).exists()


def test_an_order_already_with_its_partner_is_taken_back_first_not_moved_by_an_edit(
    dispatcher_a_client, peak_day, courier, vehicle_a
):
    plan = request_plan(dispatcher_a_client)
    bought = plan["handoffs"][0]["orders"][0]
    with _capture(execute=True):
        dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/")
    response = dispatcher_a_client.post(
        f"/api/plans/{plan['id']}/edit/",
        {"operations": [{"op": "move", "order": bought, "vehicle": vehicle_a.pk}]},
        format="json",
    )
    assert response.status_code == 409, response.json()
    assert "take it back from the partner first" in response.json()["errors"][0]["message"]
    assert Handoff.objects.get(order_id=bought).status == Handoff.Status.OFFERED


def test_alternatives_compare_own_fleet_only_with_partners(
    client, dispatcher_a, dispatcher_a_client, peak_day, courier
):
    plan = request_plan(dispatcher_a_client, alternatives=["cost", "fewest_vehicles"])
    assert plan["alternative_group"] is not None
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{plan['id']}/").content.decode()
    table = page[page.index('<table class="comparison">') :]
    table = table[: table.index("</table>")]
    assert '<th scope="row">Own fleet only</th>' in table and table.count(", 4 served</td>") == 2
    assert '<th scope="row">Courier partners</th>' in table and table.count(">5 orders, 65.00</td>") == 2


def test_an_edit_of_a_dispatched_plan_hands_the_moved_order_to_the_partner_in_its_new_version(
    dispatcher_a_client, peak_day, courier
):
    plan = request_plan(dispatcher_a_client, partners=False)
    with _capture(execute=True):
        dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/")
    order = plan["routes"][0]["stops"][0]["order"]
    with _capture(execute=True):
        response = dispatcher_a_client.post(
            f"/api/plans/{plan['id']}/edit/",
            {"operations": [{"op": "move", "order": order, "partner": "berg"}], "reason": "to the valley courier"},
            format="json",
        )
    assert response.status_code == 200, response.json()
    revision = response.json()
    assert revision["id"] != plan["id"] and revision["parent"] == plan["id"]
    handoff = Handoff.objects.get(order_id=order)
    assert handoff.plan_id == revision["id"] and handoff.partner == courier and handoff.cost == Decimal("13.00")
    assert revision["handoffs"] == [{"partner": "berg", "orders": [order], "cost": "13.00"}]
    assert order not in [stop["order"] for route in revision["routes"] for stop in route["stops"]]
