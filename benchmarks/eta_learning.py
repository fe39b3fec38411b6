"""Do the learned ETAs get honest? 20 simulated days of the demo company under the default truth.

    python benchmarks/eta_learning.py [--days 20] [--orders 300] [--seed 7] [--time-budget 5]
                                      [--json OUT] [--database-url postgres://...]

Without --database-url: the embedded mode (SQLite in a temporary VAR_DIR). It builds the demo region
(data/liechtenstein.osm.pbf), seeds the demo company (two depots, their vans, bikes and drivers) and
plays the N days ending yesterday with ``dispatch.demo.simulated_history.simulate_history`` (what
``manage.py simulate_history`` runs) under data/truth/liechtenstein.json: each day planned with the
model the app has that morning, driven under the truth, the nightly learning run after it. So day d's
`learned` figures are those of the model trained on days 1..d-1 (day 1: no model yet, the defaults).

Per day it prints the dispatch-time ETA mean and p90 absolute error of (a) the OSM defaults with the
default traffic profile, (b) the plan as dispatched (the learned model active that day) and (c) the
oracle (the truth's expected times along the same routes: the physical limit, only the noise of the
legs and doorsteps left), the share of arrivals inside the window promised at dispatch and the
windows' median width. Then it checks the issue's targets from day 10 on: learned p90 <= 1.25 x
oracle's and <= 0.5 x default's, coverage >= 90 % with median width <= 60 min, the run <= 15 min.

--json writes the report in the format of ../shared/SIMULATION.md (docs/simulation.md), plus the run's
seconds, load averages and the targets' verdicts under "benchmark".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import describe_database, setup_django  # noqa: E402

FROM_DAY = 10  # the targets hold from this (1-based) day on: the model has had nine days to learn
RUN_LIMIT_S = 15 * 60


def targets(report: dict, seconds: float, from_day: int = FROM_DAY) -> dict:
    """The issue's targets over the days from `from_day` on (each day counted; medians of nothing fail)."""
    days = report["days"][from_day - 1 :]
    checks: dict[str, dict] = {}
    if not days:
        return {"days_checked": 0, "checks": {}, "met": False}

    def ratio(a, b):
        return None if a is None or not b else a / b

    learned_vs_oracle = [
        ratio(d["eta_abs_error_s"]["learned"]["p90"], d["eta_abs_error_s"]["oracle"]["p90"]) for d in days
    ]
    learned_vs_default = [
        ratio(d["eta_abs_error_s"]["learned"]["p90"], d["eta_abs_error_s"]["default"]["p90"]) for d in days
    ]
    coverage = [d["window_coverage"]["learned"] for d in days]
    widths = [d["window_width_median_s"] for d in days]
    checks["learned_p90_vs_oracle_max"] = {"value": _max(learned_vs_oracle), "limit": 1.25}
    checks["learned_p90_vs_default_max"] = {"value": _max(learned_vs_default), "limit": 0.5}
    checks["coverage_min"] = {"value": _min(coverage), "limit": 0.90, "at_least": True}
    checks["window_width_median_max_s"] = {"value": _max(widths), "limit": 3600}
    checks["run_s"] = {"value": round(seconds, 1), "limit": RUN_LIMIT_S}
    for check in checks.values():
        value = check["value"]
        check["met"] = value is not None and (
            value >= check["limit"] if check.pop("at_least", False) else value <= check["limit"]
        )
    return {"days_checked": len(days), "checks": checks, "met": all(c["met"] for c in checks.values())}


def junction_table() -> str:
    """Per learned version: its weekday leg scale and junction factors (routes.learning.junctions) per
    profile, and whether its fitted factors beat the carried ones on the held-out day."""
    from routes.models import TravelModel

    lines = ["version  active  held out    profile  Mon-Fri scale  junction factors (x default)  gate"]
    for model in TravelModel.objects.order_by("version").defer("speeds"):
        parameters = model.parameters or {}
        factors = parameters.get("junction_factors") or {}
        gate = (parameters.get("junction_gate") or {}).get("kept", "-")
        for profile in sorted(set(factors) | set(parameters.get("leg_scale") or {})):
            scale = ((parameters.get("leg_scale") or {}).get(profile) or [None])[0]
            shown = " ".join(f"{name[:6]} {value:.2f}" for name, value in (factors.get(profile) or {}).items())
            lines.append(f"v{model.version:<7} {'yes' if model.active else '':<7} {model.held_out_day}  {profile:<8} "
                         f"{scale if scale is not None else '-':<14} {shown or 'defaults':<29} {gate}")  # fmt: skip
    return "\n".join(lines)


