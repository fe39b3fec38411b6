"""Map matching: which roads a vehicle drove, from its phone's noisy positions.

A hidden-Markov matcher (Newson & Krumm 2009) written on our own road graph (the chains and arcs of
routes.network.graph, the segment KD-tree of routes.network.snapping), vectorized with numpy.

Why our own and not a library: the well-kept matchers (OSRM's and Valhalla's map matching, Barefoot,
FMM) each match on *their* graph, built from the OSM file by their own rules; what we learn must land
on *our* chains, whose ids are what the CCH metrics are weighted by. Translating their output back
(OSM node pairs to our chains) would cost more code than the matcher, and would add a C++ service to
both modes. Leuven.MapMatching (pure Python) fits any graph but matches ~200 positions/s. This
module matches ~10-20 k positions/s (benchmarks/map_matching.py) because everything but the Viterbi
recursion is array work over the whole trace at once.

The model, per position (a "fix"):
- candidates: the nearest segments of up to MAX_CHAINS chains within ``radius_m``, each once per
  direction its arcs allow (a one-way street offers one state, a two-way street two);
- emission: Gaussian in the gap between fix and road point (``sigma_m``, the GPS noise);
- transition: exponential in |route distance - straight-line distance| (``beta_m``): drivers take
  short ways, so a candidate pair whose road distance matches the straight line is likely. Route
  distances come from a local Dijkstra (scipy, bounded by ``limit_m``) between the candidates'
  graph nodes, looked up for all pairs of the trace at once; a pair that would need more than
  MAX_SPEED_MPS, or no road within the bound, is impossible;
- where no transition is possible (a long gap, a ferry, a phone in a tunnel) the trace breaks and
  matching starts afresh: nothing is invented across the break.

The output is a list of *pieces*: (chain, metres, seconds, moment) driven between two fixes, the
pair's time shared among the chains it crossed in proportion to their default driving time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routes.network.geometry import haversine_m, project_point_on_segments
from routes.network.profile_state import ProfileState
from routes.network.snapping import SAMPLE_SPACING_M

MAX_CHAINS = 5  # candidate chains per fix (each up to two directed states)
SAMPLES = 24  # KD-tree samples looked at per fix
MAX_SPEED_MPS = 45.0  # faster than this between two fixes is not driving
# noise may place a later fix behind an earlier one on the same arc: up to this many metres, or two
# sigmas of the GPS noise if more (two noisy fixes differ by sigma * sqrt(2) on average)
BACK_TOLERANCE_M = 25.0
U_TURN_PENALTY = 4.0  # log-likelihood: a U-turn must explain the fixes much better to be chosen
DIJKSTRA_CHUNK = 256
_NEG_INF = -np.inf


@dataclass
class Pieces:
    """What a trace's matched driving was: one row per (chain, stretch driven between two fixes)."""

    chain: np.ndarray  # int32 chain id
    metres: np.ndarray  # float64 metres of the chain driven (signed within one arc: see _pieces)
    seconds: np.ndarray  # float64 seconds spent on them
    at: np.ndarray  # float64 unix seconds of the pair's midpoint (its time slot)
    pair: np.ndarray  # int64 index of the fix pair (the first fix) in the trace

    @classmethod
    def empty(cls) -> Pieces:
        return cls(np.zeros(0, np.int32), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.int64))

    @classmethod
    def concat(cls, parts: list[Pieces]) -> Pieces:
        parts = [p for p in parts if len(p.chain)] or [cls.empty()]
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("chain", "metres", "seconds", "at", "pair"))
        )


@dataclass
class Match:
    arc: np.ndarray  # int64 matched arc per fix, -1 where not matched
    pos_m: np.ndarray  # float64 metres along the arc (in its direction)
    distance_m: np.ndarray  # float64 fix to road point
    route_m: np.ndarray  # float64 road metres from the previous fix (nan at a break / first fix)
    pieces: Pieces


