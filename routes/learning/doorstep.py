"""Time at the doorstep, learned: service (arrival to completion) and access (parked to arrival).

Plain Python. An observation is one stop: its building (the order's address, else its position to
about 10 m), customer, zone, vehicle kind, items and the seconds measured. The estimate for an order
walks a fallback hierarchy from the coarsest level to the finest it has data for:

    everything > vehicle kind > zone > customer > building

Each level is fitted on what the coarser ones left unexplained (the log residuals): a key's offset is
its mean residual shrunk towards 0 with weight n / (n + k), k the within-key noise over the spread
between keys (one-way random effects by moments: empirical Bayes). Where a level has too few repeat
visits to measure its own noise (most buildings are seen once), the noise is taken as all of its
residual spread, so its keys shrink almost entirely: a single long doorstep is noise until the
building proves otherwise. A building seen twenty times with a time of its own is its own time.

Service has a part per item (seconds per item, least squares over all stops) before the hierarchy.
The prediction is the *mean* (exp(log-mean + variance / 2)), not the median: an ETA sums the
doorsteps before it, and a sum of log-normal times is centred on the sum of their means (predicting
medians made every route run late by the skew, 10-20 % of each doorstep).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

LEVELS = ("kind", "zone", "customer", "building")  # coarse to fine, below "everything"
MIN_SECONDS = 5.0
MAX_SERVICE_S = 3600.0
MAX_ACCESS_S = 1800.0
TABLE_FORMAT = 2  # keys hold [offset from the coarser levels, n, variance]; format 1 held [log-mean, n]
MIN_DOF = 20  # repeat visits a level needs before its own within-key noise is believed
VARIANCE_PRIOR_N = 10  # a key's own log variance weighs like this many stops against its level's
MAX_LOG_VARIANCE = 1.0  # a mean more than 1.65 x the median is a data problem, not a doorstep
K_MIN, K_MAX = 0.2, 50.0


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


def _k(means: list[float], counts: list[int], within: float) -> float:
    """k = sigma^2 / tau^2 by the one-way random-effects moments (ANOVA) estimator."""
    groups = len(means)
    if groups < 3 or within <= 0:
        return 3.0
    total = sum(counts)
    centre = sum(m * n for m, n in zip(means, counts)) / total
    between = sum(n * (m - centre) ** 2 for m, n in zip(means, counts)) / (groups - 1)
    n0 = (total - sum(n * n for n in counts) / total) / (groups - 1)
    tau2 = (between - within) / max(n0, 1e-9)
    if tau2 <= 0:
        return K_MAX
    return min(max(within / tau2, K_MIN), K_MAX)


def _variance(values: list[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1)


def fit(observations: list[DoorstepObservation], *, per_item: bool) -> dict:
    """The table for one kind of time: per-item seconds, the overall log-mean and variance, and per
    level its shrinkage k, its within-key variance and {key: [offset, n, variance]}. Empty
    observations give an empty table."""
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
    table: dict = {
        "format": TABLE_FORMAT,
        "per_item_s": round(slope, 2),
        "all": [overall, len(logs), _variance(logs)],
        "levels": {},
    }
    estimate = [overall] * len(rows)
    for level in LEVELS:
        groups: dict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(rows):
            key = getattr(row, level)
            if key:
                groups[key].append(index)
        residuals = {key: [logs[i] - estimate[i] for i in members] for key, members in groups.items()}
        keyed = sum(len(r) for r in residuals.values())
        dof = keyed - len(groups)
        if dof >= MIN_DOF:
            within = sum((v - sum(r) / len(r)) ** 2 for r in residuals.values() for v in r) / dof
        else:  # too few repeat visits to tell noise from a key's own time: all of the spread is noise
            within = sum(v * v for r in residuals.values() for v in r) / keyed if keyed else 0.0
        means = {key: sum(r) / len(r) for key, r in residuals.items()}
        k = _k(list(means.values()), [len(r) for r in residuals.values()], within)
        keys = {}
        for key, members in groups.items():
            n = len(members)
            offset = n * means[key] / (n + k)
            keys[key] = [offset, n, _variance(residuals[key]) if n >= 2 else None]
            for i in members:
                estimate[i] += offset
        table["levels"][level] = {"k": round(k, 3), "within": round(within, 5), "dof": dof, "keys": keys}
    return table


def predict(table: dict, *, building: str = "", customer: str = "", zone: str = "", kind: str = "", items: int = 0):
    """Predicted seconds for one stop (the mean: see the module docstring), or None when the table is empty."""
    if not table:
        return None
    if table.get("format") != TABLE_FORMAT:
        return _predict_format_1(table, building=building, customer=customer, zone=zone, kind=kind, items=items)
    estimate, _, variance = table["all"]
    keys = {"kind": kind, "zone": zone, "customer": customer, "building": building}
    for level in LEVELS:
        spec = table["levels"].get(level) or {}
        found = (spec.get("keys") or {}).get(keys[level]) if keys[level] else None
        if not found:
            continue
        offset, n, own = found
        estimate += offset
        if spec.get("dof", 0) >= MIN_DOF:
            variance = spec["within"]
        if own is not None and n >= VARIANCE_PRIOR_N:
            variance = (n * own + VARIANCE_PRIOR_N * variance) / (n + VARIANCE_PRIOR_N)
    variance = min(max(variance, 0.0), MAX_LOG_VARIANCE)
    return math.exp(estimate + variance / 2) + table.get("per_item_s", 0.0) * items


def _predict_format_1(table: dict, *, building: str, customer: str, zone: str, kind: str, items: int):
    """A table of an older model version ([log-mean, n] per key, shrunk towards the level above): its median."""
    estimate = table["all"][0]
    keys = {"kind": kind, "zone": zone, "customer": customer, "building": building}
    for level in LEVELS:
        spec = table["levels"].get(level) or {}
        found = (spec.get("keys") or {}).get(keys[level]) if keys[level] else None
        if found:
            mean, n = found[:2]
            estimate = (n * mean + spec["k"] * estimate) / (n + spec["k"])
    return math.exp(estimate) + table.get("per_item_s", 0.0) * items
