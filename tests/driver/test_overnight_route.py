"""A night shift's route belongs to the day it started on: after midnight the driver keeps it."""

from datetime import date, datetime, time, timedelta

import pytest
import time_machine
from django.utils import timezone

from dispatch.models import Order
from routes.models import Plan, Route, Stop
from routes.plans.services import plan_dispatch
from tests.driver.conftest import VADUZ

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NIGHT = date(2026, 11, 18)  # a Wednesday; the route runs into Thursday morning


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def _dispatch(*, day, depot, vehicle, driver, by, start, end, etas) -> Plan:
    plan = Plan.objects.create(date=day, depot=depot, version=1, status=Plan.Status.DONE, stage="done", progress=100)
    route = Route.objects.create(plan=plan, vehicle=vehicle, driver=driver, start=start, end=end)
    for sequence, (eta, (lat, lon)) in enumerate(zip(etas, VADUZ), start=1):
        order = Order.objects.create(
            reference=f"N{day:%d}-{sequence}",
            date=day,
            depot=depot,
            lat=lat,
            lon=lon,
            customer_name=f"Night {sequence}",
        )
        Stop.objects.create(route=route, order=order, sequence=sequence, eta=eta, etd=eta + timedelta(minutes=5))
    plan_dispatch(plan=plan, by=by)
    return plan


def test_after_midnight_the_driver_keeps_the_night_route_until_its_stops_are_done(
    depot_a, vehicle_a, driver_a, driver_client, dispatcher_a
):
    with time_machine.travel(_at(NIGHT, 22, 30), tick=True):
        plan = _dispatch(
            day=NIGHT, depot=depot_a, vehicle=vehicle_a, driver=driver_a, by=dispatcher_a,
            start=_at(NIGHT, 22, 45), end=_at(NIGHT + timedelta(days=1), 2, 30),
            etas=[_at(NIGHT, 23, 30), _at(NIGHT + timedelta(days=1), 1, 30)],
        )  # fmt: skip
    with time_machine.travel(_at(NIGHT + timedelta(days=1), 0, 20), tick=True):
        route = driver_client.get("/api/driver/route/").json()["route"]
        assert route is not None
        assert (route["plan"], route["date"]) == (plan.pk, NIGHT.isoformat())
        stops = route["stops"]
        assert [s["order"] for s in stops] == list(
            Stop.objects.filter(route__plan=plan).order_by("sequence").values_list("order_id", flat=True)
        )
        for stop in stops:
            assert driver_client.post(f"/api/driver/stops/{stop['id']}/arrive/", {}, format="json").status_code == 200
            answer = driver_client.post(
                f"/api/driver/stops/{stop['id']}/deliver/", {"recipient_name": "Nachtportier"}, format="json"
            )
            assert answer.status_code == 200, answer.content
        assert Order.objects.filter(stops__route__plan=plan, status=Order.Status.DELIVERED).count() == 2
        # Every stop done: the night is over, and the phone shows no route (nothing dispatched today).
        assert driver_client.get("/api/driver/route/").json()["route"] is None


def test_a_day_route_left_unfinished_is_not_served_the_next_morning(
    depot_a, vehicle_a, driver_a, driver_client, dispatcher_a
):
    with time_machine.travel(_at(NIGHT, 8), tick=True):
        _dispatch(
            day=NIGHT, depot=depot_a, vehicle=vehicle_a, driver=driver_a, by=dispatcher_a,
            start=_at(NIGHT, 8, 30), end=_at(NIGHT, 17, 30), etas=[_at(NIGHT, 10), _at(NIGHT, 15)],
        )  # fmt: skip
    with time_machine.travel(_at(NIGHT + timedelta(days=1), 0, 20), tick=True):
        assert driver_client.get("/api/driver/route/").json()["route"] is None


def test_after_midnight_the_dashboards_still_follow_the_night_plan(depot_a, vehicle_a, driver_a, dispatcher_a):
    from dispatch.live.broadcast import dispatch_snapshot
    from routes.plans.selectors import running_plans

    with time_machine.travel(_at(NIGHT, 22, 30), tick=True):
        plan = _dispatch(
            day=NIGHT, depot=depot_a, vehicle=vehicle_a, driver=driver_a, by=dispatcher_a,
            start=_at(NIGHT, 22, 45), end=_at(NIGHT + timedelta(days=1), 2, 30),
            etas=[_at(NIGHT, 23, 30), _at(NIGHT + timedelta(days=1), 1, 30)],
        )  # fmt: skip
    with time_machine.travel(_at(NIGHT + timedelta(days=1), 0, 20), tick=True):
        assert running_plans(dispatcher_a) == [plan]
        snapshot = dispatch_snapshot(user=dispatcher_a, depot_ids=[depot_a.id])
        assert [p["plan"] for p in snapshot["plans"]] == [plan.pk]
        Order.objects.filter(stops__route__plan=plan).update(status=Order.Status.DELIVERED)
        assert running_plans(dispatcher_a) == []  # the night is over
