"""Real days on real roads: the app's optimizer against VROOM alone and PyVRP alone, same wall time.

    .venv/bin/python benchmarks/vrp_real_days.py                  # 20 days, 120-600 orders
    .venv/bin/python benchmarks/vrp_real_days.py --days 3 --json /tmp/real_days.json

Each day is built through the app's own path in a throw-away SQLite database: depots Vaduz and
Eschen, a fleet of vans and cargo bikes (vans 800 kg/150 items, bikes 150 kg/40 items, every
third van with a fridge, half the vans restricted to their depot's territory), orders from the
demo generator (`dispatch.demo.seeding.demo_orders_csv`: real addresses of the Liechtenstein
extract, windows on some, priorities) imported with the CSV import service, 10 % of them given
the `fridge` skill and every order its territory (north or south of 47.16 N, two zones). The
problem comes from `routes.plans.inputs.build_plan_inputs` on the real road network (matrices
per profile, breaks by PLAN_BREAK_RULES: 45 minutes between 11:00 and 14:00).

Per day, with the app's default budget for its size (`default_time_budget`), in the same run:

* app: `routes.optimizer.solve` (the portfolio);
* VROOM alone at exploration 5, both threads, same budget;
* PyVRP alone (one process, same budget; `pyvrp_solver.solve_with_pyvrp`: our model and penalties,
  PyVRP's default search parameters, i.e. its neighbourhood of 50 where the app widens it to 100 on
  days above 100 stops).

Every plan is re-scored by the one evaluator (`routes.optimizer.evaluate`); a plan with a
violation is reported as such. Plans are ranked by `objective_key` (pinned stops lost: none here,
lost priority, unassigned orders, then cost), so "app <= best" means as many orders served and no
dearer.
"""

import argparse
import json
import os
import pickle
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from datetime import time as clock

from _django import setup_django

