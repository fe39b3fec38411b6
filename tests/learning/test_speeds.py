"""The speed learner on a small graph: known truth in, the same truth out; no data, the class prior."""

import numpy as np
import pytest

from routes.learning.speeds import SLOTS, Observations, estimate_factors
from routes.network.profiles import ROAD_CLASS_CODE


def _traversals(graph, chains, truth, slot, count, rng, sigma=0.1):
    """`count` whole traversals of each chain at `slot`, each at truth x log-normal noise."""
    rows = []
    for chain in chains:
        length = graph.chain_length_m[chain]
        speed = graph.chain_speed_kmh[chain] / 3.6 * truth[chain]
        for _ in range(count):
            rows.append((chain, slot, length, length / speed * rng.lognormal(0.0, sigma)))
    chain, slots, metres, seconds = (np.asarray(c) for c in zip(*rows))
    return Observations(chain.astype(np.int32), slots.astype(np.int16), metres, seconds)


def _learn(graph, obs, base=None):
    base = np.ones((SLOTS, len(ROAD_CLASS_CODE))) if base is None else base
    factors, _ = estimate_factors(graph.chain_length_m, graph.chain_speed_kmh, graph.chain_class, base, obs)
    return factors.reshape(SLOTS, -1)


def test_it_recovers_a_known_speed_per_road_stretch_within_5_percent(town_net):
    graph = town_net._states["car"].graph
    rng = np.random.default_rng(3)
    chains = np.arange(len(graph.chain_start))
    truth = rng.uniform(0.45, 1.3, len(chains))  # each stretch its own, unlike its class
    slot = 8  # weekday, 08-09 h
    learned = _learn(graph, _traversals(graph, chains, truth, slot, count=60, rng=rng))
    error = np.abs(learned[slot] / truth - 1)
    assert error.max() < 0.05, f"worst stretch {error.argmax()}: learned {learned[slot][error.argmax()]:.3f}"


def test_a_stretch_nobody_drove_takes_its_class_learned_value_and_an_undriven_class_the_table(town_net):
    graph = town_net._states["car"].graph
    rng = np.random.default_rng(4)
    residential = np.flatnonzero(graph.chain_class == ROAD_CLASS_CODE["residential"])
    driven, undriven = residential[:-1], residential[-1]
    truth = np.full(len(graph.chain_start), 0.6)
    base = np.ones((SLOTS, len(ROAD_CLASS_CODE)))
    base[:, ROAD_CLASS_CODE["trunk"]] = 0.8  # the traffic table the planner had
    slot = 10
    learned = _learn(graph, _traversals(graph, driven, truth, slot, count=40, rng=rng), base)
    assert abs(learned[slot][undriven] / 0.6 - 1) < 0.05  # the residential class's learned prior
    trunk = np.flatnonzero(graph.chain_class == ROAD_CLASS_CODE["trunk"])
    assert np.allclose(learned[slot][trunk], 0.8, rtol=1e-3)  # nobody drove a trunk: the table
    # an hour nobody drove at all: the table there too (1.0 for residential)
    assert np.allclose(learned[20][undriven], 1.0, rtol=1e-3)


def test_one_traversal_moves_a_stretch_only_part_of_the_way(town_net):
    graph = town_net._states["car"].graph
    rng = np.random.default_rng(5)
    residential = np.flatnonzero(graph.chain_class == ROAD_CLASS_CODE["residential"])
    truth = np.full(len(graph.chain_start), 1.0)
    many = _traversals(graph, residential[1:], truth, 9, count=30, rng=rng)
    odd = residential[0]
    truth_odd = truth.copy()
    truth_odd[odd] = 0.4
    once = _traversals(graph, [odd], truth_odd, 9, count=1, rng=rng, sigma=0.0)
    learned = _learn(graph, Observations.concat([many, once]))
    assert 0.4 < learned[9][odd] < 0.95  # shrunk towards its class (1.0), not all the way


