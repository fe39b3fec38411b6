"""The minimum interval between "delayed" messages to one order (customers.notifications.promises).

Each test sets its own moments (time-machine, not ticking, shifted in real seconds), so it passes at
any hour and at each moment `make test-clock` pins; the DST tests travel to the nights clocks change.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from customers.models import Notification, PromisedWindow
from customers.notifications.plan_changes import notifications_for_plan
from customers.notifications.promises import delay_message_send, delay_messages_send_due, notifications_for_eta
from customers.notifications.tasks import send_delay_message
from customers.selectors import tracking_state
from dispatch.models import Order
from tests.conftest import clock_moment
from tests.customers.conftest import make_order, make_plan

pytestmark = pytest.mark.clock

ZONE = ZoneInfo(settings.TIME_ZONE)
N = Notification.Status


@pytest.fixture
def clock():
    """A stopped clock at a given local moment; `clock.shift(minutes=…)` moves it in real time."""
    travellers = []

    def start(moment: datetime):
        traveller = time_machine.travel(moment, tick=False)
        travellers.append(traveller)
        return traveller.start()

    yield start
    for traveller in reversed(travellers):
        traveller.stop()


@pytest.fixture
def told(django_capture_on_commit_callbacks):
    """Run a service as its task would, its after-commit sends included (inline)."""

    def run(function, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(**kwargs)

    return run


@pytest.fixture
def scene(depot_a, vehicle_a, driver_a, customer, told):
    """Today (at the clock's moment): the customer's order on a dispatched route, its ETA in 2 h, told."""

    def build(**order_fields) -> Order:
        today = timezone.localdate()
        order = make_order(depot_a, "ORD-1", customer=customer, day=today, **order_fields)
        plan = make_plan(depot_a, vehicle_a, driver_a, [(order, timezone.now() + timedelta(hours=2))], day=today)
        told(notifications_for_plan, plan_id=plan.pk)
        assert delayed(order) == []
        return order

    return build


def delayed(order) -> list[tuple[str, str]]:
    """The order's "delayed" e-mails: (status, the window it names)."""
    rows = Notification.objects.filter(order=order, event="delayed", channel="email").order_by("id")
    return [(n.status, n.subject.rsplit(": ", 1)[-1]) for n in rows]


def window(order) -> str:
    promise = PromisedWindow.objects.get(order=order)
    return f"{timezone.localtime(promise.start):%H:%M}–{timezone.localtime(promise.end):%H:%M} Uhr"


def eta_beyond(order, minutes: int) -> datetime:
    """An ETA this many minutes after the end of the window the customer was told last: beyond 10 a
    delay (the threshold); within the interval, it waits up to 30 (the window, 60 min wide, then
    moved by 30 + minutes) and is told at once beyond."""
    return PromisedWindow.objects.get(order=order).told_end + timedelta(minutes=minutes)


def local(day, hh, mm, *, fold=0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=ZONE).replace(fold=fold)


def test_it_tells_the_first_delay_at_once_and_the_latest_once_the_interval_is_over(scene, clock, told, client):
    moment = clock(timezone.localtime().replace(second=0, microsecond=0))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    first_window = window(order)
    assert delayed(order) == [("sent", first_window)]

    # A further revision within the interval: the promise (and the page) move at once, no message;
    # the same ETA again changes nothing.
    moment.shift(timedelta(minutes=2))
    later = eta_beyond(order, 15)
    told(notifications_for_eta, order_id=order.pk, eta=later)
    moment.shift(timedelta(minutes=3))
    told(notifications_for_eta, order_id=order.pk, eta=later)
    promise = PromisedWindow.objects.get(order=order)
    assert promise.revision == 3 and window(order) != first_window
    assert delayed(order) == [("sent", first_window)]
    state = tracking_state(order)
    assert (state["eta_window"]["start"], state["eta_window"]["end"]) == (promise.start, promise.end)
    token = Notification.objects.filter(order=order, event="delayed").first().body.split("/t/")[1].split("/")[0]
    api = client.get(f"/api/track/{token}/").json()
    assert api["eta_window"]["start"] == timezone.localtime(promise.start).isoformat()

    # Just before the interval ends, neither the timer nor the sweep says anything.
    moment.shift(timedelta(minutes=9, seconds=50))
    assert told(delay_message_send, order_id=order.pk) == []
    assert told(delay_messages_send_due) == 0
    # Once it ends: the latest window, once (e-mail and SMS), however often the timer and sweep come.
    moment.shift(timedelta(seconds=20))
    assert told(send_delay_message.apply, args=[order.pk]).get() == 2
    assert told(delay_messages_send_due) == 0
    assert told(send_delay_message.apply, args=[order.pk]).get() == 0
    assert delayed(order) == [("sent", first_window), ("sent", window(order))]
    assert Notification.objects.filter(order=order, event="delayed", channel="sms").count() == 2


def test_the_sweep_tells_a_change_whose_timer_was_lost(scene, clock, told, settings):
    settings.CUSTOMER_DELAY_MESSAGE_MIN_INTERVAL_MIN = 5
    moment = clock(timezone.localtime().replace(second=0, microsecond=0))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    moment.shift(timedelta(minutes=1))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    moment.shift(timedelta(minutes=5))
    assert told(delay_messages_send_due) == 2  # e-mail and SMS of the one change, without its timer
    assert [status for status, _ in delayed(order)] == ["sent", "sent"]


def test_a_window_that_moves_again_by_more_than_its_width_is_told_at_once(scene, clock, told):
    moment = clock(timezone.localtime().replace(second=0, microsecond=0))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    moment.shift(timedelta(minutes=1))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))  # 45 min later: waits
    assert len(delayed(order)) == 1
    moment.shift(timedelta(minutes=1))
    # 90 min past the middle of the window told, which is 60 min wide: that is news now.
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 60))
    assert delayed(order)[-1] == ("sent", window(order)) and len(delayed(order)) == 2
    moment.shift(timedelta(minutes=20))
    assert told(delay_messages_send_due) == 0


