"""Drones: straight-line flights, no-fly zones, and which orders a drone may take.

A drone does not use the road network. A leg is the great-circle distance between two points,
flown at the drone's cruising speed, plus a fixed time to take off and land (TAKE_OFF_LANDING_S).
No leg may cross an active no-fly zone (an airport, a hospital helipad, a prison): such a leg is
"no flight" in the drone's matrix (NaN here; the planning inputs turn it into the unreachable
duration, which no shift can fit). Plain Python and numpy, no Django.

Geometry: a no-fly zone is a polygon in (lon, lat). A drone's leg is tested as a straight segment
in the same (lon, lat) plane. At delivery distances (a few to tens of kilometres) the great circle
and the straight line in degrees part by well under a metre, and whether a segment meets a polygon
does not change under the scaling of longitude by cos(latitude) that would make the plane
metric, so the test is exact where it matters here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
# One take-off plus one landing with the parcel's lowering, per leg. 60 s: vertical climb to about
# 60 m and descent at 2-3 m/s, the figures delivery drones publish (Wing, Zipline's P2, Matternet M2).
TAKE_OFF_LANDING_S = 60
# The optimizer's profile name for a drone flying at `speed` km/h: drones of one speed share matrices.
PROFILE_PREFIX = "drone"

Point = tuple[float, float]  # (lat, lon), as the planning inputs list their points


def drone_profile(speed_kmh: float) -> str:
    """The optimizer profile of drones flying at `speed_kmh`: "drone-60" (one matrix per speed)."""
    return f"{PROFILE_PREFIX}-{int(speed_kmh)}"


def is_drone_profile(profile: str) -> bool:
    return profile == PROFILE_PREFIX or profile.startswith(f"{PROFILE_PREFIX}-")


def flight_distance_m(a: Point, b: Point) -> float:
    """Great-circle metres between two (lat, lon) points."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dp, dl = p2 - p1, math.radians(b[1] - a[1])
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def flight_seconds(distance_m: float, speed_kmh: float, take_off_landing_s: int = TAKE_OFF_LANDING_S) -> float:
    """Time to fly `distance_m`: cruising at `speed_kmh`, plus one take-off and landing (none for 0 m)."""
    if distance_m <= 0:
        return 0.0
    return distance_m / (speed_kmh / 3.6) + take_off_landing_s


@dataclass(frozen=True)
class NoFlyArea:
    """A no-fly zone's polygon: rings of (lon, lat), the outer ring first, then holes."""

    name: str
    rings: tuple[tuple[Point, ...], ...]
    reason: str = ""

    @classmethod
    def from_geojson(cls, name: str, polygon: dict, reason: str = "") -> NoFlyArea:
        rings = tuple(tuple((float(p[0]), float(p[1])) for p in ring) for ring in polygon["coordinates"])
        return cls(name=name, rings=rings, reason=reason)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        lons = [p[0] for p in self.rings[0]]
        lats = [p[1] for p in self.rings[0]]
        return min(lons), min(lats), max(lons), max(lats)

    def contains(self, lat: float, lon: float) -> bool:
        """Inside the outer ring and in no hole (a point on the border counts as inside)."""
        if _on_ring(self.rings[0], lon, lat):
            return True
        if not _ring_contains(self.rings[0], lon, lat):
            return False
        return not any(_ring_contains(hole, lon, lat) and not _on_ring(hole, lon, lat) for hole in self.rings[1:])

    def crossed_by(self, a: Point, b: Point) -> bool:
        """Does the straight flight from a to b (lat, lon) touch the area? Either end inside, or the
        segment meets the outer ring's border. (A leg through a hole still crosses the outer area:
        it must fly over the zone to get there.)"""
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if max(a[1], b[1]) < min_lon or min(a[1], b[1]) > max_lon:
            return False
        if max(a[0], b[0]) < min_lat or min(a[0], b[0]) > max_lat:
            return False
        if self.contains(*a) or self.contains(*b):
            return True
        start, end = (a[1], a[0]), (b[1], b[0])
        outer = self.rings[0]
        return any(_segments_meet(start, end, outer[i - 1], outer[i]) for i in range(1, len(outer)))


def areas_containing(areas: Iterable[NoFlyArea], point: Point) -> list[NoFlyArea]:
    return [area for area in areas if area.contains(*point)]


def areas_crossed(areas: Iterable[NoFlyArea], a: Point, b: Point) -> list[NoFlyArea]:
    return [area for area in areas if area.crossed_by(a, b)]


