"""Reads for an order's page (/orders/<id>/) and its detail in the API: where the order stands in
the plan that rules its day (route, vehicle, driver, planned and live ETA), its proof of delivery,
and the routes it may be moved to.

Like the page itself, this module composes the layers (orders, planning, customers); the imports of
the planning app stay inside the functions so that the order core never loads it by itself.
"""

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Count, Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone

from dispatch.models import Order, ProofOfDelivery
from dispatch.orders import selectors
from routes.models import Route, Stop
from routes.plans.optimization import plan_vehicles
from routes.plans.selectors import OrderPlacement, order_placement  # noqa: F401 - moved to planning (issue 21)


@dataclass
class RouteChoice:
    vehicle_id: int
    label: str
    current: bool = False


def order_for_page(user, order_id: int) -> Order:
    """The order if the user's depots include it; 404 otherwise (another depot's order is not there)."""
    return get_object_or_404(selectors.orders_visible_to(user).select_related("customer", "depot", "zone"), id=order_id)


def order_status_timeline(order: Order) -> list:
    """The order's status changes, oldest first, each with its statuses' labels in the active language
    (the history stores the codes: `to_label`, `from_label`)."""
    labels = dict(Order.Status.choices)
    history = list(order.status_history.select_related("changed_by").order_by("changed_at", "id"))
    for change in history:
        change.to_label = labels.get(change.to_status, change.to_status)
        change.from_label = labels.get(change.from_status, change.from_status) if change.from_status else ""
    return history


def order_proofs(order: Order):
    return ProofOfDelivery.objects.filter(order=order).select_related("driver").order_by("-delivered_at", "-id")


def order_route_choices(order: Order, placement: OrderPlacement) -> list[RouteChoice]:
    """Vehicles of the order's own depot the plan may use: its routes first (with their driver and
    stop count), then the depot's other vehicles of the plan, which a move would send out."""

    if placement.plan is None:
        return []
    routes = {
        route.vehicle_id: route
        for route in Route.objects.filter(plan=placement.plan, vehicle__depot_id=order.depot_id)
        .select_related("vehicle", "driver")
        .annotate(stop_count=Count("stops"))
        .defer("geometry")
    }
    vehicles = {v.id: v for v in plan_vehicles(placement.plan) if v.depot_id == order.depot_id}
    for vehicle_id, route in routes.items():
        vehicles.setdefault(vehicle_id, route.vehicle)
    current = placement.route.vehicle_id if placement.route is not None else None
    choices = []
    for vehicle_id, vehicle in sorted(vehicles.items(), key=lambda item: (item[0] not in routes, item[1].name)):
        route = routes.get(vehicle_id)
        if route is None:
            label = f"{vehicle.name} · no route yet"
        else:
            driver = f" ({route.driver.name})" if route.driver_id else ""
            label = f"{vehicle.name}{driver} · {route.stop_count} stop{'' if route.stop_count == 1 else 's'}"
        choices.append(RouteChoice(vehicle_id=vehicle_id, label=label, current=vehicle_id == current))
    return choices


# --- The order's map: the route serving it and where its driver is -------------------------------


@dataclass(frozen=True)
class DriverSighting:
    """Where the driver of the order's route was last seen (Driver.last_*), and when."""

    name: str
    lat: float
    lon: float
    at: datetime
    heading: float | None = None


def order_route_for_map(placement: OrderPlacement) -> Route | None:
    """The route serving the order (see order_placement) with its geometry, vehicle, driver and its stops in
    order with their orders, for the order's map; None when the order is on no route."""
    if placement.stop is None:
        return None
    stops = Stop.objects.select_related("order").order_by("sequence")
    return (
        Route.objects.select_related("vehicle", "driver")
        .prefetch_related(Prefetch("stops", queryset=stops))
        .get(pk=placement.stop.route_id)
    )


# A driver's phone starts sending before the first stop (loading at the depot): positions from an hour
# before the route's planned start count as driving it.
SIGHTING_BEFORE_START = timedelta(hours=1)


def order_driver_sighting(placement: OrderPlacement, route: Route | None, *, now=None) -> DriverSighting | None:
    """The position of the route's driver while the route is being driven, else None.

    Being driven: its plan is dispatched, for today (or yesterday: a route past midnight), a stop of
    it is still open, and the driver's newest position was recorded since the route set out (an hour
    before its planned start). `route` is order_route_for_map's, with its stops and orders loaded.
    """
    if route is None or not placement.dispatched or route.driver is None:
        return None
    driver = route.driver
    if driver.last_lat is None or driver.last_lon is None or driver.last_position_at is None:
        return None
    today = timezone.localdate(now or timezone.now())
    if not today - timedelta(days=1) <= placement.plan.date <= today:
        return None
    if not any(stop.order.status in Order.ON_ROUTE_STATUSES for stop in route.stops.all()):
        return None
    set_out = (
        route.start - SIGHTING_BEFORE_START
        if route.start
        else timezone.make_aware(datetime.combine(placement.plan.date, time.min))
    )
    if driver.last_position_at < set_out:
        return None
    return DriverSighting(
        name=driver.name, lat=driver.last_lat, lon=driver.last_lon, at=driver.last_position_at,
        heading=driver.last_heading,
    )  # fmt: skip
