"""Reads for an order's page (/orders/<id>/) and its detail in the API: where the order stands in
the plan that rules its day (route, vehicle, driver, planned and live ETA), its proof of delivery,
and the routes it may be moved to.

Like the page itself, this module composes the layers (orders, planning, customers); the imports of
the planning app stay inside the functions so that the order core never loads it by itself.
"""

from dataclasses import dataclass

from django.db.models import Count, F, Q
from django.shortcuts import get_object_or_404

from dispatch.models import Order, ProofOfDelivery
from dispatch.orders import selectors
from routes.models import Plan, Route, Stop, UnassignedOrder
from routes.plans.optimization import plan_vehicles


@dataclass
class OrderPlacement:
    """The order in the plan that rules its day: the newest dispatched version holding it (as a stop or
    as left out), else the selected plan not yet dispatched; all None when no plan holds it."""

    plan: object | None = None  # routes.models.Plan
    stop: object | None = None  # routes.models.Stop, with route, vehicle and driver loaded
    left_out_reason: str = ""
    stop_count: int = 0  # stops on the order's route

    @property
    def dispatched(self) -> bool:
        return self.plan is not None and self.plan.dispatched_at is not None

    @property
    def route(self):
        return self.stop.route if self.stop is not None else None


@dataclass
class RouteChoice:
    vehicle_id: int
    label: str
    current: bool = False


def order_for_page(user, order_id: int) -> Order:
    """The order if the user's depots include it; 404 otherwise (another depot's order is not there)."""
    return get_object_or_404(selectors.orders_visible_to(user).select_related("customer", "depot", "zone"), id=order_id)


def order_placement(order: Order) -> OrderPlacement:
    on_routes = Stop.objects.filter(order=order, route__plan__date=order.date).values("route__plan_id")
    left_out = UnassignedOrder.objects.filter(order=order, plan__date=order.date).values("plan_id")
    plan = (
        Plan.objects.filter(Q(id__in=on_routes) | Q(id__in=left_out), status=Plan.Status.DONE)
        .filter(Q(dispatched_at__isnull=False) | Q(selected=True))
        # Dispatched versions first (the drivers follow the newest), then the newest selected draft.
        .order_by(F("dispatched_at").desc(nulls_last=True), "-version", "-id")
        .first()
    )
    if plan is None:
        return OrderPlacement()
    stop = (
        Stop.objects.filter(route__plan=plan, order=order)
        .select_related("route__vehicle__depot", "route__driver")
        .defer("route__geometry")  # a large JSON nobody here reads
        .first()
    )
    if stop is None:
        reason = UnassignedOrder.objects.filter(plan=plan, order=order).values_list("reason", flat=True).first()
        return OrderPlacement(plan=plan, left_out_reason=reason or "")
    return OrderPlacement(plan=plan, stop=stop, stop_count=Stop.objects.filter(route_id=stop.route_id).count())


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
