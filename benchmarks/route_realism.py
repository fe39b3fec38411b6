"""Would a driver who knows the town drive the app's car routes? The app against OSRM on the same trips.

    python benchmarks/route_realism.py [--routes 500] [--seed 17] [--pbf PBF ...] [--json OUT] [--write-md]

Needs scripts/install_osrm_bench.sh (OSRM's venv and CH data; benchmarks/README.md). Per extract
(default Porto and Heidelberg from benchmarks/data/osm/): builds the app's prepared network from the
PBF into a temporary folder (so it runs against whichever tree it is started from), draws ``--routes``
random trips (seeded) between points on streets a delivery address is on, asks the app
(``RoadNetwork.route``, car) and OSRM (CH, its own car profile) for each, and judges both routes with
benchmarks/_restrictions.py, which reads the extract itself:

- forbidden turns: the route's OSM nodes (the app's from its geometry's exact coordinates, OSRM's from
  its node annotation) against the extract's car turn restrictions (target 0);
- barriers: routes through a node a car may not pass (bollard, cycle barrier, access=no...; target 0);
  gates passed are counted apart (OSRM: 60 s each);
- duration and distance ratio app/OSRM per trip: median, p10, p90 (target: median within ±3 %).

Prints a table with the load average; ``--json OUT`` writes every figure, ``--write-md`` replaces the
"Realism against OSRM" section of benchmarks/NETWORK.md with this run's (nothing else in that file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _osrm import OsrmWorker, prepared  # noqa: E402
from _restrictions import (  # noqa: E402
    ExtractFacts,
    TurnJudge,
    barriers_passed,
    gates_passed,
    read_extract,
    route_nodes,
)

from routes.network import PointNotSnapped, RoadNetwork, RouteNotFound, build_network, prepared_is_current  # noqa: E402

DATA = os.path.join(ROOT, "benchmarks", "data", "osm")
DEFAULT_PBFS = [os.path.join(DATA, "porto.osm.pbf"), os.path.join(DATA, "heidelberg.osm.pbf")]
NETWORK_MD = os.path.join(ROOT, "benchmarks", "NETWORK.md")
SECTION = "## Realism against OSRM"


def trip_ends(facts: ExtractFacts, count: int, seed: int) -> list[tuple[float, float]]:
    """``count`` random (lat, lon) points on stop streets, uniform by length, inside the box of the
    5th-95th percentile of those streets' nodes (the town, not the long roads out of it)."""
    rng = np.random.default_rng(seed)
    a_list, b_list = [], []
    for way in facts.stop_ways:
        nodes = [n for n in facts.way_nodes[way] if n in facts.location]
        a_list += nodes[:-1]
        b_list += nodes[1:]
    a = np.array([facts.location[n] for n in a_list], dtype=np.float64) * 1e-7
    b = np.array([facts.location[n] for n in b_list], dtype=np.float64) * 1e-7
    lon_lo, lon_hi = np.percentile(a[:, 0], [5, 95])
    lat_lo, lat_hi = np.percentile(a[:, 1], [5, 95])
    middle = (a + b) / 2
    inside = (middle[:, 0] >= lon_lo) & (middle[:, 0] <= lon_hi) & (middle[:, 1] >= lat_lo) & (middle[:, 1] <= lat_hi)
    a, b = a[inside], b[inside]
    length = np.hypot((b[:, 0] - a[:, 0]) * np.cos(np.radians(a[:, 1])), b[:, 1] - a[:, 1])
    picked = rng.choice(len(a), size=count, p=length / length.sum())
    t = rng.uniform(0.1, 0.9, size=count)[:, None]
    points = a[picked] + t * (b[picked] - a[picked])
    return [(float(lat), float(lon)) for lon, lat in points]


def percentiles(values) -> dict:
    if not len(values):
        return {"median": None, "p10": None, "p90": None}
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return {"median": float(median), "p10": float(p10), "p90": float(p90)}


