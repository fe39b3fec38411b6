"""The app's matrices against OSRM's, in the same run, on Porto and Heidelberg (issue 17, "still fast").

    python benchmarks/matrix_osrm.py [--pbf PBF ...] [--sizes 1000 2000] [--repeat 3] [--json OUT]
                                     [--ch-contract]

Needs scripts/install_osrm_bench.sh (OSRM's venv, CH and MLD data; benchmarks/README.md). Per extract:
builds the app's prepared network from the PBF into a temporary folder (build time and size on disk:
the tree it is started from, whatever its format), then on the same random points (route_realism.py's
trip ends, seeded) times, median of ``--repeat``:

- durations + distances, N x N, for the app (``RoadNetwork.matrix``), OSRM-CH and OSRM-MLD (the
  ``Table`` call alone, timed inside benchmarks/_osrm_worker.py; one thread, as OSRM answers one
  request), and how the app's figures compare with OSRM-CH's pair by pair;
- re-weighting after closing 5 streets: the app's ``set_closures`` (cached metrics patched in place)
  against ``osrm-customize`` with those streets' segments at speed 0 (MLD's way to take closures, on a
  copy of the data); with ``--ch-contract`` also ``osrm-contract`` (CH must contract again: slow);
- prepared size and build time: the app's measured here, OSRM's as install_osrm_bench.sh took them.

matrix.py keeps the app-only figures (snapping, traffic re-customization, scipy baseline) on Porto.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _osrm import OsrmWorker, customize_after_closures, osrm_dir, prepared  # noqa: E402
from _restrictions import ExtractFacts, read_extract  # noqa: E402
from route_realism import DEFAULT_PBFS, trip_ends  # noqa: E402

from routes.network import RoadNetwork, build_network  # noqa: E402


def directory_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def median_wall(func, repeat: int) -> float:
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def streets_to_close(facts: ExtractFacts, points, count: int = 5, seed: int = 5) -> list[int]:
    """``count`` stop streets of 100 m or more, the nearest to random trip ends (busy parts of town)."""
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    mids = {}
    for way in facts.stop_ways:
        nodes = [facts.location[n] for n in facts.way_nodes[way] if n in facts.location]
        if len(nodes) < 2:
            continue
        xy = np.array(nodes, dtype=np.float64) * 1e-7
        metres = np.hypot(np.diff(xy[:, 0]) * np.cos(np.radians(xy[0, 1])), np.diff(xy[:, 1])).sum() * 111_320
        if metres >= 100:
            mids[way] = xy.mean(axis=0)
    ways = np.array(list(mids))
    centres = np.array([mids[w] for w in ways])
    for index in rng.choice(len(points), size=count * 3, replace=False):
        lat, lon = points[index]
        nearest = int(ways[np.argmin(np.hypot(centres[:, 0] - lon, centres[:, 1] - lat))])
        if nearest not in chosen:
            chosen.append(nearest)
        if len(chosen) == count:
            break
    return chosen


def contract_after_closures(ch_path: str, segments) -> float:
    python = osrm_dir() / "venv" / "bin" / "python"
    folder, name = os.path.split(ch_path)
    with tempfile.TemporaryDirectory(prefix="osrm-contract-") as scratch:
        for file in os.listdir(folder):
            if file.startswith(name) and not file.endswith(".hsgr"):
                shutil.copy2(os.path.join(folder, file), scratch)
        speeds = os.path.join(scratch, "closures.csv")
        with open(speeds, "w") as handle:
            handle.write("".join(f"{a},{b},0\n{b},{a},0\n" for a, b in segments))
        started = time.perf_counter()
        subprocess.run(
            [str(python), "-m", "osrm", "contract", os.path.join(scratch, name), "--segment-speed-file", speeds],
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def measure(pbf: str, sizes: list[int], repeat: int, seed: int, ch_contract: bool) -> dict:
    name = os.path.basename(pbf).split(".")[0]
    facts = read_extract(pbf)
    osrm_info = prepared(pbf)
    figures: dict = {"extract": name, "load_average": [list(os.getloadavg())]}
    with tempfile.TemporaryDirectory(prefix=f"matrix-osrm-{name}-") as out:
        started = time.perf_counter()
        build_network(pbf, out)
        figures["app_build_s"] = time.perf_counter() - started
        figures["app_bytes"] = directory_size(out)
        started = time.perf_counter()
        net = RoadNetwork.load(out)
        figures["app_load_s"] = time.perf_counter() - started
    figures["osrm_ch_build_s"] = osrm_info["ch_extract_s"] + osrm_info["ch_contract_s"]
    figures["osrm_mld_build_s"] = (
        osrm_info["mld_extract_s"] + osrm_info["mld_partition_s"] + osrm_info["mld_customize_s"]
    )
    figures["osrm_ch_bytes"] = osrm_info["ch_bytes"]
    figures["osrm_mld_bytes"] = osrm_info["mld_bytes"]
    figures["osrm_prepared_load"] = osrm_info["load_average"]
    print(
        f"{name}: app build {figures['app_build_s']:.1f} s, {figures['app_bytes'] / 1e6:.1f} MB, load"
        f" {figures['app_load_s']:.2f} s | OSRM-CH {figures['osrm_ch_build_s']:.1f} s,"
        f" {figures['osrm_ch_bytes'] / 1e6:.1f} MB | OSRM-MLD {figures['osrm_mld_build_s']:.1f} s,"
        f" {figures['osrm_mld_bytes'] / 1e6:.1f} MB (OSRM prepared at load {osrm_info['load_average']});"
        f" load average {os.getloadavg()}"
    )
    points = trip_ends(facts, max(sizes), seed)
    net.matrix(points[:50], "car")  # warm: spatial index, customized metrics
    figures["matrices"] = {}
    with OsrmWorker() as worker:
        worker.open("ch", osrm_info["ch_path"], "CH")
        worker.open("mld", osrm_info["mld_path"], "MLD")
        for size in sizes:
            subset = points[:size]
            app_s = median_wall(lambda subset=subset: net.matrix(subset, "car"), repeat)
            ours = net.matrix(subset, "car")
            row = {"app_s": app_s}
            ch_durations = ch_distances = None
            for engine in ("ch", "mld"):
                durations, distances, answer = worker.table(engine, subset, repeat=repeat)
                row[f"osrm_{engine}_s"] = statistics.median(answer["elapsed_s"])
                row[f"osrm_{engine}_unreachable"] = answer["unreachable"] / size**2
                if engine == "ch":
                    ch_durations, ch_distances = durations, distances
            off = ~np.eye(size, dtype=bool)
            both = off & np.isfinite(ours.durations_s) & np.isfinite(ch_durations) & (ch_durations > 0)
            row["app_unreachable"] = float(np.isnan(ours.durations_s[off]).mean())
            row["duration_ratio_median"] = float(np.median(ours.durations_s[both] / ch_durations[both]))
            row["distance_ratio_median"] = float(np.median(ours.distances_m[both] / ch_distances[both]))
            figures["matrices"][size] = row
            print(
                f"  {size} x {size} durations+distances: app {app_s:.3f} s | OSRM-CH {row['osrm_ch_s']:.3f} s"
                f" | OSRM-MLD {row['osrm_mld_s']:.3f} s   (app/CH {app_s / row['osrm_ch_s']:.2f}x;"
                f" app vs CH per pair: durations {row['duration_ratio_median']:.3f},"
                f" distances {row['distance_ratio_median']:.3f}; unreachable app {row['app_unreachable']:.2%},"
                f" CH {row['osrm_ch_unreachable']:.2%}; load average {os.getloadavg()})"
            )
    closed_ways = streets_to_close(facts, points)
    lines = [
        {
            "type": "LineString",
            "coordinates": [[x * 1e-7, y * 1e-7] for x, y in (facts.location[n] for n in facts.way_nodes[way])],
        }
        for way in closed_ways
    ]
    segments = [(a, b) for way in closed_ways for a, b in zip(facts.way_nodes[way], facts.way_nodes[way][1:])]
    net.matrix(points[:10], "car")  # the time and distance metrics cached: set_closures patches them
    applied, lifted = [], []
    closed = {}
    for _ in range(repeat):
        started = time.perf_counter()
        closed = net.set_closures(lines)
        applied.append(time.perf_counter() - started)
        started = time.perf_counter()
        net.set_closures([])
        lifted.append(time.perf_counter() - started)
    figures["closures"] = {
        "ways": closed_ways,
        "segments": len(segments),
        "app_closed_car_arcs": int(closed.get("car", 0)),
        "app_apply_s": statistics.median(applied),
        "app_lift_s": statistics.median(lifted),
    }
    customized = customize_after_closures(osrm_info["mld_path"], segments)
    figures["closures"]["osrm_mld_customize_s"] = customized["customize_s"]
    figures["closures"]["osrm_segments_updated"] = customized["segments_updated"]
    if ch_contract:
        figures["closures"]["osrm_ch_contract_s"] = contract_after_closures(osrm_info["ch_path"], segments)
    c = figures["closures"]
    print(
        f"  5 streets closed ({c['segments']} OSM segments; app: {c['app_closed_car_arcs']} car arcs):"
        f" app apply {c['app_apply_s'] * 1000:.0f} ms, lift {c['app_lift_s'] * 1000:.0f} ms |"
        f" OSRM-MLD customize {c['osrm_mld_customize_s']:.2f} s ({c['osrm_segments_updated']} segments updated)"
        + (f" | OSRM-CH contract {c['osrm_ch_contract_s']:.1f} s" if ch_contract else "")
        + f"; load average {os.getloadavg()}"
    )
    figures["load_average"].append(list(os.getloadavg()))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbf", nargs="+", default=DEFAULT_PBFS)
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 2000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--ch-contract", action="store_true", help="also time osrm-contract after the closures")
    parser.add_argument("--json", dest="json_out")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    results = [measure(pbf, args.sizes, args.repeat, args.seed, args.ch_contract) for pbf in args.pbf]
    print(f"load average {os.getloadavg()}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
