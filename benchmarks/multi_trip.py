"""Multi-trip cargo bikes (and drones) from a micro-hub: planning with reloads vs without.

    .venv/bin/python benchmarks/multi_trip.py                    # 120 and 240 orders
    .venv/bin/python benchmarks/multi_trip.py --orders 120 --json /tmp/multi_trip.json

A day in the demo region on the real road network (the Liechtenstein extract, built once into
VAR_DIR or a temp folder; no database): the depot in Vaduz, a micro-hub in Schaan (open 08:00-15:00
for reloads), orders at random real addresses of Vaduz, Schaan and Triesen (1-12 kg, one parcel
each, a two-hour window on a fifth of them). Fleet: cargo bikes only, as a city-centre operation
runs them (40 kg / 10 parcels per trip, 08:00-17:00, a 30-minute break between 11:00 and 14:00,
15 EUR a day + 26 EUR/h + 0.05 EUR/km), enough of them that every order fits even when each bike
does a single trip (by parcels or by weight, whichever binds, a fifth spare, plus one).

Per day size, the app's optimizer (`routes.optimizer.solve`, its default budget for the size)
plans:

* without reloads: every vehicle does one trip (``max_trips=1``);
* with reloads: bikes may do up to 4 trips, reloading at the depot or the hub (10 minutes);
* with reloads and drones: as above plus 2 drones at the hub (straight-line flights at 15 m/s
  plus a minute to take off and land, one parcel of at most 2.5 kg per flight, 10 km range out and
  back, up to 15 flights, 3 minutes per reload, 5 EUR a day + 6 EUR/h: a pilot watches several).

Printed per plan: vehicles used (bikes / drones), cost, orders left out, trips per bike,
the solver whose plan was kept, and the 1-minute load average (the machine is shared). Every plan
is re-scored by the evaluator; one with a violation is flagged "!".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dispatch.demo.addresses import read_addresses  # noqa: E402
from routes.network import RoadNetwork, build_network, prepared_is_current  # noqa: E402
from routes.optimizer import Break, Job, Problem, RoadMatrix, SolverSettings, Vehicle, solve  # noqa: E402
from routes.optimizer.portfolio import default_time_budget  # noqa: E402

PBF = os.path.join(ROOT, "data", "liechtenstein.osm.pbf")
HOUR = 3600
DEPOT = (47.1307, 9.5162)  # Vaduz
HUB = (47.1660, 9.5100)  # Schaan
AREA = (47.095, 47.185, 9.49, 9.54)  # Triesen .. Schaan, the valley floor
LUNCH = Break(((11 * HOUR, 14 * HOUR),), 1800)


def network() -> RoadNetwork:
    out = os.path.join(os.environ.get("VAR_DIR") or tempfile.gettempdir(), "multi-trip-network")
    if not prepared_is_current(out):
        build_network(PBF, out)
    return RoadNetwork.load(out)


def straight_line(points: list[tuple[float, float]], speed_m_s: float, take_off_s: int) -> RoadMatrix:
    lat = np.radians([p[0] for p in points])
    lon = np.radians([p[1] for p in points])
    dlat, dlon = lat[:, None] - lat[None, :], lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    metres = np.rint(2 * 6_371_008.8 * np.arcsin(np.sqrt(a))).astype(np.int64)
    seconds = np.rint(metres / speed_m_s).astype(np.int64) + take_off_s
    np.fill_diagonal(seconds, 0)
    return RoadMatrix(durations=seconds, distances=metres)


def build_day(net: RoadNetwork, addresses, n_orders: int, seed: int):
    """The Problem with reloads and drones; the other variants are derived from it."""
    rng = np.random.default_rng(seed)
    south, north, west, east = AREA
    local = [a for a in addresses if south <= a.lat <= north and west <= a.lon <= east]
    picked = [local[i] for i in rng.choice(len(local), size=min(len(local), int(n_orders * 1.1)), replace=False)]
    points = [DEPOT, HUB] + [(a.lat, a.lon) for a in picked]
    raw = {"bike": net.matrix(points, "bike")}
    good = np.ones(len(points), dtype=bool)
    for result in raw.values():
        good &= ~np.isnan(result.durations_s).any(axis=0) & ~np.isnan(result.durations_s).any(axis=1)
    keep = [i for i in range(len(points)) if good[i]][: n_orders + 2]
    assert keep[:2] == [0, 1], "depot and hub must be on the road network"
    points = [points[i] for i in keep]
    cut = np.ix_(keep, keep)
    matrices = {
        p: RoadMatrix(
            durations=np.rint(r.durations_s[cut]).astype(np.int64),
            distances=np.rint(r.distances_m[cut]).astype(np.int64),
        )
        for p, r in raw.items()
    }
    matrices["drone"] = straight_line(points, 15.0, 60)
    jobs = []
    for i in range(2, len(points)):
        start = int(rng.integers(9, 15)) * HOUR
        jobs.append(
            Job(
                id=i - 1,
                location_index=i,
                service_s=int(rng.integers(90, 240)),
                delivery=(int(rng.integers(1, 13)), 1),
                time_windows=((start, start + 2 * HOUR),) if rng.random() < 0.2 else (),
            )
        )
    # Enough bikes for single trips: by parcels or by weight, whichever binds, with a fifth spare.
    n_bikes = math.ceil(1.2 * max(len(jobs) / 10, sum(j.delivery[0] for j in jobs) / 40)) + 1
    vehicles = [
        Vehicle(
            id=f"bike{k}",
            profile="bike",
            start_index=0,
            end_index=0,
            capacity=(40, 10),
            shift=(8 * HOUR, 17 * HOUR),
            breaks=(LUNCH,),
            cost_per_hour=2600,
            cost_per_km=5,
            fixed_cost=1500,
            max_trips=4,
            reload_indices=(0, 1),
            reload_s=600,
            reload_windows={1: (8 * HOUR, 15 * HOUR)},
        )
        for k in range(n_bikes)
    ]
    drones = [
        Vehicle(
            id=f"drone{k}",
            profile="drone",
            start_index=1,
            end_index=1,
            capacity=(3, 1),
            shift=(8 * HOUR, 17 * HOUR),
            cost_per_hour=600,  # no driver on board: a pilot watches several drones
            fixed_cost=500,
            max_trips=15,
            reload_indices=(1,),
            reload_s=180,
            max_stops_per_trip=1,
            max_trip_distance_m=10_000,
            kind="drone",
        )
        for k in range(2)
    ]
    # Parcels over 2 kg stay with the bikes (the caller's eligibility, as the planning inputs do).
    light = frozenset(j.id for j in jobs if j.delivery[0] <= 2)
    drones = [replace(d, eligible_jobs=light) for d in drones]
    return Problem(matrices=matrices, vehicles=tuple(vehicles), jobs=tuple(jobs)), drones


def variants(problem: Problem, drones) -> dict[str, Problem]:
    single = tuple(replace(v, max_trips=1, reload_indices=(), reload_windows={}) for v in problem.vehicles)
    return {
        "without reloads": replace(problem, vehicles=single),
        "with reloads": problem,
        "reloads + drones": replace(problem, vehicles=problem.vehicles + tuple(drones)),
    }


def describe(problem: Problem, solution) -> dict:
    kinds = {v.id: ("drone" if v.profile == "drone" else v.profile) for v in problem.vehicles}
    used = {"bike": 0, "drone": 0}
    trips = []
    for route in solution.routes:
        used[kinds[route.vehicle_id]] += 1
        if kinds[route.vehicle_id] == "bike":
            trips.append(route.trips)
    flights = sum(r.trips for r in solution.routes if kinds[r.vehicle_id] == "drone")
    return {
        "vehicles_used": solution.vehicles_used,
        "bikes": used["bike"],
        "drones": used["drone"],
        "drone_flights": flights,
        "cost_eur": round(solution.cost / 100, 2),
        "unassigned": len(solution.unassigned),
        "trips_per_bike": sorted(trips, reverse=True),
        "mean_trips_per_bike": round(statistics.fmean(trips), 2) if trips else 0,
        "violations": list(solution.violations[:3]),
        "solver": solution.solver,
        "seconds": round(solution.computing_time_s, 2),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, nargs="+", default=[120, 240], help="day sizes")
    parser.add_argument("--budget", type=float, default=None, help="seconds per plan (default: the app's by size)")
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()
    net = network()
    addresses = read_addresses(PBF)
    print(f"load average at start {os.getloadavg()}")
    rows = []
    for n, size in enumerate(args.orders):
        problem, drones = build_day(net, addresses, size, seed=20 + n)
        budget = args.budget or default_time_budget(len(problem.jobs))
        print(f"\n{len(problem.jobs)} orders, {len(problem.vehicles)} bikes (+2 drones), budget {budget:.1f} s")
        print(
            f"  {'plan':<17} {'used':>4} {'bikes':>5} {'drones':>6} {'cost EUR':>9} {'left':>4}  "
            f"{'trips per bike':<24} {'kept':>12} {'load':>5}"
        )
        for name, variant in variants(problem, drones).items():
            started = time.monotonic()
            solution = solve(variant, SolverSettings(time_budget_s=budget))
            row = {"orders": len(problem.jobs), "plan": name, "budget_s": round(budget, 1)} | describe(
                variant, solution
            )
            row["seconds"] = round(time.monotonic() - started, 2)
            row["notes"] = list(solution.notes)
            rows.append(row)
            flag = "!" if row["violations"] else ""
            drone_text = f"{row['drones']}/{row['drone_flights']}f" if name.endswith("drones") else "-"
            print(
                f"  {name:<17} {row['vehicles_used']:>4} {row['bikes']:>5} {drone_text:>6} "
                f"{row['cost_eur']:>9.2f}{flag} {row['unassigned']:>4}  {str(row['trips_per_bike']):<24} "
                f"{row['solver']:>12} {row['load_1min']:>5.2f}",
                flush=True,
            )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
