"""The customer chooses another time on the tracking page (issue 21): the windows offered, the move,
who hears of it, and what the link may not do."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from customers.models import Event, Notification
from customers.notifications.texts import DEFAULT_TEMPLATES
from customers.tracking.access import RESCHEDULES_PER_HOUR
from dispatch.models import Alert, Order
from routes.models import SlotPolicy
from routes.slots.grid import local_zone
from tests.customers.conftest import make_order, token_of
from tests.routes.test_slots import next_weekday

pytestmark = pytest.mark.clock


@pytest.fixture
def failed_order(depot_a, vehicle_a, customer):
    # Failed at the door today; the customer takes SMS and e-mail, speaks German.
    return make_order(depot_a, "ORD-F", customer=customer, day=timezone.localdate(), status=Order.Status.FAILED)


def test_it_offers_the_next_days_windows_and_moves_a_failed_delivery(anonymous_client, failed_order):
    token = token_of(failed_order)
    offered = anonymous_client.get(f"/api/track/{token}/slots/")
    assert offered.status_code == 200, offered.json()
    body = offered.json()
    assert body["allowed"] is True and body["days"]
    assert "marginal_cost" not in body["days"][0]["slots"][0]  # the company's costs are not the customer's
    # The next Tuesday after today: the page lists the first DAYS_SHOWN days with a free window, and
    # on a Monday the Tuesday at least two days ahead (next_weekday's default) is the 8th.
    tuesday = next_weekday(1, at_least=1)
    day = next(d for d in body["days"] if d["date"] == str(tuesday))
    assert {slot["start"] for slot in day["slots"] if slot["available"]} >= {"09:00", "13:00"}
    moved = anonymous_client.post(
        f"/api/track/{token}/reschedule/", {"date": str(tuesday), "start": "13:00", "end": "15:00"}, format="json"
    )
    assert moved.status_code == 200, moved.json()
    order = Order.objects.get(pk=failed_order.pk)
    zone = local_zone()
    assert order.status == Order.Status.NEW and order.date == tuesday
    assert order.window_start == datetime.combine(tuesday, time(13), tzinfo=zone)
    assert order.window_end == datetime.combine(tuesday, time(15), tzinfo=zone)
    assert moved.json()["date"] == str(tuesday) and moved.json()["eta_window"]["start"] is not None
    # The dispatchers see it on their dashboards; the customer gets a confirmation on SMS (preferred).
    alert = Alert.objects.get(dedup_key=f"self_rescheduled:{order.pk}", resolved_at__isnull=True)
    assert alert.order_id == order.pk and "ORD-F" in alert.message
    confirmation = Notification.objects.get(order=order, event=Event.REPLY)
    assert confirmation.channel == "sms" and "13:00" in confirmation.body and "15:00" in confirmation.body
    assert "Danke" in confirmation.body  # the customer's language


def test_it_refuses_a_window_that_is_full_or_not_on_the_grid(anonymous_client, failed_order, depot_a):
    SlotPolicy.objects.create(depot=depot_a, max_share_percent=1)  # one order per window
    tuesday = next_weekday(1)
    make_order(
        depot_a, "OTHER", day=tuesday, status=Order.Status.NEW,
        window_start=datetime.combine(tuesday, time(9), tzinfo=local_zone()),
        window_end=datetime.combine(tuesday, time(11), tzinfo=local_zone()),
    )  # fmt: skip
    token = token_of(failed_order)
    full = anonymous_client.post(
        f"/api/track/{token}/reschedule/", {"date": str(tuesday), "start": "09:00", "end": "11:00"}, format="json"
    )
    assert full.status_code == 409
    off_grid = anonymous_client.post(
        f"/api/track/{token}/reschedule/", {"date": str(tuesday), "start": "09:30", "end": "11:30"}, format="json"
    )
    assert off_grid.status_code == 400 and off_grid.json()["errors"][0]["field"] == "start"
    assert Order.objects.get(pk=failed_order.pk).status == Order.Status.FAILED


def test_it_offers_nothing_once_the_order_is_on_the_road_or_self_service_is_off(anonymous_client, depot_a, customer):
    on_the_road = make_order(depot_a, "ORD-D", customer=customer, day=timezone.localdate())
    body = anonymous_client.get(f"/api/track/{token_of(on_the_road)}/slots/").json()
    assert body == {"allowed": False, "reason_code": "status", "days": []}
    tuesday = next_weekday(1)
    refused = anonymous_client.post(
        f"/api/track/{token_of(on_the_road)}/reschedule/", {"date": str(tuesday), "start": "09:00", "end": "11:00"},
        format="json",
    )  # fmt: skip
    assert refused.status_code == 409
    waiting = make_order(depot_a, "ORD-N", customer=customer, day=tuesday, status=Order.Status.NEW)
    SlotPolicy.objects.create(depot=depot_a, self_service=False)
    body = anonymous_client.get(f"/api/track/{token_of(waiting)}/slots/").json()
    assert body["allowed"] is False and body["reason_code"] == "self_service_off"


def test_it_limits_how_often_a_link_moves_its_order(anonymous_client, depot_a, vehicle_a, customer):
    order = make_order(depot_a, "ORD-R", customer=customer, day=next_weekday(1), status=Order.Status.NEW)
    token = token_of(order)
    answers = []
    for number in range(RESCHEDULES_PER_HOUR + 1):
        day = next_weekday(1) + timedelta(days=7 * (number % 2))
        start, end = ("09:00", "11:00") if number % 4 < 2 else ("11:00", "13:00")
        response = anonymous_client.post(
            f"/api/track/{token}/reschedule/", {"date": str(day), "start": start, "end": end}, format="json"
        )
        answers.append(response.status_code)
    assert answers[-1] == 429 and 429 not in answers[:-1]


def test_the_failed_delivery_message_links_to_the_page_that_offers_it(failed_order):
    for channel in ("email", "sms"):
        for language in ("en", "de"):
            assert "{{ tracking_url }}" in DEFAULT_TEMPLATES[("failed", channel, language)][1]
