"""Learning the travel model from the fleet's own days, and choosing the version every process uses.

The nightly entry point is :func:`travel_model_learn` (Celery beat runs ``routes.tasks.learn_travel_model``
at LEARNING_NIGHTLY_AT; the admin's action and ``simulate_history`` call the same):

1. Each day of the window is turned into observations once (routes.learning.observations: cleaned,
   map-matched driving pieces per road stretch and hour; service and access times at the stops).
2. A *candidate* is learned from the days before the held-out day (the most recent day with
   driving), the *active* version is taken as it is, and both predict every leg of the held-out day
   (the driving along the stretches actually driven at the hour they were driven, plus the access
   time at the stop) and every service (routes.learning.evaluation). Score: mean and p90 absolute
   error over the legs and services, seconds.
3. The version's leg scale per profile and day type (routes.learning.calibration): what the plans'
   own legs of the last LEG_SCALE_DAYS took against what they said, which the stretches' learned
   times cannot see (junction costs on top of them).
4. The candidate is saved as the new version with both scores (on the first day of driving, with
   nothing before it to learn from, the day itself, inactive). It becomes active only when its mean
   + p90 is lower than the active version's (or than the road network's defaults when no version is
   active yet): the version that becomes active is exactly the one that was scored, and the next
   night's candidate has a day the active one has not seen.
"""

from __future__ import annotations

import io
import logging
import time
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from config.tasks import enqueue
from routes.learning import calibration, doorstep, evaluation, junctions, observations, speeds, windows
from routes.learning.evaluation import DayData
from routes.models import TravelModel
from routes.network import RoadNetwork
from routes.road_network import active_build, get_road_network, travel_model_speeds

logger = logging.getLogger(__name__)

LEG_SCALE_DAYS = 7  # the plans of the last week teach the leg scale (routes.learning.calibration)


# -- learning ----------------------------------------------------------------------------------------------
def learn_parameters(network: RoadNetwork, days: list[dict[str, DayData]]) -> tuple[dict[str, np.ndarray], dict]:
    """Speed factors per profile and the doorstep tables from the given days' observations."""
    factors, stats = {}, {}
    for profile in network.profiles:
        state = network._state(profile)
        obs = speeds.Observations.concat([d[profile].obs for d in days if profile in d])
        if not len(obs.chain):
            continue
        g = state.graph
        mid_lat = (state.node_lat[g.chain_start_node] + state.node_lat[g.chain_end_node]) / 2
        mid_lon = (state.node_lon[g.chain_start_node] + state.node_lon[g.chain_end_node]) / 2
        factors[profile], stats[profile] = speeds.estimate_factors(
            g.chain_length_m, g.chain_speed_kmh, g.chain_class, evaluation.base_class_factors(network, profile), obs,
            chain_area=speeds.chain_areas(mid_lat, mid_lon),
        )  # fmt: skip
    service = [doorstep.DoorstepObservation(**o) for d in days for data in d.values() for o in data.service]
    access = [doorstep.DoorstepObservation(**o) for d in days for data in d.values() for o in data.access]
    parameters = {
        "service": doorstep.fit(service, per_item=True),
        "access": doorstep.fit(access, per_item=False),
        "speeds": stats,
        "observations": {"service": len(service), "access": len(access)},
    }
    return factors, parameters


