"""Make or buy on a peak day: own fleet only against own fleet plus two courier partners.

    .venv/bin/python benchmarks/partners.py                      # SQLite in a temp dir
    .venv/bin/python benchmarks/partners.py --database-url postgres://postgres@127.0.0.1:5432/dispatch_bench
    .venv/bin/python benchmarks/partners.py --orders 120 --budget 3   # a quick look

The demo region (Liechtenstein's roads, the demo's addresses and order mix), one depot in Vaduz and
a fleet whose vans together carry 1/1.3 of the day's kilograms: a peak day at 130 % of the fleet's
capacity. Two partners with different prices and areas: "unterland" (the north, cheap per stop,
dearer per kg) and "oberland" (the south, dearer per stop, cheaper per kg, with a cold box: the
fridge orders our vans cannot take).

The app's own path builds the problem (routes.plans.inputs: the orders, vehicles, windows and road
matrices of the day, planned from 06:00; routes.plans.partners: the partners' areas, capacity and
prices), then ``routes.optimizer.partners.solve_make_or_buy`` solves it twice with the same budget,
own fleet only and with partners (warm-started from the first), and keeps the better. Printed: the
cost (our routes as the optimizer prices them + the partners' prices) and the orders served, for
each; per partner what it took and its cost; and the load average (2 cores, shared).
"""

import argparse
import os
import tempfile
import time
from datetime import date, datetime
from datetime import time as clock
from decimal import Decimal
from zoneinfo import ZoneInfo

from _django import describe_database, setup_django

# The north (Unterland: Eschen, Mauren, Schaan's north) and the south (Oberland: Vaduz, Triesen,
# Triesenberg, Malbun), split at 47.165 N; lon/lat GeoJSON.
NORTH = {
    "type": "Polygon",
    "coordinates": [[[9.45, 47.165], [9.65, 47.165], [9.65, 47.28], [9.45, 47.28], [9.45, 47.165]]],
}
SOUTH = {"type": "Polygon", "coordinates": [[[9.45, 47.03], [9.65, 47.03], [9.65, 47.165], [9.45, 47.165], [9.45, 47.03]]]}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--vans", type=int, default=8)
    parser.add_argument("--budget", type=float, default=0, help="seconds per solve (0: the app's default)")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.conf import settings

    from dispatch.demo.addresses import read_addresses
    from dispatch.demo.seeding import demo_orders_csv
    from dispatch.models import Depot, Order, Vehicle
    from dispatch.orders.importing import orders_import_csv
    from dispatch.partners.services import partner_create
    from routes import optimizer
    from routes.models import RoadNetworkBuild
    from routes.network import build_network
    from routes.optimizer.partners import partner_routes, solve_make_or_buy
    from routes.plans.inputs import PLANNABLE_STATUSES, build_plan_inputs
    from routes.plans.partners import add_partner_offers
    from routes.road_network import get_road_network

    network_dir = tempfile.mkdtemp(prefix="bench-network-")
    build_network(str(settings.DEMO_PBF), network_dir)
    RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=network_dir, active=True)
    depot = Depot.objects.create(code="VDZ", name="Vaduz", lat=47.1307, lon=9.5162)
    day = date(2026, 11, 24)  # a Tuesday
    data = demo_orders_csv(
        day=day, count=args.orders, seed=20, addresses=read_addresses(settings.DEMO_PBF), depots=[depot]
    )
    orders_import_csv(data=data, user=None)
    total_kg = sum(Order.objects.filter(date=day).values_list("weight_kg", flat=True), Decimal(0))
    van_kg = int(total_kg / Decimal("1.3") / args.vans)  # the fleet carries 1/1.3 of the day: a 130 % peak
    for number in range(args.vans):
        Vehicle.objects.create(
            name=f"V{number:02d}", depot=depot, kind="van", capacity_kg=van_kg, shift_start=clock(8),
            shift_end=clock(18), cost_per_km=0.35, cost_per_hour=32, fixed_cost=45,
        )  # fmt: skip
    partner_create(
        by=None, code="unterland", name="Unterland Kurier", area=NORTH, price_per_stop=Decimal("7.50"),
        price_per_kg=Decimal("0.30"), capacity_stops=args.orders // 6, cutoff=clock(7), opens=clock(8),
        closes=clock(18),
    )  # fmt: skip
    partner_create(
        by=None, code="oberland", name="Oberland Bote", area=SOUTH, price_per_stop=Decimal("11"),
        price_per_kg=Decimal("0.10"), price_per_zone={}, capacity_stops=args.orders // 6, cutoff=clock(7),
        opens=clock(8), closes=clock(18), skills=["fridge"],  # a cold box: the skill our vans lack
    )  # fmt: skip
    network = get_road_network()
    morning = datetime.combine(day, clock(6), tzinfo=ZoneInfo(settings.TIME_ZONE))
    orders = list(Order.objects.filter(date=day, status__in=PLANNABLE_STATUSES).select_related("zone").order_by("id"))
    vehicles = list(Vehicle.objects.select_related("depot").prefetch_related("allowed_zones").order_by("id"))
    inputs = build_plan_inputs(network=network, day=day, orders=orders, vehicles=vehicles, now=morning)
    partners = add_partner_offers(inputs, now=morning)
    budget = args.budget or optimizer.default_time_budget(len(inputs.problem.jobs))
    print(
        f"database: {describe_database()}  orders: {len(orders)} ({total_kg:.0f} kg)  vans: {args.vans} x {van_kg} kg "
        f"(fleet {args.vans * van_kg} kg = {100 * float(total_kg) / (args.vans * van_kg):.0f} % of capacity)  "
        f"partners: {', '.join(p.code for p in partners.values())}  budget {budget:.1f} s per solve"
    )
    started = time.perf_counter()
    result = solve_make_or_buy(inputs.problem, optimizer.SolverSettings(time_budget_s=budget))
    elapsed = time.perf_counter() - started
    jobs = len(inputs.problem.jobs)
    for label, solution in (("own fleet only", result.own_fleet), ("with partners", result.best)):
        bought = sum(r.cost for r in solution.routes if r.vehicle_id in partners) / 100
        print(
            f"{label:15s} cost {solution.cost / 100:9.2f}  served {jobs - len(solution.unassigned):4d}/{jobs}  "
            f"vans {solution.vehicles_used}  to partners {bought:8.2f}  ({solution.solver}, "
            f"{'feasible' if solution.feasible else 'INFEASIBLE'})"
        )
    for vehicle_id, order_ids in sorted(partner_routes(inputs.problem, result.best).items()):
        cost = next(r.cost for r in result.best.routes if r.vehicle_id == vehicle_id) / 100
        room = partners[vehicle_id].capacity_stops
        print(f"  {partners[vehicle_id].code:10s} {len(order_ids):3d} orders (capacity {room})  cost {cost:8.2f}")
    own, best = result.own_fleet, result.best
    takers = [v for v in inputs.problem.vehicles if v.kind == "partner"]
    could = [j for j in best.unassigned if any(j in v.eligible_jobs for v in takers)]
    print(f"  left unassigned {len(best.unassigned)}, of which a partner could take {len(could)}")
    per_order_own = own.cost / 100 / max(1, jobs - len(own.unassigned))
    per_order_best = best.cost / 100 / max(1, jobs - len(best.unassigned))
    print(
        f"cost per served order: own fleet {per_order_own:.2f}, with partners {per_order_best:.2f}; "
        f"both solves {elapsed:.1f} s; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
