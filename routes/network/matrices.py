"""Customized CCH metrics and the assembly of point-to-point matrices from them."""

from __future__ import annotations

import os
import threading

import numpy as np
import pyroutingkit
from numba import njit

from .geometry import haversine_m
from .profile_state import INF_WEIGHT, RESTRICTED_PENALTY_MS, ProfileState
from .sweep import Contraction
from .sweep import warm as sweep_warm

# Matrices sweep with our own contraction (sweep.py), whose kernels release the
# GIL: big ones split their sources across this many threads.
WORKERS = max(1, min(2, os.cpu_count() or 1))
SPLIT_FROM_SOURCES = 128


class CustomizedMetric:
    """One customized weight vector: the sweep's (forward, backward) arrays for
    matrices and, from the first route that needs one, RoutingKit's metric for
    point-to-point queries with their paths (a traffic hour used only for plans
    never customizes it).

    ``kind`` is "time" (ms) or "distance" (see profile_state.DistanceEncoding);
    ``target_weights`` per turn node is the part of a turn weight that drives
    the turn node itself (a path's weight counts its last turn node whole).
    """

    def __init__(
        self,
        topology,
        contraction: Contraction,
        weights: np.ndarray,
        open_weights: np.ndarray,
        target_weights: np.ndarray | None = None,
        kind: str = "time",
    ):
        self.open_weights = open_weights  # before closures
        self.target_weights = target_weights
        self.kind = kind
        self.contraction = contraction
        self._topology = topology
        self._routing = None
        self._lock = threading.Lock()  # RoutingKit answers one query at a time per metric
        # The turn weights (closures included) and the sweep's (forward, backward),
        # one tuple replaced whole by update_weights: a matrix reads it once and
        # sees the state before a closure or after it, never a mix.
        weights = np.array(weights, dtype=np.uint32)
        self._current = (weights, *contraction.customize(weights))

    def snapshot(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(turn weights, forward, backward) of one closure state."""
        return self._current

    @property
    def weights(self) -> np.ndarray:
        return self._current[0]

    @property
    def sweep(self) -> tuple[np.ndarray, np.ndarray]:
        return self._current[1:]

    @property
    def routing(self):
        """RoutingKit's metric over the same weights (closures included)."""
        with self._lock:
            if self._routing is None:
                metric = pyroutingkit.CCHMetric(self._topology)
                # thread_count=1: the OpenMP path costs ~40x more on this 2-core box
                metric.customize(self.weights, 1)
                self._routing = metric
            return self._routing

    def query(self, source: int, target: int):
        metric = self.routing
        with self._lock:
            return metric.query(source, target)

    def update_weights(self, arcs: np.ndarray, weights: np.ndarray) -> None:
        new = self.weights.copy()
        new[arcs] = weights
        current = (new, *self.contraction.recustomize(new, self.sweep, arcs))
        with self._lock:  # RoutingKit's metric changes with it, between two queries
            self._current = current
            if self._routing is not None:
                self._routing.update_weights(arcs, weights)


def many_to_many(pool, contraction: Contraction, time_snapshot, distance_snapshot, sources, targets):
    """Raw path sums (uint32, INF_WEIGHT = no path) of the time metric and, if
    given, the distance metric (else None), a row per source; ``*_snapshot`` as
    CustomizedMetric.snapshot gives them.

    Both metrics come from one sweep; big requests split their sources across
    threads.
    """
    _, forward_time, backward_time = time_snapshot
    forward_distance, backward_distance = (None, backward_time) if distance_snapshot is None else distance_snapshot[1:]
    space = contraction.search_space(backward_time, backward_distance, targets)
    metrics = 1 if distance_snapshot is None else 2
    sums = [np.empty((len(sources), len(targets)), dtype=np.uint32) for _ in range(metrics)]
    if pool is None or len(sources) < SPLIT_FROM_SOURCES:
        contraction.sums(forward_time, forward_distance, space, sources, sums)
    else:
        bounds = np.linspace(0, len(sources), WORKERS + 1).astype(int)
        futures = [
            pool.submit(contraction.sums, forward_time, forward_distance, space, sources[a:b], [s[a:b] for s in sums])
            for a, b in zip(bounds[:-1], bounds[1:])
        ]
        for future in futures:
            future.result()
    return sums[0], None if distance_snapshot is None else sums[1]


def loop(state: ProfileState, metric: CustomizedMetric, enode: int) -> tuple[int, list[int]]:
    """Cheapest way from turn node ``enode`` round back onto it: (weight, turn nodes).

    Needed when a trip leaves along a section and must come back onto the same
    section in the same direction behind its start (a CCH query from a node to
    itself is 0). INF_WEIGHT when there is none.
    """
    best, best_path = INF_WEIGHT, []
    for turn in state.turns_out(enode):
        first = int(metric.weights[turn])
        if first >= INF_WEIGHT:
            continue
        nxt = int(state.graph.turn_to[turn])
        weight, path, _ = metric.query(nxt, enode)
        if weight >= INF_WEIGHT or first + weight >= best:
            continue
        best, best_path = first + weight, [enode] + list(path)
    return min(best, INF_WEIGHT), best_path


@njit(cache=True, nogil=True)
def _assemble(
    time_rows, distance_rows, with_distances, penalty, leave_s, arrive_s, leave_m, arrive_m, durations, lengths
):
    """Durations (s) and lengths (m) from raw sums and the access legs, row by row.

    A raw sum loses the local-road entry penalties (taken modulo ``penalty``:
    they steer routes but are no driving time); NaN where there is no path.
    Column j of the sums is destination j reached along its first direction,
    column j + k (if any) along its second: the faster one wins, and the
    length is that route's (distance-metric sum minus time-metric sum, see
    profile_state.DistanceEncoding). ``arrive_*`` (2, k) already take off the
    target turn node's own weight, which the raw sum counts whole. The float
    operations are the ones numpy did before, in the same order.
    """
    k = durations.shape[1]
    options = time_rows.shape[1] // k
    for i in range(time_rows.shape[0]):
        for j in range(k):
            best = np.nan
            best_option = 0
            for option in range(options):
                raw = time_rows[i, j + option * k]
                value = np.nan if raw >= INF_WEIGHT else float(raw % penalty) * 1e-3 + arrive_s[option, j]
                # the second direction wins where it is faster or the first has no path
                if option == 0 or value < best or np.isnan(best):
                    best = value
                    best_option = option
            durations[i, j] = best + leave_s[i]
            if with_distances:
                column = j + best_option * k
                raw_time, raw_distance = time_rows[i, column], distance_rows[i, column]
                time_ms = np.nan if raw_time >= INF_WEIGHT else float(raw_time % penalty)
                distance = np.nan if raw_distance >= INF_WEIGHT else float(raw_distance % penalty)
                lengths[i, j] = (distance - time_ms) + arrive_m[best_option, j] + leave_m[i]


def assemble(pool, time_rows, distance_rows, leave_s, arrive_s, leave_m, arrive_m):
    """(durations, lengths or None): see _assemble; big matrices in two halves side by side."""
    rows, k = time_rows.shape[0], arrive_s.shape[1]
    durations = np.empty((rows, k))
    lengths = np.empty((rows, k)) if distance_rows is not None else durations
    distance_rows = time_rows if distance_rows is None else distance_rows
    with_distances = lengths is not durations
    penalty = np.uint32(RESTRICTED_PENALTY_MS)

    def run(span):
        _assemble(
            time_rows[span], distance_rows[span], with_distances, penalty,
            leave_s[span], arrive_s, leave_m[span], arrive_m, durations[span], lengths[span],
        )  # fmt: skip

    if pool is None or rows < SPLIT_FROM_SOURCES:
        run(slice(0, rows))
    else:
        half = rows // 2
        for done in [pool.submit(run, slice(0, half)), pool.submit(run, slice(half, rows))]:
            done.result()
    return durations, lengths if with_distances else None


def loop_weights(state: ProfileState, contraction: Contraction, snapshot, enodes: list[int]) -> dict[int, int]:
    """loop()'s weight for each of ``enodes``, from one small sweep: a turn out of
    the turn node, then the fastest way from where it leads back onto it."""
    weights, forward, backward = snapshot
    turns = [state.turns_out(enode) for enode in enodes]
    heads = state.graph.turn_to[np.concatenate(turns)] if turns else np.empty(0, np.uint32)
    back = np.zeros((0, len(enodes)), dtype=np.uint32)
    if len(heads):
        space = contraction.search_space(backward, backward, np.array(enodes, dtype=np.uint32))
        back = contraction.sums(forward, None, space, heads.astype(np.uint32))[0]
    result, row = {}, 0
    for column, (enode, out) in enumerate(zip(enodes, turns)):
        best = INF_WEIGHT
        for turn in out.tolist():
            first, rest = int(weights[turn]), int(back[row, column])
            row += 1
            if first < INF_WEIGHT and rest < INF_WEIGHT:
                best = min(best, first + rest)
        result[enode] = best
    return result


def _patch_loops(state, contraction, snapshot, rows: np.ndarray, sources, targets, points: int) -> None:
    """Where an origin's turn node is also a destination's arrival turn node, the
    raw sum is 0; replace it with the weight of driving round onto it again.

    Column ``j`` is point ``j % points`` (first, then second arrival options). A
    point's own columns are skipped: the diagonal is 0 anyway, and computing
    its loop for every origin cost ~0.45 s per metric at 1000 x 1000 on Porto.
    """
    where = {}
    for j, t in enumerate(targets.tolist()):
        where.setdefault(t, []).append(j)
    hits = []
    for i, s in enumerate(sources.tolist()):
        columns = [j for j in where.get(s, ()) if j % points != i]
        if columns:
            hits.append((i, columns))
    if not hits:
        return
    loops = loop_weights(state, contraction, snapshot, sorted({int(sources[i]) for i, _ in hits}))
    for i, columns in hits:
        rows[i, columns] = loops[int(sources[i])]


def node_matrix(
    state: ProfileState,
    good: list,
    factors: np.ndarray,
    time_metric: CustomizedMetric,
    distance_metric: CustomizedMetric | None,
    pool,
    snapshots: tuple,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Durations (s) and distances (m) between snapped points, access legs included.

    Distances are the length of the fastest route behind each duration (a second
    metric, see profile_state.DistanceEncoding). ``snapshots``: the two metrics'
    snapshots of one closure state (the caller takes them under the network's
    lock; the distance one None without distances).
    """
    time_snapshot, distance_snapshot = snapshots
    contraction = time_metric.contraction
    # Destinations may be reached along either direction of a two-way section:
    # the second turn nodes share their CCH search space with the first ones
    # and add ~8 % to the query. Doing the same for origins would double it, so
    # an origin leaves towards its nearer end (route() tries both); turning
    # back costs a U-turn at that end.
    leave = [state.leave_options(s)[0] for s in good]
    sources = np.array([node for node, _, _ in leave], dtype=np.uint32)
    options = [state.arrive_options(s) for s in good]
    first = [o[0] for o in options]
    second = [o[-1] for o in options]
    two_way = any(len(o) > 1 for o in options)
    targets = np.array([node for node, _, _ in first + (second if two_way else [])], dtype=np.uint32)
    # Stops on one street leaving the same way start from one turn node: a sweep
    # costs the same per source, so they are not merged (that cost a copy of the rows).
    time_rows, distance_rows = many_to_many(pool, contraction, time_snapshot, distance_snapshot, sources, targets)

    gap = np.array([s.distance_m for s in good])
    walk_s = gap / state.access_mps
    target_s = time_metric.target_weights.astype(np.float64) * 1e-3
    chosen = [first, second] if two_way else [first]
    arrive_s = np.array(
        [
            walk_s + [state.arrive_seconds(s, o[1], o[2], factors) - target_s[o[0]] for s, o in zip(good, c)]
            for c in chosen
        ]
    )
    leave_s = walk_s + [state.leave_seconds(s, o[1], o[2], factors) for s, o in zip(good, leave)]
    _patch_loops(state, contraction, time_snapshot, time_rows, sources, targets, len(good))
    leave_m = arrive_m = None
    if distance_metric is not None:
        target_m = distance_metric.target_weights.astype(np.float64)
        _patch_loops(state, contraction, distance_snapshot, distance_rows, sources, targets, len(good))
        leave_m = gap + [o[1] for o in leave]
        arrive_m = np.array([gap + [o[1] - target_m[o[0]] for o in c] for c in chosen])
    block, dist_block = assemble(
        pool, time_rows, distance_rows, leave_s, arrive_s, leave_s if leave_m is None else leave_m,
        arrive_s if arrive_m is None else arrive_m,
    )  # fmt: skip
    shortcut_same_chain(state, good, factors, walk_s, gap, block, dist_block)
    np.fill_diagonal(block, 0.0)
    if distance_metric is not None:
        np.fill_diagonal(dist_block, 0.0)
        clamp_to_straight_line(good, dist_block)
    return block, dist_block


def shortcut_same_chain(state, good, factors, walk_s, gap, block, dist_block) -> None:
    """Two stops on one street section: drive straight along it.

    The node matrix would send the trip through the section's end nodes. Works
    per shared chain on whole arrays: a group of k stops is k x k pairs, and
    points far from the roads (fields, sea) pile onto a few chains (377 stops on
    one chain in a 1000-point Heidelberg matrix: a per-pair Python loop took 2 s).
    """
    chains = np.array([s.chain for s in good])
    _, inverse, counts = np.unique(chains, return_inverse=True, return_counts=True)
    if not len(counts) or counts.max() < 2:
        return
    g = state.graph
    offsets = np.array([s.offset_m for s in good])
    for group in np.flatnonzero(counts > 1):
        members = np.flatnonzero(inverse == group)
        chain = int(chains[members[0]])
        offset = offsets[members]
        delta = offset[None, :] - offset[:, None]  # [i, j]: metres from i to j along the chain
        allowed = np.zeros(delta.shape, dtype=bool)
        if state.open_forward[chain]:
            allowed |= delta >= 0
        if state.open_backward[chain]:
            allowed |= delta <= 0
        np.fill_diagonal(allowed, False)
        if not allowed.any():
            continue
        along = np.abs(delta)
        speed_mps = float(g.chain_speed_kmh[chain]) * state.speed_factor(chain, factors) / 3.6
        # signs and barriers strictly between the two offsets (as fixed_seconds counts them)
        lo, hi = np.searchsorted(g.cost_point_chain, [chain, chain + 1])
        fixed = 0.0
        if hi > lo:
            points_m = g.cost_point_offset_m[lo:hi].astype(np.float64)
            cumulative = np.concatenate([[0.0], np.cumsum(state.cost_point_s[lo:hi])])
            low, high = np.minimum(offset[:, None], offset[None, :]), np.maximum(offset[:, None], offset[None, :])
            fixed = (
                cumulative[np.searchsorted(points_m, high, side="left")]
                - cumulative[np.searchsorted(points_m, low, side="right")]
            )
            fixed = np.maximum(fixed, 0.0)
        direct_s = walk_s[members][:, None] + walk_s[members][None, :] + along / speed_mps + fixed
        rows, cols = members[:, None], members[None, :]
        current = block[rows, cols]
        # NaN (no other way) compares False: the direct drive wins there too
        better = allowed & ~(direct_s >= current)
        if not better.any():
            continue
        current[better] = direct_s[better]
        block[rows, cols] = current
        if dist_block is not None:
            lengths = dist_block[rows, cols]
            lengths[better] = (gap[members][:, None] + gap[members][None, :] + along)[better]
            dist_block[rows, cols] = lengths


def clamp_to_straight_line(good, dist_block) -> None:
    """Guarantee distance >= great-circle distance between the two points.

    Every term of a distance is a great-circle length of a piece of the path,
    so this only absorbs float rounding (millimetres). A cheap planar
    estimate finds the few pairs worth checking with the exact haversine.
    """
    lat = np.array([s.lat for s in good])
    lon = np.array([s.lon for s in good])
    # float32 is plenty for a 2 % screening margin and halves the memory traffic
    x = (np.radians(lon) * np.cos(np.radians(lat.mean())) * 6_371_008.8).astype(np.float32)
    y = (np.radians(lat) * 6_371_008.8).astype(np.float32)
    for start in range(0, len(good), 256):  # row chunks keep temporaries small
        stop = start + 256
        planar = np.hypot(x[start:stop, None] - x[None, :], y[start:stop, None] - y[None, :])
        planar *= 1.02
        planar += 1.0
        rows, cols = np.nonzero(dist_block[start:stop] < planar)
        rows += start
        if len(rows):
            exact = haversine_m(lat[rows], lon[rows], lat[cols], lon[cols])
            dist_block[rows, cols] = np.maximum(dist_block[rows, cols], exact)


def warm() -> None:
    """Compile the matrices' numba kernels into numba's cache (``make venv``): the
    first matrix of a fresh checkout would otherwise spend ~10 s compiling."""
    sweep_warm()
    rows = np.array([[5, INF_WEIGHT, 7, 3], [INF_WEIGHT, 2, 1, 0]], dtype=np.uint32)
    legs = np.ones(2)
    for arrive in (np.ones((1, 4)), np.ones((2, 2))):  # one or two arrival directions
        assemble(None, rows, rows, legs, arrive, legs, arrive)
        assemble(None, rows, None, legs, arrive, legs, arrive)
