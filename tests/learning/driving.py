"""A small simulated day for the learning tests: one driver serves stops along real roads at a known
share of the planner's default speeds, with noisy positions and stop actions at their real moments."""

from datetime import datetime, timedelta

import numpy as np

from dispatch.models import DriverPosition, Order, OrderStatusChange
from routes.network.geometry import LocalProjection
from routes.network.route_pieces import route_pieces

STOPS = [(47.1399, 9.5213), (47.1450, 9.5235), (47.1352, 9.5190), (47.1300, 9.5230), (47.1420, 9.5160),
         (47.1475, 9.5180), (47.1330, 9.5265), (47.1385, 9.5290)]  # fmt: skip


def drive_day(network, driver, depot, day, tz, *, factor, service_s, access_s, seed, noise_m=10.0, interval_s=5.0,
              legs: list | None = None):  # fmt: skip
    """Drive depot -> STOPS -> depot on `day` from 09:00 at `factor` x default speed. Returns the orders;
    `legs`, when given, receives each leg's (seconds on the roads at their default speeds, seconds driven)."""
    rng = np.random.default_rng(seed)
    orders = [
        Order.objects.create(
            reference=f"L{day:%m%d}-{i}",
            date=day,
            depot=depot,
            lat=lat,
            lon=lon,
            address=f"Teststrasse {i}",
            status=Order.Status.DELIVERED,
            service_minutes=None,
        )  # fmt: skip
        for i, (lat, lon) in enumerate(STOPS)
    ]
    projection = LocalProjection(47.14, 9.52)
    clock = datetime.combine(day, datetime.min.time(), tz) + timedelta(hours=9)
    points = [(depot.lat, depot.lon), *STOPS]
    positions, changes = [], []
    for i, order in enumerate(orders):
        route = network.route([points[i], points[i + 1]], "car", clock)
        coords = np.asarray(route.geometry["coordinates"])
        x, y = projection.to_xy(coords[:, 1], coords[:, 0])
        along = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
        # free-flow time of the route's roads at the truth's share of it
        duration = _default_seconds(network, route) / factor
        if legs is not None:
            road_s = sum(piece.default_s for piece in route_pieces(network, route.geometry["coordinates"], "car"))
            legs.append((road_s, duration))
        t = np.arange(0.0, duration, interval_s)
        s = t / duration * along[-1]
        px = np.interp(s, along, x) + rng.normal(0, noise_m, len(t))
        py = np.interp(s, along, y) + rng.normal(0, noise_m, len(t))
        lat, lon = projection.to_latlon(px, py)
        for k in range(len(t)):
            positions.append(DriverPosition(driver=driver, vehicle=driver.vehicle, lat=float(lat[k]),
                                            lon=float(lon[k]), recorded_at=clock + timedelta(seconds=float(t[k]))))  # fmt: skip
        arrival = clock + timedelta(seconds=duration + access_s)
        done = arrival + timedelta(seconds=service_s)
        changes.append(OrderStatusChange(order=order, from_status="dispatched", to_status="arrived",
                                         changed_at=arrival, changed_by=driver.user))  # fmt: skip
        changes.append(OrderStatusChange(order=order, from_status="arrived", to_status="delivered",
                                         changed_at=done, changed_by=driver.user))  # fmt: skip
        clock = done + timedelta(seconds=60)  # back to the van
    DriverPosition.objects.bulk_create(positions)
    OrderStatusChange.objects.bulk_create(changes)
    return orders


def _default_seconds(network, route) -> float:
    """The route's time at the roads' default speeds (no traffic table): what the truth scales."""
    state = network._states["car"]
    snaps = [s for s in route.snaps]
    legs = network.route([(s.lat, s.lon) for s in snaps], "car", None)
    del state
    return legs.duration_s
