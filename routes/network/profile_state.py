"""Per-profile runtime state: weights, closures, reachability, snapping, geometry."""

from __future__ import annotations

import threading

import numpy as np
import pyroutingkit
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .closures import ClosureIndex
from .graph import GIVE_WAY, SIGNALS, STOP, ProfileGraph
from .profiles import Profile
from .snapping import Snap, Snapper
from .sweep import Contraction
from .traffic import TrafficProfile, day_type

INF_WEIGHT = pyroutingkit.INF_WEIGHT
MAX_WEIGHT = INF_WEIGHT - 1

# Entering a local-access-only road (access=destination, private...) from any
# other road costs this much in the CCH weight, so routes cross such roads only
# when nothing else connects. Reported durations drop it again (weights are
# taken modulo the penalty): a trip to or from a stop on such a road pays only
# its real driving time. A day: longer than any delivery trip, even across a
# country extract (a longer one would lose whole days), and 24 entries still
# fit below RoutingKit's INF_WEIGHT (2**31 - 1 ms, 24.8 days).
RESTRICTED_PENALTY_MS = 24 * 3600 * 1000
# Turn cost growth: a logistic curve in the turn angle, ~0 straight on, half at
# 90 degrees, nearly all of turn_max_s for a hairpin.
TURN_CURVE_STEEPNESS = 13.0
# Turning across oncoming traffic: a left turn (right-hand traffic) sharper than this.
ACROSS_TRAFFIC_MIN_DEG = 30.0
# The junction costs a learned travel model may re-weigh, each by a factor of its own on the
# profile's default seconds (routes.learning.junctions): the turn's angle cost, turning across
# oncoming traffic, U-turns, traffic signals, stop signs, give-way signs and passable barriers.
# The local-access entry penalty is no junction cost: it is never re-weighed.
JUNCTION_CLASSES = ("turn", "across_traffic", "u_turn", "signals", "stop", "give_way", "barrier")
JUNCTION_FACTOR_BOUNDS = (0.0, 5.0)


def check_junction_factors(factors) -> dict[str, float] | None:
    """{class: factor} with known classes and factors in JUNCTION_FACTOR_BOUNDS, or ValueError; None or {}
    (the defaults) gives None."""
    if not factors:
        return None
    unknown = set(factors) - set(JUNCTION_CLASSES)
    if unknown:
        raise ValueError(f"unknown junction classes {sorted(unknown)}; known: {', '.join(JUNCTION_CLASSES)}")
    low, high = JUNCTION_FACTOR_BOUNDS
    checked = {}
    for name, value in factors.items():
        value = float(value)
        if not low <= value <= high:  # NaN fails both
            raise ValueError(f"junction factor {name}={value} is outside [{low}, {high}]")
        checked[name] = value
    return checked


def _signs_and_barriers(parts: dict[str, np.ndarray], f: dict[str, float]) -> np.ndarray:
    """Seconds of the signs and barriers in ``parts`` at factors ``f``, added in one fixed order."""
    return (
        parts["signals"] * f["signals"]
        + parts["stop"] * f["stop"]
        + parts["give_way"] * f["give_way"]
        + (parts["barrier"] * f["barrier"])
    )


SNAP_CACHE_SIZE = 20_000
_MISSING = object()