def judge_extract(pbf: str, routes: int, seed: int, prepared_dir: str | None) -> dict:
    name = os.path.basename(pbf).split(".")[0]
    started = time.perf_counter()
    facts = read_extract(pbf)
    judge = TurnJudge(facts.way_nodes, facts.restrictions)
    read_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix=f"realism-{name}-") as scratch:
        out = prepared_dir or scratch
        build_s = None
        if not prepared_is_current(out):
            started = time.perf_counter()
            build_network(pbf, out)
            build_s = time.perf_counter() - started
        net = RoadNetwork.load(out)
    points = trip_ends(facts, 2 * routes, seed)
    pairs = list(zip(points[0::2], points[1::2]))
    osrm_info = prepared(pbf)
    load_before = os.getloadavg()
    rows = []
    app_s = osrm_s = 0.0
    with OsrmWorker() as worker:
        worker.open("ch", osrm_info["ch_path"], "CH")
        for origin, destination in pairs:
            row = {"origin": origin, "destination": destination}
            started = time.perf_counter()
            try:
                route = net.route([origin, destination], "car")
            except (RouteNotFound, PointNotSnapped) as error:
                route = None
                row["app_error"] = type(error).__name__
            app_s += time.perf_counter() - started
            theirs = worker.route("ch", [origin, destination])
            osrm_s += theirs.get("elapsed_s", 0.0)
            if route is not None:
                nodes = route_nodes(route.geometry["coordinates"], facts.by_coordinate, judge, facts.location)
                row["app"] = _judged(nodes, route.duration_s, route.distance_m, judge, facts)
                # the judge sees only what maps to OSM nodes: a route it cannot read must not pass as clean
                row["app"]["nodes_per_position"] = len(nodes) / max(len(route.geometry["coordinates"]), 1)
                row["app"]["snap_m"] = [s.distance_m for s in getattr(route, "snaps", None) or []]
            if theirs["ok"]:
                row["osrm"] = _judged(theirs["nodes"], theirs["duration"], theirs["distance"], judge, facts)
                row["osrm"]["snap_m"] = theirs["snap_m"]
            else:
                row["osrm_error"] = theirs["error"][:80]
            rows.append(row)
    load_after = os.getloadavg()
    summary = {
        "extract": name,
        "code": code_version(),
        "routes": routes,
        "seed": seed,
        "restrictions": len(facts.restrictions),
        "restriction_kinds": dict(Counter(r.kind for r in facts.restrictions)),
        "via_way_restrictions": sum(1 for r in facts.restrictions if r.via_ways),
        "blocking_barrier_nodes": sum(1 for r in facts.barriers.values() if r != "gate"),
        "read_extract_s": round(read_s, 2),
        "app_build_s": None if build_s is None else round(build_s, 2),
        "app_route_ms": round(app_s / len(pairs) * 1000, 2),
        "osrm_route_ms": round(osrm_s / len(pairs) * 1000, 2),
        "load_average": [list(load_before), list(load_after)],
        "app_failed": sum(1 for r in rows if "app" not in r),
        "osrm_failed": sum(1 for r in rows if "osrm" not in r),
    }
    for engine in ("app", "osrm"):
        judged = [r[engine] for r in rows if engine in r]
        turns = [v for j in judged for v in j["violations"]]
        summary[engine] = {
            "routes": len(judged),
            "routes_with_forbidden_turns": sum(1 for j in judged if j["violations"]),
            "forbidden_turns": len(turns),
            "restrictions_broken": len({v["relation"] for v in turns}),
            "broken_by_kind": dict(Counter(v["kind"] for v in turns)),
            "routes_through_barriers": sum(1 for j in judged if j["barriers"]),
            "barriers_by_reason": dict(Counter(b for j in judged for b in j["barriers"])),
            "routes_through_gates": sum(1 for j in judged if j["gates"]),
            "unmatched_nodes_routes": sum(1 for j in judged if j["unjoined_steps"]),
            "routes_read_poorly": sum(
                1 for j in judged if j.get("nodes_per_position", 1.0) < 0.8 or len(j["nodes"]) < 2
            ),
            "median_snap_m": float(np.median(snaps)) if (snaps := [s for j in judged for s in j["snap_m"]]) else None,
            "examples": [{"relation": v["relation"], "kind": v["kind"], "at": v["at"]} for v in turns[:5]],
        }
    both = [r for r in rows if "app" in r and "osrm" in r and r["osrm"]["duration"] > 0]
    duration_ratio = np.array([r["app"]["duration"] / r["osrm"]["duration"] for r in both])
    distance_ratio = np.array([r["app"]["distance"] / r["osrm"]["distance"] for r in both if r["osrm"]["distance"] > 0])
    summary["compared"] = len(both)
    summary["duration_ratio"] = percentiles(duration_ratio)
    summary["duration_ratio"]["share_below_0.9"] = float(np.mean(duration_ratio < 0.9)) if len(both) else None
    summary["duration_ratio"]["share_above_1.1"] = float(np.mean(duration_ratio > 1.1)) if len(both) else None
    summary["distance_ratio"] = percentiles(distance_ratio)
    summary["median_trip_km_osrm"] = float(np.median([r["osrm"]["distance"] for r in both]) / 1000) if both else None
    return summary


