"""Solomon VRPTW benchmark through the app's optimizer interface.

Model (as in the anchors of BENCHMARKS.md): Euclidean distance x100 rounded to
integers, travel time = distance, windows and service times x100, the
instance's 25 vehicles, distance as the only cost (1 cent per "km" of these
units, nothing per hour, no fixed cost). Each plan is re-scored in double
precision from the coordinates and compared with the distance-only
best-known solution (bks.csv, objective=distance, convention=double).

    .venv/bin/python benchmarks/vrp_solomon.py                  # app defaults
    .venv/bin/python benchmarks/vrp_solomon.py --vroom-only     # VROOM alone
    .venv/bin/python benchmarks/vrp_solomon.py --instances C101,R2 --budget 2
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routes.optimizer import Job, Problem, RoadMatrix, SolverSettings, Vehicle, solve  # noqa: E402

# The instances ship with the project (benchmarks/data/SOURCES.md); --data names another copy.
DATA = Path(__file__).resolve().parent / "data" / "vrp"


def read_instance(path: Path):
    """(vehicles, capacity, rows) where rows are
    (x, y, demand, ready, due, service), the depot first."""
    lines = [line.split() for line in path.read_text().splitlines()]
    numbers = [row for row in lines if row and all(_is_number(v) for v in row)]
    vehicles, capacity = int(numbers[0][0]), int(numbers[0][1])
    rows = [tuple(float(v) for v in row[1:7]) for row in numbers[1:]]
    return vehicles, capacity, rows


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def build_problem(path: Path) -> tuple[Problem, np.ndarray]:
    fleet, capacity, rows = read_instance(path)
    xy = np.array([(r[0], r[1]) for r in rows])
    exact = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    scaled = np.rint(exact * 100).astype(np.int64)
    depot = rows[0]
    vehicles = tuple(
        Vehicle(
            id=n,
            start_index=0,
            end_index=0,
            capacity=(capacity,),
            shift=(int(round(depot[3] * 100)), int(round(depot[4] * 100))),
            cost_per_hour=0,
            cost_per_km=1,
            fixed_cost=0,
        )
        for n in range(fleet)
    )
    jobs = tuple(
        Job(
            id=i,
            location_index=i,
            service_s=int(round(r[5] * 100)),
            delivery=(int(r[2]),),
            time_windows=((int(round(r[3] * 100)), int(round(r[4] * 100))),),
        )
        for i, r in enumerate(rows)
        if i > 0
    )
    problem = Problem(
        matrices={"car": RoadMatrix(scaled, scaled)}, vehicles=vehicles, jobs=jobs, amount_units=("units",)
    )
    return problem, exact


def best_known(data: Path = DATA) -> dict[str, float]:
    with open(data / "bks.csv") as handle:
        return {
            row["instance"]: float(row["bks_distance"])
            for row in csv.DictReader(handle)
            if row["set"] == "solomon" and row["objective"] == "distance" and row["convention"] == "double"
        }


def double_distance(solution, exact: np.ndarray) -> float:
    total = 0.0
    for route in solution.routes:
        points = [0] + [s.location_index for s in route.stops if s.kind == "job"] + [0]
        total += sum(exact[a, b] for a, b in zip(points, points[1:]))
    return total


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="", help="comma-separated names or prefixes (C1, R2, RC101)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per instance (default: the app's)")
    parser.add_argument("--vroom-only", action="store_true", help="disable the PyVRP portfolio")
    parser.add_argument(
        "--data", type=Path, default=DATA, help=f"folder with solomon/*.txt and bks.csv (default {DATA})"
    )
    args = parser.parse_args(argv)
    if not (args.data / "bks.csv").is_file() or not any((args.data / "solomon").glob("*.txt")):
        parser.error(f"--data {args.data}: expected solomon/*.txt and bks.csv there")
    wanted = [w.strip().upper() for w in args.instances.split(",") if w.strip()]
    paths = sorted((args.data / "solomon").glob("*.txt"))
    paths = [p for p in paths if not wanted or any(p.stem.upper().startswith(w) for w in wanted)]
    bks = best_known(args.data)
    settings = SolverSettings(time_budget_s=args.budget, portfolio=not args.vroom_only)
    gaps, times, failures = [], [], []
    print(f"{'instance':9} {'distance':>9} {'bks':>9} {'gap %':>7} {'time s':>7} {'routes':>6} solver")
    for path in paths:
        problem, exact = build_problem(path)
        started = time.monotonic()
        solution = solve(problem, settings)
        elapsed = time.monotonic() - started
        distance = double_distance(solution, exact)
        best = bks[path.stem]
        gap = 100 * (distance - best) / best
        complete = solution.feasible and not solution.unassigned
        if not complete:
            failures.append(path.stem)
        gaps.append(gap if complete else math.inf)
        times.append(elapsed)
        flag = "" if complete else f"  INCOMPLETE ({len(solution.unassigned)} unassigned, {solution.violations[:1]})"
        print(
            f"{path.stem:9} {distance:9.2f} {best:9.2f} {gap:7.2f} {elapsed:7.2f} {solution.vehicles_used:6d} "
            f"{solution.solver}{flag}",
            flush=True,
        )
    finite = [g for g in gaps if math.isfinite(g)]
    if finite:
        print(
            f"\n{len(paths)} instances, {'VROOM only' if args.vroom_only else 'portfolio'}, budget "
            f"{args.budget or 'app default'}: mean gap {statistics.fmean(finite):.2f} %, median gap "
            f"{statistics.median(finite):.2f} %, worst {max(finite):.2f} %, median time {statistics.median(times):.2f} s, "
            f"max time {max(times):.2f} s, incomplete {len(failures)} {failures}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