class ProfileState:
    """Everything one profile needs at query time, derived from the prepared arrays.

    The CCH runs on the turn-aware graph: its nodes are turn nodes (directed
    chains), its arcs are allowed turns. A turn's weight is the travel time of
    the arc it turns *onto* plus the cost of the turn and of the junction
    (milliseconds, uint32; turns onto a closed chain get RoutingKit's
    INF_WEIGHT). A path's weight from turn node s to t therefore counts all of t
    and none of s: queries subtract ``target_ms[t]`` and add the part of s and t
    actually driven. See DistanceEncoding for the distance metric.
    """

    def __init__(
        self,
        profile: Profile,
        graph: ProfileGraph,
        topology: pyroutingkit.CCHTopology,
        node_lat: np.ndarray,
        node_lon: np.ndarray,
        order: np.ndarray,
    ):
        self.profile = profile
        self.graph = graph
        self.topology = topology
        self.order = order
        self._contraction: Contraction | None = None
        self._contraction_lock = threading.Lock()
        self.node_lat = node_lat
        self.node_lon = node_lon
        length = graph.arc_length_m
        self.arc_speed_kmh = graph.chain_speed_kmh[graph.arc_chain].astype(np.float64)
        self.arc_class = graph.chain_class[graph.arc_chain]
        self.free_flow_ms = length / (self.arc_speed_kmh / 3.6) * 1000.0
        self.length_cm = np.clip(np.ceil(length * 100.0), 1, MAX_WEIGHT).astype(np.uint32)
        self.access_mps = profile.access_speed_kmh / 3.6
        self.traffic = TrafficProfile.default_car() if profile.name == "car" else TrafficProfile.none()
        # per-chain speed multipliers on top of the traffic table; None = all 1
        self.chain_factors: np.ndarray | None = None
        # a learned travel model (#18): (version, factors per (day type, hour, chain)), or None
        self.learned: tuple | None = None
        self.leg_scale: tuple | None = None
        self.snapper = Snapper(graph, node_lat, node_lon)
        self.closure_index = ClosureIndex(graph, node_lat, node_lon)
        self.first_segment = np.searchsorted(graph.seg_position, graph.chain_start)
        self.reverse_arc = graph.reverse_arc()
        self.turn_to_chain = graph.arc_chain[graph.enode_arc[graph.turn_to]]
        # road sections meeting at a node: turning costs only at real junctions
        self._node_degree = np.bincount(graph.chain_start_node, minlength=graph.node_count) + np.bincount(
            graph.chain_end_node, minlength=graph.node_count
        )
        self.junction_factors: dict[str, float] | None = None  # None: the profile's defaults (all 1)
        self._set_junction_costs(None)
        self._turn_out_order = np.argsort(graph.turn_from, kind="stable")
        self._turn_out_start = np.searchsorted(graph.turn_from[self._turn_out_order], np.arange(graph.enode_count + 1))
        self.distance_encoding = DistanceEncoding(graph)
        self.set_closed_chains(np.zeros(len(graph.chain_start), dtype=bool))

    @property
    def contraction(self) -> Contraction:
        """The matrices' contraction (sweep.py), built on first use: a process that
        only routes or snaps never pays for it (Porto's car graph: ~0.8 s)."""
        with self._contraction_lock:
            if self._contraction is None:
                self._contraction = Contraction(self.order, self.graph.turn_from, self.graph.turn_to)
            return self._contraction

    # -- weights ---------------------------------------------------------------
    def _set_junction_costs(self, factors: dict[str, float] | None) -> None:
        """Every junction cost from the profile's defaults times ``factors`` per class (None: 1).

        Each array is replaced whole, never written into, so nothing reads a half-written one. A
        matrix or route already running keeps its metric's weights (the turns and whole sections);
        the signs on the partial sections at its ends it reads when it gets there, so one that runs
        across the change may price those few at the new factors. A factor of 1 multiplies a class's seconds exactly, and the
        classes are added in one fixed order, so factors of 1 give the defaults' arrays bit for bit.
        """
        f = {name: 1.0 for name in JUNCTION_CLASSES}
        f.update(factors or {})
        g = self.graph
        # signs and passable barriers inside a chain: fixed seconds, not scaled by traffic
        chain_fixed_s = _signs_and_barriers(self.chain_class_seconds(slice(None)), f)
        cost_point_s = _signs_and_barriers(self.cost_point_class_seconds(slice(None)), f)
        turn_cost_ms = self._turn_costs_ms(f)
        self.chain_fixed_s = chain_fixed_s
        self.cost_point_s = cost_point_s
        self.arc_fixed_ms = chain_fixed_s[g.arc_chain] * 1000.0
        self.turn_cost_ms = turn_cost_ms
        # leaving a stop the way one came (RoadNetwork._leg)
        self.u_turn_s = self.profile.turn_costs.u_turn_s * f["u_turn"]

    def chain_class_seconds(self, chains) -> dict[str, np.ndarray]:
        """Default seconds per junction class inside whole chains (signs and passable barriers)."""
        g, costs = self.graph, self.profile.turn_costs
        return {
            "signals": g.chain_signals[chains] * costs.traffic_signals_s,
            "stop": g.chain_stops[chains] * costs.stop_s,
            "give_way": g.chain_give_ways[chains] * costs.give_way_s,
            "barrier": g.chain_barrier_s[chains],
        }

    def cost_point_class_seconds(self, points) -> dict[str, np.ndarray]:
        """Default seconds per junction class of the cost points inside chains (graph.cost_point_*)."""
        g, costs = self.graph, self.profile.turn_costs
        signs = g.cost_point_signs[points]
        return {
            "signals": ((signs & SIGNALS) > 0) * costs.traffic_signals_s,
            "stop": ((signs & STOP) > 0) * costs.stop_s,
            "give_way": ((signs & GIVE_WAY) > 0) * costs.give_way_s,
            "barrier": g.cost_point_barrier_s[points],
        }

    def turn_class_seconds(self, turns) -> dict[str, np.ndarray]:
        """Default seconds per junction class of ``turns`` (an index array or a slice)."""
        g, costs = self.graph, self.profile.turn_costs
        arc_from = g.enode_arc[g.turn_from[turns]]
        arc_to = g.enode_arc[g.turn_to[turns]]
        u_turn = self.reverse_arc[arc_from] == arc_to
        node = g.turn_node[turns]
        angle = g.turn_angle[turns].astype(np.float64)
        curve = costs.turn_max_s / (1.0 + np.exp(-(TURN_CURVE_STEEPNESS * np.abs(angle) / 180.0 - 6.5)))
        across = angle < -ACROSS_TRAFFIC_MIN_DEG if costs.right_hand_traffic else angle > ACROSS_TRAFFIC_MIN_DEG
        junction = (self._node_degree[node] > 2) | u_turn
        signs = g.node_signs[node]
        return {
            "turn": np.where(junction, curve, 0.0),
            "across_traffic": np.where(junction, across * costs.across_traffic_s, 0.0),
            "u_turn": u_turn * costs.u_turn_s,
            "signals": ((signs & SIGNALS) > 0) * costs.traffic_signals_s,
            "stop": ((signs & STOP) > 0) * costs.stop_s,
            "give_way": ((signs & GIVE_WAY) > 0) * costs.give_way_s,
            "barrier": np.where(u_turn, 0.0, g.node_barrier_s[node]),
        }

    def _turn_costs_ms(self, f: dict[str, float]) -> np.ndarray:
        """What each turn costs on top of driving the arc it turns onto (ms, float)."""
        g = self.graph
        parts = self.turn_class_seconds(slice(None))
        seconds = parts["turn"] * f["turn"] + parts["across_traffic"] * f["across_traffic"]
        for name in JUNCTION_CLASSES[2:]:
            seconds += parts[name] * f[name]
        ms = np.round(seconds * 1000.0)
        local = g.chain_local_only
        entering_local = ~local[g.arc_chain[g.enode_arc[g.turn_from]]] & local[g.arc_chain[g.enode_arc[g.turn_to]]]
        return ms + entering_local * float(RESTRICTED_PENALTY_MS)

    def arc_time_ms(self, class_factors: np.ndarray, chain_factors: np.ndarray | None = None) -> np.ndarray:
        """Time to drive each whole arc (ms, integer-valued float64), signs inside it included."""
        factor = class_factors[self.arc_class]
        if chain_factors is not None:
            factor = factor * np.asarray(chain_factors, dtype=np.float64)[self.graph.arc_chain]
        return np.maximum(np.ceil(self.free_flow_ms / factor + self.arc_fixed_ms), 1.0)

    def time_weights(
        self, class_factors: np.ndarray, chain_factors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(turn weights, target weights) in ms for speed factors per road class and,
        optionally, per chain (both multiply the free-flow speed; no closures).

        ``target_weights[t]`` is the part of every turn weight onto turn node
        ``t`` that is the drive along t itself.
        """
        arc_ms = self.arc_time_ms(class_factors, chain_factors)
        target = arc_ms[self.graph.enode_arc]
        turns = np.clip(target[self.graph.turn_to] + self.turn_cost_ms, 1, MAX_WEIGHT).astype(np.uint32)
        return turns, target.astype(np.uint32)

    def distance_weights(
        self, class_factors: np.ndarray, chain_factors: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(turn weights, target metres) of the metric whose sums minus the time
        metric's are the fastest routes' lengths in metres (see DistanceEncoding)."""
        turns, target = self.time_weights(class_factors, chain_factors)
        return self.distance_encoding.weights(self.graph, turns, target)

    # -- time slots: the traffic table's, or a learned model's -------------------
    def set_learned(self, key, factors: np.ndarray | None, leg_scale=None, junction_factors=None) -> None:
        """Use learned speed factors per (day type, hour, chain), shape (3, 24, chains): Monday to
        Friday, Saturday, Sunday (or (2, 24, chains), weekday and weekend, as older versions were
        learned), in place of the traffic table; None goes back to the table. ``key`` (the model
        version) is part of every slot, so cached metrics of another version are never reused.
        ``leg_scale``: what the model multiplies every duration by, per day type (Monday-Friday,
        Saturday, Sunday; routes.learning.calibration), or None. ``junction_factors``: {junction class:
        factor on the profile's default seconds} (routes.learning.junctions; a class left out: 1), or
        None. Unlike the leg scale they change which way is fastest. The caller drops the metrics."""
        if factors is not None and (
            factors.ndim != 3
            or factors.shape[0] not in (2, 3)
            or factors.shape[1:] != (24, len(self.graph.chain_start))
        ):
            raise ValueError(
                f"learned factors of shape {factors.shape} do not fit {len(self.graph.chain_start)} chains"
            )
        if leg_scale is not None and (len(leg_scale) != 3 or not all(0 < float(s) < 10 for s in leg_scale)):
            raise ValueError(
                f"a leg scale is three positive factors (Monday-Friday, Saturday, Sunday), not {leg_scale}"
            )
        junctions = None if factors is None else check_junction_factors(junction_factors)
        self.learned = None if factors is None else (key, factors.astype(np.float64))
        self.leg_scale = None if factors is None or leg_scale is None else tuple(float(s) for s in leg_scale)
        if junctions != self.junction_factors:
            self._set_junction_costs(junctions)
            self.junction_factors = junctions

    def slot(self, departure):
        """The metric cache key of a departure's hour (None: free flow)."""
        if self.learned is None or departure is None:
            return self.traffic.slot(departure)
        return ("learned", self.learned[0], day_type(departure), departure.hour)

    def duration_scale(self, slot) -> float:
        """What the learned model multiplies a slot's durations by (1 outside a learned slot). Uniform
        over a profile and day type: it never changes which way is fastest, only how long it takes."""
        if self.leg_scale is None or slot is None or slot[0] != "learned":
            return 1.0
        return self.leg_scale[slot[2]]

    def slot_factors(self, slot) -> tuple[np.ndarray, np.ndarray | None]:
        """What a slot multiplies speeds by: (factors per road class, factors per chain or None).
        A learned slot's chain factors replace the traffic table's class factors."""
        if slot is not None and slot[0] == "learned":
            if self.learned is None or self.learned[0] != slot[1]:
                raise KeyError(f"travel model {slot[1]} is no longer loaded")
            factors = self.learned[1]
            # an older version's speeds have weekday and weekend only: its weekend serves Saturday and Sunday
            day = slot[2] if factors.shape[0] == 3 else min(slot[2], 1)
            learned = factors[day, slot[3]]
            chain = learned if self.chain_factors is None else learned * self.chain_factors
            return np.ones(len(self.traffic.class_factors(None))), chain
        return self.traffic.class_factors(slot), self.chain_factors

    def speed_factor(self, chain: int, factors: tuple[np.ndarray, np.ndarray | None]) -> float:
        class_factors, chain_factors = factors
        factor = float(class_factors[self.graph.chain_class[chain]])
        return factor if chain_factors is None else factor * float(chain_factors[chain])

    def turns_out(self, enode: int) -> np.ndarray:
        """Turns leaving turn node ``enode``."""
        return self._turn_out_order[self._turn_out_start[enode] : self._turn_out_start[enode + 1]]

    def turns_between(self, here: np.ndarray, there: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The turn from each turn node of ``here`` onto the one of ``there`` (the cheapest under
        ``weights`` where parallel turns join them; -1 where none does), vectorized over the pairs."""
        start, end = self._turn_out_start[here], self._turn_out_start[here + 1]
        best = np.full(len(here), -1, dtype=np.int64)
        best_weight = np.full(len(here), np.inf)
        for k in range(int((end - start).max(initial=0))):
            position = np.minimum(start + k, len(self._turn_out_order) - 1)
            turn = self._turn_out_order[position]
            take = (start + k < end) & (self.graph.turn_to[turn] == there) & (weights[turn] < best_weight)
            best[take], best_weight[take] = turn[take], weights[turn][take]
        return best

    def with_closures(self, open_weights: np.ndarray) -> np.ndarray:
        weights = open_weights.copy()
        weights[self.turn_closed] = INF_WEIGHT
        return weights

    # -- closures and reachability --------------------------------------------
    def set_closed_chains(self, closed_chain: np.ndarray) -> None:
        """Close chains (both directions). A direction of a chain stays usable for
        snapping only inside the largest strongly connected part of the turn
        graph, so every snapped point reaches and is reached by every other."""
        g = self.graph
        self._snap_cache: dict = {}
        self.closed_chain = closed_chain
        self.arc_closed = closed_chain[g.arc_chain]
        self.turn_closed = closed_chain[self.turn_to_chain]
        nothing_closed = not closed_chain.any()
        if nothing_closed and getattr(self, "_open_reach", None) is not None:
            # lifting every closure: the reachability of the open network, computed once
            self.open_forward, self.open_backward, self.usable_chain, self.largest_component_nodes = self._open_reach
            return
        # the open turns as CSR rows straight from the turns sorted by origin (no COO sort)
        order = self._turn_out_order
        open_sorted = ~self.turn_closed[order]
        indptr = np.concatenate([[0], np.cumsum(open_sorted)])[self._turn_out_start]
        adjacency = csr_matrix(
            (np.ones(int(indptr[-1]), dtype=np.int8), g.turn_to[order][open_sorted].astype(np.int32), indptr),
            shape=(g.enode_count, g.enode_count),
        )
        _, labels = connected_components(adjacency, directed=True, connection="strong")
        largest = np.argmax(np.bincount(labels))
        arc_ok = (labels[: g.arc_count] == largest) & ~self.arc_closed
        self.open_forward = (g.chain_forward_arc >= 0) & arc_ok[np.maximum(g.chain_forward_arc, 0)]
        self.open_backward = (g.chain_backward_arc >= 0) & arc_ok[np.maximum(g.chain_backward_arc, 0)]
        self.usable_chain = self.open_forward | self.open_backward
        self.largest_component_nodes = int(np.count_nonzero(labels == largest))
        if nothing_closed:
            self._open_reach = (self.open_forward, self.open_backward, self.usable_chain, self.largest_component_nodes)

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

    def along_seconds(self, snap: Snap, along_m: float, factors: tuple[np.ndarray, np.ndarray | None]) -> float:
        """Seconds to drive ``along_m`` on the snapped chain; ``factors`` as slot_factors gives them."""
        speed = float(self.graph.chain_speed_kmh[snap.chain]) * self.speed_factor(snap.chain, factors)
        return along_m / (speed / 3.6)

    def fixed_seconds(self, chain: int, low_m: float, high_m: float) -> float:
        """Signs and barriers passed inside a chain between two offsets (s)."""
        g = self.graph
        lo, hi = np.searchsorted(g.cost_point_chain, [chain, chain + 1])
        if lo == hi:
            return 0.0
        offsets = g.cost_point_offset_m[lo:hi]
        inside = (offsets > low_m) & (offsets < high_m)
        return float(self.cost_point_s[lo:hi][inside].sum())

    def leave_seconds(self, snap: Snap, along_m: float, towards_end: bool, class_factors) -> float:
        """Driving from a road point to the end of its chain (or its start)."""
        length = float(self.graph.chain_length_m[snap.chain])
        low, high = (snap.offset_m, length) if towards_end else (0.0, snap.offset_m)
        return self.along_seconds(snap, along_m, class_factors) + self.fixed_seconds(snap.chain, low, high)

    def arrive_seconds(self, snap: Snap, along_m: float, from_start: bool, class_factors) -> float:
        """Driving from the start of a chain (or its end) to a road point on it."""
        length = float(self.graph.chain_length_m[snap.chain])
        low, high = (0.0, snap.offset_m) if from_start else (snap.offset_m, length)
        return self.along_seconds(snap, along_m, class_factors) + self.fixed_seconds(snap.chain, low, high)

    def direct_seconds(self, a: Snap, b: Snap, along_m: float, class_factors) -> float:
        low, high = sorted((a.offset_m, b.offset_m))
        return self.along_seconds(a, along_m, class_factors) + self.fixed_seconds(a.chain, low, high)

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
        """Ways to leave a road point: (turn node, metres along it to its end, towards the chain end).

        Nearer end first: matrices leave an origin that way only."""
        g, chain = self.graph, snap.chain
        options = []
        if self.open_forward[chain]:
            options.append((int(g.chain_forward_arc[chain]), g.chain_length_m[chain] - snap.offset_m, True))
        if self.open_backward[chain]:
            options.append((int(g.chain_backward_arc[chain]), snap.offset_m, False))
        return sorted(options, key=lambda option: option[1])

    def arrive_options(self, snap: Snap) -> list[tuple[int, float, bool]]:
        """Ways to reach a road point: (turn node, metres along it to the point, from the chain start)."""
        g, chain = self.graph, snap.chain
        options = []
        if self.open_forward[chain]:
            options.append((int(g.chain_forward_arc[chain]), snap.offset_m, True))
        if self.open_backward[chain]:
            options.append((int(g.chain_backward_arc[chain]), g.chain_length_m[chain] - snap.offset_m, False))
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


class DistanceEncoding:
    """Lengths of fastest routes from many-to-many sums (RoutingKit returns sums only).

    The distance metric's turn weight is the time metric's plus the metres of
    the turn node it turns onto (1 ms per metre: a tie-break, ~1 % of the
    weight at city speeds). For a pair, with T the fastest time (time metric)
    and W the distance metric's optimum, ``W - T`` lies between the lengths of
    two routes: a fastest one, and one at most 1 s per km saved slower - it is
    the fastest route's length whenever the fastest route is unique enough to
    win both metrics, which is the rule. Both sums are exact integers, and
    per-arc lengths round to the metre, so the result is good to a few metres.
    """

    def __init__(self, graph: ProfileGraph):
        self.arc_m = np.clip(np.round(graph.arc_length_m), 1, None)

    def weights(self, graph: ProfileGraph, time_turns: np.ndarray, time_target: np.ndarray):
        target_m = self.arc_m[graph.enode_arc]
        turns = np.clip(time_turns.astype(np.float64) + target_m[graph.turn_to], 1, MAX_WEIGHT)
        return turns.astype(np.uint32), target_m.astype(np.uint32)