def flight_matrices(
    points: Sequence[Point],
    speed_kmh: float,
    areas: Sequence[NoFlyArea] = (),
    take_off_landing_s: int = TAKE_OFF_LANDING_S,
) -> tuple[np.ndarray, np.ndarray]:
    """(durations in s, distances in m) between all points for a drone at `speed_kmh`, floats.
    A leg that crosses a no-fly zone is NaN in both (no flight). Diagonal 0."""
    count = len(points)
    coordinates = np.radians(np.asarray(points, dtype=float).reshape(count, 2))
    lat, lon = coordinates[:, 0], coordinates[:, 1]
    h = (
        np.sin((lat[None, :] - lat[:, None]) / 2) ** 2
        + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lon[None, :] - lon[:, None]) / 2) ** 2
    )
    distances = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    np.fill_diagonal(distances, 0.0)
    durations = np.where(distances > 0, distances / (speed_kmh / 3.6) + take_off_landing_s, 0.0)
    for area in areas:
        # Only pairs whose bounding box meets the zone's can cross it: a cheap filter before the exact test.
        min_lon, min_lat, max_lon, max_lat = area.bbox
        for i in range(count):
            for j in range(i + 1, count):
                if np.isnan(distances[i, j]):
                    continue
                a, b = points[i], points[j]
                if max(a[1], b[1]) < min_lon or min(a[1], b[1]) > max_lon:
                    continue
                if max(a[0], b[0]) < min_lat or min(a[0], b[0]) > max_lat:
                    continue
                if area.crossed_by(a, b):
                    distances[i, j] = distances[j, i] = np.nan
                    durations[i, j] = durations[j, i] = np.nan
    return durations, distances


@dataclass(frozen=True)
class Drone:
    """What decides which orders a drone may take: its payload (kg), range per trip out and back (m),
    and where it may take off and reload ((lat, lon) of its depot and hubs, with their names)."""

    payload_kg: float
    range_m: float
    bases: tuple[tuple[str, Point], ...]


def drone_refusal(drone: Drone, point: Point, weight_kg: float, areas: Sequence[NoFlyArea]) -> str | None:
    """Why this drone may not deliver an order of `weight_kg` at `point`, in a dispatcher's words;
    None when it may: light enough, outside every no-fly zone, and from one of its bases the flight
    out and back is within range and crosses no no-fly zone."""
    if weight_kg > drone.payload_kg:
        return f"it weighs {weight_kg:g} kg, more than a drone carries ({drone.payload_kg:g} kg)"
    inside = areas_containing(areas, point)
    if inside:
        return f"it lies in the no-fly zone {inside[0].name}"
    nearest = min(flight_distance_m(base, point) for _, base in drone.bases)
    if 2 * nearest > drone.range_m:
        return (
            f"it is {nearest / 1000:.1f} km from the nearest drone hub, beyond a drone's range "
            f"of {drone.range_m / 1000:g} km out and back"
        )
    blocked = []
    for name, base in drone.bases:
        if 2 * flight_distance_m(base, point) > drone.range_m:
            continue
        crossed = areas_crossed(areas, base, point)
        if not crossed:
            return None
        blocked.append((name, crossed[0].name))
    hub, zone = blocked[0]
    return f"the flight from {hub} would cross the no-fly zone {zone}"


def _ring_contains(ring: Sequence[Point], x: float, y: float) -> bool:
    # Ray casting eastwards from the point: an odd number of crossings is inside.
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def _on_ring(ring: Sequence[Point], x: float, y: float) -> bool:
    return any(_on_segment(ring[i - 1], ring[i], (x, y)) for i in range(1, len(ring)))


def _orientation(p: Point, q: Point, r: Point) -> float:
    return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])


def _on_segment(p: Point, q: Point, r: Point) -> bool:
    """r lies on the segment p-q (collinear and within its box)."""
    if abs(_orientation(p, q, r)) > 1e-15:
        return False
    return min(p[0], q[0]) <= r[0] <= max(p[0], q[0]) and min(p[1], q[1]) <= r[1] <= max(p[1], q[1])


def _segments_meet(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """The closed segments p1-p2 and q1-q2 share a point (touching counts: a drone may not graze a zone)."""
    d1, d2 = _orientation(q1, q2, p1), _orientation(q1, q2, p2)
    d3, d4 = _orientation(p1, p2, q1), _orientation(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return _on_segment(q1, q2, p1) or _on_segment(q1, q2, p2) or _on_segment(p1, p2, q1) or _on_segment(p1, p2, q2)