def test_a_delay_the_eta_takes_back_within_the_interval_is_never_told(scene, clock, told):
    moment = clock(timezone.localtime().replace(second=0, microsecond=0))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    told_window = window(order)
    middle = PromisedWindow.objects.get(order=order).start + timedelta(minutes=30)
    moment.shift(timedelta(minutes=1))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    assert window(order) != told_window
    moment.shift(timedelta(minutes=1))
    told(notifications_for_eta, order_id=order.pk, eta=middle)  # back where the customer expects it
    assert window(order) == told_window
    moment.shift(timedelta(minutes=20))
    assert told(delay_messages_send_due) == 0 and told(delay_message_send, order_id=order.pk) == []
    assert delayed(order) == [("sent", told_window)]


def test_a_stop_taken_off_the_routes_hears_we_will_reschedule_at_once_and_never_its_waiting_delay(
    scene, clock, told, depot_a, vehicle_a, driver_a
):
    moment = clock(timezone.localtime().replace(second=0, microsecond=0))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    moment.shift(timedelta(minutes=1))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))  # waits for the interval
    moment.shift(timedelta(minutes=1))
    # Version 2 leaves the order out (mark_orders_dispatched sends it back to "new").
    other = make_order(depot_a, "ORD-9", day=order.date, phone="+41790000009")
    version_2 = make_plan(
        depot_a, vehicle_a, driver_a, [(other, timezone.now() + timedelta(hours=1))], day=order.date, version=2
    )
    Order.objects.filter(pk=order.pk).update(status=Order.Status.NEW)
    told(notifications_for_plan, plan_id=version_2.pk)
    rescheduled = Notification.objects.filter(order=order, event="rescheduled")
    assert sorted(rescheduled.values_list("channel", "status")) == [("email", "sent"), ("sms", "sent")]
    moment.shift(timedelta(minutes=20))
    assert told(delay_messages_send_due) == 0 and told(delay_message_send, order_id=order.pk) == []
    assert len(delayed(order)) == 1
    assert tracking_state(Order.objects.get(pk=order.pk))["eta_window"] == {"start": None, "end": None}


