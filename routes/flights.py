"""Drones on the day's work: flight legs instead of roads, the active no-fly zones, which orders each
drone may take (routes.optimizer.drones does the geometry; this module reads the tables).

Every place that asks the road network for a vehicle's `profile` asks here first for a drone: a
drone's legs are straight flights at its own speed (plus take-off and landing), its route is drawn as
straight lines, and road closures never touch it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dispatch.models import Depot, NoFlyZone, Order, Vehicle
from routes import optimizer
from routes.optimizer import drones

DRONE_PROFILE = Vehicle.PROFILE_BY_KIND[Vehicle.Kind.DRONE]
# A leg no drone may fly (it crosses a no-fly zone) costs a day in the matrices, which no shift fits,
# like a pair of points no road connects (routes.plans.inputs.DISCONNECTED_DURATION_S).
NO_FLIGHT_DURATION_S = 24 * 3600
NO_FLIGHT_DISTANCE_M = 2_000_000


def is_drone(vehicle: Vehicle | None) -> bool:
    return vehicle is not None and vehicle.kind == Vehicle.Kind.DRONE


def no_fly_areas() -> list[drones.NoFlyArea]:
    """The active no-fly zones as geometry (a zone with a broken polygon is skipped: the admin refuses
    to save one, so only a hand-edited row can have it)."""
    areas = []
    for zone in NoFlyZone.objects.filter(active=True).order_by("name"):
        try:
            areas.append(drones.NoFlyArea.from_geojson(zone.name, zone.polygon, zone.reason))
        except (KeyError, TypeError, ValueError, IndexError):
            continue
    return areas


def no_fly_zones_to_show(vehicles: Iterable[Vehicle]) -> list[NoFlyZone]:
    """The active no-fly zones, for a map showing these vehicles' routes: only when one is a drone."""
    if not any(is_drone(v) for v in vehicles):
        return []
    return list(NoFlyZone.objects.filter(active=True).order_by("name"))


def flight_speed_kmh(vehicle: Vehicle) -> float:
    # Vehicle.clean() requires it for a drone; a row saved around the admin flies at a cautious 40 km/h.
    return float(vehicle.flight_speed_kmh or 40)


def flight_legs(
    vehicle: Vehicle,
    points: Sequence[tuple[float, float]],
    *,
    via: dict[int, tuple[float, float]] | None = None,
    reload_s: int = 0,
) -> list[dict]:
    """Straight legs between consecutive (lat, lon) points, as RoadNetwork.time_legs answers them
    ({"duration_s", "distance_m"}): no traffic and no closures up there. `via`: leg number -> the hub
    the drone lands at on the way (back to reload between two parcels); that leg includes the flight
    there and `reload_s`."""
    speed = flight_speed_kmh(vehicle)
    via = via or {}
    legs = []
    for number, (a, b) in enumerate(zip(points, points[1:])):
        hops = [a, via[number], b] if number in via else [a, b]
        distance = duration = 0.0
        for here, there in zip(hops, hops[1:]):
            metres = drones.flight_distance_m(here, there)
            distance += metres
            duration += drones.flight_seconds(metres, speed)
        legs.append({"duration_s": duration + (reload_s if number in via else 0), "distance_m": distance})
    return legs


def reload_points(route) -> dict[int, tuple[float, float]]:
    """After which stop (sequence) a route's vehicle lands at which hub to reload (Route.reloads)."""
    depot_ids = {reload.get("depot_id") for reload in route.reloads or []}
    depots = {d.id: (d.lat, d.lon) for d in Depot.objects.filter(id__in=depot_ids)}
    return {
        int(reload["after_sequence"]): depots[reload["depot_id"]]
        for reload in route.reloads or []
        if reload.get("depot_id") in depots
    }


def flight_geometry(points: Sequence[tuple[float, float]]) -> dict:
    """A drone's route as straight lines from point to point (GeoJSON, lon/lat)."""
    return {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in points]}


def optimizer_profile(vehicle: Vehicle) -> str:
    """The optimizer's matrix for this vehicle: its road profile, or its drone speed's flight matrix."""
    return drones.drone_profile(flight_speed_kmh(vehicle)) if is_drone(vehicle) else vehicle.profile


@dataclass
class DroneDay:
    """What the planning inputs need about the day's drones: flight matrices over the day's points,
    the orders each drone may take, and why the others may not (order id -> reason, for the orders
    no drone takes)."""

    matrices: dict[str, optimizer.RoadMatrix] = field(default_factory=dict)
    eligible: dict[int, frozenset[int]] = field(default_factory=dict)  # drone id -> order ids
    refusals: dict[int, str] = field(default_factory=dict)
    range_m: dict[int, int] = field(default_factory=dict)

    def may_take(self, order_id: int) -> bool:
        return any(order_id in orders for orders in self.eligible.values())

    def vehicle_fields(self, vehicle: Vehicle) -> dict:
        """The drone-only part of an optimizer vehicle: the orders it may take, one parcel a flight,
        its range per trip. Nothing for a vehicle on the roads."""
        if vehicle.id not in self.eligible:
            return {}
        return {
            "eligible_jobs": self.eligible[vehicle.id],
            "max_stops_per_trip": 1,
            "max_trip_distance_m": max(1, self.range_m[vehicle.id]),  # > 0 for the optimizer; no range: no order
        }


def drone_day(
    *,
    vehicles: Iterable[Vehicle],
    orders: Iterable[Order],
    points: Sequence[tuple[float, float]],
    order_index: dict[int, int],
    bases: dict[int, list[Depot]],
) -> DroneDay:
    """Flight matrices and eligibility for the drones among `vehicles` (`bases`: vehicle id -> the
    depot and micro-hubs it takes off and reloads from)."""
    fleet = [v for v in vehicles if is_drone(v)]
    day = DroneDay()
    if not fleet:
        return day
    areas = no_fly_areas()
    for speed in sorted({flight_speed_kmh(v) for v in fleet}):
        durations, distances = drones.flight_matrices(points, speed, areas)
        day.matrices[drones.drone_profile(speed)] = optimizer.RoadMatrix(
            durations=np.rint(np.nan_to_num(durations, nan=NO_FLIGHT_DURATION_S)).astype(np.int64),
            distances=np.rint(np.nan_to_num(distances, nan=NO_FLIGHT_DISTANCE_M)).astype(np.int64),
        )
    orders = list(orders)
    for vehicle in fleet:
        drone = drones.Drone(
            payload_kg=float(vehicle.capacity_kg),
            range_m=float(vehicle.range_km or 0) * 1000,
            bases=tuple((depot.name, (depot.lat, depot.lon)) for depot in bases.get(vehicle.id) or [vehicle.depot]),
        )
        day.range_m[vehicle.id] = int(drone.range_m)
        taken = set()
        for order in orders:
            point = points[order_index[order.id]]
            refusal = drones.drone_refusal(drone, point, float(order.weight_kg), areas)
            if refusal is None:
                taken.add(order.id)
            else:
                day.refusals.setdefault(order.id, refusal)
        day.eligible[vehicle.id] = frozenset(taken)
    for order_id in list(day.refusals):
        if day.may_take(order_id):
            del day.refusals[order_id]
    return day
