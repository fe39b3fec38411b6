"""Speeds per road stretch and hour, learned from matched driving (plain numpy, no Django).

Observations are the matcher's pieces (routes.learning.matching): metres of a chain driven in so many
seconds at a moment. What is not driving is dropped before it becomes an observation:
- standing still: a fix whose mean position over the 30 s before it and the 30 s after it differ by
  less than STILL_M (noise of 10-30 m averages out over 6+ fixes; a van crawling at 2 m/s moves 60 m)
  - stops, breaks, the depot before the shift;
- the time at a stop (arrival to completion) whatever the positions say;
- pairs of fixes more than MAX_GAP_S apart, slower than MIN_SPEED_MPS (waiting, not driving), or
  whose road distance is far longer than the straight line (a detour the matcher had to invent).

The estimate is a hierarchical shrinkage in log speed ratio r = log(observed / default speed), slot =
(day type, hour), day types Monday-Friday, Saturday, Sunday:
    r(chain, slot) = mu(class, slot) + alpha(area, day type) + delta(chain) + eps(chain, day type)
                     + gamma(chain, slot)
- mu: the road class's learned prior for the slot, shrunk towards the traffic table the planner had
  (so a class nobody drove keeps the table);
- alpha: what the roads of an area (a square of AREA_M) do on this type of day, shrunk towards 0: a
  town centre slow on weekdays is slow on each of its streets, the ones a vehicle drove once and
  the ones it never drove. Pooled over the area's stretches, a profile that rarely goes there (the
  cargo bikes in a centre the vans cross every day) learns the centre from a few rides, where each
  stretch alone would have kept its class's speed;
- delta: the chain's own offset over all hours and days (a narrow street), shrunk towards 0;
- eps: what the chain does differently on this type of day (a centre that is slow on weekdays and
  free on Sundays), shrunk towards 0;
- gamma: what the chain does differently at this hour, shrunk towards 0.
Each shrinkage weights n traversals against k = sigma^2 / tau^2 (within-cell noise over
between-cell spread, both estimated from the data by moments: empirical Bayes), so a stretch driven
once moves a little, one driven 30 times follows its data, and one never driven takes its class's
learned value for that hour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Day types: Monday-Friday, Saturday, Sunday. A Saturday's town centre and a Sunday's are different
# roads (shops open, traffic of its own); pooling them as "the weekend" made both wrong.
DAY_TYPES = 3
SLOTS = DAY_TYPES * 24  # slot = day_type * 24 + local hour
STILL_M = 35.0
STILL_WINDOW_S = 30.0
MAX_GAP_S = 60.0
THIN_M = 45.0  # fixes closer than this to the last one matched are skipped (see thinned)
MIN_SPEED_MPS = 1.0
DETOUR_FACTOR = 1.6
DETOUR_SLACK_M = 150.0
MIN_FACTOR, MAX_FACTOR = 0.05, 2.0
CLASS_PRIOR_K = 5.0  # traversals that weigh as much as the traffic table, for a class and hour
AREA_M = 500.0  # the side of an area's square (alpha): a centre or a district, not a street


def chain_areas(mid_lat: np.ndarray, mid_lon: np.ndarray) -> np.ndarray:
    """An area number per chain (its middle's square of AREA_M), 0 to the number of areas - 1."""
    if not len(mid_lat):
        return np.zeros(0, np.int64)
    cos = np.cos(np.radians(float(np.mean(mid_lat))))
    x = np.floor(np.asarray(mid_lon) * 111_320.0 * cos / AREA_M).astype(np.int64)
    y = np.floor(np.asarray(mid_lat) * 110_574.0 / AREA_M).astype(np.int64)
    _, area = np.unique(np.stack([x, y], axis=1), axis=0, return_inverse=True)
    return area.reshape(-1).astype(np.int64)


def slot_table(factors: np.ndarray) -> np.ndarray:
    """A model version's factors as (SLOTS, chains); an older (2, 24, chains) table serves its weekend
    hours on Saturdays and Sundays alike."""
    if factors.shape[0] == 2:
        factors = factors[[0, 1, 1]]
    return factors.reshape(SLOTS, -1)


def still_mask(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True for fixes where the vehicle stands (see the module docstring). x, y in metres."""
    count = len(t)
    if count < 3:
        return np.zeros(count, bool)
    cx = np.concatenate([[0.0], np.cumsum(x)])
    cy = np.concatenate([[0.0], np.cumsum(y)])
    before = np.searchsorted(t, t - STILL_WINDOW_S)
    after = np.searchsorted(t, t + STILL_WINDOW_S, side="right")
    index = np.arange(count)
    n_before = index + 1 - before
    n_after = after - index
    mean_bx = (cx[index + 1] - cx[before]) / n_before
    mean_by = (cy[index + 1] - cy[before]) / n_before
    mean_ax = (cx[after] - cx[index]) / n_after
    mean_ay = (cy[after] - cy[index]) / n_after
    enough = (n_before >= 3) & (n_after >= 3)
    return enough & (np.hypot(mean_ax - mean_bx, mean_ay - mean_by) < STILL_M)


def thinned(x: np.ndarray, y: np.ndarray, min_m: float) -> np.ndarray:
    """Indices of the fixes to match: each at least ``min_m`` from the last one kept (Newson & Krumm's
    pre-processing). Between fixes closer than their noise, the straight line is mostly noise: a bike
    doing 3 m/s moves 15 m between 5-s fixes that each stray 12 m, and the matcher, which looks for
    road distances like the straight lines, then finds detours along parallel paths and footways
    that add up to half as many metres again as were ridden (the time is right, so the speed is not)."""
    count = len(x)
    if count == 0:
        return np.zeros(0, np.int64)
    kept = [0]
    last_x, last_y = x[0], y[0]
    limit = min_m * min_m
    for i in range(1, count):
        dx, dy = x[i] - last_x, y[i] - last_y
        if dx * dx + dy * dy >= limit:
            kept.append(i)
            last_x, last_y = x[i], y[i]
    return np.asarray(kept, np.int64)


def driving_pairs(t: np.ndarray, route_m: np.ndarray, straight_m: np.ndarray, still: np.ndarray) -> np.ndarray:
    """Which fix pairs (i, i + 1) are driving: a bool per pair (len(t) - 1)."""
    dt = np.diff(t)
    route = route_m[1:]
    ok = np.isfinite(route) & (dt > 0) & (dt <= MAX_GAP_S) & ~still[:-1] & ~still[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        ok &= route / np.maximum(dt, 1e-9) >= MIN_SPEED_MPS
        ok &= route <= DETOUR_FACTOR * straight_m + DETOUR_SLACK_M
    return ok


@dataclass
class Observations:
    """Driving pieces of one or more days: chain, slot (0 to SLOTS - 1), metres, seconds."""

    chain: np.ndarray
    slot: np.ndarray
    metres: np.ndarray
    seconds: np.ndarray

    @classmethod
    def concat(cls, parts: list[Observations]) -> Observations:
        if not parts:
            return cls(np.zeros(0, np.int32), np.zeros(0, np.int16), np.zeros(0), np.zeros(0))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("chain", "slot", "metres", "seconds")))

    def save(self, path) -> None:
        np.savez_compressed(path, chain=self.chain, slot=self.slot, metres=self.metres, seconds=self.seconds)

    @classmethod
    def load(cls, path) -> Observations:
        with np.load(path) as data:
            return cls(data["chain"], data["slot"], data["metres"], data["seconds"])


def _moments_k(mean: np.ndarray, n: np.ndarray, within: float) -> float:
    """k = sigma^2 / tau^2: within-cell variance per traversal over the spread between cells."""
    if len(mean) < 3 or not np.isfinite(within):
        return 3.0
    weights = n / n.sum()
    centre = float((weights * mean).sum())
    spread = float((weights * (mean - centre) ** 2).sum()) - float((weights * within / np.maximum(n, 1e-9)).sum())
    tau2 = max(spread, 1e-4)
    return float(np.clip(within / tau2, 0.2, 50.0))


def estimate_factors(
    chain_length_m: np.ndarray,
    chain_speed_kmh: np.ndarray,
    chain_class: np.ndarray,
    base_class_factors: np.ndarray,
    obs: Observations,
    chain_area: np.ndarray | None = None,
) -> tuple[np.ndarray, dict]:
    """Speed factors (DAY_TYPES, 24, chains) multiplying each chain's default speed, and statistics.

    ``base_class_factors`` (SLOTS, classes) is the traffic table the planner had: the prior of a
    class and hour nobody drove. ``chain_area``: each chain's area (chain_areas); None: no area level.
    """
    chains = len(chain_length_m)
    classes = base_class_factors.shape[1]
    base = np.log(np.clip(base_class_factors, MIN_FACTOR, MAX_FACTOR))  # (SLOTS, classes)
    keep = obs.seconds > 0  # metres may be negative (matching's signed pieces): they add up per cell
    chain, slot = obs.chain[keep].astype(np.int64), obs.slot[keep].astype(np.int64)
    metres, seconds = obs.metres[keep], obs.seconds[keep]
    default_mps = chain_speed_kmh.astype(np.float64) / 3.6
    cell = chain * SLOTS + slot
    cells, inverse = np.unique(cell, return_inverse=True)
    cell_m = np.bincount(inverse, weights=metres)
    cell_s = np.bincount(inverse, weights=seconds)
    positive = cell_m > 1.0
    cells, cell_m, cell_s = cells[positive], cell_m[positive], cell_s[positive]
    remap = np.full(len(positive), -1)
    remap[positive] = np.arange(int(positive.sum()))
    inverse = remap[inverse]
    chain, slot, metres, seconds = (a[inverse >= 0] for a in (chain, slot, metres, seconds))
    inverse = inverse[inverse >= 0]
    cell_chain, cell_slot = cells // SLOTS, cells % SLOTS
    cell_class = chain_class[cell_chain].astype(np.int64)
    cell_r = np.log((cell_m / cell_s) / default_mps[cell_chain])
    cell_n = cell_m / np.maximum(chain_length_m[cell_chain], 1.0)  # traversals' worth
    # within-cell variance per traversal, from the pieces: a piece of f traversals has variance sigma^2 / f
    with np.errstate(invalid="ignore", divide="ignore"):
        piece_r = np.log((metres / seconds) / default_mps[chain])
    piece_f = np.where(metres > 0, metres / np.maximum(chain_length_m[chain], 1.0), 0.0)
    piece_r = np.where(np.isfinite(piece_r), piece_r, 0.0)
    dof = max(int((piece_f > 0).sum()) - len(cells), 1)
    within = float((piece_f * (piece_r - cell_r[inverse]) ** 2).sum() / dof) if len(piece_r) else np.nan

    # 1. the class prior per slot, shrunk towards the traffic table
    class_cell = cell_class * SLOTS + cell_slot
    class_n = np.bincount(class_cell, weights=cell_n, minlength=classes * SLOTS).reshape(classes, SLOTS).T
    class_sum = np.bincount(class_cell, weights=cell_n * cell_r, minlength=classes * SLOTS).reshape(classes, SLOTS).T
    mu = (class_sum + CLASS_PRIOR_K * base) / (class_n + CLASS_PRIOR_K)  # (SLOTS, classes)
    resid = cell_r - mu[cell_slot, cell_class]
    # 2. the area's type of day (none without areas: one area whose alpha stays 0)
    area, alpha, k_area, areas_driven = np.zeros(chains, np.int64), np.zeros((1, DAY_TYPES)), None, None
    if chain_area is not None and len(chain_area):
        area = np.asarray(chain_area, np.int64)
        areas = int(area.max()) + 1
        area_day = area[cell_chain] * DAY_TYPES + cell_slot // 24
        area_n = np.bincount(area_day, weights=cell_n, minlength=areas * DAY_TYPES)
        area_sum = np.bincount(area_day, weights=cell_n * resid, minlength=areas * DAY_TYPES)
        seen = area_n > 0
        k_area = _moments_k(area_sum[seen] / area_n[seen], area_n[seen], within)
        alpha = (area_sum / (area_n + k_area)).reshape(areas, DAY_TYPES)
        resid = resid - alpha.reshape(-1)[area_day]
        areas_driven = int(seen.reshape(areas, DAY_TYPES).any(axis=1).sum())
    # 3. the chain's offset over all hours
    chain_n = np.bincount(cell_chain, weights=cell_n, minlength=chains)
    chain_sum = np.bincount(cell_chain, weights=cell_n * resid, minlength=chains)
    driven = chain_n > 0
    k_chain = _moments_k(chain_sum[driven] / chain_n[driven], chain_n[driven], within)
    delta = chain_sum / (chain_n + k_chain)
    # 4. the chain's own type of day
    resid = resid - delta[cell_chain]
    chain_day = cell_chain * DAY_TYPES + cell_slot // 24
    day_n = np.bincount(chain_day, weights=cell_n, minlength=chains * DAY_TYPES)
    day_sum = np.bincount(chain_day, weights=cell_n * resid, minlength=chains * DAY_TYPES)
    seen = day_n > 0
    k_day = _moments_k(day_sum[seen] / day_n[seen], day_n[seen], within)
    eps = (day_sum / (day_n + k_day)).reshape(chains, DAY_TYPES)
    # 5. the chain's own hour
    gamma_raw = resid - eps.reshape(-1)[chain_day]
    k_slot = _moments_k(gamma_raw, cell_n, within)
    gamma = cell_n * gamma_raw / (cell_n + k_slot)

    log_factor = mu[:, chain_class.astype(np.int64)] + delta[None, :]  # (SLOTS, chains)
    log_factor += np.repeat(eps.T + alpha[area].T, 24, axis=0)  # (day type, chain) -> (slot, chain)
    log_factor[cell_slot, cell_chain] += gamma
    factors = np.clip(np.exp(log_factor), MIN_FACTOR, MAX_FACTOR).astype(np.float32).reshape(DAY_TYPES, 24, chains)
    stats = {
        "pieces": int(len(piece_r)),
        "driven_km": round(float(metres.sum()) / 1000, 1),
        "driven_hours": round(float(seconds.sum()) / 3600, 2),
        "chains_driven": int(driven.sum()),
        "cells": int(len(cells)),
        "within_variance": round(within, 4) if np.isfinite(within) else None,
        "areas_driven": areas_driven,
        "k_area": round(k_area, 3) if k_area is not None else None,
        "k_chain": round(k_chain, 3),
        "k_day": round(k_day, 3),
        "k_slot": round(k_slot, 3),
    }
    return factors, stats
