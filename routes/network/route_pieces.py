"""The road pieces a route drives, one per straight piece of its geometry: road class, length,
the planner's default (free-flow, OSM-derived) speed and where it lies.

What a simulated world needs to price a route by its own rules (dispatch.demo.truth): the road
class and the default speed of every stretch, and the stretch's place on the map (a slow centre).
Read-only: built from a route's public geometry, each piece's midpoint matched to the road it lies
on (a midpoint lies on its road, so the nearest road is that road; where two roads overlap they are
the same road twice). The straight gap between an address and its road point (the walk the
planner adds at walking speed) is a piece with ``on_road`` False.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .engine import RoadNetwork
from .geometry import haversine_m
from .profiles import ROAD_CLASSES

# A midpoint further than this from every road is not on a road: the walk to the door.
ON_ROAD_TOLERANCE_M = 1.5


@dataclass(frozen=True)
class RoadPiece:
    """One straight piece of a route: from (start_lat, start_lon) to (end_lat, end_lon)."""

    road_class: str  # an OSM highway=* value (profiles.ROAD_CLASSES); "" when not on a road
    length_m: float
    default_speed_kmh: float  # the profile's free-flow speed of that road (before any traffic factor)
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    on_road: bool

    @property
    def mid_lat(self) -> float:
        return (self.start_lat + self.end_lat) / 2

    @property
    def mid_lon(self) -> float:
        return (self.start_lon + self.end_lon) / 2

    @property
    def default_s(self) -> float:
        """Seconds at the default speed (0 for a piece off the road)."""
        if not self.on_road or self.default_speed_kmh <= 0:
            return 0.0
        return self.length_m / (self.default_speed_kmh / 3.6)


def route_pieces(network: RoadNetwork, coordinates: Sequence[Sequence[float]], profile: str = "car") -> list[RoadPiece]:
    """The pieces of a GeoJSON LineString's ``coordinates`` ([lon, lat] pairs, e.g. a
    :class:`RouteResult`'s geometry), in order; zero-length pieces are left out."""

    points = np.asarray(coordinates, dtype=float).reshape(-1, 2)
    if len(points) < 2:
        return []
    lon_a, lat_a, lon_b, lat_b = points[:-1, 0], points[:-1, 1], points[1:, 0], points[1:, 1]
    lengths = np.atleast_1d(haversine_m(lat_a, lon_a, lat_b, lon_b))
    keep = np.flatnonzero(lengths > 0)
    if not len(keep):
        return []
    state = network._state(profile)  # noqa: SLF001 - inside the package: the profile's graph arrays
    graph = state.graph
    midpoints = np.column_stack([(lat_a[keep] + lat_b[keep]) / 2, (lon_a[keep] + lon_b[keep]) / 2])
    # Every road of the profile, closed or not: a route driven before a closure still drove it.
    forward, backward = graph.chain_forward_arc >= 0, graph.chain_backward_arc >= 0
    snaps = state.snapper.snap_many(midpoints[:, 0], midpoints[:, 1], forward | backward, forward, backward)
    pieces = []
    for index, snap in zip(keep, snaps, strict=True):
        on_road = snap is not None and snap.distance_m <= ON_ROAD_TOLERANCE_M
        pieces.append(
            RoadPiece(
                road_class=ROAD_CLASSES[int(graph.chain_class[snap.chain])] if on_road else "",
                length_m=float(lengths[index]),
                default_speed_kmh=float(graph.chain_speed_kmh[snap.chain]) if on_road else 0.0,
                start_lat=float(lat_a[index]),
                start_lon=float(lon_a[index]),
                end_lat=float(lat_b[index]),
                end_lon=float(lon_b[index]),
                on_road=on_road,
            )
        )
    return pieces