def pack_speeds(factors: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    # float16: 3 significant digits of a speed factor, half the bytes
    np.savez_compressed(buffer, **{name: f.astype(np.float16) for name, f in factors.items()})
    return buffer.getvalue()


def travel_model_learn(
    *, held_out: date | None = None, now: datetime | None = None, note: str = "nightly"
) -> TravelModel | None:
    """Learn a new travel model version from the fleet's recent days; activate it if it predicts the
    held-out day (default: the latest day before today with positions) better than the active one.

    Returns the new version (active or not), or None when there is no driving to learn from.
    The nightly task, the admin's action and ``simulate_history`` all call this.
    """
    started = time.perf_counter()
    now = now or timezone.now()
    today = timezone.localtime(now, observations.local_zone()).date()
    window = settings.LEARNING_WINDOW_DAYS
    days = [
        d
        for d in observations.days_with_driving(today - timedelta(days=1), window)
        if held_out is None or d <= held_out
    ]
    if not days:
        logger.info("travel model: no driving in the last %d days, nothing learned", window)
        return None
    held_out = held_out or days[-1]
    network = get_road_network(moment=now)
    build = active_build()
    matchers: dict = {}
    data = {d: observations.day_data(network, build, matchers, d) for d in days}
    training = [data[d] for d in days if d < held_out]
    candidate_factors, candidate_parameters = learn_parameters(network, training)
    # with its speeds (the selector leaves them out): scored here, and copied as they are by _recalibrate
    active = TravelModel.objects.filter(active=True).first()
    active_factors = travel_model_speeds(active) if active else None
    if active is not None and build is not None and active.network_path and active.network_path != build.path:
        active_factors = None  # learned on another road network: the processes drive it with the defaults too
    held = data.get(held_out, {})
    candidate_legs = evaluation.leg_errors(
        network, held, candidate_factors if training else None, candidate_parameters if training else None
    )
    # Scored on what an ETA is made of: the legs (driving and access) and the doorsteps (service).
    active_legs = evaluation.leg_errors(network, held, active_factors, active.parameters if active else None)
    score = {
        "candidate": evaluation.score(
            candidate_legs, evaluation.service_errors(held, candidate_parameters if training else None)
        ),
        "active": evaluation.score(active_legs, evaluation.service_errors(held, active.parameters if active else None)),
        "active_version": active.version if active else None,
    }
    if training:
        # The version is the candidate, exactly as scored. (Adding the held-out day to it afterwards made
        # the next night's candidate the active version itself, a tie that could only keep it: a new
        # version could win at most every other night.)
        final_factors, parameters = candidate_factors, candidate_parameters
        trained_to = max(d for d in days if d < held_out)
        parameters["arrival_error"] = evaluation.arrival_error(held, candidate_legs, candidate_parameters)
    else:
        # the first day of driving: nothing to score it on, kept inactive for the next night to beat
        final_factors, parameters = learn_parameters(network, [data[held_out]])
        trained_to = held_out
    # The plans' own legs against what they took: what the stretches' learned times leave out (junctions).
    # Learned on the week before the held-out day, like the candidate; only where the version has learned
    # speeds (a profile driven with the defaults is routed as it was). First the junction factors, then
    # the leg scale on the legs re-priced with them.
    week = [d for d in days if d < held_out][-LEG_SCALE_DAYS:]
    zone = observations.local_zone()
    week_legs = calibration.planned_legs(week, observations.day_visits, zone, network)
    held_legs = calibration.planned_legs([held_out], observations.day_visits, zone, network)
    profiles = [p for p in network.profiles if p in final_factors]
    # a profile nobody drove this week keeps the active version's scale and junction factors
    carried = (active.parameters or {}) if active is not None and active_factors else {}
    kept_junctions = calibration.carried(carried.get("junction_factors") or {}, {}, final_factors)
    fitted = junctions.fit(week_legs, profiles, kept_junctions)
    junction_factors, scales, gate = _junction_gate(
        week_legs, held_legs, profiles, kept_junctions, calibration.carried(kept_junctions, fitted["factors"], profiles)
    )
    parameters["leg_scale"] = calibration.carried(carried.get("leg_scale") or {}, scales["scale"], final_factors)
    parameters["leg_scale_legs"] = scales["legs"]
    parameters["junction_factors"] = junction_factors
    parameters["junction_legs"] = fitted["legs"]
    parameters["junction_gate"] = gate
    recent = [d for d in days if d <= held_out][-windows.RESIDUAL_DAYS :]
    residual_table = windows.residual_table(*windows.arrival_residuals(recent))
    if residual_table is not None:
        parameters["eta_residuals"] = residual_table
    parameters["learning_seconds"] = round(time.perf_counter() - started, 2)
    activate = bool(training) and evaluation.better(score["candidate"], score["active"])
    with transaction.atomic():
        version = (TravelModel.objects.select_for_update().aggregate(v=Max("version"))["v"] or 0) + 1
        if activate:
            TravelModel.objects.filter(active=True).update(active=False)
        model = TravelModel.objects.create(
            version=version,
            trained_from=days[0],
            trained_to=trained_to,
            held_out_day=held_out,
            score=score,
            active=activate,
            activated_at=now if activate else None,
            network_path=build.path if build else "",
            speeds=pack_speeds(final_factors),
            parameters=parameters,
            note=note[:255],
        )
        if not activate and active is not None and active_factors:
            _recalibrate(active, set(active_factors), scales, junction_factors, held_legs, residual_table,
                         held_out=held_out, now=now, version=version + 1)  # fmt: skip
    logger.info(
        "travel model v%s learned on %s..%s in %.1f s, held-out %s: %s (%s)",
        version, days[0], trained_to, time.perf_counter() - started, held_out, score,
        "activated" if activate else "it did not beat the active version",
    )  # fmt: skip
    return model


def _junction_gate(week_legs, held_legs, profiles, kept: dict, fitted: dict) -> tuple[dict, dict, dict]:
    """(junction factors, leg scales, what was compared): the freshly fitted factors with the scale
    learned on the week's legs re-priced with them, if they predict the held-out day's plan legs
    better than the carried factors with theirs; the carried ones otherwise. A factor changes which
    way is fastest, so a fit that the day after does not confirm is not kept."""
    scales = calibration.leg_scales(junctions.reprice(week_legs, fitted), profiles)
    if fitted == kept:
        return kept, scales, {}
    kept_scales = calibration.leg_scales(junctions.reprice(week_legs, kept), profiles)
    held = junctions.held_out_legs(held_legs)
    if len(held) < junctions.MIN_HELD_OUT:
        return kept, kept_scales, {"held_out_legs": len(held), "kept": "carried"}
    new, old = _held_out_score(held, fitted, scales["scale"]), _held_out_score(held, kept, kept_scales["scale"])
    gate = {"fitted": new, "carried": old, "kept": "fitted" if evaluation.better(new, old) else "carried"}
    if gate["kept"] == "fitted":
        return fitted, scales, gate
    return kept, kept_scales, gate


def _held_out_score(held, junction_factors: dict, leg_scale: dict) -> dict:
    """How well one side (its junction factors and leg scales) predicts the held-out day's plan legs:
    the summary evaluation.better compares. Both sides of a comparison are scored on the same legs."""
    repriced = junctions.reprice(held, junction_factors)
    return evaluation.summarize(calibration.scale_errors(repriced, leg_scale, checked=True))


def _recalibrate(active: TravelModel, profiles: set, scales: dict, junction_factors: dict, held_legs,
                 residual_table, *, held_out: date, now, version: int) -> TravelModel | None:  # fmt: skip
    """(`active` with its speeds loaded.) When the candidate did not beat the active version: the active one's speeds and doorsteps, as they
    are, with the leg scale, junction factors and windows of the last week, as a version of its own (plans
    record the version they were timed with). Activated only if its leg scale and junction factors predict
    the held-out day's plan legs better than the active one's: the scale follows what the plans' legs take
    whatever the speeds do, and a stretch of nights without a better candidate no longer freezes it."""
    old_scales = (active.parameters or {}).get("leg_scale") or {}
    old_junctions = (active.parameters or {}).get("junction_factors") or {}
    new_scales = calibration.carried(old_scales, scales["scale"], profiles)  # its learned profiles only
    new_junctions = calibration.carried(old_junctions, junction_factors, profiles)
    # both sides on the same legs: those within MAX_OFF_S as planned (a re-pricing would move some)
    held = [leg for leg in held_legs if calibration.counted(leg)]
    new, old = _held_out_score(held, new_junctions, new_scales), _held_out_score(held, old_junctions, old_scales)
    if not evaluation.better(new, old):
        return None
    parameters = {**(active.parameters or {}), "leg_scale": new_scales, "leg_scale_legs": scales["legs"],
                  "junction_factors": new_junctions, "recalibrated_from": active.version}  # fmt: skip
    if residual_table is not None:
        parameters["eta_residuals"] = residual_table
    try:
        with transaction.atomic():
            # Another learner (the admin's "learn now" beside the nightly run) or "use this version" may
            # have changed the active version meanwhile: then this copy of the old one is not wanted.
            current = TravelModel.objects.select_for_update().filter(active=True).values_list("pk", flat=True)
            if list(current) != [active.pk]:
                return None
            TravelModel.objects.filter(pk=active.pk).update(active=False)
            model = TravelModel.objects.create(
                version=version, trained_from=active.trained_from, trained_to=active.trained_to,
                held_out_day=held_out,
                score={"candidate": new, "active": old, "active_version": active.version, "scored_on": "plan legs"},
                active=True, activated_at=now, network_path=active.network_path,
                speeds=active.speeds, parameters=parameters,
                note=f"v{active.version} recalibrated: its speeds and doorsteps, the last week's leg scale, junction "
                     "factors and windows",
            )  # fmt: skip
    except IntegrityError:  # the version number was taken by a learner running beside this one
        logger.warning("travel model v%s: not recalibrated, another learner saved a version meanwhile", version)
        return None
    logger.info("travel model v%s: v%s recalibrated on %s's plan legs: %s against %s", version, active.version,
                held_out, new, old)  # fmt: skip
    return model


def travel_model_learn_request(*, by=None) -> None:
    """Learn a new version in the background (the admin's "learn now")."""
    who = getattr(by, "username", "") or "someone"
    enqueue("routes.tasks.learn_travel_model", note=f"on demand by {who}")


def travel_model_activate(*, model: TravelModel) -> TravelModel:
    """Make a version the active one by hand (the admin's "use this version"): every process picks it
    up on its next use of the road network."""
    with transaction.atomic():
        TravelModel.objects.filter(active=True).exclude(pk=model.pk).update(active=False)
        TravelModel.objects.filter(pk=model.pk).update(active=True, activated_at=timezone.now())
    model.refresh_from_db()
    return model
