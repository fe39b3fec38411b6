"""Per-profile runtime state: weights, closures, reachability, snapping, geometry."""

from __future__ import annotations

import numpy as np
import pyroutingkit
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .closures import ClosureIndex
from .graph import ProfileGraph
from .profiles import Profile
from .snapping import Snap, Snapper
from .traffic import TrafficProfile

INF_WEIGHT = pyroutingkit.INF_WEIGHT
MAX_WEIGHT = INF_WEIGHT - 1


SNAP_CACHE_SIZE = 20_000
_MISSING = object()


class ProfileState:
    """Everything one profile needs at query time, derived from the prepared arrays.

    Weight units handed to the CCH: milliseconds for travel time, centimetres
    for distance (uint32; closed arcs get RoutingKit's INF_WEIGHT).
    """

    def __init__(
        self,
        profile: Profile,
        graph: ProfileGraph,
        topology: pyroutingkit.CCHTopology,
        node_lat: np.ndarray,
        node_lon: np.ndarray,
    ):
        self.profile = profile
        self.graph = graph
        self.topology = topology
        self.node_lat = node_lat
        self.node_lon = node_lon
        length = graph.arc_length_m
        self.arc_speed_kmh = graph.chain_speed_kmh[graph.arc_chain].astype(np.float64)
        self.arc_class = graph.chain_class[graph.arc_chain]
        self.free_flow_ms = length / (self.arc_speed_kmh / 3.6) * 1000.0
        # ceil, so a sum of arc weights never undercuts the real polyline length
        self.length_cm = np.clip(np.ceil(length * 100.0), 1, MAX_WEIGHT).astype(np.uint32)
        self.access_mps = profile.access_speed_kmh / 3.6
        self.traffic = TrafficProfile.default_car() if profile.name == "car" else TrafficProfile.none()
        self.learned: tuple | None = None
        self.snapper = Snapper(graph, node_lat, node_lon)
        self.closure_index = ClosureIndex(graph, node_lat, node_lon)
        self.first_segment = np.searchsorted(graph.seg_position, graph.chain_start)
        self.set_closed_chains(np.zeros(len(graph.chain_start), dtype=bool))

    # -- weights ---------------------------------------------------------------
    def time_weights(self, class_factors: np.ndarray, chain_factors: np.ndarray | None = None) -> np.ndarray:
        """Travel time per arc in ms for speed factors per road class, and optionally per chain
        (a learned travel model), both multiplying the free-flow speed (no closures)."""
        factors = class_factors[self.arc_class]
        if chain_factors is not None:
            factors = factors * chain_factors[self.graph.arc_chain]
        ms = np.ceil(self.free_flow_ms / factors)
        return np.clip(ms, 1, MAX_WEIGHT).astype(np.uint32)

    # -- time slots: the traffic table's, or a learned model's -------------------
    def set_learned(self, key, factors: np.ndarray | None) -> None:
        """Use learned speed factors per (day type, hour, chain), shape (2, 24, chains), weekday
        first, in place of the traffic table; None goes back to the table. ``key`` (the model
        version) is part of every slot, so cached metrics of another version are never reused."""
        if factors is not None and factors.shape != (2, 24, len(self.graph.chain_start)):
            raise ValueError(f"learned factors of shape {factors.shape} do not fit {len(self.graph.chain_start)} chains")
        self.learned = None if factors is None else (key, factors.astype(np.float32))

    def slot(self, departure):
        """The metric cache key of a departure's hour (None: free flow)."""
        if self.learned is None or departure is None:
            return self.traffic.slot(departure)
        return ("learned", self.learned[0], 1 if departure.weekday() >= 5 else 0, departure.hour)

    def slot_factors(self, slot):
        """What a slot multiplies speeds by: class factors (an array), or a learned slot's
        (class factors, chain factors) pair."""
        if slot is not None and slot[0] == "learned":
            key, factors = self.learned if self.learned is not None else (None, None)
            if key != slot[1]:
                raise KeyError(f"travel model {slot[1]} is no longer loaded")
            return (np.ones(len(self.traffic.class_factors(None))), factors[slot[2], slot[3]])
        return self.traffic.class_factors(slot)

    def speed_factor(self, chain: int, factors) -> float:
        if isinstance(factors, tuple):
            class_factors, chain_factors = factors
            return float(class_factors[self.graph.chain_class[chain]] * chain_factors[chain])
        return float(factors[self.graph.chain_class[chain]])

    def with_closures(self, open_weights: np.ndarray) -> np.ndarray:
        weights = open_weights.copy()
        weights[self.arc_closed] = INF_WEIGHT
        return weights

    # -- closures and reachability --------------------------------------------
    def set_closed_chains(self, closed_chain: np.ndarray) -> None:
        g = self.graph
        self._snap_cache: dict = {}
        self.closed_chain = closed_chain
        self.arc_closed = closed_chain[g.arc_chain]
        self.open_forward = (g.chain_forward_arc >= 0) & ~closed_chain
        self.open_backward = (g.chain_backward_arc >= 0) & ~closed_chain
        open_arcs = ~self.arc_closed
        adjacency = csr_matrix(
            (np.ones(int(open_arcs.sum()), dtype=np.int8),
             (g.arc_tail[open_arcs], g.arc_head[open_arcs])),
            shape=(g.node_count, g.node_count),
        )  # fmt: skip
        _, labels = connected_components(adjacency, directed=True, connection="strong")
        largest = np.argmax(np.bincount(labels))
        in_largest = labels == largest
        self.usable_chain = (
            (self.open_forward | self.open_backward) & in_largest[g.chain_start_node] & in_largest[g.chain_end_node]
        )
        self.largest_component_nodes = int(in_largest.sum())

    # -- snapping -------------------------------------------------------------
    def snap_many(self, points, max_distance_m: float | None) -> list[Snap | None]:
        points = np.asarray(points, dtype=float).reshape(-1, 2)
        if len(points) <= 4:
            # Leg-by-leg timing snaps the same stops again and again: remember small lookups.
            # The cache is per closure state (set_closed_chains clears it).
            keys = [(round(float(lat), 7), round(float(lon), 7)) for lat, lon in points]
            cached = [self._snap_cache.get(key, _MISSING) for key in keys]
            if all(snap is not _MISSING for snap in cached):
                snaps = cached
            else:
                snaps = self.snapper.snap_many(
                    points[:, 0], points[:, 1], self.usable_chain, self.open_forward, self.open_backward
                )
                if len(self._snap_cache) > SNAP_CACHE_SIZE:
                    self._snap_cache.clear()
                self._snap_cache.update(zip(keys, snaps))
        else:
            snaps = self.snapper.snap_many(
                points[:, 0], points[:, 1], self.usable_chain, self.open_forward, self.open_backward
            )
        if max_distance_m is not None:
            snaps = [s if s is not None and s.distance_m <= max_distance_m else None for s in snaps]
        return snaps

    def along_seconds(self, snap: Snap, along_m: float, factors) -> float:
        """Seconds to drive ``along_m`` on the snapped chain; ``factors`` as slot_factors gives them."""
        speed = float(self.graph.chain_speed_kmh[snap.chain]) * self.speed_factor(snap.chain, factors)
        return along_m / (speed / 3.6)

    def same_chain_along_m(self, a: Snap, b: Snap) -> float | None:
        """Metres driven straight along a shared chain from a to b, if allowed."""
        if a.chain != b.chain:
            return None
        delta = b.offset_m - a.offset_m
        if delta >= 0 and self.open_forward[a.chain]:
            return delta
        if delta <= 0 and self.open_backward[a.chain]:
            return -delta
        return None

    # -- geometry ---------------------------------------------------------------
    def _chain_points(self, chain: int) -> np.ndarray:
        return self.graph.chain_polyline(chain)

    def _coords(self, nodes: np.ndarray) -> list[list[float]]:
        return np.column_stack([self.node_lon[nodes], self.node_lat[nodes]]).tolist()

    def leave_options(self, snap: Snap) -> list[tuple[int, float, bool]]:
        """Ways to leave a road point: (graph node, metres along, towards the chain end)."""
        g, chain = self.graph, snap.chain
        options = []
        if self.open_forward[chain]:
            options.append((int(g.chain_end_node[chain]), g.chain_length_m[chain] - snap.offset_m, True))
        if self.open_backward[chain]:
            options.append((int(g.chain_start_node[chain]), snap.offset_m, False))
        return options

    def arrive_options(self, snap: Snap) -> list[tuple[int, float, bool]]:
        """Ways to reach a road point: (graph node, metres along, from the chain start)."""
        g, chain = self.graph, snap.chain
        options = []
        if self.open_forward[chain]:
            options.append((int(g.chain_start_node[chain]), snap.offset_m, True))
        if self.open_backward[chain]:
            options.append((int(g.chain_end_node[chain]), g.chain_length_m[chain] - snap.offset_m, False))
        return options

    def leave_coords(self, snap: Snap, towards_end: bool) -> list[list[float]]:
        """Road point -> chain end (or start), [lon, lat] pairs."""
        points = self._chain_points(snap.chain)
        k = snap.segment - self.first_segment[snap.chain]
        part = points[k + 1 :] if towards_end else points[k::-1]
        return [[snap.road_lon, snap.road_lat]] + self._coords(part)

    def arrive_coords(self, snap: Snap, from_start: bool) -> list[list[float]]:
        """Chain start (or end) -> road point, [lon, lat] pairs."""
        points = self._chain_points(snap.chain)
        k = snap.segment - self.first_segment[snap.chain]
        part = points[: k + 1] if from_start else points[:k:-1]
        return self._coords(part) + [[snap.road_lon, snap.road_lat]]

    def direct_coords(self, a: Snap, b: Snap) -> list[list[float]]:
        points = self._chain_points(a.chain)
        ka = a.segment - self.first_segment[a.chain]
        kb = b.segment - self.first_segment[b.chain]
        if b.offset_m >= a.offset_m:
            part = points[ka + 1 : kb + 1]
        else:
            part = points[kb + 1 : ka + 1][::-1]
        return [[a.road_lon, a.road_lat]] + self._coords(part) + [[b.road_lon, b.road_lat]]

    def arcs_coords(self, arcs) -> list[list[float]]:
        g = self.graph
        pieces = []
        for arc in arcs:
            points = self._chain_points(int(g.arc_chain[arc]))
            pieces.append(points[::-1] if g.arc_reversed[arc] else points)
        if not pieces:
            return []
        # consecutive arcs share their joining node: keep it once
        joined = np.concatenate([pieces[0]] + [p[1:] for p in pieces[1:]])
        return self._coords(joined)

    def arcs_way_ids(self, arcs) -> np.ndarray:
        return self.graph.chain_way_id[self.graph.arc_chain[np.asarray(arcs, dtype=np.int64)]]

    def arcs_length_m(self, arcs) -> float:
        return float(self.graph.arc_length_m[np.asarray(arcs, dtype=np.int64)].sum()) if len(arcs) else 0.0
