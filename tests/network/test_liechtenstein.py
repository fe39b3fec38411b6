"""The demo region, built once per session from the real extract."""

import json
import os
import time

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routes.network import RoadNetwork, engine, prepared
from routes.network.geometry import haversine_m


def _addresses(net, count, seed=3):
    rng = np.random.default_rng(seed)
    records = net.geocoder.addresses
    picks = rng.choice(len(records), count, replace=False)
    return [(records[i]["lat"], records[i]["lon"]) for i in picks]


def test_it_builds_both_profiles_with_addresses(liechtenstein_dir):
    with open(os.path.join(liechtenstein_dir, "manifest.json")) as handle:
        manifest = json.load(handle)
    assert manifest["profiles"]["car"]["nodes"] > 5000
    assert manifest["profiles"]["bike"]["arcs"] > manifest["profiles"]["car"]["arcs"]
    assert manifest["addresses"] > 12000


def _no_ordering(*args, **kwargs):
    """Stands in for the nested-dissection ordering, which only a build may run."""
    raise AssertionError("the CCH order was computed again")


def test_it_loads_quickly_in_a_fresh_instance(liechtenstein_dir, monkeypatch):
    # Quick because it reads the CCH order saved at build time instead of computing it again (the
    # load's speed is measured by benchmarks/network_load.py, not here). The time bound only catches
    # a hang, with room for a busy CI machine.
    monkeypatch.setattr(prepared, "build_topology", _no_ordering)
    started = time.perf_counter()
    network = RoadNetwork.load(liechtenstein_dir)
    assert time.perf_counter() - started < 10.0
    assert network.route([(47.233, 9.547), (47.066, 9.510)], "car").distance_m > 15_000


def test_it_agrees_with_scipy_dijkstra(liechtenstein):
    # on the turn-aware graph: nodes are directed road sections, arcs the allowed turns
    state = liechtenstein._states["car"]
    graph = state.graph
    weights = state.time_weights(np.ones(32))[0].astype(np.float64)
    # parallel turns: csr_matrix would add them up, so keep the cheapest of each pair
    order = np.lexsort((weights, graph.turn_to, graph.turn_from))
    pairs = np.column_stack([graph.turn_from[order], graph.turn_to[order]])
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
    keep = order[first]
    adjacency = csr_matrix(
        (weights[keep], (graph.turn_from[keep], graph.turn_to[keep])),
        shape=(graph.enode_count, graph.enode_count),
    )
    rng = np.random.default_rng(0)
    nodes = rng.choice(np.flatnonzero(np.bincount(graph.turn_from, minlength=graph.enode_count)), 40)
    expected = dijkstra(adjacency, indices=nodes)[:, nodes]
    metric = liechtenstein._metric("car", "time")
    got = metric.routing.distances_many_to_many(nodes.astype(np.uint32), nodes.astype(np.uint32))
    got = np.where(got >= 2**31 - 1, np.inf, got)
    np.testing.assert_array_equal(got, expected)


def test_it_computes_a_matrix_of_real_addresses(liechtenstein):
    points = _addresses(liechtenstein, 60)
    for profile in ("car", "bike"):
        result = liechtenstein.matrix(points, profile, max_snap_m=250)
        snapped = np.array([s is not None for s in result.snaps])
        assert snapped.mean() > 0.9
        block = np.ix_(snapped, snapped)
        assert not np.isnan(result.durations_s[block]).any()
        lat = np.array([p[0] for p in points])
        lon = np.array([p[1] for p in points])
        straight = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        assert np.all(result.distances_m[block] >= straight[block])
        # sanity: an average road speed between 5 and 90 km/h
        off = ~np.eye(len(points), dtype=bool)[block]
        speed = result.distances_m[block][off] / result.durations_s[block][off] * 3.6
        assert 5 < np.median(speed) < 90


def test_it_routes_across_the_country_fast(liechtenstein, monkeypatch):
    north, south = (47.233, 9.547), (47.066, 9.510)  # Schaanwald area to Balzers
    liechtenstein.route([north, south], "car")  # warm the metric
    # Fast because the customized metric is kept: the next routes customize nothing (that alone costs
    # ~18 ms here). The time is the best of five (one run can lose tens of milliseconds to a busy
    # machine): ~1 ms here, where a search without the CCH takes longer than the bound.
    customized = []
    real_metric = engine.CustomizedMetric
    monkeypatch.setattr(engine, "CustomizedMetric", lambda *args: customized.append(1) or real_metric(*args))
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        route = liechtenstein.route([north, south], "car")
        timings.append(time.perf_counter() - started)
    assert customized == []
    assert min(timings) < 0.05
    assert 15_000 < route.distance_m < 40_000
    coordinates = np.array(route.geometry["coordinates"])
    hops = haversine_m(coordinates[:-1, 1], coordinates[:-1, 0], coordinates[1:, 1], coordinates[1:, 0])
    assert hops.sum() == pytest.approx(route.distance_m, rel=1e-6)


def test_it_closes_a_town_centre_and_reopens_it(liechtenstein):
    points = _addresses(liechtenstein, 30, seed=5)
    vaduz = {
        "type": "Polygon",
        "coordinates": [[[9.515, 47.135], [9.530, 47.135], [9.530, 47.145], [9.515, 47.145], [9.515, 47.135]]],
    }
    before = liechtenstein.matrix(points, "car")
    try:
        # Closures re-weight the CCH already ordered, never order it again (benchmarks/ measure the
        # time: ~40 ms here on a busy machine; the bound only catches a hang).
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(prepared, "build_topology", _no_ordering)
            started = time.perf_counter()
            closed = liechtenstein.set_closures([vaduz])
            assert time.perf_counter() - started < 10.0
        assert closed["car"] > 50
        during = liechtenstein.matrix(points, "car")
        ok = ~np.isnan(during.durations_s) & ~np.isnan(before.durations_s)
        assert np.all(during.durations_s[ok] >= before.durations_s[ok] - 1e-6)
        for snap in during.snaps:
            assert snap is None or not liechtenstein._states["car"].closed_chain[snap.chain]
    finally:
        liechtenstein.set_closures([])
    after = liechtenstein.matrix(points, "car")
    np.testing.assert_array_equal(after.durations_s, before.durations_s)


def test_it_geocodes_a_real_address(liechtenstein):
    record = next(a for a in liechtenstein.geocoder.addresses if a["street"].endswith("strasse") and a["city"])
    street = record["street"].replace("strasse", "str.").lower()
    query = f"{street} {record['housenumber']} {record['city']}"
    hit = liechtenstein.geocoder.geocode_one(query)
    assert hit is not None
    assert haversine_m(hit["lat"], hit["lon"], record["lat"], record["lon"]) < 1
