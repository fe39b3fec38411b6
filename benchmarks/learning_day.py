"""How long the nightly learning takes for a day of 12 vehicles (target: <= 30 s).

    python benchmarks/learning_day.py [--vehicles 12] [--stops 25] [--database-url postgres://...]

Without --database-url: the embedded mode (SQLite in a temporary VAR_DIR). Builds the demo region
(data/liechtenstein.osm.pbf), makes a depot with N vans and drivers, and drives one weekday: each van
serves --stops random addresses at 0.7 x the roads' default speed, its phone sending a position every
5 s with 10 m noise all day (also while it stands at a stop: the learning must reject that), the
stop actions at their moments. Then it times ``travel_model_learn`` (matching the day, learning the
speeds and doorstep tables, scoring, saving a version) and prints the figures with the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT, setup_django  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vehicles", type=int, default=12)
    parser.add_argument("--stops", type=int, default=25)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    setup_django(args.database_url)

    import time_machine
    from django.conf import settings

    from dispatch.fleet.services import driver_create
    from dispatch.models import Depot, DriverPosition, Order, OrderStatusChange, Vehicle
    from routes.learning.services import travel_model_learn
    from routes.models import RoadNetworkBuild
    from routes.network import build_network, prepared_is_current
    from routes.network.geometry import LocalProjection
    from routes.road_network import get_road_network

    directory = Path(settings.VAR_DIR) / "network" / "liechtenstein-bench"
    if not prepared_is_current(str(directory)):
        build_network(str(ROOT / "data" / "liechtenstein.osm.pbf"), str(directory))
    RoadNetworkBuild.objects.create(source="liechtenstein", path=str(directory), active=True)
    network = get_road_network()
    state = network._states["car"]
    zone = __import__("zoneinfo").ZoneInfo(settings.TIME_ZONE)
    day = datetime(2026, 11, 3).date()  # a Tuesday
    depot = Depot.objects.create(code="BENCH", name="Bench", lat=47.1410, lon=9.5215)
    rng = np.random.default_rng(1)
    graph = state.graph
    node_lat = network.node_lat[graph.node_global]
    node_lon = network.node_lon[graph.node_global]
    near = np.flatnonzero((np.abs(node_lat - depot.lat) < 0.05) & (np.abs(node_lon - depot.lon) < 0.05))
    projection = LocalProjection(depot.lat, depot.lon)
    positions_total = 0
    for v in range(args.vehicles):
        vehicle = Vehicle.objects.create(name=f"Van {v}", depot=depot, kind="van", capacity_kg=800)
        driver = driver_create(username=f"bench{v}", password="x" * 12, name=f"Driver {v}", vehicle=vehicle)
        clock = datetime.combine(day, datetime.min.time(), zone) + timedelta(hours=8)
        here = (depot.lat, depot.lon)
        positions, changes = [], []
        for s in range(args.stops):
            node = int(rng.choice(near))
            there = (float(node_lat[node]), float(node_lon[node]))
            try:
                route = network.route([here, there], "car", None)
            except Exception:  # noqa: BLE001 - an unreachable address: skip it
                continue
            coords = np.asarray(route.geometry["coordinates"])
            x, y = projection.to_xy(coords[:, 1], coords[:, 0])
            along = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
            duration = route.duration_s / 0.7
            service = float(rng.lognormal(np.log(150), 0.4))
            t = np.arange(0.0, duration + 60 + service, 5.0)  # driving, then standing at the stop
            s_along = np.minimum(t / duration, 1.0) * along[-1]
            px = np.interp(s_along, along, x) + rng.normal(0, 10, len(t))
            py = np.interp(s_along, along, y) + rng.normal(0, 10, len(t))
            lat, lon = projection.to_latlon(px, py)
            positions += [
                DriverPosition(
                    driver=driver,
                    vehicle=vehicle,
                    lat=float(a),
                    lon=float(b),
                    recorded_at=clock + timedelta(seconds=float(k)),
                )  # fmt: skip
                for a, b, k in zip(lat, lon, t)
            ]
            order = Order.objects.create(reference=f"B{v}-{s}", date=day, depot=depot, lat=there[0], lon=there[1],
                                         status="delivered")  # fmt: skip
            arrival = clock + timedelta(seconds=duration + 60)
            changes += [
                OrderStatusChange(
                    order=order,
                    from_status="dispatched",
                    to_status="arrived",
                    changed_at=arrival,
                    changed_by=driver.user,
                ),  # fmt: skip
                OrderStatusChange(
                    order=order,
                    from_status="arrived",
                    to_status="delivered",
                    changed_at=arrival + timedelta(seconds=service),
                    changed_by=driver.user,
                ),  # fmt: skip
            ]
            clock = arrival + timedelta(seconds=service)
            here = there
        DriverPosition.objects.bulk_create(positions, batch_size=5000)
        OrderStatusChange.objects.bulk_create(changes)
        positions_total += len(positions)
    with time_machine.travel(datetime.combine(day + timedelta(days=1), datetime.min.time(), zone) + timedelta(hours=2)):
        started = time.perf_counter()
        model = travel_model_learn(note="benchmark")
        seconds = time.perf_counter() - started
    load = os.getloadavg()
    stats = model.parameters["speeds"].get("car", {})
    print(f"{args.vehicles} vehicles, {positions_total} positions, {Order.objects.count()} stops")
    print(f"travel_model_learn: {seconds:.1f} s ({positions_total / seconds:,.0f} positions/s end to end)")
    print(f"driving kept: {stats.get('driven_km')} km, {stats.get('driven_hours')} h in {stats.get('pieces')} pieces")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (2 cores)")


if __name__ == "__main__":
    main()
