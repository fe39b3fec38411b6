"""A dispatched day for the driver app: plans written directly (no solver), dispatched by the service.

`dispatched_route` gives driver_a (depot A, vehicle A-Van-1) today's route of three stops, and driver_b
(depot A, another van) a route of one stop: "another driver's stop".
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from dispatch.fleet.services import driver_create
from dispatch.models import Order, Vehicle
from routes.models import Plan, Route, Stop
from routes.plans.services import plan_dispatch
from tests.conftest import PASSWORD, _client_for

# A 1x1 PNG and the first bytes of a JPEG: what the phone sends, as small as possible.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
JPEG_BYTES = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
VADUZ = [(47.1399, 9.5213), (47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230)]


@dataclass
class DispatchedDay:
    plan: Plan
    route: Route
    stops: list[Stop]
    other_stop: Stop


def _local(day, hour, minute=0):
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def write_plan(*, day, depot, routes: dict, version: int = 1, parent=None) -> Plan:
    """routes: {(vehicle, driver): [order, ...]} → a finished plan with stops an hour apart from 09:00."""
    plan = Plan.objects.create(
        date=day, depot=depot, version=version, parent=parent, status=Plan.Status.DONE, stage="done", progress=100
    )
    for (vehicle, driver), orders in routes.items():
        route = Route.objects.create(
            plan=plan, vehicle=vehicle, driver=driver, start=_local(day, 8, 30), end=_local(day, 9 + len(orders)),
            distance_m=12000, duration_s=3600 * len(orders),
            geometry={"type": "LineString", "coordinates": [[o.lon, o.lat] for o in orders]},
            breaks=[{"after_sequence": 1, "start": _local(day, 12).isoformat(), "duration_s": 1800}],
        )  # fmt: skip
        for sequence, order in enumerate(orders, start=1):
            eta = _local(day, 8 + sequence)
            Stop.objects.create(
                route=route, order=order, sequence=sequence, eta=eta, etd=eta + timedelta(minutes=5), service_s=300
            )
    return plan


@pytest.fixture
def vehicle_a2(depot_a):
    return Vehicle.objects.create(name="A-Van-2", depot=depot_a, kind="van", capacity_kg=800)


@pytest.fixture
def driver_b(vehicle_a2):
    return driver_create(username="driver_b", password=PASSWORD, name="Bo Other", vehicle=vehicle_a2)


@pytest.fixture
def driver_b_client(driver_b):
    return _client_for(driver_b.user)


@pytest.fixture
def todays_orders(depot_a):
    day = timezone.localdate()
    return [
        Order.objects.create(
            reference=f"D{index}",
            date=day,
            depot=depot_a,
            lat=lat,
            lon=lon,
            customer_name=f"Customer {index}",
            phone=f"+423 000 00 0{index}",
            address=f"Städtle {index}, Vaduz",
            items=index + 1,
            weight_kg=2 + index,
            notes="Ring twice" if index == 0 else "",
            skills=["fridge"] if index == 1 else [],
            window_start=_local(day, 9),
            window_end=_local(day, 12),
        )  # fmt: skip
        for index, (lat, lon) in enumerate(VADUZ)
    ]


@pytest.fixture
def dispatched_route(depot_a, vehicle_a, driver_a, vehicle_a2, driver_b, todays_orders, dispatcher_a):
    plan = write_plan(
        day=timezone.localdate(),
        depot=depot_a,
        routes={(vehicle_a, driver_a): todays_orders[:3], (vehicle_a2, driver_b): todays_orders[3:]},
    )
    plan_dispatch(plan=plan, by=dispatcher_a)
    route = plan.routes.get(vehicle=vehicle_a)
    stops = list(route.stops.order_by("sequence"))
    other_stop = Stop.objects.get(route__plan=plan, route__vehicle=vehicle_a2)
    return DispatchedDay(plan=plan, route=route, stops=stops, other_stop=other_stop)
