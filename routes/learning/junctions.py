"""Junction costs learned per junction class, from the plans' own legs (#17 item 2).

The road network charges every turn, U-turn, turn across oncoming traffic, traffic signal, stop sign,
give-way sign and passable barrier a profile's default seconds (routes.network.profiles, documented in
docs/NETWORK.md). Learned speeds cannot correct them: a stretch's learned speed already holds what
slowed the vans there (routes.learning.calibration), and a junction is where two stretches meet. The
leg scale corrects them only in aggregate: a van's legs full of left turns and a van's legs along one
avenue get the same factor.

So each version also learns, per profile, a factor per junction class on the default seconds
(profile_state.JUNCTION_CLASSES). Every plan leg of the week is routed again the way the network
prices it (RoadNetwork.leg_junctions), which gives its default seconds per class, J; the rest of the
planned leg, R, is the roads' own time (the planned leg less J times the factors of the version that
planned it). What the leg took is then fitted as

    driven ~ a * R + sum_k g_k * J_k

by weighted least squares (weights 1 / planned seconds: a long leg's error is larger, not more
telling), with a in calibration.SCALE_BOUNDS and g in FIT_BOUNDS, each shrunk towards 1 (the defaults)
by a prior worth SHRINK_S seconds of driving for a and PRIOR_LEGS typical legs for a class. A class
seen on fewer than MIN_LEGS legs keeps its carried factor. The factor is g / a: the leg scale,
learned after the factors on the legs re-priced with them, multiplies the junction seconds too.

Unlike the leg scale, the factors change which way is fastest; a learned version's factors apply to
every hour of the profile's matrices and routes (RoadNetwork.set_learned_speeds). services.py keeps
them only when they predict the held-out day's plan legs better than the carried ones.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.optimize import lsq_linear

from routes.learning.calibration import SCALE_BOUNDS, SHRINK_S, PlannedLeg, counted
from routes.learning.calibration import factor_vector as vector
from routes.network import JUNCTION_CLASSES
from routes.network.profile_state import JUNCTION_FACTOR_BOUNDS

MIN_LEGS = 50  # legs through a class before its factor moves: fewer say more about the legs than the class
MIN_HELD_OUT = 20  # held-out legs counted: fewer cannot confirm a fit (services._junction_gate)
PRIOR_LEGS = 30  # the defaults weigh as much as this many typical legs through the class
FIT_BOUNDS = (0.0, 3.0)  # g: from "costs nothing" to three times the default


def fit(legs: list[PlannedLeg], profiles, carried: dict | None = None) -> dict:
    """{"factors": {profile: {class: factor}}, "legs": {profile: {class: legs through it}}} from the
    legs with their junctions counted (see the module docstring); a profile with fewer than MIN_LEGS
    such legs is left out. ``carried``: {profile: {class: factor}}, what a class seen too rarely keeps."""
    carried = carried or {}
    factors, seen_counts = {}, {}
    for profile in profiles:
        rows = [
            leg
            for leg in legs
            if leg.profile == profile and leg.junction_s is not None and leg.road_s > 0 and counted(leg)
        ]
        if len(rows) < MIN_LEGS:
            continue
        road = np.asarray([leg.road_s for leg in rows])
        exposure = np.asarray([leg.junction_s for leg in rows])
        driven = np.asarray([leg.driven_s for leg in rows])
        planned = np.asarray([leg.planned_s for leg in rows])
        kept = vector(carried.get(profile))
        seen = np.count_nonzero(exposure > 0, axis=0)
        fitted = seen >= MIN_LEGS
        # a class too rarely seen is priced at its carried factor, as part of the roads' time
        road = road + exposure[:, ~fitted] @ kept[~fitted]
        columns = np.column_stack([road, exposure[:, fitted]])
        weight = 1.0 / np.sqrt(np.maximum(planned, 1.0))
        lhs, rhs = columns * weight[:, None], driven * weight
        # priors towards the defaults (a = 1, g = 1), in the same units as the weighted rows
        strength = [SHRINK_S]
        for k in np.flatnonzero(fitted):
            exposed = exposure[:, k] > 0
            strength.append(PRIOR_LEGS * float(np.median(exposure[exposed, k] ** 2 / planned[exposed])))
        prior = np.diag(np.sqrt(strength))
        lhs = np.vstack([lhs, prior])
        rhs = np.concatenate([rhs, np.sqrt(strength)])
        lower = [SCALE_BOUNDS[0]] + [FIT_BOUNDS[0]] * int(fitted.sum())
        upper = [SCALE_BOUNDS[1]] + [FIT_BOUNDS[1]] * int(fitted.sum())
        solution = lsq_linear(lhs, rhs, bounds=(lower, upper)).x
        scale, gains = solution[0], solution[1:]
        learned = kept.copy()
        # within what every process accepts (a factor out of bounds would drive the profile on defaults)
        learned[fitted] = np.clip(gains / scale, *JUNCTION_FACTOR_BOUNDS)
        factors[profile] = {name: round(float(value), 3) for name, value in zip(JUNCTION_CLASSES, learned)}
        seen_counts[profile] = {name: int(n) for name, n in zip(JUNCTION_CLASSES, seen)}
    return {"factors": factors, "legs": seen_counts}


def held_out_legs(legs: list[PlannedLeg]) -> list[PlannedLeg]:
    """The held-out legs both sides of a comparison are scored on: as planned within MAX_OFF_S (before
    any re-pricing, so that both sides see the same legs) and with their junctions counted."""
    return [leg for leg in legs if leg.junction_s is not None and counted(leg)]


def reprice(legs: list[PlannedLeg], factors: dict | None) -> list[PlannedLeg]:
    """The legs as the network would plan them with ``factors`` ({profile: {class: factor}}): the
    roads' time plus the junctions at those factors. A leg whose junctions were not counted keeps its
    planned time."""
    factors = factors or {}
    by_profile = {profile: vector(f) for profile, f in factors.items()}
    repriced = []
    for leg in legs:
        if leg.junction_s is None:
            repriced.append(leg)
            continue
        f = by_profile.get(leg.profile)
        junctions = float(leg.junction_s.sum()) if f is None else float(leg.junction_s @ f)
        repriced.append(replace(leg, planned_s=leg.road_s + junctions))
    return repriced
