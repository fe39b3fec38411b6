"""Map matching speed and accuracy on the demo region (Liechtenstein).

    python benchmarks/map_matching.py [--traces 40] [--noise 20] [--interval 5] [PREPARED_DIR]

Builds data/liechtenstein.osm.pbf into PREPARED_DIR (default: a temporary directory) unless it
already holds a network, drives random routes (each the fastest route between two random points)
at the road's default speed, samples a position every --interval seconds with Gaussian --noise
(metres) and drops 2 % of them (lost signal), then matches every trace and prints positions/s,
the share of positions matched to the road they were really on, and the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from routes.learning.matching import Matcher  # noqa: E402
from routes.network import RoadNetwork, build_network, prepared_is_current  # noqa: E402
from routes.network.geometry import LocalProjection, project_point_on_segments  # noqa: E402

PBF = os.path.join(ROOT, "data", "liechtenstein.osm.pbf")


def synthetic_trace(net: RoadNetwork, rng, *, noise_m: float, interval_s: float, gap_probability: float = 0.02):
    """(t, lat, lon, true_lat, true_lon, speed m/s) of one drive along the fastest route between random points."""
    state = net._states["car"]
    graph = state.graph
    lat = net.node_lat[graph.node_global]
    lon = net.node_lon[graph.node_global]
    while True:
        a, b = rng.integers(0, len(lat), 2)
        try:
            route = net.route([(lat[a], lon[a]), (lat[b], lon[b])], "car")
        except Exception:  # noqa: BLE001 - an unreachable pair: draw again
            continue
        if route.distance_m > 1500:
            break
    coords = np.asarray(route.geometry["coordinates"])
    projection = LocalProjection(float(coords[:, 1].mean()), float(coords[:, 0].mean()))
    x, y = projection.to_xy(coords[:, 1], coords[:, 0])
    along = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    speed = along[-1] / route.duration_s
    times = np.arange(0.0, route.duration_s, interval_s)
    s = times * speed
    tx, ty = np.interp(s, along, x), np.interp(s, along, y)
    true_lat, true_lon = projection.to_latlon(tx, ty)
    nx, ny = tx + rng.normal(0, noise_m, len(tx)), ty + rng.normal(0, noise_m, len(ty))
    noisy_lat, noisy_lon = projection.to_latlon(nx, ny)
    keep = rng.random(len(times)) >= gap_probability
    return times[keep], noisy_lat[keep], noisy_lon[keep], true_lat[keep], true_lon[keep], speed


def on_matched_road(state, match, true_lat, true_lon) -> np.ndarray:
    """Metres from each true position to the road stretch its fix was matched to (inf: unmatched):
    near 0 when the matcher chose the road the vehicle was really on (the position along it is
    as noisy as the GPS; no matcher can know it better)."""
    g, snapper = state.graph, state.snapper
    gaps = np.full(len(true_lat), np.inf)
    x, y = snapper.projection.to_xy(true_lat, true_lon)
    for i in np.flatnonzero(match.arc >= 0):
        chain = g.arc_chain[match.arc[i]]
        segments = np.arange(
            state.first_segment[chain], state.first_segment[chain] + g.chain_end[chain] - g.chain_start[chain]
        )
        ax, ay, bx, by = snapper._segment_xy(segments)
        _, d = project_point_on_segments(x[i], y[i], ax, ay, bx, by)
        gaps[i] = float(np.min(d))
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("prepared", nargs="?")
    parser.add_argument("--traces", type=int, default=40)
    parser.add_argument("--noise", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=5.0)
    args = parser.parse_args()
    directory = args.prepared or os.path.join(tempfile.gettempdir(), "map-matching-liechtenstein")
    if not prepared_is_current(directory):
        build_network(PBF, directory)
    net = RoadNetwork.load(directory)
    state = net._states["car"]
    rng = np.random.default_rng(7)
    drives = [synthetic_trace(net, rng, noise_m=args.noise, interval_s=args.interval) for _ in range(args.traces)]
    traces = [d[:5] for d in drives]
    speeds = [d[5] for d in drives]
    positions = sum(len(t[0]) for t in traces)
    matcher = Matcher(state)
    state.snapper._ensure_tree()
    started = time.perf_counter()
    matches = [matcher.match(t, la, lo) for t, la, lo, _, _ in traces]
    cold = time.perf_counter() - started
    started = time.perf_counter()
    matches = [matcher.match(t, la, lo) for t, la, lo, _, _ in traces]
    warm = time.perf_counter() - started
    right = near = total = 0
    matched_m = sum(float(match.pieces.metres.sum()) for match in matches)
    driven_m = sum(float(t[-1] - t[0]) * speed for (t, *_), speed in zip(traces, speeds))
    for (_, _, _, true_lat, true_lon), match in zip(traces, matches):
        gaps = on_matched_road(state, match, true_lat, true_lon)
        right += int((gaps < 5.0).sum())
        near += int((gaps < 15.0).sum())
        total += len(true_lat)
    load = os.getloadavg()
    print(f"traces {len(traces)}, positions {positions}, noise {args.noise:.0f} m, every {args.interval:.0f} s")
    print(f"first pass (Dijkstra cache cold): {positions / cold:,.0f} positions/s ({cold:.2f} s)")
    print(f"second pass (cache warm):        {positions / warm:,.0f} positions/s ({warm:.2f} s)")
    print(f"matched to the road the vehicle was on: {right / total:.1%} of positions (within 5 m of it)")
    print(
        f"  ... or to one within 15 m of it (the other carriageway, the next stretch at a junction): {near / total:.1%}"
    )
    print(f"road metres matched / driven: {matched_m / driven_m:.3f}")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