def test_saturday_and_sunday_are_learned_apart_and_a_weekday_slow_centre_is_not_slow_on_sunday(town_net):
    """The truth's town centre is slow Monday to Saturday and free on Sundays, when everything runs
    1.2 x: one "weekend" slot learned their mix, wrong on both days."""
    graph = town_net._states["car"].graph
    rng = np.random.default_rng(6)
    chains = np.arange(len(graph.chain_start))
    centre = chains[: len(chains) // 3]
    weekday = np.ones(len(chains))
    weekday[centre] = 0.55
    saturday = weekday * 1.1
    sunday = np.full(len(chains), 1.2)
    hour = 10
    obs = Observations.concat([
        _traversals(graph, chains, weekday, 0 * 24 + hour, count=30, rng=rng),
        _traversals(graph, chains, saturday, 1 * 24 + hour, count=6, rng=rng),
        _traversals(graph, chains, sunday, 2 * 24 + hour, count=6, rng=rng),
    ])  # fmt: skip
    learned = _learn(graph, obs)
    for day, truth in ((0, weekday), (1, saturday), (2, sunday)):
        error = np.abs(learned[day * 24 + hour] / truth - 1)
        assert np.median(error) < 0.05 and error.max() < 0.15, (day, float(np.median(error)), float(error.max()))
    # an hour of Sunday nobody drove: Sunday's own offset, not the weekday centre's slowness
    assert np.median(learned[2 * 24 + 15][centre] / learned[0 * 24 + 15][centre]) > 1.3


def test_a_model_of_three_day_types_drives_sunday_apart_and_an_older_one_of_two_its_weekend(town_net):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    state = town_net._states["car"]
    chains = len(state.graph.chain_start)
    saturday, sunday = (datetime(2026, 11, d, 10, tzinfo=ZoneInfo("Europe/Vaduz")) for d in (28, 29))
    three = np.stack([np.full((24, chains), f, np.float32) for f in (0.5, 0.9, 1.2)])
    town_net.set_learned_speeds("car", 7, three)
    try:
        assert state.slot_factors(state.slot(saturday))[1][0] == pytest.approx(0.9)
        assert state.slot_factors(state.slot(sunday))[1][0] == pytest.approx(1.2)
        town_net.set_learned_speeds("car", 6, three[:2])  # weekday, weekend: learned before the split
        assert state.slot_factors(state.slot(sunday))[1][0] == pytest.approx(0.9)
        with pytest.raises(ValueError):
            town_net.set_learned_speeds("car", 5, three[:, :23])
    finally:
        town_net.set_learned_speeds("car", None, None)


def test_a_leg_scale_multiplies_every_duration_of_its_day_type_and_never_changes_the_way(town_net):
    """routes.learning.calibration: the matrix, the leg-by-leg ETAs and the route all take the scale of
    the departure's day type; the fastest way is the same one."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Vaduz")
    points = [(47.0021, 9.5004), (46.9985, 9.5019), (47.0011, 9.5035)]
    state = town_net._states["car"]
    chains = len(state.graph.chain_start)
    three = np.full((3, 24, chains), 0.8, np.float32)
    days = {0: datetime(2026, 12, 2, 10, tzinfo=tz), 1: datetime(2026, 12, 5, 10, tzinfo=tz),
            2: datetime(2026, 12, 6, 10, tzinfo=tz)}  # fmt: skip
    try:
        town_net.set_learned_speeds("car", 8, three)
        plain = {d: (town_net.matrix(points, "car", at), town_net.time_legs(points, "car", at),
                     town_net.route(points, "car", at)) for d, at in days.items()}  # fmt: skip
        town_net.set_learned_speeds("car", 9, three, [0.8, 1.0, 1.25])
        for day, at in days.items():
            scale = (0.8, 1.0, 1.25)[day]
            matrix, legs, route = town_net.matrix(points, "car", at), town_net.time_legs(points, "car", at), \
                town_net.route(points, "car", at)  # fmt: skip
            before_matrix, before_legs, before_route = plain[day]
            off_diagonal = ~np.eye(len(points), dtype=bool)
            assert np.allclose(matrix.durations_s[off_diagonal], before_matrix.durations_s[off_diagonal] * scale)
            assert np.allclose(matrix.distances_m, before_matrix.distances_m)
            assert [leg["duration_s"] for leg in legs] == pytest.approx(
                [leg["duration_s"] * scale for leg in before_legs]
            )
            assert route.duration_s == pytest.approx(before_route.duration_s * scale)
            assert route.geometry == before_route.geometry
        # an older version's speeds know weekdays and weekends only; its scale still tells Sunday apart
        town_net.set_learned_speeds("car", 10, three[:2], [0.8, 1.0, 1.25])
        assert state.duration_scale(state.slot(days[1])) == 1.0 and state.duration_scale(state.slot(days[2])) == 1.25
        assert town_net.route(points, "car", days[2]).duration_s == pytest.approx(plain[2][2].duration_s * 1.25)
        with pytest.raises(ValueError):
            town_net.set_learned_speeds("car", 10, three, [0.8, 1.0])
        town_net.set_learned_speeds("car", None, None, [0.8, 1.0, 1.25])  # no model: no scale either
        assert state.duration_scale(state.slot(days[0])) == 1.0
    finally:
        town_net.set_learned_speeds("car", None, None)


def test_a_slow_centre_is_learned_on_its_streets_nobody_drove_and_only_on_its_type_of_day(town_net):
    """The area level (speeds.alpha): half the town's streets are a centre, slow on weekdays and free on
    Sundays; one of them nobody drove. On its own stretch it would keep its class's speed, which the
    fast streets elsewhere pull up; pooled with its area's, it is learned slow on weekdays only."""
    from routes.learning.speeds import estimate_factors

    graph = town_net._states["car"].graph
    rng = np.random.default_rng(9)
    residential = np.flatnonzero(graph.chain_class == ROAD_CLASS_CODE["residential"])
    centre, elsewhere = residential[: len(residential) // 2], residential[len(residential) // 2 :]
    driven_centre, undriven = centre[:-1], centre[-1]
    area = np.ones(len(graph.chain_start), np.int64)
    area[centre] = 0
    weekday_truth = np.ones(len(graph.chain_start))
    weekday_truth[centre] = 0.5
    sunday_truth = np.ones(len(graph.chain_start))
    weekday, sunday = 10, 2 * 24 + 10
    obs = Observations.concat([
        _traversals(graph, driven_centre, weekday_truth, weekday, count=20, rng=rng),
        _traversals(graph, elsewhere, weekday_truth, weekday, count=20, rng=rng),
        _traversals(graph, driven_centre, sunday_truth, sunday, count=8, rng=rng),
        _traversals(graph, elsewhere, sunday_truth, sunday, count=8, rng=rng),
    ])  # fmt: skip
    base = np.ones((SLOTS, len(ROAD_CLASS_CODE)))

    def learn(chain_area):
        factors, stats = estimate_factors(
            graph.chain_length_m, graph.chain_speed_kmh, graph.chain_class, base, obs, chain_area=chain_area
        )
        return factors.reshape(SLOTS, -1), stats

    with_area, stats = learn(area)
    without, _ = learn(None)
    assert with_area[weekday][undriven] < 0.6, with_area[weekday][undriven]
    assert without[weekday][undriven] > 0.65, without[weekday][undriven]  # the class's mixed speed
    assert abs(with_area[sunday][undriven] - 1.0) < 0.1  # free on Sundays, like its area
    assert np.allclose(with_area[weekday][driven_centre], 0.5, rtol=0.06)  # the driven ones as before
    assert np.allclose(with_area[weekday][elsewhere], 1.0, rtol=0.06)
    assert stats["areas_driven"] == 2 and stats["k_area"] > 0
