"""RoadNetwork: the query API the Django layer calls.

Units everywhere: durations in seconds, distances in metres, points as
(lat, lon) tuples in degrees, GeoJSON coordinates as [lon, lat].

Thread safety: queries may run concurrently from several threads. Closures
and traffic profiles change under one state lock. A cached metric's turn
weights and matrix arrays are replaced whole when closures change, and a matrix
takes both metrics' of one closure state under that lock, so its sums never mix
states; its snapping and reachability are read without the lock, so a matrix
running *while* closures change can still snap to a road just closed: re-run it
after changing closures, as re-planning does anyway. RoutingKit's metric (routes
and their paths) answers one query at a time behind the metric's own lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from .errors import PointNotSnapped, RouteNotFound, UnknownProfile
from .geocoding import LocalGeocoder
from .geometry import haversine_m
from .matrices import WORKERS, CustomizedMetric, loop, node_matrix
from .prepared import load_prepared
from .profile_state import INF_WEIGHT, JUNCTION_CLASSES, RESTRICTED_PENALTY_MS, ProfileState
from .profiles import PROFILES, ROAD_CLASSES
from .snapping import Snap
from .traffic import HourlyFactors, TrafficProfile

Point = tuple[float, float]


@dataclass
class MatrixResult:
    """Many-to-many travel matrix; row = origin, column = destination.

    ``durations_s`` (seconds) and ``distances_m`` (metres) are float64 arrays.
    NaN marks pairs with no route (closures, one-way islands) and every pair of
    a point that could not be snapped (``snaps[i] is None``). The diagonal of a
    snapped point is 0.

    Routes are legal: no turn a restriction forbids, no blocking barrier, no
    local-access-only road (access=destination, private...) crossed unless the
    trip starts or ends on it. Durations include turn, U-turn, signal, sign and
    gate costs (profile.turn_costs).

    Access legs are included: the straight gap between a point and its road
    point, walked at the profile's access speed (5 km/h), plus the stretch of
    road between the road point and the end of its street section. A
    destination is reached along whichever direction of its street section is
    faster; an origin leaves towards the nearer end its one-way rules allow
    (trying both would double the CCH work) and turning back costs a U-turn at
    that end, so a value can exceed the exact fastest route (what
    :meth:`RoadNetwork.route` returns) by driving to the end of the origin's
    section and back - at most one section (<= ~300 m of road).

    ``distances_m`` is the length of the fastest route behind ``durations_s``
    (to a few metres; where routes of near-equal time differ, possibly one that
    is shorter and at most 1 s per km saved slower: see DistanceEncoding), under
    the same closures and traffic hour; it is never below the straight-line
    distance between the two points.
    """

    durations_s: np.ndarray
    distances_m: np.ndarray | None
    snaps: list[Snap | None]


@dataclass
class RouteResult:
    """A route through the points in order. ``geometry`` is a GeoJSON LineString."""

    duration_s: float
    distance_m: float
    geometry: dict[str, Any]
    legs: list[dict[str, float]]
    snaps: list[Snap]
    way_ids: list[int] = field(default_factory=list)
    # chain ids (profile graph road sections) driven, in order, without repeats
    # of consecutive entries: the unit learned speeds and closures apply to
    chains: list[int] = field(default_factory=list)


@dataclass
class _Leg:
    duration_s: float
    distance_m: float
    coordinates: list[list[float]]
    arcs: list[int]
    way_ids: list[int]
    chains: list[int] = field(default_factory=list)
    arrived_forward: bool | None = None  # along the chain's direction at the destination
    # how it was driven, for counting its junctions (RoadNetwork.leg_junctions): (towards_end, turn
    # nodes, from_start), or (forward,) straight along a shared chain; plus whether it turned back
    drive: tuple = ()
    turned_back: bool = False


class RoadNetwork:
    def __init__(
        self,
        manifest: dict,
        nodes: Mapping[str, np.ndarray],
        prepared: Mapping,
        addresses,
        *,
        metric_cache_size: int = 8,
    ):
        self.manifest = manifest
        self.node_lat = nodes["lat"]
        self.node_lon = nodes["lon"]
        self._states = {
            name: ProfileState(PROFILES[name], p.graph, p.topology, self.node_lat, self.node_lon, p.order)
            for name, p in prepared.items()
        }
        self.geocoder = LocalGeocoder(addresses)
        self.closures: list[dict] = []
        self._road_lines: dict[tuple, list] = {}
        self._metrics: OrderedDict[tuple, CustomizedMetric] = OrderedDict()
        self._metric_cache_size = max(2, metric_cache_size)
        self._state_lock = threading.RLock()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS) if WORKERS > 1 else None

    @classmethod
    def load(cls, directory: str, *, metric_cache_size: int = 8) -> RoadNetwork:
        """Load a directory written by :func:`build_network` (no OSM parsing)."""
        manifest, nodes, prepared, addresses = load_prepared(directory)
        return cls(manifest, nodes, prepared, addresses, metric_cache_size=metric_cache_size)

    @property
    def profiles(self) -> tuple[str, ...]:
        return tuple(self._states)

    def _state(self, profile: str) -> ProfileState:
        try:
            return self._states[profile]
        except KeyError:
            raise UnknownProfile(profile, self._states) from None

    # -- metrics ----------------------------------------------------------------
    def _metric(self, profile: str, kind: str, slot=None) -> CustomizedMetric:
        """The customized metric for (profile, time/distance, traffic slot).

        Cached metrics always carry the current closures (set_closures patches
        them), so the closure state is implicitly part of the key.
        """
        key = (profile, kind, slot)
        with self._state_lock:
            entry = self._metrics.get(key)
            if entry is not None:
                self._metrics.move_to_end(key)
                return entry
            state = self._state(profile)
            factors = state.slot_factors(slot)
            if kind == "time":
                open_weights, target = state.time_weights(*factors)
            else:
                open_weights, target = state.distance_weights(*factors)
            entry = CustomizedMetric(
                state.topology, state.contraction, state.with_closures(open_weights), open_weights, target, kind
            )
            self._metrics[key] = entry
            while len(self._metrics) > self._metric_cache_size:
                self._metrics.popitem(last=False)
            return entry

    def _slot(self, state: ProfileState, departure: datetime | None):
        return state.slot(departure)

    # -- snapping -------------------------------------------------------------
    def snap(self, lat: float, lon: float, profile: str = "car", max_distance_m: float | None = None) -> Snap | None:
        """Nearest usable road point of ``profile``; None if none within ``max_distance_m`` (m)."""
        return self._state(profile).snap_many([(lat, lon)], max_distance_m)[0]

    def snap_many(
        self, points: Sequence[Point], profile: str = "car", max_distance_m: float | None = None
    ) -> list[Snap | None]:
        return self._state(profile).snap_many(points, max_distance_m)

    # -- matrices ---------------------------------------------------------------
    def matrix(
        self,
        points: Sequence[Point],
        profile: str = "car",
        departure: datetime | None = None,
        *,
        max_snap_m: float | None = None,
        with_distances: bool = True,
    ) -> MatrixResult:
        """Travel durations (s) and the fastest routes' lengths (m) between all points.

        ``departure`` (local time) picks the traffic hour; None means free flow.
        See :class:`MatrixResult` for units, NaN and access-leg conventions.
        """
        state = self._state(profile)
        n = len(points)
        snaps = state.snap_many(points, max_snap_m)
        index = np.flatnonzero([s is not None for s in snaps])
        if not len(index):
            empty = np.full((n, n), np.nan)
            return MatrixResult(empty, empty.copy() if with_distances else None, snaps)
        good = [snaps[i] for i in index]
        slot = self._slot(state, departure)
        # CCH weights: ms for time, cm for distance
        with self._state_lock:  # both metrics in one closure state (set_closures holds the lock)
            time_metric = self._metric(profile, "time", slot)
            distance_metric = self._metric(profile, "distance", slot) if with_distances else None
            snapshots = (time_metric.snapshot(), None if distance_metric is None else distance_metric.snapshot())
        block, dist_block = node_matrix(
            state, good, state.slot_factors(slot), time_metric, distance_metric, self._pool, snapshots
        )
        scale = state.duration_scale(slot)
        if scale != 1.0:
            block = block * scale
        if len(index) == n:
            return MatrixResult(block, dist_block, snaps)
        durations = np.full((n, n), np.nan)
        durations[np.ix_(index, index)] = block
        distances = None
        if with_distances:
            distances = np.full((n, n), np.nan)
            distances[np.ix_(index, index)] = dist_block
        return MatrixResult(durations, distances, snaps)

    # -- routes -------------------------------------------------------------------
    def _leg(
        self,
        state: ProfileState,
        metric: CustomizedMetric,
        a: Snap,
        b: Snap,
        factors,
        leg: int,
        arrived_forward: bool | None = None,
        scale: float = 1.0,
    ) -> _Leg:
        """Fastest legal way from a to b: every pair of directions (<= 4 CCH queries,
        ~0.1 ms each) plus driving straight along a shared chain.

        ``arrived_forward``: the direction the vehicle came to ``a`` in (None for
        the first point: parked either way); leaving the other way costs a U-turn.
        ``scale``: the learned model's leg scale of the slot (ProfileState.duration_scale).
        """
        if (a.lat, a.lon) == (b.lat, b.lon):
            return _Leg(0.0, 0.0, [[a.lon, a.lat], [b.lon, b.lat]], [], [], [a.chain], arrived_forward)
        walk = (a.distance_m + b.distance_m) / state.access_mps
        u_turn_s = state.u_turn_s

        def turning_back(towards_end: bool) -> float:
            return u_turn_s if arrived_forward is not None and towards_end != arrived_forward else 0.0

        best = None
        for source, leave_m, towards_end in state.leave_options(a):
            for target, arrive_m, from_start in state.arrive_options(b):
                if source == target:
                    weight, path = loop(state, metric, source)
                else:
                    weight, path, _ = metric.query(source, target)
                if weight >= INF_WEIGHT:
                    continue
                driven_ms = (weight % RESTRICTED_PENALTY_MS) - int(metric.target_weights[target])
                duration = (
                    driven_ms / 1000.0
                    + walk
                    + state.leave_seconds(a, leave_m, towards_end, factors)
                    + state.arrive_seconds(b, arrive_m, from_start, factors)
                    + turning_back(towards_end)
                )
                if best is None or duration < best[0]:
                    arcs = [int(x) for x in state.graph.enode_arc[np.asarray(path[1:-1], dtype=np.int64)]]
                    distance = a.distance_m + leave_m + state.arcs_length_m(arcs) + arrive_m + b.distance_m
                    best = (duration, distance, (towards_end, arcs, from_start, [int(x) for x in path]))
        direct = state.same_chain_along_m(a, b)
        if direct is not None:
            forward = b.offset_m >= a.offset_m and bool(state.open_forward[a.chain])
            duration = walk + state.direct_seconds(a, b, direct, factors) + turning_back(forward)
            if best is None or duration <= best[0]:
                best = (duration, a.distance_m + direct + b.distance_m, forward)
        if best is None:
            raise RouteNotFound(leg)
        duration, distance, path = best
        if isinstance(path, bool):
            coords, arcs, arrived = state.direct_coords(a, b), [], path
            drive, turned_back = (path,), turning_back(path) > 0
        else:
            towards_end, arcs, from_start, enodes = path
            coords = state.leave_coords(a, towards_end) + state.arcs_coords(arcs) + state.arrive_coords(b, from_start)
            arrived = from_start
            drive, turned_back = (towards_end, enodes, from_start), turning_back(towards_end) > 0
        coords = [[a.lon, a.lat]] + coords + [[b.lon, b.lat]]
        # absorbs float rounding (sub-millimetre), as the matrix does
        distance = max(distance, float(haversine_m(a.lat, a.lon, b.lat, b.lon)))
        way_ids = [a.way_id] + [int(w) for w in state.arcs_way_ids(arcs)] + [b.way_id]
        chains = [a.chain] + [int(c) for c in state.graph.arc_chain[np.asarray(arcs, dtype=np.int64)]] + [b.chain]
        return _Leg(duration * scale, distance, coords, arcs, way_ids, chains, arrived, drive, turned_back)

    def _snap_strict(self, state: ProfileState, points, max_snap_m) -> list[Snap]:
        snaps = state.snap_many(points, max_snap_m)
        for i, snap in enumerate(snaps):
            if snap is None:
                raise PointNotSnapped(i, points[i], max_snap_m)
        return snaps

    def route(
        self,
        points: Sequence[Point],
        profile: str = "car",
        departure: datetime | None = None,
        *,
        max_snap_m: float | None = None,
    ) -> RouteResult:
        """Fastest route through ``points`` in order (at least two).

        The whole route uses the traffic hour of ``departure``; see
        :meth:`time_legs` for hour-by-hour ETAs. Raises PointNotSnapped or
        RouteNotFound. Access legs are included as in :class:`MatrixResult`.
        """
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        state = self._state(profile)
        snaps = self._snap_strict(state, points, max_snap_m)
        slot = self._slot(state, departure)
        metric = self._metric(profile, "time", slot)
        factors = state.slot_factors(slot)
        scale = state.duration_scale(slot)
        legs = []
        arrived = None
        for i in range(len(snaps) - 1):
            legs.append(self._leg(state, metric, snaps[i], snaps[i + 1], factors, i, arrived, scale))
            arrived = legs[-1].arrived_forward
        coords: list[list[float]] = []
        for leg in legs:
            for position in leg.coordinates:
                if not coords or coords[-1] != position:
                    coords.append(position)
        if len(coords) == 1:
            coords.append(coords[0])  # a LineString needs two positions
        way_ids = [way_id for leg in legs for way_id in leg.way_ids]
        chains: list[int] = []
        for leg in legs:
            for chain in leg.chains:
                if not chains or chains[-1] != chain:
                    chains.append(chain)
        return RouteResult(
            duration_s=sum(leg.duration_s for leg in legs),
            distance_m=sum(leg.distance_m for leg in legs),
            geometry={"type": "LineString", "coordinates": coords},
            legs=[{"duration_s": leg.duration_s, "distance_m": leg.distance_m} for leg in legs],
            snaps=snaps,
            way_ids=list(dict.fromkeys(way_ids)),
            chains=chains,
        )

    def time_legs(
        self,
        points: Sequence[Point],
        profile: str,
        departure: datetime,
        *,
        service_s: float | Sequence[float] = 0.0,
        max_snap_m: float | None = None,
    ) -> list[dict[str, Any]]:
        """ETAs: drive the points in order, each leg with the traffic of the hour it starts.

        ``service_s`` is the time spent at each stop (one value, or one per point)
        before leaving it. Returns per leg: depart_at, arrive_at (datetimes),
        duration_s, distance_m.
        """
        state = self._state(profile)
        snaps = self._snap_strict(state, points, max_snap_m)
        service = [float(service_s)] * len(points) if np.isscalar(service_s) else list(service_s)
        clock = departure
        timings = []
        arrived = None
        for i in range(len(snaps) - 1):
            slot = self._slot(state, clock)
            metric = self._metric(profile, "time", slot)
            leg = self._leg(
                state, metric, snaps[i], snaps[i + 1], state.slot_factors(slot), i, arrived, state.duration_scale(slot)
            )
            arrived = leg.arrived_forward
            arrive = clock + timedelta(seconds=leg.duration_s)
            timings.append(
                {
                    "depart_at": clock,
                    "arrive_at": arrive,
                    "duration_s": leg.duration_s,
                    "distance_m": leg.distance_m,
                }
            )
            clock = arrive + timedelta(seconds=service[i + 1])
        return timings

    def leg_junctions(
        self, points: Sequence[Point], profile: str, departure: datetime | None, *, max_snap_m: float | None = None
    ) -> tuple[dict[str, float], float]:
        """The junctions on the fastest route between two points, as the network prices it at
        ``departure``: ({junction class: the profile's *default* seconds summed over the route},
        its length in metres). What a learned model's junction factors multiply
        (routes.learning.junctions); the class list is profile_state.JUNCTION_CLASSES."""
        state = self._state(profile)
        a, b = self._snap_strict(state, points, max_snap_m)
        slot = self._slot(state, departure)
        metric = self._metric(profile, "time", slot)
        leg = self._leg(state, metric, a, b, state.slot_factors(slot), 0)
        totals = dict.fromkeys(JUNCTION_CLASSES, 0.0)

        def add(parts: dict[str, np.ndarray]) -> None:
            for name, seconds in parts.items():
                totals[name] += float(np.sum(seconds))

        def inside(chain: int, low: float, high: float) -> None:
            g = state.graph
            lo, hi = np.searchsorted(g.cost_point_chain, [chain, chain + 1])
            if hi > lo:
                offsets = g.cost_point_offset_m[lo:hi]
                add(state.cost_point_class_seconds(lo + np.flatnonzero((offsets > low) & (offsets < high))))

        length = float(state.graph.chain_length_m[a.chain])
        if len(leg.drive) == 1:  # straight along the shared chain
            inside(a.chain, *sorted((a.offset_m, b.offset_m)))
        elif leg.drive:
            towards_end, enodes, from_start = leg.drive
            inside(a.chain, *((a.offset_m, length) if towards_end else (0.0, a.offset_m)))
            path = np.asarray(enodes, dtype=np.int64)
            # parallel turns: the cheapest, the one the query took
            turns = state.turns_between(path[:-1], path[1:], metric.weights)
            if (turns < 0).any():  # a query's path is a chain of turns: never
                raise RouteNotFound(0)
            add(state.turn_class_seconds(turns))
            whole = state.graph.arc_chain[state.graph.enode_arc[path[1:-1]]]
            add(state.chain_class_seconds(whole))
            b_length = float(state.graph.chain_length_m[b.chain])
            inside(b.chain, *((0.0, b.offset_m) if from_start else (b.offset_m, b_length)))
        if leg.turned_back:
            totals["u_turn"] += state.profile.turn_costs.u_turn_s
        return totals, leg.distance_m

    # -- closures and traffic ------------------------------------------------------
    def set_closures(self, geometries: Iterable[Mapping[str, Any]]) -> dict[str, int]:
        """Replace the active closures (GeoJSON geometries, lon/lat); [] lifts them all.

        Covered roads close in both directions for every profile. Cached metrics
        are patched by partial re-customization of the turns onto closed chains
        (no rebuild). Returns the number of closed arcs per profile.
        """
        geometries = list(geometries)
        with self._state_lock:
            closed_masks = {name: state.closure_index.closed_chains(geometries) for name, state in self._states.items()}
            for name, state in self._states.items():
                old_closed = state.turn_closed
                state.set_closed_chains(closed_masks[name])
                changed = np.flatnonzero(old_closed != state.turn_closed).astype(np.uint32)
                if not len(changed):
                    continue
                for (profile, _, _), entry in self._metrics.items():
                    if profile != name:
                        continue
                    new = np.where(state.turn_closed[changed], INF_WEIGHT, entry.open_weights[changed])
                    entry.update_weights(changed, new.astype(np.uint32))
            self.closures = geometries
            return {name: int(state.arc_closed.sum()) for name, state in self._states.items()}

    def covered_points(self, geometries: Iterable[Mapping[str, Any]], profile: str = "car") -> set[tuple[float, float]]:
        """(lat, lon) of every road point the given closure geometries would close, rounded to 6
        decimals as in route geometries: a route whose geometry has two consecutive such points
        drives a closed road. Does not change the network's own closures."""
        state = self._state(profile)
        graph = state.graph
        points: set[tuple[float, float]] = set()
        for chain in np.flatnonzero(state.closure_index.closed_chains(list(geometries))):
            nodes = graph.chain_polyline(int(chain))
            points.update(zip(np.round(self.node_lat[nodes], 6).tolist(), np.round(self.node_lon[nodes], 6).tolist()))
        return points

    def road_lines(self, profile: str = "car", up_to_class: str = "tertiary_link") -> list[list[list[float]]]:
        """Polylines ([lon, lat] lists, 5 decimals) of the profile's roads of class `up_to_class` or
        busier: a light street backdrop for maps drawn without a tile server. Cached per call."""
        key = (profile, up_to_class)
        cached = self._road_lines.get(key)
        if cached is not None:
            return cached
        graph = self._state(profile).graph
        limit = ROAD_CLASSES.index(up_to_class)
        lines = []
        for chain in np.flatnonzero(graph.chain_class <= limit):
            nodes = graph.chain_polyline(int(chain))
            lines.append(
                [
                    [round(float(lon), 5), round(float(lat), 5)]
                    for lat, lon in zip(self.node_lat[nodes], self.node_lon[nodes])
                ]
            )
        self._road_lines[key] = lines
        return lines

    def set_traffic_profile(
        self,
        profile: str = "car",
        weekday: HourlyFactors | None = None,
        weekend: HourlyFactors | None = None,
    ) -> None:
        """Replace a profile's hourly speed factors ({road_class: [24 factors]}).

        ``weekend`` defaults to ``weekday``; both None means free flow. Cached
        metrics of the profile are dropped and rebuilt on demand.
        """
        state = self._state(profile)
        traffic = TrafficProfile(weekday, weekend)
        with self._state_lock:
            state.traffic = traffic
            self._drop_metrics(profile)

    def set_chain_speed_factors(self, profile: str, factors: np.ndarray | None) -> None:
        """Per-chain speed multipliers (e.g. learned speeds), on top of the traffic
        hour's class factors; None lifts them. One float per chain of the profile
        graph (RouteResult.chains ids). Re-customizes, never rebuilds."""
        state = self._state(profile)
        if factors is not None:
            factors = np.asarray(factors, dtype=np.float64)
            if factors.shape != (len(state.graph.chain_start),) or not np.all(factors > 0):
                raise ValueError(
                    f"{profile}: need one positive speed factor per chain ({len(state.graph.chain_start)})"
                )
        with self._state_lock:
            state.chain_factors = factors
            self._drop_metrics(profile)

    def set_learned_speeds(
        self, profile: str, key, factors: np.ndarray | None, leg_scale=None, junction_factors=None
    ) -> None:
        """Drive ``profile`` with a learned travel model's speed factors per (day type, hour, chain)
        (shape (3, 24, chains): Monday-Friday, Saturday, Sunday; an older version's (2, 24, chains):
        weekday, weekend), multiplying each chain's free-flow speed, instead of
        its traffic table; None goes back to the table. Metrics of the new slots are customized on
        demand (no rebuild); those of the previous model are dropped. ``leg_scale``: three factors
        (Monday-Friday, Saturday, Sunday) every duration of the profile is multiplied by in the
        model's slots (routes.learning.calibration), or None. ``junction_factors``: {junction class:
        factor} on the profile's default junction costs (routes.learning.junctions), or None; they apply
        to every slot of the profile while the model is loaded, and change which way is fastest."""
        state = self._state(profile)
        with self._state_lock:
            state.set_learned(key, factors, leg_scale, junction_factors)
            self._drop_metrics(profile)

    def _drop_metrics(self, profile: str) -> None:
        for key in [k for k in self._metrics if k[0] == profile]:
            del self._metrics[key]
