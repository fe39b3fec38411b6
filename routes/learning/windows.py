"""Customers' windows from the ETAs' own errors: how late or early the promised arrivals really came,
by how far ahead they were promised.

The errors of single legs and doorsteps (services.arrival_error) say how wrong one step is; summing
them into an arrival's error needs assumptions (independence, the mean bias of every leg) that once
put windows an hour after their ETAs. These are the errors of the arrivals themselves: for every stop
of a dispatched plan on the recent days, arrival - the ETA the plan gave at dispatch, and its horizon
(the ETA - the dispatch). Per horizon step the window is the p3-p97 of the nearest NEAREST errors by
horizon: a window that held 94 arrivals in a hundred on the days before. The promise is "nine in ten"
on *every* day, not on average: a window sized to hold exactly nine in ten on the days before holds
fewer on about half the days after (their noise, another model). The ETAs were the active model's of
those days; a newer model that predicts better gets windows a little wider than it needs.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from django.conf import settings

from dispatch.models import Order, OrderStatusChange
from routes.models import Stop

RESIDUAL_DAYS = 5  # the recent days whose arrivals size the windows
STEP_S = 900  # the table's horizon step
MAX_HORIZON_S = 12 * 3600
NEAREST = 300  # errors per step: enough for a p3 and a p97 that do not jump from one step to the next
MIN_ERRORS = 100  # fewer arrivals than this: no table (the windows fall back to the leg errors)
LOW_Q, HIGH_Q = 3.0, 97.0


def arrival_residuals(days: list[date]) -> tuple[np.ndarray, np.ndarray]:
    """(horizon seconds, arrival - dispatched ETA seconds) of every stop of the days' dispatched plans
    that was arrived at after its dispatch (the latest dispatched version of a stop's order)."""
    if not days:
        return np.zeros(0), np.zeros(0)
    stops = (
        Stop.objects.filter(route__plan__date__in=days, route__plan__dispatched_at__isnull=False)
        .order_by("order_id", "route__plan__version")
        .values_list("order_id", "eta", "route__plan__dispatched_at")
    )
    promised = {order_id: (eta, dispatched) for order_id, eta, dispatched in stops}  # the latest version wins
    zone = ZoneInfo(settings.TIME_ZONE)
    first = datetime.combine(min(days), time.min, zone)
    last = datetime.combine(max(days) + timedelta(days=1), time.min, zone)
    arrivals = (
        OrderStatusChange.objects.filter(
            order_id__in=list(promised), to_status=Order.Status.ARRIVED, changed_at__gte=first, changed_at__lt=last
        )
        .order_by("changed_at")
        .values_list("order_id", "changed_at")
    )
    horizons, errors, seen = [], [], set()
    for order_id, arrived in arrivals:
        eta, dispatched = promised[order_id]
        if order_id in seen or arrived < dispatched:
            continue
        seen.add(order_id)
        horizons.append((eta - dispatched).total_seconds())
        errors.append((arrived - eta).total_seconds())
    return np.asarray(horizons, float), np.asarray(errors, float)


def residual_table(horizons: np.ndarray, errors: np.ndarray) -> dict | None:
    """{"step_s", "rows": [[horizon_s, p3, p97], ...], "errors"}: per horizon step the p3-p97 of the
    NEAREST errors by horizon; None with fewer than MIN_ERRORS errors."""
    keep = (horizons >= 0) & np.isfinite(errors)
    horizons, errors = horizons[keep], errors[keep]
    if len(errors) < MIN_ERRORS:
        return None
    order = np.argsort(horizons)
    horizons, errors = horizons[order], errors[order]
    count = min(NEAREST, len(errors))
    rows = []
    for horizon in range(0, int(min(horizons[-1], MAX_HORIZON_S)) + STEP_S, STEP_S):
        # the `count` errors nearest this horizon: a sliding window over the sorted horizons
        centre = int(np.searchsorted(horizons, horizon))
        start = min(max(centre - count // 2, 0), len(errors) - count)
        near = errors[start : start + count]
        rows.append(
            [horizon, round(float(np.percentile(near, LOW_Q)), 1), round(float(np.percentile(near, HIGH_Q)), 1)]
        )
    return {"step_s": STEP_S, "rows": rows, "errors": int(len(errors))}


def window_from_table(table: dict, horizon_s: float) -> tuple[float, float] | None:
    """(earliest, latest) offsets from an ETA `horizon_s` ahead, interpolated between the table's steps
    (beyond its last step: the last); the ETA itself always inside."""
    rows = (table or {}).get("rows") or []
    if not rows:
        return None
    steps = np.asarray([r[0] for r in rows], float)
    low = float(np.interp(horizon_s, steps, [r[1] for r in rows]))
    high = float(np.interp(horizon_s, steps, [r[2] for r in rows]))
    return min(low, 0.0), max(high, 0.0)
