"""The database itself refuses bad rows, even on paths that skip model validation.

bulk_create and QuerySet.update() never call clean(), so each constraint is checked through them;
every violation runs in its own savepoint, as PostgreSQL aborts the surrounding transaction.
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from dispatch.models import Depot, Order, OrderStatusChange, Vehicle
from dispatch.orders.services import order_change_status

ZURICH = ZoneInfo("Europe/Zurich")


def _order(depot, reference="R-1", **fields) -> Order:
    values = {"reference": reference, "date": date(2026, 5, 4), "depot": depot, "lat": 47.14, "lon": 9.52}
    values.update(fields)
    return Order(**values)


def _refused(callable_, *args, **kwargs):
    with pytest.raises(IntegrityError), transaction.atomic():
        callable_(*args, **kwargs)


def test_it_refuses_a_second_order_with_the_same_reference(depot_a, depot_b):
    Order.objects.bulk_create([_order(depot_a, "DUP")])
    _refused(Order.objects.bulk_create, [_order(depot_b, "DUP")])
    assert Order.objects.filter(reference="DUP").count() == 1


def test_it_refuses_a_window_that_ends_before_it_starts(depot_a):
    order = _order(depot_a)
    order.save()
    start = datetime(2026, 5, 4, 10, 0, tzinfo=ZURICH)
    _refused(Order.objects.filter(pk=order.pk).update, window_start=start, window_end=start)
    _refused(
        Order.objects.filter(pk=order.pk).update, window_start=start, window_end=datetime(2026, 5, 4, 9, tzinfo=ZURICH)
    )
    _refused(Order.objects.bulk_create, [_order(depot_a, "R-2", window_start=start, window_end=start)])
    # One open side is allowed: "deliver after 10:00" or "before 12:00".
    Order.objects.filter(pk=order.pk).update(window_start=start, window_end=None)
    Order.objects.filter(pk=order.pk).update(window_start=start, window_end=datetime(2026, 5, 4, 11, tzinfo=ZURICH))


@pytest.mark.parametrize(
    ("field", "value"),
    [("weight_kg", -1), ("volume_l", "-0.5"), ("items", -1)],
)
def test_it_refuses_negative_loads(depot_a, field, value):
    order = _order(depot_a)
    order.save()
    _refused(Order.objects.filter(pk=order.pk).update, **{field: value})
    _refused(Order.objects.bulk_create, [_order(depot_a, "R-2", **{field: value})])
    Order.objects.filter(pk=order.pk).update(**{field: 0})


@pytest.mark.parametrize("priority", [101, 32767, -1])
def test_it_refuses_a_priority_outside_0_to_100(depot_a, priority):
    order = _order(depot_a)
    order.save()
    _refused(Order.objects.filter(pk=order.pk).update, priority=priority)
    for allowed in (0, 100):
        Order.objects.filter(pk=order.pk).update(priority=allowed)
        assert Order.objects.get(pk=order.pk).priority == allowed


@pytest.mark.parametrize(("lat", "lon"), [(90.0001, 9.5), (-90.5, 9.5), (47.1, 180.01), (47.1, -181)])
def test_it_refuses_coordinates_out_of_range(depot_a, lat, lon):
    order = _order(depot_a)
    order.save()
    _refused(Order.objects.filter(pk=order.pk).update, lat=lat, lon=lon)
    _refused(Order.objects.bulk_create, [_order(depot_a, "R-2", lat=lat, lon=lon)])
    _refused(Depot.objects.filter(pk=depot_a.pk).update, lat=lat, lon=lon)
    _refused(Depot.objects.bulk_create, [Depot(code="X", name="X", lat=lat, lon=lon)])
    Order.objects.filter(pk=order.pk).update(lat=90, lon=-180)


def test_it_refuses_an_unknown_status(depot_a):
    order = _order(depot_a)
    order.save()
    _refused(Order.objects.filter(pk=order.pk).update, status="lost")


def test_it_refuses_a_depot_that_closes_before_it_opens(depot_a):
    _refused(Depot.objects.filter(pk=depot_a.pk).update, opens=time(19), closes=time(7))
    _refused(Depot.objects.filter(pk=depot_a.pk).update, opens=time(9), closes=time(9))
    _refused(
        Depot.objects.bulk_create, [Depot(code="LATE", name="Late", lat=47, lon=9, opens=time(20), closes=time(6))]
    )
    assert Depot.objects.get(pk=depot_a.pk).opens == time(7)


def test_it_refuses_an_empty_vehicle_shift_and_keeps_a_night_shift(vehicle_a):
    _refused(Vehicle.objects.filter(pk=vehicle_a.pk).update, shift_start=time(8), shift_end=time(8))
    _refused(
        Vehicle.objects.bulk_create,
        [Vehicle(name="Nothing", depot=vehicle_a.depot, capacity_kg=10, shift_start=time(22), shift_end=time(22))],
    )
    # An end before the start is the next morning (routes.plans.inputs.shift_bounds).
    night = Vehicle.objects.create(
        name="Night", depot=vehicle_a.depot, capacity_kg=10, shift_start=time(22), shift_end=time(6)
    )
    assert (night.shift_start, night.shift_end) == (time(22), time(6))
    _refused(Vehicle.objects.filter(pk=vehicle_a.pk).update, capacity_kg=-1)
    _refused(Vehicle.objects.filter(pk=vehicle_a.pk).update, cost_per_km=-1)
    _refused(Vehicle.objects.filter(pk=vehicle_a.pk).update, kind="truck")
    vehicle_a.refresh_from_db()
    assert (vehicle_a.shift_start, vehicle_a.shift_end) == (time(8), time(17))


def test_it_keeps_status_history_append_only(depot_a, dispatcher_a):
    order = _order(depot_a)
    order.save()
    order_change_status(order=order, to_status=Order.Status.PLANNED, by=dispatcher_a)
    change = OrderStatusChange.objects.get(order=order)

    change.note = "rewritten"
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.delete()

    change.refresh_from_db()
    assert change.note == ""
    assert (change.from_status, change.to_status, change.changed_by) == ("new", "planned", dispatcher_a)
    assert OrderStatusChange.objects.filter(order=order).count() == 1
