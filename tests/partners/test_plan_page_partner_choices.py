"""The plan page's editor knows which courier partners may take each order (and at what price), so
the dispatcher can hand a stop to a partner and bring it back by hand (static/js/plans.js)."""

import json
import re
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings

from dispatch.models import CourierPartner, Order
from tests.partners.test_make_or_buy import (  # noqa: F401 - fixtures
    _on_commit,
    courier,
    peak_day,
    request_plan,
)
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures
from tests.routes.test_plans import DAY


@pytest.fixture(autouse=True)
def _capture_on_commit(django_capture_on_commit_callbacks):
    global _on_commit_capture
    _on_commit_capture = django_capture_on_commit_callbacks


_on_commit_capture = None


def editor_of(client, plan_id) -> dict:
    page = client.get(f"/plans/{plan_id}/").content.decode()
    found = re.search(r'<script id="plan-editor" type="application/json">(.*?)</script>', page, re.S)
    assert found, "no editor data on the page"
    return json.loads(found.group(1))


def test_the_editor_lists_the_days_partners_and_which_orders_each_may_take_with_its_price(
    client,
    dispatcher_a,
    dispatcher_a_client,
    peak_day,  # noqa: F811
    courier,  # noqa: F811
):
    Order.objects.filter(pk=peak_day[0]).update(skills=["fridge"])  # the partner has no fridge
    plan = request_plan(dispatcher_a_client)
    client.force_login(dispatcher_a)
    editor = editor_of(client, plan["id"])
    assert editor["partners"] == [{"code": "berg", "name": "Berg Bote"}]
    choices = editor["partner_orders"]
    assert set(choices) == {str(o) for o in peak_day}  # routed, not planned and handed-off orders alike
    assert choices[str(peak_day[0])] == []
    for order_id in peak_day[1:]:
        assert choices[str(order_id)] == [{"code": "berg", "price": "13.00"}]  # 12 per stop + 10 kg x 0.10
    # The orders the partner has are named on the page (their reference), like the routes' stops.
    (group,) = plan["handoffs"]
    for order_id in group["orders"]:
        assert editor["orders"][str(order_id)]["reference"] == Order.objects.get(pk=order_id).reference


def test_a_partner_past_its_cut_off_is_no_choice_but_still_named_for_the_orders_it_has(
    client,
    dispatcher_a,
    dispatcher_a_client,
    peak_day,  # noqa: F811
    courier,  # noqa: F811
):
    plan = request_plan(dispatcher_a_client)
    CourierPartner.objects.create(code="tal", name="Tal Kurier", price_per_stop=Decimal("5"), cutoff=time(7))
    client.force_login(dispatcher_a)
    assert [p["code"] for p in editor_of(client, plan["id"])["partners"]] == ["berg", "tal"]
    # Berg's cut-off for DAY is 17:55 the evening before; Tal's (before it opens) 07:00 on the day.
    evening_before = datetime.combine(DAY - timedelta(days=1), time(18, 30), tzinfo=ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(evening_before, tick=False):
        client.force_login(dispatcher_a)  # a session of today would have expired by then
        editor = editor_of(client, plan["id"])
    assert editor["partners"] == [{"code": "tal", "name": "Tal Kurier"}, {"code": "berg", "name": "Berg Bote"}]
    assert {c["code"] for choices in editor["partner_orders"].values() for c in choices} == {"tal"}


def test_a_plan_of_another_depot_shows_no_editor_to_hand_orders_over(
    client,
    dispatcher_b,
    dispatcher_a_client,
    peak_day,  # noqa: F811
    courier,  # noqa: F811
):
    plan = request_plan(dispatcher_a_client)
    client.force_login(dispatcher_b)
    assert client.get(f"/plans/{plan['id']}/").status_code == 404


def test_an_order_the_partner_could_not_take_at_dispatch_is_not_shown_with_it_any_more(
    dispatcher_a_client,
    peak_day,  # noqa: F811
    courier,  # noqa: F811
):
    plan = request_plan(dispatcher_a_client)
    CourierPartner.objects.filter(pk=courier.pk).update(capacity_stops=2)  # sold to someone else meanwhile
    with _on_commit_capture(execute=True):
        assert dispatcher_a_client.post(f"/api/plans/{plan['id']}/dispatch/").status_code == 200
    again = dispatcher_a_client.get(f"/api/plans/{plan['id']}/").json()
    (group,) = again["handoffs"]
    left_out = {u["order"] for u in again["unassigned"]}
    assert len(group["orders"]) == 2 and not set(group["orders"]) & left_out
    assert Decimal(group["cost"]) == 2 * Decimal("13.00")
