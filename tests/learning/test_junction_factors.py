"""Junction costs learned per junction class (routes.learning.junctions, #17 item 2): fitted on the plans'
own legs routed again, gated on the held-out day, and applied by every process's road network."""

from collections import Counter

import numpy as np
import pytest

from routes.learning import calibration, junctions
from routes.learning.observations import day_visits, local_zone
from routes.learning.services import _junction_gate, pack_speeds
from routes.models import Stop, TravelModel
from routes.network import JUNCTION_CLASSES
from routes.network.profile_state import JUNCTION_FACTOR_BOUNDS
from routes.road_network import get_road_network
from tests.learning.test_leg_scale import DAY, RATIO, served_day  # noqa: F401 (a fixture)

# what the fleet's junctions really cost, on the defaults: turns cheaper, signals dearer, no U-turns seen
TRUE = {"turn": 0.6, "across_traffic": 1.5, "u_turn": 1.0, "signals": 1.8, "stop": 0.5, "give_way": 1.0,
        "barrier": 1.0}  # fmt: skip
# how often a leg passes each class (Poisson means, in default seconds per passing: as the car profile)
SEEN = {"turn": (4, 3.0), "across_traffic": (1.5, 8.0), "u_turn": (0.0, 20.0), "signals": (1.2, 15.0),
        "stop": (0.8, 10.0), "give_way": (1.0, 4.0), "barrier": (0.01, 10.0)}  # fmt: skip


def _legs(count, *, roads_take=0.9, truth=TRUE, planned_with=None, seed=0, noise=0.08, profile="car"):
    """Legs planned with `planned_with` factors (None: the defaults) whose drive took `roads_take` x the
    roads' time plus the junctions at `truth` x the defaults, with lognormal noise."""
    rng = np.random.default_rng(seed)
    f_plan, f_true = junctions.vector(planned_with), junctions.vector(truth)
    legs = []
    for _ in range(count):
        road = float(rng.uniform(60, 600))
        exposure = np.asarray([rng.poisson(SEEN[name][0]) * SEEN[name][1] for name in JUNCTION_CLASSES], float)
        driven = (roads_take * road + float(exposure @ f_true)) * float(rng.lognormal(0, noise))
        legs.append(calibration.PlannedLeg(profile, 0, road + float(exposure @ f_plan), driven, exposure, road))
    return legs


def test_the_factors_of_the_classes_the_legs_pass_are_found_again():
    fit = junctions.fit(_legs(1500), ["car", "bike"])
    found = fit["factors"]["car"]
    for name in ("turn", "across_traffic", "signals", "stop"):
        # the leg scale (0.9 here) multiplies the junctions too: the factor is what's left of it
        assert found[name] == pytest.approx(TRUE[name] / 0.9, abs=0.15), name
    # four seconds a leg against ~30 s of noise: found, if less closely
    assert found["give_way"] == pytest.approx(TRUE["give_way"] / 0.9, abs=0.3)
    # never seen, or on fewer than MIN_LEGS legs: kept at the carried factor (here the default)
    assert found["u_turn"] == 1.0 and fit["legs"]["car"]["u_turn"] == 0
    assert fit["legs"]["car"]["barrier"] < junctions.MIN_LEGS and found["barrier"] == 1.0
    assert fit["legs"]["car"]["turn"] > 1000
    assert "bike" not in fit["factors"]  # no bike legs: nothing learned, the defaults stay


def test_legs_planned_with_other_factors_teach_the_same_factors():
    """A leg's planned time holds the junctions at the planning version's factors: taken out first."""
    planned_with = {"turn": 2.0, "signals": 0.5, "stop": 1.3}
    fit = junctions.fit(_legs(1500, planned_with=planned_with, seed=1), ["car"])
    for name in ("turn", "signals", "stop"):
        assert fit["factors"]["car"][name] == pytest.approx(TRUE[name] / 0.9, abs=0.15), name


def test_few_legs_move_nothing_and_a_rare_class_keeps_its_carried_factor():
    assert junctions.fit(_legs(junctions.MIN_LEGS - 1), ["car"])["factors"] == {}
    carried = {"car": {"barrier": 2.5, "u_turn": 0.4}}
    fit = junctions.fit(_legs(400, seed=2), ["car"], carried)
    assert fit["factors"]["car"]["barrier"] == 2.5 and fit["factors"]["car"]["u_turn"] == 0.4


