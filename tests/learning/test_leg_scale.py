"""The leg scale (routes.learning.calibration): the dispatched plan's legs against what they took, per
profile and day type; the active version's scale is what every process's network times legs with."""

from datetime import datetime, time, timedelta

import numpy as np
import pytest
from django.utils import timezone

from dispatch.models import OrderStatusChange
from routes.learning import calibration
from routes.learning.observations import day_visits, local_zone
from routes.learning.services import _recalibrate, pack_speeds
from routes.models import Plan, Stop, TravelModel
from routes.road_network import get_road_network
from tests.routes.test_plans import DAY, VADUZ_POINTS, import_orders

RATIO = 0.75  # the legs take three quarters of what the plan said
LONGER_DOOR = {6: 60}  # stop 6's doorstep takes a minute more than planned


def _dispatched_plan(client, on_commit) -> Plan:
    """Plan DAY through the API (its task runs on commit) and mark it dispatched."""
    with on_commit(execute=True):
        response = client.post("/api/plans/", {"date": str(DAY)}, format="json")
    assert response.status_code == 202, response.json()
    plan = Plan.objects.get(pk=response.json()["id"], status=Plan.Status.DONE)
    Plan.objects.filter(pk=plan.pk).update(dispatched_at=timezone.now())
    return plan


def _serve(driver, stops, clock, *, pause_after=None, pause_s=0):
    """The driver serves `stops` in the given order: each leg takes RATIO x its planned seconds, each
    doorstep its planned seconds (LONGER_DOOR: more)."""
    changes = []
    for stop in stops:
        arrival = clock + timedelta(seconds=RATIO * stop.leg_duration_s)
        done = arrival + timedelta(seconds=stop.service_s + LONGER_DOOR.get(stop.sequence, 0))
        changes += [
            OrderStatusChange(order=stop.order, from_status="dispatched", to_status="arrived", changed_at=arrival,
                              changed_by=driver.user),
            OrderStatusChange(order=stop.order, from_status="arrived", to_status="delivered", changed_at=done,
                              changed_by=driver.user),
        ]  # fmt: skip
        clock = done + timedelta(seconds=pause_s if stop.sequence == pause_after else 0)
    OrderStatusChange.objects.bulk_create(changes)


@pytest.fixture
def served_day(dispatcher_a_client, depot_a, vehicle_a, driver_a, demo_build, django_capture_on_commit_callbacks):
    """Version 3 (the roads' default speeds, car legs on weekdays at half) plans DAY; the driver serves
    it with stops 7 and 8 the other way round and a break after stop 4, each leg at RATIO x its plan."""
    rows = [f"R{i},{DAY},{lat},{lon},,,2,,0" for i, (lat, lon) in enumerate(VADUZ_POINTS)]
    import_orders(dispatcher_a_client, rows)
    network = get_road_network()
    chains = len(network._state("car").graph.chain_start)
    TravelModel.objects.create(
        version=3, active=True, speeds=pack_speeds({"car": np.ones((3, 24, chains), np.float32)}),
        parameters={"leg_scale": {"car": [0.5, 1.0, 1.0]}, "service": {}},
    )  # fmt: skip
    plan = _dispatched_plan(dispatcher_a_client, django_capture_on_commit_callbacks)
    assert plan.travel_model_version == 3
    stops = list(Stop.objects.filter(route__plan=plan).select_related("order", "route").order_by("sequence"))
    assert len(stops) >= 9, stops
    route = stops[0].route
    route.breaks = [{"after_sequence": 4, "duration_s": 1800}]
    route.save(update_fields=["breaks"])
    served = stops[:6] + [stops[7], stops[6]] + stops[8:]
    _serve(driver_a, served, datetime.combine(DAY, time(9), local_zone()), pause_after=4, pause_s=1800)
    return stops


def test_the_plans_legs_are_read_against_what_they_took_and_the_active_scale_times_the_network(served_day):
    stops = served_day
    # every process's network times the car's weekday legs at half, since version 3 says so
    state = get_road_network()._state("car")
    assert state.leg_scale == (0.5, 1.0, 1.0)
    legs = calibration.planned_legs([DAY], day_visits, local_zone())
    # not the first leg (from the depot), not the one after the break, not the three the swap changed
    kept = [s for s in stops if s.sequence in (2, 3, 4, 6) or s.sequence >= 10]
    assert len(legs) == len(kept) == len(stops) - 1 - 1 - 3
    for leg in legs:
        assert leg.profile == "car" and leg.day_type == 0
        # the roads' own time (version 3 had halved it); what it took: the leg, and the doorstep's error
        # with it (what an ETA adds up)
        assert any(
            leg.planned_s == pytest.approx(s.leg_duration_s / 0.5)
            and leg.driven_s == pytest.approx(RATIO * s.leg_duration_s + LONGER_DOOR.get(s.sequence, 0), abs=1.0)
            for s in kept
        ), leg
    assert sorted(leg.planned_s for leg in legs) == pytest.approx(sorted(s.leg_duration_s / 0.5 for s in kept))
    # the ratio of the roads' time the legs took: 0.375, pulled towards 1 by SHRINK_S
    scale = calibration.leg_scales(legs, ["car"])
    planned_s, driven_s = sum(leg.planned_s for leg in legs), sum(leg.driven_s for leg in legs)
    overall = (driven_s + calibration.SHRINK_S) / (planned_s + calibration.SHRINK_S)
    assert scale["legs"]["car"] == [len(kept), 0, 0]
    assert scale["scale"]["car"][0] == pytest.approx(
        (driven_s + calibration.SHRINK_S * overall) / (planned_s + calibration.SHRINK_S), abs=1e-4
    )
    assert 0.375 < scale["scale"]["car"][0] < 0.75
    assert scale["scale"]["car"][1] == scale["scale"]["car"][2] == pytest.approx(overall, abs=1e-4)


