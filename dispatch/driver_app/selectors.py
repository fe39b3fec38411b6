"""Reads of the driver's phone app: the driver behind a login, today's route, one stop of it."""

from datetime import date, datetime, timedelta

from django.db.models import Prefetch, Q
from django.utils import timezone

from dispatch.errors import DispatchError
from dispatch.models import Driver, ProofOfDelivery
from routes.models import Plan, Route, Stop
from routes.plans.replanning import latest_dispatched_plan
from routes.plans.selectors import night_routes_running


class StopNotFound(DispatchError):
    status_code = 404


def driver_for_user(user) -> Driver:
    return Driver.objects.select_related("vehicle", "depot").get(user=user)


def _routes_of(driver: Driver):
    mine = Q(driver=driver)
    if driver.vehicle_id:
        # A route planned for the driver's vehicle before the driver was set on it is still theirs.
        mine |= Q(driver__isnull=True, vehicle_id=driver.vehicle_id)
    return Route.objects.filter(mine)


def _plan_of_day(driver: Driver, day: date) -> Plan | None:
    for depot_id in (driver.depot_id, None):
        plan = latest_dispatched_plan(day=day, depot_id=depot_id)
        if plan is not None and _routes_of(driver).filter(plan=plan).exists():
            return plan
    return None


def current_plan(driver: Driver, *, day: date | None = None, now: datetime | None = None) -> Plan | None:
    """The newest dispatched plan that gives this driver a route: the day's, or the one still being driven.

    A plan is made for one depot, or (when requested without one) for every depot at once: both
    are looked at, the depot's own plan first. Without a day: a night shift's route belongs to the
    day it started on, so after midnight the driver keeps yesterday's route while it runs past
    midnight and has stops left; otherwise today's.
    """
    if day is not None:
        return _plan_of_day(driver, day)
    now = now or timezone.now()
    today = timezone.localdate(now)
    overnight = _plan_of_day(driver, today - timedelta(days=1))
    if overnight is not None and night_routes_running(_routes_of(driver).filter(plan=overnight), today=today).exists():
        return overnight
    return _plan_of_day(driver, today)


def driver_route(driver: Driver, *, day: date | None = None, now: datetime | None = None) -> Route | None:
    """The driver's route (see current_plan), stops in order with their orders and proofs loaded; None if nothing is dispatched."""
    plan = current_plan(driver, day=day, now=now)
    if plan is None:
        return None
    stops = Stop.objects.select_related("order").order_by("sequence")
    return (
        _routes_of(driver)
        .filter(plan=plan)
        .select_related("plan", "vehicle", "driver")
        .prefetch_related(Prefetch("stops", queryset=stops))
        .order_by("id")
        .first()
    )


def driver_stop(driver: Driver, stop_id: int, *, day: date | None = None) -> Stop:
    """A stop of the driver's current route, found by its id.

    The phone may send an action queued offline with the id of a stop of an older version of the
    day's plan (a re-plan creates new Stop rows): such a stop still counts when its order is on the
    driver's current route, and the current stop is returned. Anybody else's stop is "not found".
    """
    route = driver_route(driver, day=day)
    if route is not None:
        stops = list(route.stops.all())
        for stop in stops:
            if stop.pk == stop_id:
                return stop
        older = _routes_of(driver).filter(plan__date=route.plan.date, plan__dispatched_at__isnull=False)
        order_id = Stop.objects.filter(pk=stop_id, route__in=older).values_list("order_id", flat=True).first()
        for stop in stops:
            if order_id is not None and stop.order_id == order_id:
                return stop
    raise StopNotFound(f"No stop {stop_id} on your route", field="id", value=stop_id)


def stop_proofs(stop: Stop):
    return ProofOfDelivery.objects.filter(order_id=stop.order_id)