class Matcher:
    """Matches traces on one profile's graph. Build once per network (it keeps the node graph and a
    cache of bounded Dijkstra rows), call :meth:`match` per vehicle-day."""

    def __init__(
        self,
        state: ProfileState,
        *,
        sigma_m: float = 20.0,
        beta_m: float = 25.0,
        radius_m: float = 90.0,
        limit_m: float = 1200.0,
    ):
        self.state = state
        self.g = g = state.graph
        self.snapper = state.snapper
        self.sigma_m, self.beta_m, self.radius_m, self.limit_m = sigma_m, beta_m, radius_m, limit_m
        self.back_tolerance_m = max(BACK_TOLERANCE_M, 2.0 * sigma_m)
        self.arc_len = g.chain_length_m[g.arc_chain].astype(np.float64)
        self.arc_tail = g.arc_tail.astype(np.int64)
        self.arc_head = g.arc_head.astype(np.int64)
        # default seconds per metre of each chain: how a pair's time is shared among its chains
        self.chain_s_per_m = 3.6 / np.maximum(g.chain_speed_kmh.astype(np.float64), 1.0)
        n = g.node_count
        # Parallel arcs between one node pair: the node graph keeps the shortest, and remembers which.
        order = np.lexsort((self.arc_len, self.arc_head, self.arc_tail))
        tail, head = self.arc_tail[order], self.arc_head[order]
        first = np.ones(len(order), bool)
        first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
        keep = order[first]
        self.pair_key = self.arc_tail[keep] * n + self.arc_head[keep]  # sorted (lexsort above)
        self.pair_arc = keep
        # + 1 mm: scipy treats a zero weight as "no edge"
        self.nodes = csr_matrix((self.arc_len[keep] + 1e-3, (self.arc_tail[keep], self.arc_head[keep])), shape=(n, n))
        self.n = n
        self._incoming = self.nodes.tocsc()  # column v: the arcs into node v
        self._dist_keys = np.zeros(0, np.int64)
        self._dist_values = np.zeros(0)
        self._sources_done = np.zeros(n, bool)

    # -- candidates --------------------------------------------------------------------------
    def _candidates(self, lat: np.ndarray, lon: np.ndarray):
        """(arc, pos_m, distance_m) per fix and state, shape (T, 2 * MAX_CHAINS); arc -1 = none."""
        g, snapper = self.g, self.snapper
        tree = snapper._ensure_tree()
        sample_segment = snapper._sample_segment
        px, py = snapper.projection.to_xy(lat, lon)
        k = min(SAMPLES, len(sample_segment))
        _, sample = tree.query(np.column_stack([px, py]), k=k, distance_upper_bound=self.radius_m + SAMPLE_SPACING_M)
        sample = sample.reshape(len(px), -1)
        valid = sample < len(sample_segment)
        segment = sample_segment[np.minimum(sample, len(sample_segment) - 1)]
        ax, ay, bx, by = snapper._segment_xy(segment)
        t, dist = project_point_on_segments(px[:, None], py[:, None], ax, ay, bx, by)
        dist = np.where(valid & (dist <= self.radius_m), dist, np.inf)
        chain = g.seg_chain[segment].astype(np.int64)
        offset = g.seg_offset_m[segment] + t * g.seg_length_m[segment]
        rows = np.broadcast_to(np.arange(len(px))[:, None], dist.shape)
        # the nearest segment of each chain, then the MAX_CHAINS nearest chains of each fix
        flat = np.lexsort((dist.ravel(), chain.ravel(), rows.ravel()))
        r, c, d, o = rows.ravel()[flat], chain.ravel()[flat], dist.ravel()[flat], offset.ravel()[flat]
        first = np.ones(len(flat), bool)
        first[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
        keep = first & np.isfinite(d)
        r, c, d, o = r[keep], c[keep], d[keep], o[keep]
        by_dist = np.lexsort((d, r))
        r, c, d, o = r[by_dist], c[by_dist], d[by_dist], o[by_dist]
        starts = np.searchsorted(r, np.arange(len(px)))
        rank = np.arange(len(r)) - starts[r]
        keep = rank < MAX_CHAINS
        r, c, d, o, rank = r[keep], c[keep], d[keep], o[keep], rank[keep]
        length = g.chain_length_m[c]
        o = np.clip(o, 0.0, length)
        arcs = np.full((len(px), 2 * MAX_CHAINS), -1, np.int64)
        pos = np.zeros((len(px), 2 * MAX_CHAINS))
        gap = np.full((len(px), 2 * MAX_CHAINS), np.inf)
        forward = g.chain_forward_arc[c]
        backward = g.chain_backward_arc[c]
        arcs[r, 2 * rank] = forward
        pos[r, 2 * rank] = o
        gap[r, 2 * rank] = np.where(forward >= 0, d, np.inf)
        arcs[r, 2 * rank + 1] = backward
        pos[r, 2 * rank + 1] = length - o
        gap[r, 2 * rank + 1] = np.where(backward >= 0, d, np.inf)
        return arcs, pos, gap

    # -- node distances ---------------------------------------------------------------------
    def _ensure_sources(self, sources: np.ndarray) -> None:
        todo = np.unique(sources[~self._sources_done[sources]])
        if not len(todo):
            return
        keys, values = [self._dist_keys], [self._dist_values]
        for i in range(0, len(todo), DIJKSTRA_CHUNK):
            chunk = todo[i : i + DIJKSTRA_CHUNK]
            rows = dijkstra(self.nodes, indices=chunk, limit=self.limit_m)
            src, tgt = np.nonzero(np.isfinite(rows))
            keys.append(chunk[src] * self.n + tgt)
            values.append(rows[src, tgt])
        self._sources_done[todo] = True
        self._dist_keys = np.concatenate(keys)
        order = np.argsort(self._dist_keys, kind="stable")
        self._dist_keys = self._dist_keys[order]
        self._dist_values = np.concatenate(values)[order]

    def _node_distance(self, source: np.ndarray, target: np.ndarray) -> np.ndarray:
        key = source * self.n + target
        at = np.minimum(np.searchsorted(self._dist_keys, key), len(self._dist_keys) - 1)
        found = (self._dist_keys[at] == key) if len(self._dist_keys) else np.zeros(key.shape, bool)
        return np.where(found, self._dist_values[at] if len(self._dist_values) else 0.0, np.inf)

    def _route_m(self, a_arc, a_pos, b_arc, b_pos) -> np.ndarray:
        """Road metres from (arc, pos) to (arc, pos), elementwise; inf where impossible or too far."""
        valid = (a_arc >= 0) & (b_arc >= 0)
        a = np.where(valid, a_arc, 0)
        b = np.where(valid, b_arc, 0)
        via = (self.arc_len[a] - a_pos) + self._node_distance(self.arc_head[a], self.arc_tail[b]) + b_pos
        delta = b_pos - a_pos
        same = (a == b) & (delta >= -self.back_tolerance_m)
        route = np.where(same, np.maximum(delta, 0.0), via)
        return np.where(valid, route, np.inf)

    # -- matching -------------------------------------------------------------------------------
    def match(self, t: np.ndarray, lat: np.ndarray, lon: np.ndarray, *, max_gap_s: float = 60.0) -> Match:
        """Match one trace (fixes in time order: unix seconds, degrees)."""
        t = np.asarray(t, float)
        lat = np.asarray(lat, float)
        lon = np.asarray(lon, float)
        count = len(t)
        if count == 0:
            return Match(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), Pieces.empty())
        arcs, pos, gap = self._candidates(lat, lon)
        self._ensure_sources(self.arc_head[arcs[arcs >= 0]])
        emission = np.where(np.isfinite(gap), -0.5 * (gap / self.sigma_m) ** 2, _NEG_INF)
        dt = np.diff(t)
        straight = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
        states = arcs.shape[1]
        # transitions (T-1, S, S), built in blocks to bound memory
        back = np.zeros((count, states), np.int16)
        breaks = np.zeros(count, bool)
        breaks[0] = True
        score = emission[0].copy()
        block = 4096
        for start in range(0, count - 1, block):
            stop = min(count - 1, start + block)
            a_arc = arcs[start:stop, :, None]
            b_arc = arcs[start + 1 : stop + 1, None, :]
            route = self._route_m(
                np.broadcast_to(a_arc, (stop - start, states, states)),
                np.broadcast_to(pos[start:stop, :, None], (stop - start, states, states)),
                np.broadcast_to(b_arc, (stop - start, states, states)),
                np.broadcast_to(pos[start + 1 : stop + 1, None, :], (stop - start, states, states)),
            )
            # turning round on a street (its two arcs in turn) is rare in driving, common in noise
            a_chain = np.where(a_arc >= 0, self.g.arc_chain[np.maximum(a_arc, 0)], -1)
            b_chain = np.where(b_arc >= 0, self.g.arc_chain[np.maximum(b_arc, 0)], -2)
            u_turn = (a_chain == b_chain) & (a_arc != b_arc)
            span = dt[start:stop, None, None]
            fast = route > MAX_SPEED_MPS * np.maximum(span, 1.0) + 2 * self.radius_m
            trans = np.where(
                np.isfinite(route) & ~fast & (span <= max_gap_s),
                -np.abs(route - straight[start:stop, None, None]) / self.beta_m - U_TURN_PENALTY * u_turn,
                _NEG_INF,
            )
            for i in range(stop - start):
                step = score[:, None] + trans[i]
                best = np.argmax(step, axis=0)
                new = step[best, np.arange(states)] + emission[start + i + 1]
                if not np.isfinite(new).any():
                    breaks[start + i + 1] = True  # nothing connects: start afresh here
                    new = emission[start + i + 1].copy()
                    best = np.zeros(states, np.int16)
                back[start + i + 1] = best
                score = new
        # backtrack, segment by segment
        chosen = np.full(count, -1, np.int64)
        state = int(np.argmax(score)) if np.isfinite(score).any() else -1
        for i in range(count - 1, -1, -1):
            if state < 0 or not np.isfinite(emission[i, state]):
                state = int(np.argmax(emission[i])) if np.isfinite(emission[i]).any() else -1
            chosen[i] = state
            if breaks[i]:
                state = -1  # the fix before a break starts its own backtrack
            elif state >= 0:
                state = int(back[i, state])
        rows = np.arange(count)
        arc = np.where(chosen >= 0, arcs[rows, np.maximum(chosen, 0)], -1)
        at = np.where(chosen >= 0, pos[rows, np.maximum(chosen, 0)], 0.0)
        distance = np.where(chosen >= 0, gap[rows, np.maximum(chosen, 0)], np.nan)
        route = np.full(count, np.nan)
        linked = ~breaks[1:] & (arc[1:] >= 0) & (arc[:-1] >= 0)
        route_pairs = self._route_m(arc[:-1], at[:-1], arc[1:], at[1:])
        route[1:] = np.where(linked & np.isfinite(route_pairs), route_pairs, np.nan)
        pieces = self._pieces(t, arc, at, route)
        return Match(arc, at, distance, route, pieces)

    def road_points(self, arc: np.ndarray, pos_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) of matched road points (nan where not matched): for maps and tests."""
        g, state = self.g, self.state
        lat, lon = np.full(len(arc), np.nan), np.full(len(arc), np.nan)
        for i in np.flatnonzero(arc >= 0):
            chain = int(g.arc_chain[arc[i]])
            offset = self.arc_len[arc[i]] - pos_m[i] if g.arc_reversed[arc[i]] else pos_m[i]
            first, last = (
                state.first_segment[chain],
                state.first_segment[chain] + (g.chain_end[chain] - g.chain_start[chain]),
            )
            k = first + max(0, int(np.searchsorted(g.seg_offset_m[first:last], offset, side="right")) - 1)
            frac = min(max((offset - g.seg_offset_m[k]) / max(g.seg_length_m[k], 1e-6), 0.0), 1.0)
            a, b = g.points[g.seg_position[k]], g.points[g.seg_position[k] + 1]
            lat[i] = state.node_lat[a] + frac * (state.node_lat[b] - state.node_lat[a])
            lon[i] = state.node_lon[a] + frac * (state.node_lon[b] - state.node_lon[a])
        return lat, lon

    # -- pieces ---------------------------------------------------------------------------------
    def _path_arcs(self, source: int, target: int) -> list[int] | None:
        """The arcs of the shortest path source -> target, walked back from the target through the
        cached distances (the predecessor is the in-neighbour u with d(u) + w(u, v) = d(v)): no second
        Dijkstra."""
        nodes = [target]
        here = self._node_distance(np.asarray([source]), np.asarray([target]))[0]
        if not np.isfinite(here):
            return None
        while nodes[-1] != source:
            v = nodes[-1]
            lo, hi = self._incoming.indptr[v], self._incoming.indptr[v + 1]
            tails = self._incoming.indices[lo:hi].astype(np.int64)
            weights = self._incoming.data[lo:hi]
            before = self._node_distance(np.full(len(tails), source, np.int64), tails)
            slack = np.abs(before + weights - here)
            best = int(np.argmin(slack)) if len(slack) else -1
            if best < 0 or not slack[best] < 1e-3 or len(nodes) > 10_000:
                return None
            nodes.append(int(tails[best]))
            here = before[best]
        nodes.reverse()
        keys = np.asarray(nodes[:-1], np.int64) * self.n + np.asarray(nodes[1:], np.int64)
        return self.pair_arc[np.searchsorted(self.pair_key, keys)].tolist()

    def _pieces(self, t, arc, pos, route) -> Pieces:
        pairs = np.flatnonzero(np.isfinite(route[1:]))  # pair i: fixes i and i + 1
        if not len(pairs):
            return Pieces.empty()
        a, b = arc[pairs], arc[pairs + 1]
        same = (a == b) & (pos[pairs + 1] - pos[pairs] >= -self.back_tolerance_m)
        chain_of = self.g.arc_chain.astype(np.int64)
        # Signed on one arc: a fix the noise put a little behind the one before gives a small negative
        # piece, so the metres of a traversal add up to where it ended minus where it began (clipping
        # at 0 would add the along-road noise to every traversal and make every road look faster).
        rows_pair, rows_arc, rows_m = [pairs[same]], [a[same]], [(pos[pairs + 1] - pos[pairs])[same]]
        crossing = pairs[~same]
        for p in crossing.tolist():
            first, last = int(arc[p]), int(arc[p + 1])
            middle = self._path_arcs(int(self.arc_head[first]), int(self.arc_tail[last]))
            if middle is None:
                continue
            rows_pair.append(np.full(len(middle) + 2, p))
            rows_arc.append(np.asarray([first, *middle, last], np.int64))
            rows_m.append(np.asarray([self.arc_len[first] - pos[p], *self.arc_len[middle], pos[p + 1]]))
        pair = np.concatenate(rows_pair).astype(np.int64)
        chain = chain_of[np.concatenate(rows_arc)]
        metres = np.concatenate(rows_m)
        # a pair's seconds, shared among its chains by their default driving time
        weight = np.maximum(metres, 0.0) * self.chain_s_per_m[chain]
        total = np.bincount(pair, weights=weight, minlength=len(t))
        dt = np.diff(t)
        share = np.divide(weight, total[pair], out=np.ones_like(weight), where=total[pair] > 0)
        seconds = share * dt[pair]
        at = (t[pair] + t[pair + 1]) / 2
        keep = (metres != 0) | (seconds > 0)
        return Pieces(chain[keep].astype(np.int32), metres[keep], seconds[keep], at[keep], pair[keep])