def test_the_defaults_hold_where_the_legs_say_little(monkeypatch):
    """Few legs with noise far larger than their junctions: the prior keeps the factors nearer 1 than
    the bare fit, and inside their bounds."""
    legs = _legs(60, noise=0.6, seed=3)
    shrunk = junctions.vector(junctions.fit(legs, ["car"])["factors"]["car"])
    monkeypatch.setattr(junctions, "PRIOR_LEGS", 0)
    bare = junctions.vector(junctions.fit(legs, ["car"])["factors"]["car"])
    assert np.abs(shrunk - 1).sum() < np.abs(bare - 1).sum()


def test_a_fitted_factor_stays_within_what_every_process_accepts():
    """Signals at six times their default, roads at half: g / a would be 6; the network takes at most 5
    (beyond, a version would be driven on the defaults)."""
    truth = {**TRUE, "signals": 3.0}
    fit = junctions.fit(_legs(1500, truth=truth, roads_take=0.5, noise=0.02, seed=8), ["car"])
    low, high = JUNCTION_FACTOR_BOUNDS
    assert fit["factors"]["car"]["signals"] == high
    assert all(low <= value <= high for value in fit["factors"]["car"].values())


def test_repricing_puts_the_junctions_at_the_new_factors_on_the_roads_time():
    legs = _legs(5, seed=4) + [calibration.PlannedLeg("car", 0, 100.0, 90.0)]  # the last not routed again
    factors = {"car": {"signals": 2.0, "turn": 0.0}}
    repriced = junctions.reprice(legs, factors)
    for leg, new in zip(legs[:5], repriced):
        assert new.planned_s == pytest.approx(leg.road_s + leg.junction_s @ junctions.vector(factors["car"]))
        assert new.driven_s == leg.driven_s
    assert repriced[5] is legs[5]
    # at the defaults: the roads' time plus every junction second
    assert junctions.reprice(legs[:1], {})[0].planned_s == pytest.approx(legs[0].road_s + legs[0].junction_s.sum())


def test_fitted_factors_are_kept_only_if_they_predict_the_held_out_day_better():
    week = _legs(1500, seed=5)
    fitted = junctions.fit(week, ["car"])["factors"]
    factors, scales, gate = _junction_gate(week, _legs(200, seed=6), ["car"], {}, fitted)
    assert factors == fitted and gate["kept"] == "fitted"
    assert gate["fitted"]["mean"] < gate["carried"]["mean"]
    # the scale is learned on the legs re-priced with the factors: near the roads' 0.9, not the
    # defaults' blend of roads and junctions
    assert scales["scale"]["car"][0] == pytest.approx(0.9, abs=0.05)
    # a held-out day whose junctions cost the defaults after all: the carried (default) factors stay
    defaults = dict.fromkeys(JUNCTION_CLASSES, 1.0)
    factors, scales, gate = _junction_gate(week, _legs(300, truth=defaults, roads_take=1.0, seed=7), ["car"], {},
                                           fitted)  # fmt: skip
    assert factors == {} and gate["kept"] == "carried"
    assert scales == calibration.leg_scales(junctions.reprice(week, {}), ["car"])


def test_both_sides_of_the_gate_are_scored_on_the_same_held_out_legs():
    """A held-out leg half an hour off as planned is out for both sides, even where a re-pricing would
    bring it within MAX_OFF_S; a leg not routed again is out too; too few legs left keep the carried."""
    week = _legs(1500, seed=9)
    fitted = junctions.fit(week, ["car"])["factors"]
    held = _legs(60, seed=10)
    off = calibration.PlannedLeg("car", 0, 100.0, 100.0 + calibration.MAX_OFF_S + 5, np.zeros(7), 100.0 - 3000)
    unrouted = calibration.PlannedLeg("car", 0, 300.0, 250.0)
    assert junctions.held_out_legs(held + [off, unrouted]) == held
    _, _, gate = _junction_gate(week, held + [off, unrouted], ["car"], {}, fitted)
    assert gate["fitted"]["legs"] == gate["carried"]["legs"] == 60
    _, _, gate = _junction_gate(week, held[: junctions.MIN_HELD_OUT - 1], ["car"], {}, fitted)
    assert gate == {"held_out_legs": junctions.MIN_HELD_OUT - 1, "kept": "carried"}