def _max(values):
    values = [v for v in values if v is not None]
    return round(max(values), 3) if values else None


def _min(values):
    values = [v for v in values if v is not None]
    return round(min(values), 4) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--orders", type=int, default=300, help="orders per day (about)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--time-budget", type=float, default=5.0, help="solver seconds per depot's plan")
    parser.add_argument("--json", dest="json_out", default="")
    parser.add_argument("--database-url")
    parser.add_argument(
        "--durable-commits", action="store_true",
        help="PostgreSQL: wait for every commit to reach the disk (default: the scratch database's "
        "synchronous_commit=off: the simulation's ~9,000 transactions a day then commit in ~0.1 ms, not ~0.8 ms)",
    )  # fmt: skip
    parser.add_argument("--stops", dest="stops_out", default="", help="write every driven stop's detail (JSON lines)")
    args = parser.parse_args()
    if args.days < 1:
        parser.error(f"--days must be at least 1, not {args.days}")
    output = Path(args.json_out) if args.json_out else None
    if output is not None and not output.parent.is_dir():
        parser.error(f"--json {output}: the folder {output.parent} does not exist")

    # Production's settings, not a laptop's: DEBUG keeps the text of every SQL query the simulated days run.
    os.environ.setdefault("DEBUG", "0")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("ALLOWED_HOSTS", "localhost")
    os.environ.setdefault("LOG_FORMAT", "text")
    setup_django(args.database_url, scratch_commits=not args.durable_commits)

    from django.conf import settings

    from dispatch.demo.seeding import demo_seed_company
    from dispatch.demo.simulated_history import report_table, simulate_history
    from dispatch.demo.truth import DEFAULT_TRUTH_PATH, load_truth
    from dispatch.models import Vehicle
    from routes.road_network import road_network_build

    # Every stop action runs its follow-up tasks in-process (embedded mode): their log lines would bury the table.
    for name in ("celery.app.trace", "routes.road_network", "routes.learning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    started, cpu_started = time.perf_counter(), time.process_time()
    road_network_build(source=Path(settings.DEMO_PBF))
    demo_seed_company()
    truth = load_truth(DEFAULT_TRUTH_PATH)
    vehicles = Vehicle.objects.filter(available=True, drivers__active=True).distinct().count()
    print(
        f"{describe_database()}; truth {truth.name!r}; {vehicles} vehicles; {args.days} days of ~{args.orders} orders"
    )
    print(f"set-up {time.perf_counter() - started:.1f} s", flush=True)

    def log(text: str) -> None:
        print(f"  [{time.perf_counter() - started:6.0f} s] {text}", flush=True)

    stops: list | None = [] if args.stops_out else None
    report = simulate_history(
        days=args.days,
        truth=truth,
        seed=args.seed,
        orders_per_day=args.orders,
        time_budget_s=args.time_budget,
        log=log,
        stops_out=stops,
    )
    if stops is not None:
        with open(args.stops_out, "w", encoding="utf-8") as out:
            out.writelines(json.dumps(row) + "\n" for row in stops)
    seconds = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started  # every thread of this process (the embedded task queues too)
    print()
    print(report_table(report))
    verdict = targets(report, seconds)
    load = os.getloadavg()
    print()
    print(f"whole run {seconds:.0f} s ({cpu_s:.0f} s of CPU in this process, the database server's not counted); "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")  # fmt: skip
    if verdict["days_checked"]:
        print(f"targets from day {FROM_DAY} on ({verdict['days_checked']} days):")
        for name, check in verdict["checks"].items():
            print(
                f"  {name:<28} {check['value']!s:>10}  limit {check['limit']!s:>6}  {'met' if check['met'] else 'MISSED'}"
            )
    else:
        print(f"targets: not checked (they start at day {FROM_DAY}; {args.days} days played)")
    print()
    print(junction_table())
    learned = [d["eta_abs_error_s"]["learned"]["p90"] for d in report["days"] if d["eta_abs_error_s"]["learned"]["p90"]]
    if learned:
        print(f"median learned p90 over all days: {statistics.median(learned):.0f} s")
    if output is not None:
        report["benchmark"] = {
            "seconds": round(seconds, 1), "cpu_s": round(cpu_s, 1), "load_average": [round(x, 2) for x in load],
            "orders_per_day": args.orders,
            "time_budget_s": args.time_budget, "database": describe_database(), **verdict,
        }  # fmt: skip
        output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"report written to {output}")


if __name__ == "__main__":
    main()
