"""The order lifecycle: every (from, to) pair against ALLOWED_TRANSITIONS, and the bulk services."""

import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from dispatch.errors import InvalidTransition
from dispatch.models import Order, OrderStatusChange
from dispatch.orders.services import (
    ALLOWED_TRANSITIONS,
    order_change_status,
    orders_bulk_change_status,
    orders_move_to_date,
    transition_allowed,
)

S = Order.Status
VADUZ = ZoneInfo("Europe/Vaduz")
PAIRS = list(itertools.product(S.values, S.values))


def _order(depot, reference="T-1", status=S.NEW, day=date(2026, 5, 4), **fields) -> Order:
    return Order.objects.create(
        reference=reference, date=day, depot=depot, lat=47.14, lon=9.52, status=status, **fields
    )


def test_it_covers_every_status_in_the_transition_table():
    assert set(ALLOWED_TRANSITIONS) == set(S.values)
    for targets in ALLOWED_TRANSITIONS.values():
        assert targets <= set(S.values)
    # Nothing ever leaves "delivered", and nothing jumps from "new" straight onto the road.
    assert ALLOWED_TRANSITIONS[S.DELIVERED] == set()
    assert not ALLOWED_TRANSITIONS[S.NEW] & {S.DISPATCHED, S.EN_ROUTE, S.ARRIVED, S.DELIVERED}