@pytest.mark.django_db
def test_the_plans_legs_are_routed_again_to_count_their_junctions(served_day):  # noqa: F811
    """Version 3 planned the day with the car's turns at 0.5 and signals at 2: a leg's roads' time is
    its planned time less its junctions at those factors."""
    stops = served_day
    model = TravelModel.objects.get(version=3)
    version_factors = {"car": {"turn": 0.5, "signals": 2.0}}
    TravelModel.objects.filter(pk=model.pk).update(parameters={**model.parameters, "junction_factors": version_factors})
    network = get_road_network()
    legs = calibration.planned_legs([DAY], day_visits, local_zone(), network)
    plain = calibration.planned_legs([DAY], day_visits, local_zone())
    assert len(legs) >= 4
    assert [leg.planned_s for leg in legs] == [leg.planned_s for leg in plain]  # the same legs, counted
    routed = [leg for leg in legs if leg.junction_s is not None]
    assert len(routed) >= len(legs) - 1  # the plan's legs are the network's fastest routes
    turns = JUNCTION_CLASSES.index("turn")
    assert sum(float(leg.junction_s[turns]) for leg in routed) > 0
    f = junctions.vector(version_factors["car"])
    for leg in routed:
        assert leg.road_s == pytest.approx(leg.planned_s - float(leg.junction_s @ f))
        assert 0 < leg.road_s < leg.planned_s
    # what each leg's junctions are: the network's count on the stop-to-stop route
    stop_at = {(s.route_id, s.sequence): s for s in stops}
    # A learner's leg is known here by its planned seconds only: two legs of the same length are
    # ambiguous and left out (a plan with two 113-s legs matched one to the other's junctions).
    roads_s = {s: round(s.leg_duration_s / 0.5, 6) for s in stops if s.sequence >= 2}
    legs_of = Counter(roads_s.values())
    counted_legs = {
        seconds: network.leg_junctions(
            [(stop_at[(s.route_id, s.sequence - 1)].order.lat, stop_at[(s.route_id, s.sequence - 1)].order.lon),
             (s.order.lat, s.order.lon)], "car", None)[0]
        for s, seconds in roads_s.items() if legs_of[seconds] == 1
    }  # fmt: skip
    matched = [leg for leg in routed if round(leg.planned_s, 6) in counted_legs]
    assert len(matched) >= len(routed) // 2
    for leg in matched:
        # the learner routes at the hour the leg was driven; these at free flow: the same turns here
        expected = counted_legs[round(leg.planned_s, 6)]
        assert leg.junction_s[turns] == pytest.approx(expected["turn"], abs=5.0)
    # each leg is routed once: its count is kept on the stop, and the next nights read it from there
    kept = dict(
        Stop.objects.filter(route__plan__date=DAY, leg_junctions__isnull=False).values_list("pk", "leg_junctions")
    )
    assert len(kept) >= len(routed) and all(len(v) == len(JUNCTION_CLASSES) for v in kept.values())
    Stop.objects.filter(pk__in=kept).update(leg_junctions=[0, 0, 0, 10.0, 0, 0, 0])  # ten seconds of signals each
    again = calibration.planned_legs([DAY], day_visits, local_zone(), network)
    assert all(list(leg.junction_s) == [0, 0, 0, 10.0, 0, 0, 0] for leg in again)
    assert all(leg.road_s == pytest.approx(leg.planned_s - 20.0) for leg in again)  # signals planned at 2
    # a drone flies: its legs are never routed again (the network has no drone profile)
    assert calibration._junctions(network, "drone", *[(47.14, 9.52), (47.15, 9.53)], None, 1000.0) is None


@pytest.mark.django_db
def test_every_process_prices_junctions_with_the_active_versions_factors(demo_build, caplog):
    network = get_road_network()
    chains = len(network._state("car").graph.chain_start)
    speeds = pack_speeds({"car": np.ones((3, 24, chains), np.float32)})
    TravelModel.objects.create(
        version=7, active=True, speeds=speeds,
        parameters={"leg_scale": {"car": [1.0, 1.0, 1.0]}, "junction_factors": {"car": {"turn": 0.5, "stop": 2.0},
                                                                                 "bike": {"turn": 3.0}}},
    )  # fmt: skip
    state = get_road_network()._state("car")
    assert state.junction_factors == {"turn": 0.5, "stop": 2.0}
    assert get_road_network()._state("bike").junction_factors is None  # no learned bike speeds: defaults
    # a version whose factors are no junction class: driven with the defaults, and the log says why
    TravelModel.objects.filter(version=7).update(active=False)
    TravelModel.objects.create(
        version=8, active=True, speeds=speeds,
        parameters={"junction_factors": {"car": {"roundabout": 0.5}}},
    )  # fmt: skip
    state = get_road_network()._state("car")
    assert state.junction_factors is None and state.learned is None
    assert "unknown junction classes" in caplog.text
