"""Junction costs re-weighed per junction class by a learned travel model (#17 item 2, #18).

A learned version may carry {class: factor} per profile (routes.learning.junctions). The network then
prices every turn, sign and barrier of that class at factor x the profile's default seconds, in
matrices and routes alike; ``RoadNetwork.leg_junctions`` says how many default seconds of each class
a leg's fastest route passes, which is what the learner fits the factors on.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from routes.network import JUNCTION_CLASSES, RoadNetwork

VADUZ = ZoneInfo("Europe/Vaduz")
# A Tuesday morning: the learned model's weekday slot at 10:00 (pinned, whatever the hour of the run).
DEPARTURE = datetime(2026, 12, 8, 10, 0, tzinfo=VADUZ)


@pytest.fixture
def net(liechtenstein_dir) -> RoadNetwork:
    # per test: learned models are per-instance state
    return RoadNetwork.load(liechtenstein_dir)


def _learned_ones(net: RoadNetwork, profile: str = "car") -> np.ndarray:
    chains = len(net._state(profile).graph.chain_start)
    return np.ones((3, 24, chains), dtype=np.float32)


def _points(net: RoadNetwork, count: int, seed: int) -> list[tuple[float, float]]:
    """Random road points of the largest connected part (Vaduz, Schaan, Triesen... all of it)."""
    state = net._state("car")
    rng = np.random.default_rng(seed)
    usable = np.flatnonzero(state.usable_chain)
    chains = rng.choice(usable, size=count, replace=False)
    g = state.graph
    lat = (state.node_lat[g.chain_start_node[chains]] + state.node_lat[g.chain_end_node[chains]]) / 2
    lon = (state.node_lon[g.chain_start_node[chains]] + state.node_lon[g.chain_end_node[chains]]) / 2
    return list(zip(lat.tolist(), lon.tolist()))


def test_factors_of_one_price_every_junction_exactly_as_the_defaults(net):
    state = net._state("car")
    before = {
        name: getattr(state, name).copy() for name in ("turn_cost_ms", "chain_fixed_s", "cost_point_s", "arc_fixed_ms")
    }
    points = _points(net, 40, seed=3)
    ones = _learned_ones(net)
    net.set_learned_speeds("car", 1, ones)
    plain = net.matrix(points, "car", DEPARTURE)
    net.set_learned_speeds("car", 2, ones, junction_factors=dict.fromkeys(JUNCTION_CLASSES, 1.0))
    for name, array in before.items():
        assert np.array_equal(getattr(state, name), array), name
    weighed = net.matrix(points, "car", DEPARTURE)
    assert np.array_equal(plain.durations_s, weighed.durations_s, equal_nan=True)
    assert np.array_equal(plain.distances_m, weighed.distances_m, equal_nan=True)


def test_the_arrays_a_running_query_holds_are_replaced_never_written_into(net):
    state = net._state("car")
    old = state.turn_cost_ms
    kept = old.copy()
    net.set_learned_speeds("car", 1, _learned_ones(net), junction_factors={"turn": 2.0, "signals": 0.5})
    assert state.turn_cost_ms is not old
    assert np.array_equal(old, kept)
    # and going back to the defaults gives the defaults' arrays again
    net.set_learned_speeds("car", None, None)
    assert np.array_equal(state.turn_cost_ms, kept)
    assert state.junction_factors is None


@pytest.mark.parametrize("name", JUNCTION_CLASSES)
def test_a_class_factor_changes_a_leg_by_its_default_seconds_times_the_factor_less_one(net, name):
    """Doubling one class adds exactly the class's default seconds on the route (where the route stays
    the same way): what leg_junctions counts is what the network charges."""
    points = _points(net, 60, seed=11)
    ones = _learned_ones(net)
    net.set_learned_speeds("car", 1, ones)
    pairs = list(zip(points[::2], points[1::2]))
    before = [(net.route([a, b], "car", DEPARTURE), net.leg_junctions([a, b], "car", DEPARTURE)) for a, b in pairs]
    net.set_learned_speeds("car", 2, ones, junction_factors={name: 2.0})
    assert net._state("car").junction_factors == {name: 2.0}
    checked = exposed = 0
    for (a, b), (route, (junctions, length)) in zip(pairs, before):
        assert length == pytest.approx(route.distance_m, abs=0.01)
        after = net.route([a, b], "car", DEPARTURE)
        if after.geometry != route.geometry:
            continue  # the dearer class made another way the fastest: nothing to compare
        checked += 1
        exposed += junctions[name] > 0
        # each turn's cost is rounded to the millisecond
        assert after.duration_s - route.duration_s == pytest.approx(junctions[name], abs=0.002 * 200)
    assert checked >= 10
    if name in ("turn", "across_traffic", "signals", "give_way"):
        assert exposed >= 3, f"too few legs through a {name} to tell"


def test_a_class_at_zero_costs_nothing_and_routes_may_take_it(net):
    points = _points(net, 40, seed=5)
    ones = _learned_ones(net)
    net.set_learned_speeds("car", 1, ones)
    plain = net.matrix(points, "car", DEPARTURE).durations_s
    net.set_learned_speeds("car", 2, ones, junction_factors={"signals": 0.0, "turn": 0.0})
    free = net.matrix(points, "car", DEPARTURE).durations_s
    off = ~np.eye(len(points), dtype=bool)
    # never dearer, and dearer junctions made most trips slower
    assert np.all(free[off] <= plain[off] + 1e-6)
    assert np.mean(free[off] < plain[off] - 1.0) > 0.5


def test_u_turns_leaving_a_stop_the_way_one_came_are_weighed_too(net):
    state = net._state("car")
    default = state.profile.turn_costs.u_turn_s
    net.set_learned_speeds("car", 1, _learned_ones(net), junction_factors={"u_turn": 0.5})
    assert state.u_turn_s == pytest.approx(default * 0.5)


@pytest.mark.parametrize(
    "factors, message",
    [
        ({"roundabout": 1.2}, "unknown junction classes"),
        ({"turn": -0.1}, "outside"),
        ({"signals": float("nan")}, "outside"),
        ({"stop": 9.0}, "outside"),
    ],
)
def test_bad_factors_are_refused_with_the_class_and_value(net, factors, message):
    state = net._state("car")
    kept = state.turn_cost_ms
    with pytest.raises(ValueError, match=message):
        net.set_learned_speeds("car", 1, _learned_ones(net), junction_factors=factors)
    assert state.turn_cost_ms is kept


def test_a_profile_without_learned_speeds_keeps_every_default(net):
    state = net._state("car")
    kept = state.turn_cost_ms
    net.set_learned_speeds("car", None, None, junction_factors={"turn": 2.0})
    assert state.junction_factors is None
    assert state.turn_cost_ms is kept
