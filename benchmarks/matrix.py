"""Matrix, closure, traffic and route timings on a prepared network.

    python benchmarks/matrix.py [PBF] [PREPARED_DIR]

Builds PBF (default Porto) into PREPARED_DIR unless it already holds a network,
then prints medians of 3 runs. Also times scipy per-source Dijkstra on the same
graph as the baseline the CCH backend is chosen against.
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from routes.network import RoadNetwork, build_network, prepared_is_current  # noqa: E402

DEFAULT_PBF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "osm", "porto.osm.pbf")


def median_time(func, repeat: int = 3) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) of ``func()``."""
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, wall = time.process_time(), time.perf_counter()
        func()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def random_points(net: RoadNetwork, count: int, seed: int = 0) -> list[tuple[float, float]]:
    """Random points in the 1st-99th percentile box of the car network's nodes."""
    graph = net._states["car"].graph
    lat = net.node_lat[graph.node_global]
    lon = net.node_lon[graph.node_global]
    rng = np.random.default_rng(seed)
    lat_lo, lat_hi = np.percentile(lat, [1, 99])
    lon_lo, lon_hi = np.percentile(lon, [1, 99])
    return list(zip(rng.uniform(lat_lo, lat_hi, count), rng.uniform(lon_lo, lon_hi, count)))


def scipy_baseline(net: RoadNetwork, points) -> None:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import dijkstra

    state = net._states["car"]
    graph = state.graph
    # on the turn-aware graph the CCH uses: turn nodes (directed road sections), turns as arcs
    weights = state.time_weights(np.ones(32))[0].astype(np.float64)
    adjacency = csr_matrix((weights, (graph.turn_from, graph.turn_to)), shape=(graph.enode_count, graph.enode_count))
    snaps = net.snap_many(points[:100], "car")
    sources = np.array([state.leave_options(s)[0][0] for s in snaps])
    targets = np.array([state.arrive_options(s)[0][0] for s in snaps])
    wall, _ = median_time(lambda: dijkstra(adjacency, indices=sources)[:, targets], repeat=1)
    print(
        f"scipy Dijkstra 100 sources x all nodes: {wall:.2f} s "
        f"-> 1000x1000 about {wall * 10:.1f} s, 2000x2000 about {wall * 20:.1f} s (one core)"
    )


def main() -> None:
    pbf = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PBF
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(tempfile.gettempdir(), "network-bench")
    if not prepared_is_current(out):
        started = time.perf_counter()
        build_network(pbf, out)
        print(f"built {pbf} in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    net = RoadNetwork.load(out)
    print(f"load {time.perf_counter() - started:.2f} s; load average {os.getloadavg()}")
    points = random_points(net, 2000)
    net.matrix(points[:50], "car")  # warm: k-d tree, metrics
    wall, _ = median_time(lambda: net.snap_many(points[:1000], "car"))
    snaps = net.snap_many(points[:1000], "car")
    print(f"snap 1000 points: {wall * 1000:.0f} ms, median snap {np.median([s.distance_m for s in snaps]):.0f} m")

    print("matrix (car, durations + distances | durations only), wall / process CPU:")
    for size in (100, 500, 1000, 2000):
        subset = points[:size]
        both = median_time(lambda subset=subset: net.matrix(subset, "car"))
        only = median_time(lambda subset=subset: net.matrix(subset, "car", with_distances=False))
        print(
            f"  {size:5d} x {size:<5d} {both[0]:6.3f} s / {both[1]:6.3f} s cpu"
            f"   | {only[0]:6.3f} s / {only[1]:6.3f} s cpu"
        )
    result = net.matrix(points[:1000], "car")
    print(f"  unreachable pairs in 1000x1000: {np.isnan(result.durations_s).mean():.4%}")
    rng = np.random.default_rng(1)
    pairs = rng.choice(1000, size=(300, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    excess = np.array(
        [result.durations_s[i, j] / net.route([points[i], points[j]], "car").duration_s - 1 for i, j in pairs]
    )
    print(
        f"  matrix vs exact route ({len(pairs)} pairs): median excess {np.median(excess):.2%},"
        f" p95 {np.percentile(excess, 95):.2%}, max {excess.max():.2%}, min {excess.min():.2%}"
    )

    centre_lat, centre_lon = np.median([p[0] for p in points]), np.median([p[1] for p in points])
    box = 0.01
    closure = {
        "type": "Polygon",
        "coordinates": [[
            [centre_lon - box, centre_lat - box], [centre_lon + box, centre_lat - box],
            [centre_lon + box, centre_lat + box], [centre_lon - box, centre_lat + box],
            [centre_lon - box, centre_lat - box],
        ]],
    }  # fmt: skip
    line = {
        "type": "LineString",
        "coordinates": [[centre_lon - 0.01, centre_lat], [centre_lon + 0.01, centre_lat]],
    }
    net.matrix(points[:10], "car", departure=datetime(2025, 3, 4, 8))  # a cached traffic metric too
    applied = []
    lifted = []
    for _ in range(3):
        started = time.perf_counter()
        closed = net.set_closures([closure, line])
        applied.append(time.perf_counter() - started)
        started = time.perf_counter()
        net.set_closures([])
        lifted.append(time.perf_counter() - started)
    print(
        f"closures ({closed['car']:,} car arcs, {closed['bike']:,} bike arcs;"
        f" {len(net._metrics)} cached metrics):"
        f" apply {statistics.median(applied) * 1000:.0f} ms,"
        f" lift {statistics.median(lifted) * 1000:.0f} ms"
    )

    def recustomize():
        net.set_traffic_profile("car", weekday={"primary": [0.5] * 24})
        net.matrix(points[:2], "car", departure=datetime(2025, 3, 4, 8))

    wall, _ = median_time(recustomize)
    print(f"traffic re-customization (new profile, first query of a slot): {wall * 1000:.0f} ms")

    north, south = (41.24, -8.68), (41.10, -8.55)
    net.route([north, south], "car")
    wall, _ = median_time(lambda: net.route([north, south], "car"), repeat=5)
    route = net.route([north, south], "car")
    print(f"cross-city route {route.distance_m / 1000:.1f} km: {wall * 1000:.1f} ms")
    scipy_baseline(net, points)
    print(
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load average {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