def _legs(profile, day, ratio, count, planned_s=200.0, seed=0):
    rng = np.random.default_rng(seed)
    return [
        calibration.PlannedLeg(profile, day, planned_s, planned_s * ratio * rng.lognormal(0, 0.12))
        for _ in range(count)
    ]


def test_each_day_type_gets_its_own_scale_where_driven_and_its_profiles_where_not():
    legs = (
        _legs("car", 0, 0.83, 2000) + _legs("car", 2, 0.75, 600, seed=1) + _legs("bike", 0, 1.1, 800, seed=2)
        + _legs("car", 1, 0.83, 3, seed=3)  # three Saturday legs: hardly anything to say
        # a stop half an hour longer or shorter than planned was no drive and doorstep as planned
        + [calibration.PlannedLeg("car", 0, 200.0, 2100.0), calibration.PlannedLeg("car", 0, 200.0, -1700.0)]
    )  # fmt: skip
    result = calibration.leg_scales(legs, ["car", "bike"])
    car, bike = result["scale"]["car"], result["scale"]["bike"]
    assert car[0] == pytest.approx(0.83, abs=0.01)
    assert car[2] == pytest.approx(0.75, abs=0.015)
    assert car[0] * 0.97 < car[1] < car[0] * 1.03  # Saturday: the car's overall ratio, not 1
    assert bike[0] == pytest.approx(1.1, abs=0.015) and bike[2] == pytest.approx(bike[0], abs=0.02)
    assert result["legs"]["car"] == [2000, 3, 600]
    assert calibration.leg_scales(legs, ["bike"])["scale"].keys() == {"bike"}  # only the profiles asked
    assert calibration.scale_of({"car": car}, "car", 2) == car[2]
    assert calibration.scale_of({}, "car", 0) == 1.0


def test_a_version_whose_speeds_stay_gets_the_new_leg_scale_only_if_it_predicts_the_held_out_legs_better(
    served_day,
):
    """services._recalibrate: the candidate lost, so version 3's speeds and doorsteps stay; its leg scale
    (0.5) planned the day's legs too long (they took 0.375 of the roads' time)."""
    active = TravelModel.objects.get(version=3)
    held = calibration.planned_legs([DAY], day_visits, local_zone())
    closer = {"scale": {"car": [0.4, 1.0, 1.0], "bike": [1.1, 1.0, 1.0]}, "legs": {"car": [40, 0, 0]}}
    copy = _recalibrate(active, {"car"}, closer, {}, held, None, held_out=DAY, now=timezone.now(), version=4)
    assert copy is not None and copy.active and not TravelModel.objects.get(version=3).active
    assert bytes(copy.speeds) == bytes(active.speeds)  # the same speeds, as they were
    assert copy.parameters["leg_scale"] == {"car": [0.4, 1.0, 1.0]}  # only the profiles it learned
    assert copy.parameters["recalibrated_from"] == 3 and copy.parameters["service"] == {}
    assert copy.score["candidate"]["mean"] < copy.score["active"]["mean"]
    assert get_road_network()._state("car").leg_scale == (0.4, 1.0, 1.0)  # every process picks it up
    # a scale further off than the active one's: nothing changes
    further = {"scale": {"car": [0.8, 1.0, 1.0]}, "legs": {"car": [40, 0, 0]}}
    assert _recalibrate(copy, {"car"}, further, {}, held, None, held_out=DAY, now=timezone.now(), version=5) is None
    assert list(TravelModel.objects.filter(active=True).values_list("version", flat=True)) == [4]
    # a learner that read version 3 as the active one before version 4 came: no copy of the old one
    assert _recalibrate(active, {"car"}, closer, {}, held, None, held_out=DAY, now=timezone.now(), version=6) is None
    assert list(TravelModel.objects.filter(active=True).values_list("version", flat=True)) == [4]
