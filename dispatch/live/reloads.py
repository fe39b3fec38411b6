"""Live ETAs of multi-trip routes: the stops after a reload wait for the drive to the hub and the reload.

A route's reloads (Route.reloads) say after which stop its vehicle goes back to its depot or a
micro-hub to load the next trip. Re-timing the open stops from the driver's position (dispatch.live.eta)
therefore drives each leg that has a reload on it through the hub, plus the vehicle's reload time.

The reload right before the next open stop may be behind the driver already: a driver whose phone was
within RELOAD_RADIUS_M of the hub since finishing the trip's last stop has been there. Still there, the
rest of the reload time counts from the first position at the hub; gone again, the next leg starts
from where the driver is.
"""

from __future__ import annotations

import math
from datetime import datetime

from dispatch.geometry import haversine_m
from dispatch.models import DriverPosition, Order, OrderStatusChange
from routes.flights import reload_points

# How near the hub a position must be for the driver to be "at the hub" (GPS in town, a yard).
RELOAD_RADIUS_M = 150
FINISHED = (Order.Status.DELIVERED, Order.Status.FAILED)


def first_time_at_hub(driver, hub: tuple[float, float], since: datetime | None) -> datetime | None:
    """When the driver's phone first placed it at the hub since `since` (None: never)."""
    degrees_lat = RELOAD_RADIUS_M / 111_320
    degrees_lon = RELOAD_RADIUS_M / (111_320 * max(0.01, math.cos(math.radians(hub[0]))))
    positions = DriverPosition.objects.filter(
        driver=driver,
        lat__range=(hub[0] - degrees_lat, hub[0] + degrees_lat),
        lon__range=(hub[1] - degrees_lon, hub[1] + degrees_lon),
    )
    if since is not None:
        positions = positions.filter(recorded_at__gte=since)
    for lat, lon, recorded_at in positions.order_by("recorded_at").values_list("lat", "lon", "recorded_at")[:50]:
        if haversine_m(lat, lon, *hub) <= RELOAD_RADIUS_M:
            return recorded_at
    return None


def reload_still_ahead(*, route, driver, before_sequence: int, hub, reload_s: int, now: datetime) -> int | None:
    """For the reload after stop `before_sequence` (the last done stop) on the way to the next open stop:
    the reload seconds still ahead of the driver, or None when it is done (the driver has been at the
    hub and left). The full reload when the driver has not been there yet."""
    stop = next((s for s in route.stops.all() if s.sequence == before_sequence), None)
    # Finished = delivered or failed there: any later change (a correction, an audit) is not the driver's.
    finished = (
        OrderStatusChange.objects.filter(order_id=stop.order_id, to_status__in=FINISHED)
        .order_by("-changed_at")
        .values_list("changed_at", flat=True)
        .first()
        if stop is not None
        else None
    )
    arrived = first_time_at_hub(driver, hub, finished)
    if arrived is None:
        return reload_s
    if haversine_m(driver.last_lat, driver.last_lon, *hub) <= RELOAD_RADIUS_M:
        return max(0, reload_s - int((now - arrived).total_seconds()))
    return None


def road_legs(network, profile: str, points, clock, *, via: dict[int, tuple[float, float]], reload_s: dict[int, int]):
    """Road legs between consecutive points, as `network.time_legs` answers them, where leg n of `via`
    goes through that hub and includes its reload (`reload_s`: leg number -> seconds)."""
    if not via:
        return network.time_legs(points, profile, clock)
    driven = [points[0]]
    for number, point in enumerate(points[1:]):
        if number in via:
            driven.append(via[number])
        driven.append(point)
    raw = iter(network.time_legs(driven, profile, clock))
    legs = []
    for number in range(len(points) - 1):
        leg = dict(next(raw))
        if number in via:
            onward = next(raw)
            leg["duration_s"] = float(leg["duration_s"]) + reload_s.get(number, 0) + float(onward["duration_s"])
            leg["distance_m"] = float(leg["distance_m"]) + float(onward["distance_m"])
        legs.append(leg)
    return legs


def route_road_legs(network, route, driver, *, points, sequences: list[int], from_position: bool, clock, now):
    """The legs of dispatch.live.eta for a road vehicle: `points` from the start through the open stops,
    `sequences[n]` the stop leg n leaves from (for leg 0 from the driver's position: the last done stop).
    Each leg after a stop a reload follows goes through the hub; leg 0 from the driver's position only
    while that reload is still ahead of the driver (reload_still_ahead)."""
    hubs = reload_points(route)
    full = int(route.vehicle.reload_minutes) * 60
    via, reload_s = {}, {}
    for number, sequence in enumerate(sequences):
        if sequence not in hubs:
            continue
        ahead = full
        if number == 0 and from_position:
            ahead = reload_still_ahead(
                route=route, driver=driver, before_sequence=sequence, hub=hubs[sequence], reload_s=full, now=now
            )
            if ahead is None:
                continue
        via[number], reload_s[number] = hubs[sequence], ahead
    return road_legs(network, route.vehicle.profile, points, clock, via=via, reload_s=reload_s)