def _judged(nodes, duration: float, distance: float, judge: TurnJudge, facts: ExtractFacts) -> dict:
    violations = judge.violations(nodes)
    return {
        "duration": duration,
        "distance": distance,
        "nodes": list(nodes),
        "violations": [
            {
                "relation": v.restriction.relation_id,
                "kind": v.restriction.kind,
                "at": [round(c * 1e-7, 5) for c in facts.location.get(v.at_node, (0, 0))[::-1]],
            }
            for v in violations
        ],
        "barriers": [reason for _, reason in barriers_passed(nodes, facts.barriers)],
        "gates": gates_passed(nodes, facts.barriers),
        # consecutive nodes no road segment joins: the node recovery missed something
        "unjoined_steps": sum(1 for a, b in zip(nodes, nodes[1:]) if not judge.ways_of(a, b)),
    }


def _fmt(value, pattern="{:.3f}"):
    return "—" if value is None else pattern.format(value)


def table(summaries: list[dict]) -> str:
    lines = [
        "| extract | engine | routes | with forbidden turns | turns (restrictions) | through barriers | through gates"
        " | duration app/OSRM median (p10–p90) | distance app/OSRM median (p10–p90) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        for engine in ("app", "osrm"):
            e = s[engine]
            ratio = dist = ""
            if engine == "app":
                d, m = s["duration_ratio"], s["distance_ratio"]
                ratio = f"{_fmt(d['median'])} ({_fmt(d['p10'])}–{_fmt(d['p90'])})"
                dist = f"{_fmt(m['median'])} ({_fmt(m['p10'])}–{_fmt(m['p90'])})"
            lines.append(
                f"| {s['extract']} | {'app' if engine == 'app' else 'OSRM'} | {e['routes']} |"
                f" {e['routes_with_forbidden_turns']} | {e['forbidden_turns']} ({e['restrictions_broken']}) |"
                f" {e['routes_through_barriers']} | {e['routes_through_gates']} | {ratio} | {dist} |"
            )
    return "\n".join(lines)


def code_version() -> str:
    """The commit measured (read-only git; $BENCH_CODE_VERSION for an exported tree), or "unknown"."""
    if os.environ.get("BENCH_CODE_VERSION"):
        return os.environ["BENCH_CODE_VERSION"]
    try:
        commit = subprocess.run(
            ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", ROOT, "status", "--porcelain", "--", "routes/network"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" with uncommitted changes in routes/network" if dirty else "")


def markdown_section(summaries: list[dict], command: str) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    loads = ", ".join(
        f"{s['extract']} {s['load_average'][0][0]:.1f} → {s['load_average'][1][0]:.1f}" for s in summaries
    )
    out = [
        SECTION,
        "",
        f"`{command}`, {when}, code {summaries[0]['code']}, load average {loads}.",
        "",
        "The app's car routes against OSRM 26.10 (the `osrm-bindings` wheel, its bundled `car.lua`, CH)",
        f"on the same {summaries[0]['routes']} random trips per extract (seed {summaries[0]['seed']}) between points on",
        "streets a delivery address is on (the extract's 5th–95th percentile box). Both routes are",
        "judged by `benchmarks/_restrictions.py` against the extract's own tags: car turn restrictions",
        "(`no_*`/`only_*`, via node and via way, `restriction:motorcar`, `except=`), barrier nodes a car may",
        "not pass (car.lua's rules: bollards, cycle barriers, `access=no`...), gates (passable; OSRM 60 s).",
        "",
        table(summaries),
        "",
    ]
    for s in summaries:
        a = s["app"]
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(a["broken_by_kind"].items(), key=lambda kv: -kv[1])) or "none"
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(a["barriers_by_reason"].items(), key=lambda kv: -kv[1]))
        d = s["duration_ratio"]
        example = a["examples"][0] if a["examples"] else None
        out.append(
            f"- {s['extract']}: {s['restrictions']} car restrictions in the extract ({s['via_way_restrictions']} via"
            f" way), {s['blocking_barrier_nodes']} blocking barrier nodes on roads. The app broke: {kinds}"
            + (
                f" (e.g. relation {example['relation']} {example['kind']} at {example['at'][0]}, {example['at'][1]})"
                if example
                else ""
            )
            + f"; barriers passed: {reasons or 'none'}. Durations: {_fmt(d['share_below_0.9'], '{:.0%}')} of trips"
            f" more than 10 % below OSRM's, {_fmt(d['share_above_1.1'], '{:.0%}')} more than 10 % above."
            f" App routes the judge could not read fully: {a['routes_read_poorly'] + a['unmatched_nodes_routes']}."
            f" Failed: app {s['app_failed']}, OSRM {s['osrm_failed']} of {s['routes']}; median OSRM trip"
            f" {_fmt(s['median_trip_km_osrm'], '{:.1f}')} km; per route app {s['app_route_ms']} ms, OSRM"
            f" {s['osrm_route_ms']} ms."
        )
    return "\n".join(out) + "\n"


