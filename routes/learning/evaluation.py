"""How well a travel model predicts a day: the day's observations (DayData) and the errors of the
legs (driving and access) and doorsteps (service) a model predicts for them. Used to choose the
active version (services.travel_model_learn) and to size customers' windows (arrival_error)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from dispatch.models import Order
from routes.learning import doorstep, speeds
from routes.learning.selectors import order_keys
from routes.network import RoadNetwork


@dataclass
class DayData:
    """One day's observations for one profile (pieces carry the leg they belong to, -1 none)."""

    obs: speeds.Observations
    leg: np.ndarray
    leg_actual_s: np.ndarray
    leg_order: np.ndarray
    service: list[dict] = field(default_factory=list)
    access: list[dict] = field(default_factory=list)


def base_class_factors(network: RoadNetwork, profile: str) -> np.ndarray:
    """The traffic table the planner has for a profile, (SLOTS, classes): the prior nobody drove."""
    traffic = network._state(profile).traffic
    # the table has weekday and weekend: Saturday and Sunday both start from its weekend
    days = ("weekday", "weekend", "weekend")
    return np.stack([traffic.class_factors((day, hour)) for day in days for hour in range(24)])


def leg_errors(network: RoadNetwork, day: dict[str, DayData], factors: dict[str, np.ndarray] | None,
               parameters: dict | None) -> np.ndarray:  # fmt: skip
    """Errors (s, actual - predicted: positive is late) of leg times on a day, for a model's speed
    factors (None: the traffic table) and doorstep tables (None: the zones' access times)."""
    orders = {}
    all_orders = {int(o) for data in day.values() for o in data.leg_order}
    for order in Order.objects.filter(id__in=all_orders).select_related("zone"):
        orders[order.id] = order
    errors = []
    for profile, data in day.items():
        if not len(data.leg_actual_s):
            continue
        g = network._state(profile).graph
        chain, slot = data.obs.chain.astype(np.int64), data.obs.slot.astype(np.int64)
        if factors is not None and profile in factors:
            table = speeds.slot_table(factors[profile])
            factor = table[slot, chain]
        else:
            factor = base_class_factors(network, profile)[slot, g.chain_class[chain]]
        driving = data.obs.metres / (g.chain_speed_kmh[chain].astype(np.float64) / 3.6 * factor)
        valid = data.leg >= 0
        predicted = np.bincount(data.leg[valid], weights=driving[valid], minlength=len(data.leg_actual_s))
        covered = np.bincount(data.leg[valid], minlength=len(data.leg_actual_s)) > 0
        access_table = (parameters or {}).get("access") or {}
        for i in np.flatnonzero(covered):
            order = orders.get(int(data.leg_order[i]))
            if order is None:
                continue
            access = doorstep.predict(access_table, **order_keys(order))
            if access is None:
                access = order.zone.access_time_s if order.zone_id else 0
            errors.append(data.leg_actual_s[i] - (predicted[i] + access))
    return np.asarray(errors, float)


def service_errors(day: dict[str, DayData], parameters: dict | None) -> np.ndarray:
    """Errors (s, actual - predicted) of the service times of a day, for a model's service table
    (None: the company's DEFAULT_SERVICE_MINUTES, what the planner counts without a model)."""
    table = (parameters or {}).get("service") or {}
    errors = []
    for data in day.values():
        for row in data.service:
            predicted = doorstep.predict(
                table, **{k: row[k] for k in ("building", "customer", "zone", "kind", "items")}
            )
            errors.append(
                row["seconds"] - (predicted if predicted is not None else settings.DEFAULT_SERVICE_MINUTES * 60)
            )
    return np.asarray(errors, float)


def summarize(errors: np.ndarray) -> dict:
    errors = np.abs(errors)
    if not len(errors):
        return {"legs": 0}
    return {
        "legs": int(len(errors)),
        "mean": round(float(errors.mean()), 1),
        "p90": round(float(np.percentile(errors, 90)), 1),
    }


def arrival_error(day: dict[str, DayData], leg_residuals: np.ndarray, parameters: dict) -> dict:
    """How wrong an arrival time is, out of sample (the held-out day, predicted by a model that had not
    seen it): the mean and spread of a leg's and of a service's error, and how many stops a van makes
    an hour. An arrival h hours ahead sums about h x stops-per-hour of each (customers' windows:
    routes.learning.selectors.arrival_window)."""
    service_residuals = []
    table = parameters.get("service") or {}
    for data in day.values():
        for row in data.service:
            keys = {k: row[k] for k in ("building", "customer", "zone", "kind", "items")}
            predicted = doorstep.predict(table, **keys)
            if predicted is not None:
                service_residuals.append(row["seconds"] - predicted)
    legs = sum(len(d.leg_actual_s) for d in day.values())
    busy_s = sum(float(d.leg_actual_s.sum()) for d in day.values()) + sum(
        r["seconds"] for d in day.values() for r in d.service
    )
    service = np.asarray(service_residuals, float)

    def spread(values):
        return (round(float(values.mean()), 1), round(float(values.std()), 1)) if len(values) >= 5 else (0.0, None)

    leg_bias, leg_sd = spread(leg_residuals)
    service_bias, service_sd = spread(service)
    return {
        "leg_bias_s": leg_bias,
        "leg_sd_s": leg_sd,
        "service_bias_s": service_bias,
        "service_sd_s": service_sd,
        "stops_per_hour": round(legs / (busy_s / 3600), 2) if busy_s > 0 else None,
        "legs": int(len(leg_residuals)),
    }


def score(legs: np.ndarray, services: np.ndarray) -> dict:
    """Mean and p90 absolute error over a held-out day's legs and services; "legs" counts the legs."""
    score = summarize(np.concatenate([legs, services]))
    if len(legs) or len(services):
        score.update(legs=int(len(legs)), services=int(len(services)))
    return score


def better(candidate: dict, active: dict) -> bool:
    if not candidate.get("legs"):
        return False
    return candidate["mean"] + candidate["p90"] < active["mean"] + active["p90"]
