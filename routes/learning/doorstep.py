"""Time at the doorstep, learned: service (arrival to completion) and access (parked to arrival).

Plain Python. An observation is one stop: its building (the order's address, else its position to
about 10 m), customer, zone, vehicle kind, items and the seconds measured. The estimate for an order
walks a fallback hierarchy from the coarsest level to the finest it has data for:

    everything > vehicle kind > zone > customer > building

each level shrinking its own log-mean towards the level above with weight n / (n + k), k the
within-level noise over the between-key spread (empirical Bayes, by moments). A building seen once
moves the estimate a little; seen twenty times, it is the building's own time. Service has a part
per item (seconds per item, least squares over all stops) before the hierarchy; medians are
predicted (exp of the log-mean), which is what minimizes the absolute error of an ETA.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

LEVELS = ("kind", "zone", "customer", "building")  # coarse to fine, below "everything"
MIN_SECONDS = 5.0
MAX_SERVICE_S = 3600.0
MAX_ACCESS_S = 1800.0


@dataclass
class DoorstepObservation:
    building: str
    customer: str
    zone: str
    kind: str
    items: int
    seconds: float


def building_key(address: str, lat: float, lon: float) -> str:
    """One building: the normalized address, else the position rounded to ~10 m."""
    text = " ".join((address or "").lower().replace(",", " ").split())
    return text or f"{lat:.4f},{lon:.4f}"


def _k(groups: dict[str, list[float]], within: float) -> float:
    means = [sum(v) / len(v) for v in groups.values()]
    counts = [len(v) for v in groups.values()]
    if len(means) < 3 or within <= 0:
        return 3.0
    total = sum(counts)
    centre = sum(m * n for m, n in zip(means, counts)) / total
    spread = sum(n * (m - centre) ** 2 for m, n in zip(means, counts)) / total
    spread -= within / (total / len(counts))  # the part of the spread that is only noise
    return min(max(within / max(spread, 1e-3), 0.2), 50.0)


def fit(observations: list[DoorstepObservation], *, per_item: bool) -> dict:
    """The table for one kind of time: per-item seconds, the overall log-mean, and per level
    {key: [log-mean, n]} with its shrinkage k. Empty observations give an empty table."""
    rows = [o for o in observations if o.seconds >= MIN_SECONDS]
    if not rows:
        return {}
    slope = 0.0
    if per_item and len(rows) >= 10:
        mean_items = sum(o.items for o in rows) / len(rows)
        mean_s = sum(o.seconds for o in rows) / len(rows)
        var = sum((o.items - mean_items) ** 2 for o in rows)
        if var > 0:
            slope = max(0.0, sum((o.items - mean_items) * (o.seconds - mean_s) for o in rows) / var)
    logs = [math.log(max(o.seconds - slope * o.items, MIN_SECONDS)) for o in rows]
    overall = sum(logs) / len(logs)
    table: dict = {"per_item_s": round(slope, 2), "all": [overall, len(logs)], "levels": {}}
    for level in LEVELS:
        groups: dict[str, list[float]] = defaultdict(list)
        for row, value in zip(rows, logs):
            key = getattr(row, level)
            if key:
                groups[key].append(value)
        within_terms = [(v - sum(g) / len(g)) ** 2 for g in groups.values() for v in g]
        dof = max(len(within_terms) - len(groups), 1)
        within = sum(within_terms) / dof if within_terms else 0.0
        table["levels"][level] = {
            "k": round(_k(groups, within), 3),
            "keys": {key: [sum(g) / len(g), len(g)] for key, g in groups.items()},
        }
    return table


def predict(table: dict, *, building: str = "", customer: str = "", zone: str = "", kind: str = "", items: int = 0):
    """Predicted seconds for one stop (median), or None when the table is empty."""
    if not table:
        return None
    estimate = table["all"][0]
    keys = {"kind": kind, "zone": zone, "customer": customer, "building": building}
    for level in LEVELS:
        spec = table["levels"].get(level) or {}
        found = (spec.get("keys") or {}).get(keys[level]) if keys[level] else None
        if found:
            mean, n = found
            estimate = (n * mean + spec["k"] * estimate) / (n + spec["k"])
    return math.exp(estimate) + table.get("per_item_s", 0.0) * items