def test_a_completed_order_hears_no_late_new_time(scene, clock, told):
    moment = clock(timezone.localtime().replace(second=0, microsecond=0))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    moment.shift(timedelta(minutes=1))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    Order.objects.filter(pk=order.pk).update(status=Order.Status.DELIVERED)
    moment.shift(timedelta(minutes=20))
    assert told(delay_messages_send_due) == 0
    assert len(delayed(order)) == 1
    promise = PromisedWindow.objects.get(order=order)
    assert promise.told_revision == promise.revision  # settled: the sweep does not look at it again


def test_in_quiet_hours_the_customer_wakes_to_one_new_time(scene, clock, told, customer):
    start = timezone.localtime().replace(second=0, microsecond=0)
    moment = clock(start)
    customer.quiet_hours_start = (start - timedelta(hours=1)).time()
    customer.quiet_hours_end = (start + timedelta(hours=1)).time()
    customer.save()
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    first = window(order)
    assert delayed(order) == [("held", first)]
    moment.shift(timedelta(minutes=5))
    # The held one has reached nobody: a newer time replaces it, still held until quiet hours end.
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    assert delayed(order) == [("skipped", first), ("held", window(order))]
    quiet_end = Notification.objects.get(order=order, event="delayed", channel="email", status="held").send_after
    # The wall-clock end (start + 1 h on the local calendar); compared as instants, since Python never
    # finds a wall time in the spring gap equal to one in another zone (PEP 495).
    assert quiet_end.timestamp() == (start + timedelta(hours=1)).timestamp()
    # Five minutes after they end, another change waits for the interval, counted from their end.
    moment.shift(quiet_end - timezone.now() + timedelta(minutes=5))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    assert len(delayed(order)) == 2
    moment.shift(timedelta(minutes=9))
    assert told(delay_messages_send_due) == 0
    moment.shift(timedelta(minutes=2))
    assert told(delay_messages_send_due) == 2
    assert delayed(order)[-1] == ("sent", window(order))


@pytest.mark.parametrize(
    "night, first_hh_mm, fold",
    [("spring-forward", (1, 50), 0), ("fall-back", (2, 50), 0)],
    ids=["spring-forward", "fall-back"],
)
def test_the_interval_is_real_time_on_the_nights_clocks_change(scene, clock, told, night, first_hh_mm, fold):
    day = clock_moment(night, today=timezone.localdate(), zone=ZONE).date()
    first = local(day, *first_hh_mm, fold=fold)
    moment = clock(first)
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    moment.shift(timedelta(minutes=5))
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    # 15 real minutes after 01:50 CET is 03:05 CEST (02:00 jumps to 03:00); after 02:50 CEST it is
    # 02:05 CET (03:00 goes back to 02:00): a wall-clock interval would be an hour off either way.
    moment.shift(timedelta(minutes=9, seconds=50))
    assert timezone.localtime().strftime("%H:%M") == ("03:04" if night == "spring-forward" else "02:04")
    assert told(delay_messages_send_due) == 0
    moment.shift(timedelta(seconds=20))
    assert told(delay_messages_send_due) == 2
    assert len(delayed(order)) == 2


def test_quiet_hours_ending_in_the_hour_spring_skips_hold_the_new_time_until_they_end(scene, clock, told, customer):
    day = clock_moment("spring-forward", today=timezone.localdate(), zone=ZONE).date()
    customer.quiet_hours_start, customer.quiet_hours_end = time(22), time(2, 30)  # 02:30 does not exist that night
    customer.save()
    moment = clock(local(day, 1, 40))
    order = scene()
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 40))
    [held] = Notification.objects.filter(order=order, event="delayed", channel="email")
    # Held until 03:30 CEST: 50 real minutes (the clock's 02:30 with the offset before the change).
    assert held.status == "held" and held.send_after - timezone.now() == timedelta(minutes=50)
    moment.shift(timedelta(minutes=55))  # 03:35 CEST: quiet hours are over
    told(notifications_for_eta, order_id=order.pk, eta=eta_beyond(order, 15))
    assert len(delayed(order)) == 1  # the interval counts from 03:30, when the customer got the first
    moment.shift(timedelta(minutes=11))
    assert told(delay_messages_send_due) == 2
    assert delayed(order)[-1] == ("sent", window(order))