def write_section(section: str) -> None:
    with open(NETWORK_MD, encoding="utf-8") as handle:
        text = handle.read()
    if SECTION in text:
        start = text.index(SECTION)
        following = text.find("\n## ", start + len(SECTION))
        end = len(text) if following < 0 else following + 1
        text = text[:start] + section + ("\n" if following >= 0 else "") + text[end:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(NETWORK_MD, "w", encoding="utf-8") as handle:
        handle.write(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pbf", nargs="+", default=DEFAULT_PBFS)
    parser.add_argument("--routes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--prepared", help="an already built network of the (single) --pbf to reuse")
    parser.add_argument("--json", dest="json_out", help="write every figure to this file")
    parser.add_argument("--write-md", action="store_true", help="replace the section in benchmarks/NETWORK.md")
    args = parser.parse_args()
    if args.prepared and len(args.pbf) != 1:
        parser.error("--prepared goes with exactly one --pbf")
    print(f"load average {os.getloadavg()}")
    summaries = []
    for pbf in args.pbf:
        summary = judge_extract(pbf, args.routes, args.seed, args.prepared)
        summaries.append(summary)
        print(f"{summary['extract']}: {json.dumps({k: summary[k] for k in ('app', 'osrm')}, default=str)[:2000]}")
    for s in summaries:
        if s["app"]["routes_read_poorly"] or s["app"]["unmatched_nodes_routes"]:
            print(
                f"WARNING {s['extract']}: {s['app']['routes_read_poorly']} app routes whose geometry maps poorly to"
                f" OSM nodes, {s['app']['unmatched_nodes_routes']} with steps no road segment joins: the judge"
                " cannot vouch for them"
            )
    print()
    print(table(summaries))
    print(f"load average {os.getloadavg()}")
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as handle:
            json.dump(summaries, handle, indent=2)
    if args.write_md:
        command = "python benchmarks/route_realism.py" + (f" --routes {args.routes}" if args.routes != 500 else "")
        write_section(markdown_section(summaries, command))
        print(f"wrote the section to {NETWORK_MD}")


if __name__ == "__main__":
    main()
