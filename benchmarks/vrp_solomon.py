"""Solomon VRPTW benchmark through the app's optimizer interface.

Model (as in the anchors of BENCHMARKS.md): Euclidean distance x100 rounded to
integers, travel time = distance, windows and service times x100, the
instance's 25 vehicles, distance as the only cost (1 cent per "km" of these
units, nothing per hour, no fixed cost). Each plan is re-scored in double
precision from the coordinates and compared with the distance-only
best-known solution (bks.csv, objective=distance, convention=double), or with
the proven optimum of the DIMACS convention (distances truncated to one
decimal) where the literature's double figure lies below it: truncating every
distance and travel time only makes plans shorter and windows easier to keep,
so no plan in double precision can beat that optimum (R109: 1101.37 against
1146.9, RC103: 1249.86 against 1258.0).

By default every instance is planned three times in the same run, each with
the same wall-clock budget (the app's default for 100 stops unless
``--budget``): the app (``routes.optimizer.solve``), PyVRP alone (one thread,
in this process) and VROOM alone (exploration 5, both threads, i.e. the app
with the portfolio off). ``--busy`` keeps one core busy with a spinning
process for the whole run (the "other core is busy" case).

    .venv/bin/python benchmarks/vrp_solomon.py                       # all three, 56 instances
    .venv/bin/python benchmarks/vrp_solomon.py --solvers app         # the app only
    .venv/bin/python benchmarks/vrp_solomon.py --instances C101,R2 --budget 2 --busy
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from routes.optimizer import Job, Problem, RoadMatrix, SolverSettings, Vehicle, evaluate, solve  # noqa: E402
from routes.optimizer.portfolio import default_time_budget  # noqa: E402
from routes.optimizer.pyvrp_solver import PYVRP_DEFAULT_NEIGHBOURS, solve_with_pyvrp  # noqa: E402

SOLVERS = ("app", "pyvrp", "vroom")

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


def best_known(data: Path = DATA) -> tuple[dict[str, float], list[str]]:
    """The reference distance per instance, and the instances whose literature figure was raised.

    The reference is the best-known double-precision distance, unless it is below the proven
    optimum of the DIMACS convention (CVRPLIB's solutions: every distance truncated to one
    decimal). That optimum is a lower bound on any double-precision plan (truncation shortens
    every arc and every travel time, so each plan stays feasible and gets no longer), so a
    figure below it was never a valid plan under this model and would count as a gap no solver
    can close.
    """
    double, truncated = {}, {}
    with open(data / "bks.csv") as handle:
        for row in csv.DictReader(handle):
            if row["set"] != "solomon" or row["objective"] != "distance":
                continue
            if row["convention"] == "double":
                double[row["instance"]] = float(row["bks_distance"])
            elif row["convention"] == "dimacs_trunc1":
                truncated[row["instance"]] = float(row["bks_distance"])
    raised = sorted(name for name, value in double.items() if value < truncated.get(name, -math.inf))
    return {name: max(value, truncated.get(name, value)) for name, value in double.items()}, raised


def double_distance(solution, exact: np.ndarray) -> float:
    total = 0.0
    for route in solution.routes:
        points = [0] + [s.location_index for s in route.stops if s.kind == "job"] + [0]
        total += sum(exact[a, b] for a, b in zip(points, points[1:]))
    return total


def run_solver(name: str, problem: Problem, budget: float):
    if name == "app":
        return solve(problem, SolverSettings(time_budget_s=budget))
    if name == "vroom":
        return solve(problem, SolverSettings(time_budget_s=budget, portfolio=False))
    started = time.monotonic()
    sequences = solve_with_pyvrp(problem, budget, neighbours=PYVRP_DEFAULT_NEIGHBOURS)
    return evaluate(problem, sequences, solver="pyvrp", computing_time_s=time.monotonic() - started)


def start_busy_core() -> subprocess.Popen:
    """A process spinning on one core for the whole run."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])  # nosec B603


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", default="", help="comma-separated names or prefixes (C1, R2, RC101)")
    parser.add_argument("--budget", type=float, default=None, help="seconds per instance (default: the app's)")
    parser.add_argument("--solvers", default=",".join(SOLVERS), help=f"comma-separated among {SOLVERS}")
    parser.add_argument("--busy", action="store_true", help="keep one core busy during the run")
    parser.add_argument(
        "--data", type=Path, default=DATA, help=f"folder with solomon/*.txt and bks.csv (default {DATA})"
    )
    args = parser.parse_args(argv)
    if not (args.data / "bks.csv").is_file() or not any((args.data / "solomon").glob("*.txt")):
        parser.error(f"--data {args.data}: expected solomon/*.txt and bks.csv there")
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    if not solvers or any(s not in SOLVERS for s in solvers):
        parser.error(f"--solvers {args.solvers!r}: expected some of {SOLVERS}")
    wanted = [w.strip().upper() for w in args.instances.split(",") if w.strip()]
    paths = sorted((args.data / "solomon").glob("*.txt"))
    paths = [p for p in paths if not wanted or any(p.stem.upper().startswith(w) for w in wanted)]
    bks, raised = best_known(args.data)
    budget = args.budget or default_time_budget(100)
    busy = start_busy_core() if args.busy else None
    gaps = {s: [] for s in solvers}
    times = {s: [] for s in solvers}
    failures = {s: [] for s in solvers}
    loads = []
    print(
        f"budget {budget:.2f} s per solver and instance, {'one core busy' if busy else 'quiet'}, load {os.getloadavg()}"
    )
    if raised:
        print(f"reference raised to the proven DIMACS optimum (the double figure is below it): {', '.join(raised)}")
    print(f"{'instance':9} {'bks':>9} " + " ".join(f"{s + ' gap %':>12} {'s':>5}" for s in solvers) + "  app's pick")
    try:
        for path in paths:
            problem, exact = build_problem(path)
            best = bks[path.stem]
            row, pick = [], ""
            for name in solvers:
                started = time.monotonic()
                solution = run_solver(name, problem, budget)
                elapsed = time.monotonic() - started
                gap = 100 * (double_distance(solution, exact) - best) / best
                complete = solution.feasible and not solution.unassigned
                if not complete:
                    failures[name].append(path.stem)
                gaps[name].append(gap if complete else math.inf)
                times[name].append(elapsed)
                row.append(f"{gap if complete else math.inf:12.2f} {elapsed:5.2f}")
                if name == "app":
                    pick = solution.solver
            loads.append(os.getloadavg()[0])
            print(f"{path.stem:9} {best:9.2f} " + " ".join(row) + f"  {pick}", flush=True)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    print(f"\n{len(paths)} instances, budget {budget:.2f} s, {'one core busy' if args.busy else 'quiet'}; "
          f"1-min load average during the run: min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f}")  # fmt: skip
    for name in solvers:
        finite = [g for g in gaps[name] if math.isfinite(g)]
        if finite:
            print(
                f"{name:6} mean gap {statistics.fmean(finite):.3f} %, median {statistics.median(finite):.3f} %, "
                f"worst {max(finite):.2f} %, median time {statistics.median(times[name]):.2f} s, max time "
                f"{max(times[name]):.2f} s, incomplete {len(failures[name])} {failures[name]}"
            )
    if "app" in solvers and "pyvrp" in solvers:
        worse = [p.stem for p, a, b in zip(paths, gaps["app"], gaps["pyvrp"]) if a > b + 1e-6]
        print(f"app worse than PyVRP alone on {len(worse)} instances: {worse}")
    return 1 if any(failures.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
