"""A hand-made day of depot A: one dispatched route of four stops with known times and costs.

Every figure the tests expect is computed by hand in test_kpis.py from these numbers.
"""

from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache

from analytics.services import order_facts_refresh
from dispatch.models import Order
from dispatch.orders.services import order_change_status
from routes.models import Plan, Route, Stop

TZ = ZoneInfo("Europe/Vaduz")
DAY = date(2026, 3, 10)


def at(hour: int, minute: int = 0, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=TZ)


def make_order(depot, reference: str, *, day=DAY, window=None, zone=None) -> Order:
    return Order.objects.create(
        reference=reference, date=day, depot=depot, lat=47.14, lon=9.52, zone=zone,
        window_start=window[0] if window else None, window_end=window[1] if window else None,
    )  # fmt: skip


def walk(order, *steps, by=None):
    """Apply (to_status, at, reason) steps through the one status service."""
    for step in steps:
        to_status, moment, *reason = step
        order_change_status(order=order, to_status=to_status, at=moment, by=by, reason=reason[0] if reason else "")


def dispatched_route(*, depot, vehicle, driver, day=DAY, stops, distance_m=20000, start=None, end=None):
    """A done, dispatched plan with one route; `stops` are (order, eta, etd)."""
    plan = Plan.objects.create(date=day, depot=depot, version=1, status=Plan.Status.DONE, dispatched_at=at(7, 0, day))
    route = Route.objects.create(
        plan=plan, vehicle=vehicle, driver=driver, distance_m=distance_m,
        duration_s=int(((end or at(12, 0, day)) - (start or at(8, 0, day))).total_seconds()),
        start=start or at(8, 0, day), end=end or at(12, 0, day),
    )  # fmt: skip
    for sequence, (order, eta, etd) in enumerate(stops, start=1):
        Stop.objects.create(route=route, order=order, sequence=sequence, eta=eta, etd=etd)
    return route


@pytest.fixture(autouse=True)
def _empty_cache():
    # The comparison period's figures are cached (Redis when configured) and outlive a test's
    # rolled-back rows: no test may read another's.
    cache.clear()


@pytest.fixture
def costed_vehicle(vehicle_a):
    vehicle_a.fixed_cost = Decimal("40")
    vehicle_a.cost_per_km = Decimal("0.5")
    vehicle_a.cost_per_hour = Decimal("30")
    vehicle_a.save()
    return vehicle_a


@pytest.fixture
def day_of_depot_a(depot_a, costed_vehicle, driver_a):
    """O1 on time; O2 20 min late; O3 no window, failed (not_home); O4 failed (no_access) then delivered late."""
    o1 = make_order(depot_a, "O1", window=(at(9), at(10)))
    o2 = make_order(depot_a, "O2", window=(at(10), at(11)))
    o3 = make_order(depot_a, "O3")
    o4 = make_order(depot_a, "O4", window=(at(8), at(9)))
    dispatched_route(
        depot=depot_a, vehicle=costed_vehicle, driver=driver_a,
        stops=[(o4, at(8, 30), at(8, 35)), (o1, at(9, 30), at(9, 35)), (o2, at(10, 30), at(10, 35)),
               (o3, at(11), at(11, 5))],
    )  # fmt: skip
    for order in (o1, o2, o3, o4):
        walk(order, ("planned", at(18, 0, date(2026, 3, 9))), ("dispatched", at(7, 0)))
    walk(o4, ("arrived", at(8, 30)), ("failed", at(8, 35), "no_access"), ("new", at(8, 40)), ("planned", at(8, 41)),
         ("dispatched", at(8, 42)))  # fmt: skip
    walk(o1, ("arrived", at(9, 40)), ("delivered", at(9, 45)))
    walk(o2, ("arrived", at(11, 20)), ("delivered", at(11, 25)))
    walk(o3, ("arrived", at(11, 40)), ("failed", at(11, 42), "not_home"))
    walk(o4, ("arrived", at(11, 50)), ("delivered", at(11, 55)))
    order_facts_refresh(date_from=DAY, date_to=DAY)
    return {"O1": o1, "O2": o2, "O3": o3, "O4": o4}
