"""A big day planned in parts across real Celery workers, against one single solve of the same day.

    .venv/bin/python benchmarks/big_day.py --database-url postgres://postgres@127.0.0.1:5432/dispatch_bench \\
        --redis-url redis://127.0.0.1:6379/15                              # 5,000 orders, 150 vans, 2 workers
    .venv/bin/python benchmarks/big_day.py ... --orders 1500 --vehicles 45 --split-budget-s 120 --single-budget-s 120

Generates a day on the Porto extract (benchmarks/data/osm/porto.osm.pbf, built into a temporary
directory unless --network-dir holds a build): orders at random road junctions of the city, 30 % with
a two-hour window, vans from two depots (Porto centre and Vila Nova de Gaia) with 8-18 h shifts. Then
starts --workers Celery worker processes (one task at a time each, as tests/celery_workers.py does)
on a queue of its own on Redis, queues the plan exactly as the API does (routes.tasks.optimize_plan)
and polls it, printing each region as it comes back. Issue 19's targets: 5,000 orders and 150
vehicles within 10 minutes with 2 workers; its cost against one 30-minute single solve of the same day
(--single-budget-s 1800, run on one of the same workers after the split one; --skip-single leaves it).
Prints wall times, both plans' figures, the split plan's regions (sizes, budget) and phases (split,
regions, merge + borders + saving; the merge's own log line in the worker logs splits the last into
inputs, borders and saving) and the 1-minute load average (mean and peak while each plan ran).
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PBF = ROOT / "benchmarks" / "data" / "osm" / "porto.osm.pbf"
# Two depots: Porto's centre (Trindade) and Vila Nova de Gaia across the Douro.
DEPOTS = [("OPO", "Porto Trindade", 41.1524, -8.6094), ("VNG", "Gaia", 41.1237, -8.6118)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--vehicles", type=int, default=150)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (one task each)")
    parser.add_argument(
        "--split-budget-s",
        type=float,
        default=480,
        help="the split plan's budget: its wall time from the split to the saving, matrices included",
    )
    parser.add_argument("--single-budget-s", type=float, default=1800, help="the single solve's budget")
    parser.add_argument("--region-orders", type=int, default=350)
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument("--database-url", required=True, help="postgres://...: created if missing, then emptied")
    parser.add_argument("--redis-url", required=True, help="the broker; a queue of the benchmark's own is used")
    parser.add_argument("--network-dir", default=None, help="a prepared Porto build (else built in a temp dir)")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()

    queue = f"bigday-{secrets.token_hex(4)}"
    queues = {
        name: queue for name in ("CELERY_QUEUE", "CELERY_PLANS_QUEUE", "CELERY_LIVE_QUEUE", "CELERY_NOTIFICATION_QUEUE")
    }
    split_env = {
        "PLAN_SPLIT_WORKERS": str(args.workers),
        "PLAN_SPLIT_REGION_ORDERS": str(args.region_orders),
        "PLAN_SPLIT_TIME_BUDGET_S": str(int(args.split_budget_s)),
    }
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=args.database_url, REDIS_URL=args.redis_url
    )
    os.environ.update(queues)
    os.environ.update(split_env)
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-bigday-"))
    from _django import _create_postgres_database

    _create_postgres_database(args.database_url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)

    import numpy as np
    from django.conf import settings

    from config.tasks import enqueue
    from dispatch.models import Depot, Order, Vehicle
    from routes.models import Plan, PlanPart, RoadNetworkBuild
    from routes.network import RoadNetwork, build_network

    network_dir = args.network_dir or tempfile.mkdtemp(prefix="bench-porto-")
    if not any(Path(network_dir).iterdir()):
        started = time.perf_counter()
        build_network(str(DEFAULT_PBF), network_dir)
        print(f"built the Porto network in {time.perf_counter() - started:.1f} s")
    RoadNetworkBuild.objects.create(source=str(DEFAULT_PBF), path=network_dir, active=True)

    # Orders at random junctions of the city's car network (inside the 10th-90th percentile box).
    network = RoadNetwork.load(network_dir)
    graph = network._states["car"].graph
    lat, lon = network.node_lat[graph.node_global], network.node_lon[graph.node_global]
    lat_lo, lat_hi = np.percentile(lat, [10, 90])
    lon_lo, lon_hi = np.percentile(lon, [10, 90])
    inside = np.flatnonzero((lat >= lat_lo) & (lat <= lat_hi) & (lon >= lon_lo) & (lon <= lon_hi))
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(inside, size=args.orders, replace=len(inside) < args.orders)
    zone = ZoneInfo(settings.TIME_ZONE)
    day = date(2026, 11, 24)
    depots = [Depot.objects.create(code=c, name=n, lat=la, lon=lo) for c, n, la, lo in DEPOTS]
    for number in range(args.vehicles):
        Vehicle.objects.create(
            name=f"V{number:03d}", depot=depots[number % 2], kind="van", capacity_kg=800, capacity_items=150,
            shift_start=clock(8), shift_end=clock(18), cost_per_km=0.35, cost_per_hour=32, fixed_cost=45,
        )  # fmt: skip
    orders = []
    for number, node in enumerate(picked):
        windowed = rng.random() < 0.3
        start = datetime.combine(day, clock(int(rng.integers(9, 16))), tzinfo=zone)
        orders.append(
            Order(
                reference=f"B{number:05d}",
                date=day,
                depot=depots[0 if float(lat[node]) > 41.14 else 1],
                lat=float(lat[node]),
                lon=float(lon[node]),
                snap_distance_m=1,
                service_minutes=3,
                weight_kg=int(rng.integers(1, 25)),
                window_start=start if windowed else None,
                window_end=start + timedelta(hours=2) if windowed else None,
            )  # fmt: skip
        )
    Order.objects.bulk_create(orders, batch_size=1000)
    morning = datetime.combine(day, clock(6), tzinfo=zone).isoformat()
    print(f"day: {args.orders} orders, {args.vehicles} vans, 2 depots; {args.workers} worker processes on {queue}")

    log_dir = Path(tempfile.mkdtemp(prefix="bench-bigday-logs-"))
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-c",
                "1",
                "--pool",
                "prefork",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
                "-n",
                f"bigday{n}@%h",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=open(log_dir / f"worker{n}.log", "w"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for n in range(args.workers)
    ]
    try:
        for n in range(args.workers):
            deadline = time.monotonic() + 120
            while "ready." not in (log_dir / f"worker{n}.log").read_text():
                if time.monotonic() > deadline or workers[n].poll() is not None:
                    raise SystemExit((log_dir / f"worker{n}.log").read_text()[-3000:])
                time.sleep(0.5)
        depot_ids = [d.id for d in depots]
        split = run_plan(
            Plan, PlanPart, enqueue, day, version=1, timeout_s=3 * args.split_budget_s + 900,
            request={"depots": depot_ids, "clock": morning, "split": True, "time_budget_s": args.split_budget_s},
        )  # fmt: skip
        single = None
        if not args.skip_single:
            single = run_plan(
                Plan, PlanPart, enqueue, day, version=2, timeout_s=args.single_budget_s + 900,
                request={"depots": depot_ids, "clock": morning, "split": False, "time_budget_s": args.single_budget_s},
            )  # fmt: skip
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    print(f"\nworker logs: {log_dir}")
    report("split", split)
    if single:
        report("single", single)
        if split["plan"].status == single["plan"].status == "done":
            ratio = float(split["plan"].cost) / float(single["plan"].cost)
            print(f"split cost / single cost = {ratio:.4f} ({100 * (ratio - 1):+.2f} %)")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def run_plan(Plan, PlanPart, enqueue, day, *, version, request, timeout_s):
    plan = Plan.objects.create(date=day, depot=None, version=version, request=request)
    started = time.monotonic()
    enqueue("routes.tasks.optimize_plan", plan.pk)
    last, loads = None, []
    while time.monotonic() - started < timeout_s:
        plan.refresh_from_db()
        parts = list(PlanPart.objects.filter(plan=plan).values_list("status", flat=True))
        seen = (plan.status, plan.stage, sum(1 for s in parts if s == "done"), len(parts))
        if seen != last:
            print(f"  {time.monotonic() - started:7.1f} s  {plan.status:8} {plan.stage:28} regions {seen[2]}/{seen[3]}")
            last = seen
        loads.append(os.getloadavg()[0])
        if plan.status in ("done", "failed"):
            break
        time.sleep(1)
    wall = time.monotonic() - started
    parts = list(PlanPart.objects.filter(plan=plan).order_by("index"))
    return {
        "plan": plan, "wall": wall, "load": max(loads) if loads else float("nan"), "request": request, "parts": parts,
        "mean_load": sum(loads) / len(loads) if loads else float("nan"),
    }  # fmt: skip


def report(name, result):
    plan = result["plan"]
    print(f"{name}: budget {result['request']['time_budget_s']:.0f} s, wall {result['wall']:.1f} s, status {plan.status}, "
          f"solver {plan.solver!r}, 1-min load mean {result['mean_load']:.2f}, peak {result['load']:.2f}")  # fmt: skip
    parts = result["parts"]
    if parts and all(p.started_at and p.finished_at for p in parts) and plan.started_at and plan.finished_at:
        # The phases from the rows' own moments: the split task (matrices, cutting), the regions from the
        # first one picked up to the last one stored, then the merge (inputs, borders, saving: its log line).
        first, last = min(p.started_at for p in parts), max(p.finished_at for p in parts)
        sizes, vans = [len(p.job_ids) for p in parts], [len(p.vehicle_ids) for p in parts]
        print(f"  {len(parts)} regions of {min(sizes)}-{max(sizes)} orders (mean {sum(sizes) / len(sizes):.0f}) "
              f"and {min(vans)}-{max(vans)} vans, {parts[0].time_budget_s:.0f} s each; "
              f"solved by {sorted({p.solver for p in parts})}")  # fmt: skip
        print(f"  split (matrices, cutting) {(first - plan.started_at).total_seconds():.1f} s, "
              f"regions {(last - first).total_seconds():.1f} s, "
              f"merge + borders + saving {(plan.finished_at - last).total_seconds():.1f} s")  # fmt: skip
    if plan.status == "done":
        print(f"  cost {plan.cost}, {plan.distance_m / 1000:.1f} km, {plan.vehicles_used} vehicles, "
              f"{plan.unassigned_count} unassigned, lateness {plan.lateness_s // 60} min")  # fmt: skip
    else:
        print(f"  error: {plan.error}")


if __name__ == "__main__":
    main()