@pytest.mark.parametrize(("from_status", "to_status"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_it_allows_exactly_the_listed_transitions(depot_a, dispatcher_a, from_status, to_status):
    order = _order(depot_a, status=from_status)
    at = datetime(2026, 5, 4, 10, 30, tzinfo=VADUZ)

    if to_status in ALLOWED_TRANSITIONS[from_status]:
        returned = order_change_status(
            order=order, to_status=to_status, by=dispatcher_a, lat=47.1, lon=9.5, reason="test", note="n", at=at
        )
        assert returned.status == to_status
        assert order.status == to_status
        order.refresh_from_db()
        assert order.status == to_status
        change = OrderStatusChange.objects.get(order=order)
        assert (change.from_status, change.to_status) == (from_status, to_status)
        assert change.changed_by == dispatcher_a
        assert change.changed_at == at
        assert (change.lat, change.lon, change.reason, change.note) == (47.1, 9.5, "test", "n")
    else:
        with pytest.raises(InvalidTransition) as caught:
            order_change_status(order=order, to_status=to_status, by=dispatcher_a)
        assert caught.value.status_code == 409
        assert caught.value.errors[0]["field"] == "status"
        assert caught.value.errors[0]["value"] == to_status
        assert order.status == from_status
        order.refresh_from_db()
        assert order.status == from_status
        assert not OrderStatusChange.objects.filter(order=order).exists()
    assert transition_allowed(from_status, to_status) == (to_status in ALLOWED_TRANSITIONS[from_status])


def test_it_refuses_an_unknown_target_status(depot_a):
    order = _order(depot_a)
    with pytest.raises(InvalidTransition):
        order_change_status(order=order, to_status="teleported")
    assert Order.objects.get(pk=order.pk).status == S.NEW


def test_it_records_now_and_no_user_for_an_anonymous_change(depot_a):
    from django.contrib.auth.models import AnonymousUser

    order = _order(depot_a)
    before = timezone.now()
    order_change_status(order=order, to_status=S.PLANNED, by=AnonymousUser())
    change = OrderStatusChange.objects.get(order=order)
    assert change.changed_by is None
    assert before <= change.changed_at <= timezone.now()


def test_it_checks_the_stored_status_not_a_stale_copy(depot_a):
    order = _order(depot_a, status=S.PLANNED)
    stale = Order.objects.get(pk=order.pk)
    order_change_status(order=order, to_status=S.DISPATCHED)
    # The stale copy still says "planned"; planned -> new is allowed, dispatched -> new is not.
    with pytest.raises(InvalidTransition):
        order_change_status(order=stale, to_status=S.NEW)
    assert Order.objects.get(pk=order.pk).status == S.DISPATCHED


def test_it_changes_what_may_move_and_reports_the_rest_in_bulk(depot_a, dispatcher_a):
    movable = _order(depot_a, "B-1", S.NEW)
    also_movable = _order(depot_a, "B-2", S.FAILED)
    delivered = _order(depot_a, "B-3", S.DELIVERED)

    result = orders_bulk_change_status(
        orders=[movable, also_movable, delivered], to_status=S.CANCELLED, by=dispatcher_a, reason="storm"
    )

    assert sorted(o.reference for o in result.changed) == ["B-1", "B-2"]
    assert [(o.reference, "delivered" in message) for o, message in result.skipped] == [("B-3", True)]
    statuses = dict(Order.objects.values_list("reference", "status"))
    assert statuses == {"B-1": S.CANCELLED, "B-2": S.CANCELLED, "B-3": S.DELIVERED}
    history = OrderStatusChange.objects.filter(reason="storm", changed_by=dispatcher_a)
    assert sorted(history.values_list("order__reference", flat=True)) == ["B-1", "B-2"]
    assert not OrderStatusChange.objects.filter(order=delivered).exists()


def test_it_moves_orders_not_yet_dispatched_to_another_day(depot_a, dispatcher_a):
    day = date(2026, 5, 4)
    start = datetime(2026, 5, 4, 9, 0, tzinfo=VADUZ)
    new = _order(depot_a, "M-1", S.NEW, day, window_start=start, window_end=start + timedelta(hours=2))
    planned = _order(depot_a, "M-2", S.PLANNED, day)
    failed = _order(depot_a, "M-3", S.FAILED, day)
    dispatched = _order(depot_a, "M-4", S.DISPATCHED, day)
    delivered = _order(depot_a, "M-5", S.DELIVERED, day)

    result = orders_move_to_date(orders=Order.objects.order_by("reference"), new_date=date(2026, 5, 6), by=dispatcher_a)

    assert [o.reference for o in result.changed] == ["M-1", "M-2", "M-3"]
    assert [o.reference for o, _ in result.skipped] == ["M-4", "M-5"]
    for order in (new, planned, failed):
        order.refresh_from_db()
        assert (order.date, order.status) == (date(2026, 5, 6), S.NEW)
    for order in (dispatched, delivered):
        status = order.status
        order.refresh_from_db()
        assert (order.date, order.status) == (day, status)
    assert new.window_start == datetime(2026, 5, 6, 9, 0, tzinfo=VADUZ)
    assert new.window_end == datetime(2026, 5, 6, 11, 0, tzinfo=VADUZ)
    # Planned and failed orders went back to "new", with history saying why; "new" needed no change.
    moved = OrderStatusChange.objects.filter(reason="moved", changed_by=dispatcher_a)
    assert sorted(moved.values_list("order__reference", "to_status")) == [("M-2", "new"), ("M-3", "new")]
    assert not OrderStatusChange.objects.filter(order=new).exists()


def test_it_keeps_the_local_window_when_moving_across_a_dst_change(depot_a, settings):
    settings.TIME_ZONE = "Europe/Vaduz"
    # Saturday before the spring change (CET, +01:00) to the Monday after it (CEST, +02:00).
    start = datetime(2026, 3, 28, 9, 0, tzinfo=VADUZ)
    order = _order(depot_a, "DST-1", S.NEW, date(2026, 3, 28), window_start=start, window_end=start.replace(hour=12))
    # Rows read back from the database carry UTC, as every list handed to the service does.
    orders_move_to_date(orders=Order.objects.filter(pk=order.pk), new_date=date(2026, 3, 30))

    order.refresh_from_db()
    local_start = timezone.localtime(order.window_start, VADUZ)
    local_end = timezone.localtime(order.window_end, VADUZ)
    assert (local_start.date(), local_start.hour, local_start.minute) == (date(2026, 3, 30), 9, 0)
    assert (local_end.date(), local_end.hour) == (date(2026, 3, 30), 12)
    assert local_start.utcoffset() == timedelta(hours=2)