ORDERS_LOW, ORDERS_HIGH = 120, 600
ZONE_SPLIT_LAT = 47.16


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=20, help="number of days (sizes spread over 120-600 orders)")
    parser.add_argument("--json", default=None, help="also write the per-day figures to this file")
    parser.add_argument("--dump", default=None, help="also pickle each day's Problem into this folder")
    parser.add_argument("--budget", type=float, default=None, help="seconds per solver (default: the app's by size)")
    args = parser.parse_args()
    if args.days < 1:
        parser.error("--days: at least 1")
    setup_django(None)

    from django.conf import settings

    from dispatch.demo.addresses import read_addresses
    from dispatch.demo.seeding import demo_orders_csv
    from dispatch.models import Depot, Order, Vehicle, Zone
    from dispatch.orders.importing import orders_import_csv
    from routes.models import RoadNetworkBuild
    from routes.network import build_network
    from routes.optimizer import evaluate, objective_key, solve
    from routes.optimizer.portfolio import SolverSettings, default_time_budget
    from routes.optimizer.pyvrp_solver import PYVRP_DEFAULT_NEIGHBOURS, solve_with_pyvrp
    from routes.optimizer.vroom_solver import solve_with_vroom
    from routes.plans.inputs import build_plan_inputs
    from routes.road_network import get_road_network

    network_dir = tempfile.mkdtemp(prefix="bench-network-")
    build_network(str(settings.DEMO_PBF), network_dir)
    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=network_dir, active=True)
    network = get_road_network()
    addresses = read_addresses(settings.DEMO_PBF)
    depots = [
        Depot.objects.create(code="VDZ", name="Vaduz", lat=47.1307, lon=9.5162),
        Depot.objects.create(code="ESN", name="Eschen", lat=47.2060, lon=9.5268),
    ]
    box = lambda south, north: {  # noqa: E731 - a throw-away polygon builder
        "type": "Polygon",
        "coordinates": [[[9.40, south], [9.70, south], [9.70, north], [9.40, north], [9.40, south]]],
    }
    zones = {
        "south": Zone.objects.create(code="south", name="South", depot=depots[0], polygon=box(46.9, ZONE_SPLIT_LAT)),
        "north": Zone.objects.create(code="north", name="North", depot=depots[1], polygon=box(ZONE_SPLIT_LAT, 47.4)),
    }
    home_zone = {depots[0].id: zones["south"], depots[1].id: zones["north"]}

    rows = []
    print(f"load average at start {os.getloadavg()}")
    header = (
        f"{'day':>3} {'orders':>6} {'veh':>4} {'budget':>6}  {'app cost':>10} {'un':>3}  {'vroom5':>10} {'un':>3}  "
        f"{'pyvrp':>10} {'un':>3}  {'app vs vroom':>12} {'app<=best':>9} {'app pick':>12} {'load':>5}"
    )
    print(header)
    for n in range(args.days):
        count = ORDERS_LOW + round(n * (ORDERS_HIGH - ORDERS_LOW) / max(1, args.days - 1))
        day = date(2027, 3, 1) + timedelta(days=n)
        rng = random.Random(1000 + n)
        fleet = []
        for k in range(max(6, round(count / 14))):
            bike = k % 3 == 2
            depot = depots[k % 2]
            vehicle = Vehicle.objects.create(
                name=f"D{n:02d}-V{k:02d}", depot=depot, kind="cargo_bike" if bike else "van",
                capacity_kg=150 if bike else 800, capacity_items=40 if bike else 150,
                shift_start=clock(8), shift_end=clock(17 if bike else 18),
                cost_per_km=0.05 if bike else 0.35, cost_per_hour=26 if bike else 32, fixed_cost=15 if bike else 45,
                skills=["fridge"] if (not bike and k % 3 == 0) else [],
            )  # fmt: skip
            if not bike and k % 4 < 2:
                vehicle.allowed_zones.add(home_zone[depot.id])
            fleet.append(vehicle)
        data = demo_orders_csv(day=day, count=count, seed=100 + n, addresses=addresses, depots=depots)
        orders_import_csv(data=data, user=None)
        orders = list(Order.objects.filter(date=day))
        for order in orders:
            order.skills = ["fridge"] if rng.random() < 0.10 else []
            order.zone = zones["north"] if order.lat > ZONE_SPLIT_LAT else zones["south"]
        Order.objects.bulk_update(orders, ["skills", "zone"])
        orders = list(Order.objects.filter(date=day).select_related("zone"))
        fleet = list(Vehicle.objects.filter(pk__in=[v.pk for v in fleet]).select_related("depot"))
        inputs = build_plan_inputs(network=network, day=day, orders=orders, vehicles=fleet)
        problem = inputs.problem
        budget = args.budget or default_time_budget(len(problem.jobs))
        if args.dump:
            os.makedirs(args.dump, exist_ok=True)
            with open(os.path.join(args.dump, f"day{n + 1:02d}.pickle"), "wb") as handle:
                pickle.dump(problem, handle)

        results = {}
        started = time.monotonic()
        results["app"] = solve(problem, SolverSettings(time_budget_s=budget))
        results["app"] = _timed(results["app"], time.monotonic() - started)
        started = time.monotonic()
        vroom = solve_with_vroom(problem, budget - 0.1, threads=2, exploration=5)
        results["vroom"] = evaluate(problem, vroom, solver="vroom5", computing_time_s=time.monotonic() - started)
        started = time.monotonic()
        pyvrp = solve_with_pyvrp(problem, budget, neighbours=PYVRP_DEFAULT_NEIGHBOURS)
        results["pyvrp"] = evaluate(problem, pyvrp, solver="pyvrp", computing_time_s=time.monotonic() - started)

        keys = {name: objective_key(problem, s) for name, s in results.items()}
        app_best = keys["app"] <= min(keys["vroom"], keys["pyvrp"])
        same_served = keys["app"][:4] == keys["vroom"][:4]  # feasible, pinned stops, priority, orders
        versus = 100 * (results["app"].cost - results["vroom"].cost) / results["vroom"].cost if same_served else None
        load = os.getloadavg()[0]
        row = {
            "day": n + 1,
            "orders": len(problem.jobs),
            "dropped_before_solving": len(inputs.dropped),
            "vehicles": len(problem.vehicles),
            "budget_s": round(budget, 2),
            "load_1min": round(load, 2),
            "app_vs_vroom_pct": None if versus is None else round(versus, 3),
            "app_le_best": app_best,
            "app_pick": results["app"].solver,
        }
        for name, solution in results.items():
            row[name] = {
                "cost_cents": round(solution.cost, 1),
                "unassigned": len(solution.unassigned),
                "vehicles_used": solution.vehicles_used,
                "violations": list(solution.violations[:3]),
                "seconds": round(solution.computing_time_s, 2),
            }
        rows.append(row)
        flag = lambda s: "!" if s.violations else ""  # noqa: E731
        print(
            f"{n + 1:3d} {len(problem.jobs):6d} {len(problem.vehicles):4d} {budget:6.1f}  "
            f"{results['app'].cost / 100:10.2f}{flag(results['app'])} {len(results['app'].unassigned):3d}  "
            f"{results['vroom'].cost / 100:10.2f}{flag(results['vroom'])} {len(results['vroom'].unassigned):3d}  "
            f"{results['pyvrp'].cost / 100:10.2f}{flag(results['pyvrp'])} {len(results['pyvrp'].unassigned):3d}  "
            f"{'n/a' if versus is None else f'{versus:+.2f} %':>12} {'yes' if app_best else 'NO':>9} "
            f"{results['app'].solver:>12} {load:5.2f}",
            flush=True,
        )

    comparable = [r["app_vs_vroom_pct"] for r in rows if r["app_vs_vroom_pct"] is not None]
    invalid = [(r["day"], name) for r in rows for name in ("app", "vroom", "pyvrp") if r[name]["violations"]]
    loads = [r["load_1min"] for r in rows]
    summary = {
        "days": len(rows),
        "app_le_best_days": sum(r["app_le_best"] for r in rows),
        "mean_app_vs_vroom_pct": round(statistics.fmean(comparable), 3) if comparable else None,
        "comparable_days": len(comparable),
        "app_fewer_unassigned_than_vroom_days": sum(r["app"]["unassigned"] < r["vroom"]["unassigned"] for r in rows),
        "invalid_plans": invalid,
        "load_1min": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
    }
    print(
        f"\napp <= best of VROOM-5 and PyVRP on {summary['app_le_best_days']} of {len(rows)} days (target 18 of 20); "
        f"app vs VROOM-5 on the {len(comparable)} days both served the same: mean "
        f"{summary['mean_app_vs_vroom_pct']} % (target <= -2 %); app served more than VROOM-5 on "
        f"{summary['app_fewer_unassigned_than_vroom_days']} days; plans with a violation: {invalid or 'none'}; "
        f"1-min load average min {min(loads):.2f} median {statistics.median(loads):.2f} max {max(loads):.2f}"
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"summary": summary, "days": rows}, handle, indent=2)
    return 0


def _timed(solution, seconds):
    from dataclasses import replace

    return replace(solution, computing_time_s=seconds)


if __name__ == "__main__":
    sys.exit(main())
