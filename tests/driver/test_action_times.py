"""Stop actions keep the time they happened (`occurred_at`, API.md: Drivers), not the time the phone
found a signal again: status history, proof, KPIs, the customer's messages and tracking page.

The day: Wednesday 18 November 2026 (CET, +01:00). The plan is dispatched at 07:00; five stops with
the window 09:00-12:00 and ETAs 09:00, 10:00, ... 13:00 (tests/driver/conftest.write_plan). The
driver delivers them in a dead zone at 09:05, 09:40, 10:20, 11:10 and 12:30; the phone sends the
queue at 12:45.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from analytics import selectors as analytics_selectors
from analytics.filters import KpiFilters
from analytics.services import order_facts_refresh
from customers.models import Notification
from customers.services import notifications_for_status
from customers.tracking_links import tracking_links_create
from customers.tracking_tokens import token_for_nonce
from dispatch.models import IdempotencyRecord, Order, OrderStatusChange, ProofOfDelivery
from routes.plans.services import plan_dispatch
from tests.driver.conftest import VADUZ, write_plan

pytestmark = pytest.mark.clock  # pins its own day; `make test-clock` shows nothing leaks from the real hour

ZONE = ZoneInfo("Europe/Vaduz")
DAY = date(2026, 11, 18)


def local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=ZONE)


TAPS = [local(9, 5), local(9, 40), local(10, 20), local(11, 10), local(12, 30)]
SENT_AT = local(12, 45)


def rfc3339(moment: datetime) -> str:
    """As a phone sends it: UTC with a Z (JavaScript's toISOString)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def action_url(stop, action: str) -> str:
    return f"/api/driver/stops/{stop.id}/{action}/"


@pytest.fixture
def clock():
    with time_machine.travel(local(7), tick=True) as traveller:
        yield traveller


@pytest.fixture
def stops(clock, depot_a, vehicle_a, driver_a, dispatcher_a):
    orders = [
        Order.objects.create(
            reference=f"T{index}",
            date=DAY,
            depot=depot_a,
            lat=lat,
            lon=lon,
            customer_name=f"Customer {index}",
            email=f"customer{index}@example.com",
            window_start=local(9),
            window_end=local(12),
        )  # fmt: skip
        for index, (lat, lon) in enumerate([*VADUZ, (47.1380, 9.5250)])
    ]
    plan = write_plan(day=DAY, depot=depot_a, routes={(vehicle_a, driver_a): orders})
    plan_dispatch(plan=plan, by=dispatcher_a)
    return list(plan.routes.get().stops.order_by("sequence"))


def send_queue(client, stops, taps):
    """The phone's offline queue, sent in order once it has a signal; each action with its own key."""
    for index, (stop, tap) in enumerate(zip(stops, taps, strict=True)):
        response = client.post(
            action_url(stop, "deliver"),
            {"recipient_name": f"Recipient {index}", "occurred_at": rfc3339(tap)},
            format="json",
            headers={"Idempotency-Key": f"deliver-{stop.id}"},
        )
        assert response.status_code == 200, response.json()


def changes(stop, to_status: str) -> list[OrderStatusChange]:
    return list(OrderStatusChange.objects.filter(order_id=stop.order_id, to_status=to_status))


def written() -> dict:
    models = (OrderStatusChange, ProofOfDelivery, IdempotencyRecord)
    return {model.__name__: model.objects.count() for model in models}


# --- The times recorded ---------------------------------------------------------------------------


def test_it_keeps_the_tap_times_of_five_deliveries_sent_later(driver_client, stops, clock):
    clock.move_to(SENT_AT)
    send_queue(driver_client, stops, TAPS)
    received_by = timezone.now()

    for stop, tap in zip(stops, TAPS, strict=True):
        (arrived,) = changes(stop, "arrived")
        (delivered,) = changes(stop, "delivered")
        # The arrival the phone never sent separately is recorded with the delivery, at its time.
        assert arrived.changed_at == tap and delivered.changed_at == tap
        assert SENT_AT <= delivered.received_at <= received_by
        assert SENT_AT <= arrived.received_at <= received_by
        (proof,) = ProofOfDelivery.objects.filter(order_id=stop.order_id)
        assert proof.delivered_at == tap
        assert SENT_AT <= proof.received_at <= received_by
    assert len({change.changed_at for change in OrderStatusChange.objects.filter(to_status="delivered")}) == 5


def test_it_answers_a_replayed_action_once_with_its_first_time(driver_client, stops, clock):
    clock.move_to(SENT_AT)
    send_queue(driver_client, stops[:1], TAPS[:1])
    before = written()

    # The answer to the first send was lost; the phone sends the same action (same key) again.
    again = driver_client.post(
        action_url(stops[0], "deliver"),
        {"recipient_name": "Recipient 0", "occurred_at": rfc3339(TAPS[0])},
        format="json",
        headers={"Idempotency-Key": f"deliver-{stops[0].id}"},
    )
    assert again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert written() == before
    assert [change.changed_at for change in changes(stops[0], "delivered")] == [TAPS[0]]


def test_it_records_an_arrival_and_a_failure_at_their_tap_times(driver_client, stops, clock):
    clock.move_to(SENT_AT)
    arrived_at, failed_at = local(9, 2), local(9, 9)
    response = driver_client.post(action_url(stops[0], "arrive"), {"occurred_at": arrived_at.isoformat()})
    assert response.status_code == 200, response.json()
    response = driver_client.post(
        action_url(stops[0], "fail"), {"reason": "not_home", "occurred_at": failed_at.isoformat()}
    )
    assert response.status_code == 200, response.json()

    assert [c.changed_at for c in changes(stops[0], "arrived")] == [arrived_at]
    (failed,) = changes(stops[0], "failed")
    assert failed.changed_at == failed_at and failed.received_at >= SENT_AT
    assert Order.objects.get(pk=stops[0].order_id).status == "failed"


def test_it_takes_the_time_it_receives_an_action_without_one(driver_client, stops, clock):
    clock.move_to(SENT_AT)
    before = timezone.now()
    assert driver_client.post(action_url(stops[0], "arrive"), {}).status_code == 200
    (arrived,) = changes(stops[0], "arrived")
    assert before <= arrived.changed_at <= arrived.received_at <= timezone.now()


def test_it_records_a_phone_clock_slightly_ahead_as_the_time_received(driver_client, stops, clock):
    """Within the clock-skew allowance the action is accepted, but nothing is recorded in the future."""
    clock.move_to(SENT_AT)
    before = timezone.now()
    response = driver_client.post(
        action_url(stops[0], "arrive"), {"occurred_at": rfc3339(before + timedelta(minutes=3))}
    )
    assert response.status_code == 200, response.json()
    (arrived,) = changes(stops[0], "arrived")
    assert before <= arrived.changed_at <= arrived.received_at <= timezone.now()


def test_it_accepts_an_action_as_old_as_the_configured_limit(driver_client, stops, clock, settings):
    settings.DRIVER_ACTION_MAX_AGE_H = 2
    clock.move_to(local(11))
    response = driver_client.post(action_url(stops[0], "arrive"), {"occurred_at": rfc3339(local(9, 5))})
    assert response.status_code == 200, response.json()
    response = driver_client.post(action_url(stops[1], "arrive"), {"occurred_at": rfc3339(local(8, 55))})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "occurred_at"
    assert changes(stops[1], "arrived") == []


# --- Refused times: 400 naming the field and the value, nothing written ----------------------------


@pytest.mark.parametrize(
    "action, body, words",
    [
        ("arrive", {"occurred_at": rfc3339(SENT_AT + timedelta(minutes=10))}, "in the future"),
        ("deliver", {"recipient_name": "X", "occurred_at": rfc3339(SENT_AT - timedelta(hours=25))}, "24 hours"),
        ("fail", {"reason": "not_home", "occurred_at": "2026-11-18T09:05:00"}, "offset"),
        ("arrive", {"occurred_at": "soon"}, ""),
        ("arrive", {"occurred_at": 1763453100}, ""),
        # Before the plan was dispatched (07:00): before the stop's previous action.
        ("arrive", {"occurred_at": local(6, 50).isoformat()}, "dispatched at 2026-11-18T07:0"),
    ],
    ids=["future", "too old", "no offset", "not a time", "a number", "before the dispatch"],
)
def test_it_refuses_a_bad_action_time(driver_client, stops, clock, action, body, words):
    clock.move_to(SENT_AT)
    before = written()
    response = driver_client.post(
        action_url(stops[0], action), body, format="json", headers={"Idempotency-Key": "bad-time"}
    )
    assert response.status_code == 400, response.json()
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["occurred_at"], errors
    assert errors[0]["value"] in (body["occurred_at"], str(body["occurred_at"])) or datetime.fromisoformat(
        errors[0]["value"]
    ) == datetime.fromisoformat(body["occurred_at"])
    assert words in errors[0]["message"]
    assert written() == before
    assert Order.objects.get(pk=stops[0].order_id).status == "dispatched"


def test_it_refuses_a_delivery_before_the_stops_arrival_naming_both_times(driver_client, stops, clock):
    clock.move_to(SENT_AT)
    arrived_at, delivered_at = local(10), local(9, 50)
    assert driver_client.post(action_url(stops[0], "arrive"), {"occurred_at": rfc3339(arrived_at)}).status_code == 200
    before = written()

    response = driver_client.post(
        action_url(stops[0], "deliver"),
        {"recipient_name": "X", "occurred_at": rfc3339(delivered_at)},
        headers={"Idempotency-Key": "too-early"},
    )
    assert response.status_code == 400, response.json()
    (error,) = response.json()["errors"]
    assert error["field"] == "occurred_at"
    assert datetime.fromisoformat(error["value"]) == delivered_at
    assert delivered_at.isoformat() in error["message"] and arrived_at.isoformat() in error["message"]
    assert written() == before
    assert Order.objects.get(pk=stops[0].order_id).status == "arrived"


# --- What is computed from the times ----------------------------------------------------------------


def test_it_computes_the_kpis_from_the_tap_times(driver_client, stops, clock):
    clock.move_to(SENT_AT)
    send_queue(driver_client, stops, TAPS)
    order_facts_refresh(date_from=DAY, date_to=DAY)
    kpis = analytics_selectors.kpis(KpiFilters(date_from=DAY, date_to=DAY))

    assert kpis["deliveries"] == 5
    # Arrivals 09:05 .. 11:10 inside 09:00-12:00; 12:30 is 30 minutes late. (At the receive time,
    # 12:45, none would be on time.)
    assert kpis["on_time_rate"] == pytest.approx(4 / 5)
    assert kpis["avg_delay_s"] == pytest.approx(1800 / 5)
    # |arrival - ETA|: 300, 1 200, 2 400, 3 000, 1 800.
    assert kpis["eta_mean_abs_error_s"] == pytest.approx(8700 / 5)
    # First to last action 09:05 .. 12:30 (12 300 s) + planned leg out (08:30 -> 09:00) and back
    # (13:05 -> 14:00): 17 400 s. All at one second would give 5 100 s.
    assert kpis["actual_route_duration_s"] == 17400
    assert kpis["stops_per_hour"] == pytest.approx(round(5 / (17400 / 3600), 2))


def test_it_tells_the_customer_the_time_it_was_delivered(driver_client, anonymous_client, stops, clock):
    order = Order.objects.get(pk=stops[0].order_id)
    (link,) = tracking_links_create(orders=[order])
    clock.move_to(SENT_AT)
    send_queue(driver_client, stops[:1], TAPS[:1])
    notifications_for_status(order_id=order.pk, to_status="delivered")

    (message,) = Notification.objects.filter(order=order, event="delivered")
    tapped, received = timezone.localtime(TAPS[0]), timezone.localtime(SENT_AT)
    assert f"{tapped:%H:%M}" in message.body and f"{received:%H:%M}" not in message.body

    state = anonymous_client.get(f"/api/track/{token_for_nonce(link.nonce)}/").json()
    events = {event["status"]: datetime.fromisoformat(event["at"]) for event in state["events"]}
    assert events["arrived"] == TAPS[0] and events["delivered"] == TAPS[0]
    assert datetime.fromisoformat(state["proof"]["delivered_at"]) == TAPS[0]


def test_it_shows_the_dispatcher_when_an_action_was_sent_later(client, dispatcher_a, driver_client, stops, clock):
    clock.move_to(SENT_AT)
    send_queue(driver_client, stops[:1], TAPS[:1])
    client.force_login(dispatcher_a)
    page = client.get(f"/orders/{stops[0].order_id}/").content.decode()
    received = timezone.localtime(
        OrderStatusChange.objects.get(order_id=stops[0].order_id, to_status="delivered").received_at
    )
    tapped = timezone.localtime(TAPS[0])
    assert f'<time datetime="{tapped.isoformat()}">{tapped:%d.%m. %H:%M}</time>' in page
    assert '<strong>Delivered</strong> <span class="muted">from Arrived</span>' in page
    assert f"sent {received:%d.%m. %H:%M}" in page


def test_it_orders_actions_by_the_moment_not_the_wall_clock_on_the_autumn_night(
    driver_client, depot_a, vehicle_a, driver_a, dispatcher_a
):
    """On the last Sunday of October 02:00-03:00 happens twice: 02:10 CET is 30 minutes after 02:40 CEST."""
    night = date(2026, 10, 25)
    # Times in the repeated hour never compare equal across zones (PEP 495): compare them in UTC.
    first_0240 = datetime(2026, 10, 25, 2, 40, tzinfo=ZONE)  # fold=0: summer time, +02:00
    second_0210 = datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=ZONE)  # winter time, +01:00
    assert first_0240.isoformat().endswith("+02:00") and second_0210.isoformat().endswith("+01:00")
    with time_machine.travel(datetime(2026, 10, 25, 1, 0, tzinfo=ZONE), tick=True) as traveller:
        order = Order.objects.create(reference="NIGHT", date=night, depot=depot_a, lat=47.14, lon=9.52)
        plan = write_plan(day=night, depot=depot_a, routes={(vehicle_a, driver_a): [order]})
        plan_dispatch(plan=plan, by=dispatcher_a)
        stop = plan.routes.get().stops.get()
        traveller.move_to(datetime(2026, 10, 25, 3, 30, tzinfo=ZONE))
        arrive = driver_client.post(action_url(stop, "arrive"), {"occurred_at": first_0240.isoformat()})
        deliver = driver_client.post(
            action_url(stop, "deliver"), {"recipient_name": "Night owl", "occurred_at": second_0210.isoformat()}
        )
    assert arrive.status_code == 200 and deliver.status_code == 200, deliver.json()
    (arrived,), (delivered,) = changes(stop, "arrived"), changes(stop, "delivered")
    assert arrived.changed_at == first_0240.astimezone(UTC)
    assert delivered.changed_at == second_0210.astimezone(UTC)
    assert delivered.changed_at - arrived.changed_at == timedelta(minutes=30)


@pytest.mark.parametrize("sent_late", [True, False], ids=["sent hours later", "sent at once"])
def test_it_tells_the_next_customer_arriving_soon_only_for_an_action_sent_at_once(
    driver_client, stops, clock, sent_late
):
    """An action from the offline queue says nothing about where the driver is now: stop 2's delivery
    may be the next item of the same queue."""
    clock.move_to(SENT_AT if sent_late else TAPS[0] + timedelta(seconds=20))
    send_queue(driver_client, stops[:1], TAPS[:1])
    notifications_for_status(order_id=stops[0].order_id, to_status="delivered")

    told_next = Notification.objects.filter(order_id=stops[1].order_id, event="arriving_soon").exists()
    assert told_next is not sent_late
    assert Notification.objects.filter(order_id=stops[0].order_id, event="delivered").exists()
