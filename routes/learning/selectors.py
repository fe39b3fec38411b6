"""Reading the learned travel model: which version is active, and the time at each order's door."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from django.conf import settings

from dispatch.models import Order, Vehicle
from routes.learning import doorstep, windows
from routes.models import TravelModel

# A window from p5 to p95 of the errors: the promise is kept nine times in ten (p10-p90 keeps it only
# eight in ten, and customers count the misses).
Z_P05_P95 = 1.6449  # a normal distribution's p95, in standard deviations
# The lean of the window towards the late side is at most this share of its half-width: the held-out
# day's mean errors per leg, summed over a day's stops, once put the window hours after the ETA (the
# benchmark's coverage fell to 10 %); an ETA stays inside its own window.
MAX_LEAN = 0.5


def active_travel_model() -> TravelModel | None:
    return TravelModel.objects.filter(active=True).defer("speeds").first()


def travel_models(limit: int = 50) -> list[TravelModel]:
    """The latest versions, newest first, without their speed arrays (for lists and the admin)."""
    return list(TravelModel.objects.defer("speeds").order_by("-version")[:limit])


def doorstep_tables(model: TravelModel | None) -> tuple[dict, dict]:
    """(service table, access table) of a model; empty tables without one."""
    if model is None:
        return {}, {}
    parameters = model.parameters or {}
    return parameters.get("service") or {}, parameters.get("access") or {}


def order_keys(order: Order) -> dict:
    return {
        "building": doorstep.building_key(order.address, order.lat, order.lon),
        "customer": str(order.customer_id or ""),
        "zone": order.zone.code if order.zone_id else "",
    }


def main_vehicle_kind(vehicles: Iterable[Vehicle]) -> str:
    """The kind most of a plan's vehicles are: whose doorstep times a stop is planned with."""
    kinds = Counter(v.kind for v in vehicles)
    return kinds.most_common(1)[0][0] if kinds else ""


def doorstep_seconds(
    orders: Iterable[Order], *, vehicle_kind: str = "", model: TravelModel | None = None
) -> dict[int, tuple[int, int]]:
    """(service seconds, access seconds) per order id, as a plan counts them.

    Service: the order's own service_minutes when it has them (an import's explicit value wins),
    else the active model's learned time for its building, customer, zone and vehicle kind, else
    the company's DEFAULT_SERVICE_MINUTES. Access (parking, walking): learned the same way, else
    the zone's set access time. Orders need ``zone`` selected (select_related) to avoid a query each.
    """
    model = model if model is not None else active_travel_model()
    service_table, access_table = doorstep_tables(model)
    result = {}
    for order in orders:
        keys = order_keys(order)
        if order.service_minutes is not None:
            service = order.service_minutes * 60
        else:
            learned = doorstep.predict(service_table, kind=vehicle_kind, items=order.items or 0, **keys)
            service = learned if learned is not None else settings.DEFAULT_SERVICE_MINUTES * 60
        learned_access = doorstep.predict(access_table, kind=vehicle_kind, **keys)
        if learned_access is not None:
            access = learned_access
        else:
            access = order.zone.access_time_s if order.zone_id else 0
        result[order.id] = (int(round(service)), int(round(access)))
    return result


def arrival_error_model() -> dict | None:
    """The active model's arrival error figures (see services.arrival_error); None without."""
    return _active_window_figures()[1]


def _active_window_figures() -> tuple[dict | None, dict | None]:
    """(eta_residuals, arrival_error) of the active model: only these two keys are read, not its
    doorstep tables (thousands of buildings), since every promise asks."""
    row = (
        TravelModel.objects.filter(active=True)
        .values_list("parameters__eta_residuals", "parameters__arrival_error")
        .first()
    )
    return row if row is not None else (None, None)


def arrival_window(horizon_s: float) -> tuple[float, float] | None:
    """(earliest, latest) offsets in seconds from an ETA ``horizon_s`` ahead: about its p3 and p97 (from
    the arrivals) or p5 and p95 (from the legs).

    From the arrivals of the recent days against the ETAs given at their dispatch, by horizon, when the
    active model measured them (routes.learning.windows); else from the errors of single legs and
    services on its held-out day, growing with the stops still to come before it (independent errors:
    root of summed variances; their summed mean errors lean the window late or early, by at most
    MAX_LEAN of its half-width). None without a model that measured either; the caller then keeps its
    fixed width."""
    residuals, figures = _active_window_figures()
    from_arrivals = windows.window_from_table(residuals, horizon_s)
    if from_arrivals is not None:
        return from_arrivals
    if not figures or not figures.get("leg_sd_s") or not figures.get("stops_per_hour"):
        return None
    stops = max(1.0, horizon_s / 3600 * figures["stops_per_hour"])
    service_sd = figures.get("service_sd_s") or 0.0
    mean = stops * figures["leg_bias_s"] + (stops - 1) * (figures.get("service_bias_s") or 0.0)
    sd = math.sqrt(stops * figures["leg_sd_s"] ** 2 + (stops - 1) * service_sd**2)
    half = Z_P05_P95 * sd
    lean = max(-MAX_LEAN * half, min(MAX_LEAN * half, mean))
    return lean - half, lean + half
