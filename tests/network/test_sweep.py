"""The matrices' own contraction (routes/network/sweep.py) against independent answers:
all-pairs shortest paths on random graphs, a fresh customization after partial ones, and
RoutingKit's many-to-many on the demo region."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from routes.network import sweep
from routes.network.matrices import assemble, loop, loop_weights, many_to_many
from routes.network.profile_state import INF_WEIGHT, RESTRICTED_PENALTY_MS


def _shortest_paths(n, turn_from, turn_to, weights):
    """Floyd-Warshall over the arcs below INF (the smallest of parallel arcs); INF where none."""
    dist = np.full((n, n), np.inf)
    usable = weights < sweep.INF
    np.minimum.at(dist, (turn_from[usable], turn_to[usable]), weights[usable].astype(np.float64))
    np.fill_diagonal(dist, 0.0)
    for k in range(n):
        np.minimum(dist, dist[:, k, None] + dist[None, k, :], out=dist)
    return np.where(np.isinf(dist), float(sweep.INF), dist).astype(np.uint32)


def _random_graph(rng, n):
    arcs = int(rng.integers(n, 4 * n + 1))
    turn_from = rng.integers(0, n, arcs).astype(np.uint32)  # parallel arcs and self loops included
    turn_to = rng.integers(0, n, arcs).astype(np.uint32)
    order = rng.permutation(n).astype(np.uint32)  # any order is a valid contraction order
    return turn_from, turn_to, order


def _random_weights(rng, count):
    weights = rng.integers(1, 1_000_000, count).astype(np.uint32)
    weights[rng.random(count) < 0.1] = sweep.INF  # closed turns
    return weights


@pytest.mark.parametrize("seed", range(40))
def test_its_sums_are_the_shortest_paths_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    turn_from, turn_to, order = _random_graph(rng, n)
    time_w, length_w = _random_weights(rng, len(turn_from)), _random_weights(rng, len(turn_from))
    contraction = sweep.Contraction(order, turn_from, turn_to)
    time_arrays, length_arrays = contraction.customize(time_w), contraction.customize(length_w)
    sources = rng.integers(0, n, int(rng.integers(1, 3 * n))).astype(np.uint32)  # repeats allowed
    targets = rng.integers(0, n, int(rng.integers(1, 3 * n))).astype(np.uint32)
    space = contraction.search_space(time_arrays[1], length_arrays[1], targets)
    both = contraction.sums(time_arrays[0], length_arrays[0], space, sources)
    np.testing.assert_array_equal(both[0], _shortest_paths(n, turn_from, turn_to, time_w)[np.ix_(sources, targets)])
    np.testing.assert_array_equal(both[1], _shortest_paths(n, turn_from, turn_to, length_w)[np.ix_(sources, targets)])
    alone = contraction.sums(time_arrays[0], None, space, sources)
    assert len(alone) == 1
    np.testing.assert_array_equal(alone[0], both[0])


@pytest.mark.parametrize("seed", range(25))
def test_a_partial_customization_matches_a_fresh_one(seed):
    # closing turns (INF), reopening them, making some dearer and some cheaper, round after round
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(5, 60))
    turn_from, turn_to, order = _random_graph(rng, n)
    weights = _random_weights(rng, len(turn_from))
    contraction = sweep.Contraction(order, turn_from, turn_to)
    arrays = contraction.customize(weights)
    for _ in range(6):
        changed = rng.choice(len(weights), int(rng.integers(1, max(2, len(weights) // 4))), replace=False)
        weights = weights.copy()
        weights[changed] = _random_weights(rng, len(changed))
        before, snapshot = arrays, tuple(part.copy() for part in arrays)
        arrays = contraction.recustomize(weights, arrays, changed.astype(np.uint32))
        fresh = contraction.customize(weights)
        np.testing.assert_array_equal(arrays[0], fresh[0])
        np.testing.assert_array_equal(arrays[1], fresh[1])
        # the pair a matrix may still be reading is left as it was
        np.testing.assert_array_equal(before[0], snapshot[0])
        np.testing.assert_array_equal(before[1], snapshot[1])
    sources = np.arange(n, dtype=np.uint32)
    space = contraction.search_space(arrays[1], arrays[1], sources)
    np.testing.assert_array_equal(
        contraction.sums(arrays[0], None, space, sources)[0], _shortest_paths(n, turn_from, turn_to, weights)
    )


def test_batches_of_sources_give_the_same_rows_as_one_source_at_a_time():
    # 64 sources share a sweep: 1, 63, 64, 65 and 130 sources cross the batch edges
    rng = np.random.default_rng(7)
    n = 300
    turn_from, turn_to, order = _random_graph(rng, n)
    weights = _random_weights(rng, len(turn_from))
    contraction = sweep.Contraction(order, turn_from, turn_to)
    forward, backward = contraction.customize(weights)
    targets = rng.integers(0, n, 50).astype(np.uint32)
    space = contraction.search_space(backward, backward, targets)
    expected = _shortest_paths(n, turn_from, turn_to, weights)
    for count in (1, 63, 64, 65, 130):
        sources = rng.integers(0, n, count).astype(np.uint32)
        np.testing.assert_array_equal(
            contraction.sums(forward, None, space, sources)[0], expected[np.ix_(sources, targets)]
        )


def test_it_returns_routingkits_sums_on_the_demo_region_with_closures(liechtenstein):
    # the time and distance metrics the app customizes, before, during and after a closure
    rng = np.random.default_rng(11)
    graph = liechtenstein._states["car"].graph
    nodes = rng.choice(graph.enode_count, 300, replace=False).astype(np.uint32)
    sources, targets = nodes[:140], nodes[100:]
    closure = {
        "type": "Polygon",
        "coordinates": [[[9.50, 47.13], [9.54, 47.13], [9.54, 47.17], [9.50, 47.17], [9.50, 47.13]]],
    }

    def check():
        time_metric = liechtenstein._metric("car", "time")
        distance_metric = liechtenstein._metric("car", "distance")
        time_rows, distance_rows = sweep_rows(time_metric, distance_metric)
        for metric, rows in ((time_metric, time_rows), (distance_metric, distance_rows)):
            expected = metric.routing.distances_many_to_many(sources, targets)
            np.testing.assert_array_equal(rows, np.minimum(expected, sweep.INF))
        return time_rows

    def sweep_rows(time_metric, distance_metric):
        contraction = liechtenstein._states["car"].contraction
        snapshots = time_metric.snapshot(), distance_metric.snapshot()
        return many_to_many(liechtenstein._pool, contraction, *snapshots, sources, targets)

    try:
        open_rows = check()
        closed = liechtenstein.set_closures([closure])
        assert closed["car"] > 0
        closed_rows = check()
        assert (closed_rows != open_rows).any()
    finally:
        liechtenstein.set_closures([])
    np.testing.assert_array_equal(check(), open_rows)


def test_a_closure_leaves_the_weights_a_running_matrix_reads_untouched(liechtenstein):
    # a matrix takes the metric's (forward, backward) pair once; closures, applied from another
    # request meanwhile, put a new pair in its place instead of writing into the one being read
    closure = {
        "type": "Polygon",
        "coordinates": [[[9.50, 47.13], [9.54, 47.13], [9.54, 47.17], [9.50, 47.17], [9.50, 47.13]]],
    }
    metric = liechtenstein._metric("car", "time")
    held = metric.snapshot()  # (turn weights, forward, backward)
    copies = tuple(part.copy() for part in held)
    try:
        liechtenstein.set_closures([closure])
        assert metric.snapshot() is not held
        assert (metric.snapshot()[1] != held[1]).any()
        for part, copy in zip(held, copies):
            np.testing.assert_array_equal(part, copy)
    finally:
        liechtenstein.set_closures([])


def test_it_assembles_durations_and_lengths_from_the_faster_arrival_direction():
    # one origin, two destinations, each reachable along two directions (columns j and j + 2)
    penalty = RESTRICTED_PENALTY_MS  # a local-road entry: steers the route, is no driving time
    time_rows = np.array([[1000, INF_WEIGHT, 3000 + penalty, 500]], dtype=np.uint32)
    distance_rows = np.array([[1200, INF_WEIGHT, 3300 + penalty, 580]], dtype=np.uint32)
    leave_s, leave_m = np.array([10.0]), np.array([100.0])
    arrive_s = np.array([[1.0, 2.0], [3.0, 4.0]])
    arrive_m = np.array([[5.0, 6.0], [7.0, 8.0]])
    durations, lengths = assemble(None, time_rows, distance_rows, leave_s, arrive_s, leave_m, arrive_m)
    # first: 1 s along the first direction beats 3 s (penalty dropped) along the second;
    # second: no path along the first direction, 0.5 s along the second
    np.testing.assert_array_equal(durations, [[1.0 + 1.0 + 10.0, 0.5 + 4.0 + 10.0]])
    np.testing.assert_array_equal(lengths, [[200.0 + 5.0 + 100.0, 80.0 + 8.0 + 100.0]])
    only, none = assemble(None, time_rows, None, leave_s, arrive_s, leave_m, arrive_m)
    assert none is None
    np.testing.assert_array_equal(only, durations)
    unreachable = np.full((1, 4), INF_WEIGHT, dtype=np.uint32)
    assert np.isnan(assemble(None, unreachable, unreachable, leave_s, arrive_s, leave_m, arrive_m)[0]).all()


def test_loops_from_the_sweep_weigh_what_routingkits_loop_weighs(liechtenstein):
    # a matrix origin on the turn node a destination arrives on drives round onto it again
    state = liechtenstein._states["car"]
    metric = liechtenstein._metric("car", "time")
    rng = np.random.default_rng(3)
    enodes = sorted(rng.choice(state.graph.enode_count, 150, replace=False).tolist())
    loops = loop_weights(state, state.contraction, metric.snapshot(), enodes)
    expected = {enode: loop(state, metric, enode)[0] for enode in enodes}
    assert loops == expected
    assert any(weight < INF_WEIGHT for weight in loops.values())


def test_two_threads_assemble_the_same_matrix_as_one():
    rng = np.random.default_rng(9)
    rows, k = 300, 200  # from SPLIT_FROM_SOURCES rows on, the pool takes two halves
    time_rows = rng.integers(0, 5_000_000, (rows, 2 * k)).astype(np.uint32)
    time_rows[rng.random(time_rows.shape) < 0.05] = INF_WEIGHT
    distance_rows = time_rows + rng.integers(0, 9_000, time_rows.shape).astype(np.uint32)
    distance_rows[time_rows == INF_WEIGHT] = INF_WEIGHT
    legs = rng.random(rows) * 60
    arrive = rng.random((2, k)) * 60
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = assemble(pool, time_rows, distance_rows, legs, arrive, legs * 10, arrive * 10)
    alone = assemble(None, time_rows, distance_rows, legs, arrive, legs * 10, arrive * 10)
    np.testing.assert_array_equal(together[0], alone[0])
    np.testing.assert_array_equal(together[1], alone[1])
