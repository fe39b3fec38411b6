"""Reads of the driver's phone app: the driver behind a login, today's route, one stop of it."""

from datetime import date

from django.utils.translation import gettext as _

from dispatch.errors import DispatchError
from dispatch.models import Driver, ProofOfDelivery
from routes.models import Stop
from routes.plans.selectors import driver_route, driver_routes


class StopNotFound(DispatchError):
    status_code = 404


def driver_for_user(user) -> Driver:
    return Driver.objects.select_related("vehicle", "depot").get(user=user)


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
        older = driver_routes(driver).filter(plan__date=route.plan.date, plan__dispatched_at__isnull=False)
        order_id = Stop.objects.filter(pk=stop_id, route__in=older).values_list("order_id", flat=True).first()
        for stop in stops:
            if order_id is not None and stop.order_id == order_id:
                return stop
    raise StopNotFound(_("No stop %(stop)s on your route") % {"stop": stop_id}, field="id", value=stop_id)


def stop_proofs(stop: Stop):
    return ProofOfDelivery.objects.filter(order_id=stop.order_id)
