"""Customized CCH metrics and the assembly of point-to-point matrices from them."""

from __future__ import annotations

import os
import threading

import numpy as np
import pyroutingkit

from .geometry import haversine_m
from .profile_state import INF_WEIGHT, RESTRICTED_PENALTY_MS, ProfileState
from .sweep import Contraction

# Matrices sweep with our own contraction (sweep.py), whose kernels release the
# GIL: big ones split their sources across this many threads.
WORKERS = max(1, min(2, os.cpu_count() or 1))
SPLIT_FROM_SOURCES = 128


class CustomizedMetric:
    """One customized weight vector: RoutingKit's metric for routes (paths) and
    the sweep's (forward, backward) arrays for matrices.

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
        self.weights = weights.copy()  # current, closures included
        self.target_weights = target_weights
        self.kind = kind
        self.contraction = contraction
        metric = pyroutingkit.CCHMetric(topology)
        # thread_count=1: the OpenMP path costs ~40x more on this 2-core box
        metric.customize(weights, 1)
        self.replicas = [(metric, threading.Lock())]
        # read whole by a matrix, replaced whole by update_weights: a matrix
        # running while closures change sees either the old or the new weights
        self.sweep = contraction.customize(self.weights)

    def query(self, source: int, target: int):
        metric, lock = self.replicas[0]
        with lock:
            return metric.query(source, target)

    def update_weights(self, arcs: np.ndarray, weights: np.ndarray) -> None:
        self.weights[arcs] = weights
        self.sweep = self.contraction.recustomize(self.weights, self.sweep, arcs)
        for metric, lock in self.replicas:
            with lock:
                metric.update_weights(arcs, weights)


def many_to_many(pool, time_metric: CustomizedMetric, distance_metric, sources, targets):
    """Raw path sums (uint32, INF_WEIGHT = no path) of the time metric and, if
    given, the distance metric (else None), a row per source.

    Both metrics come from one sweep; big requests split their sources across
    threads.
    """
    contraction = time_metric.contraction
    forward_time, backward_time = time_metric.sweep
    forward_distance, backward_distance = (None, backward_time) if distance_metric is None else distance_metric.sweep
    space = contraction.search_space(backward_time, backward_distance, targets)
    if pool is None or len(sources) < SPLIT_FROM_SOURCES:
        sums = contraction.sums(forward_time, forward_distance, space, sources)
    else:
        chunks = np.array_split(sources, WORKERS)
        futures = [pool.submit(contraction.sums, forward_time, forward_distance, space, chunk) for chunk in chunks]
        sums = np.concatenate([future.result() for future in futures], axis=1)
    return sums[0], None if distance_metric is None else sums[1]


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


def _reduce(rows: np.ndarray) -> np.ndarray:
    """Raw CCH sums -> float ms (or ms + m) without the local-road entry
    penalties, which steer routes but are no driving time; NaN where no path."""
    values = np.remainder(rows, np.uint32(RESTRICTED_PENALTY_MS)).astype(np.float64)
    values[rows >= INF_WEIGHT] = np.nan
    return values


def _per_origin(rows: np.ndarray, source_row: np.ndarray):
    """The rows of the distinct source turn nodes, one per origin again, as one part."""
    return [(0, rows[source_row])]


def combine_durations(parts, leave, arrive_first, arrive_second) -> tuple[np.ndarray, np.ndarray | None]:
    """Durations (s): reduced time sums plus the access legs, taking the faster
    of the two arrival options per destination; NaN where neither has a path.
    Also returns where the second option won (None if there is none).

    ``arrive_*`` already take off the target turn node's own weight (which the
    raw sum counts whole). Works in blocks of 256 rows so temporaries stay
    small: at 2000 x 2000 a full-size temporary is 32 MB, and first-touching
    fresh memory is what dominated this step on a busy VM.
    """
    k = len(arrive_first)
    out = np.empty((len(leave), k))
    second_won = None
    for row, part in parts:
        for start in range(0, len(part), 256):
            rows = part[start : start + 256]
            span = slice(row + start, row + start + len(rows))
            target = out[span]
            target[:] = _reduce(rows[:, :k])
            target *= 1e-3
            target += arrive_first
            if rows.shape[1] > k:
                if second_won is None:
                    second_won = np.zeros((len(leave), k), dtype=bool)
                second = _reduce(rows[:, k:])
                second *= 1e-3
                second += arrive_second
                np.less(second, target, out=second_won[span])
                second_won[span] |= np.isnan(target)
                np.fmin(target, second, out=target)
            target += leave[span, None]
    return out, second_won


def combine_distances(time_parts, parts, leave, arrive_first, arrive_second, second_won) -> np.ndarray:
    """Lengths (m) of the routes behind the durations: distance-metric sums minus
    time-metric sums (DistanceEncoding), plus the access legs, for the arrival
    option the duration used."""
    k = len(arrive_first)
    out = np.empty((len(leave), k))
    times = dict(time_parts)
    for row, part in parts:
        for start in range(0, len(part), 256):
            rows = part[start : start + 256]
            base = times[row][start : start + 256]
            span = slice(row + start, row + start + len(rows))
            target = out[span]
            target[:] = _reduce(rows[:, :k]) - _reduce(base[:, :k])
            target += arrive_first
            if second_won is not None:
                second = _reduce(rows[:, k:]) - _reduce(base[:, k:])
                second += arrive_second
                np.copyto(target, second, where=second_won[span])
            target += leave[span, None]
    return out


def _patch_loops(state, metric, parts, sources, targets, points: int) -> None:
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
    cache: dict[int, int] = {}
    for i, columns in hits:
        enode = int(sources[i])
        if enode not in cache:
            cache[enode] = loop(state, metric, enode)[0]
        for row, part in parts:
            if row <= i < row + len(part):
                part[i - row, columns] = cache[enode]


def node_matrix(
    state: ProfileState,
    good: list,
    factors: np.ndarray,
    time_metric: CustomizedMetric,
    distance_metric: CustomizedMetric | None,
    pool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Durations (s) and distances (m) between snapped points, access legs included.

    Distances are the length of the fastest route behind each duration (a second
    metric, see profile_state.DistanceEncoding).
    """
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
    # Stops on one street leaving the same way start from one turn node: search once.
    unique_sources, source_row = np.unique(sources, return_inverse=True)
    time_parts, distance_parts = many_to_many(pool, time_metric, distance_metric, unique_sources, targets)

    gap = np.array([s.distance_m for s in good])
    walk_s = gap / state.access_mps
    target_s = time_metric.target_weights.astype(np.float64) * 1e-3

    def arrive_seconds(chosen):
        return walk_s + [state.arrive_seconds(s, o[1], o[2], factors) - target_s[o[0]] for s, o in zip(good, chosen)]

    leave_s = walk_s + [state.leave_seconds(s, o[1], o[2], factors) for s, o in zip(good, leave)]
    time_parts = _per_origin(time_parts, source_row)
    _patch_loops(state, time_metric, time_parts, sources, targets, len(good))
    block, second_won = combine_durations(time_parts, leave_s, arrive_seconds(first), arrive_seconds(second))
    dist_block = None
    if distance_metric is not None:
        target_m = distance_metric.target_weights.astype(np.float64)
        distance_parts = _per_origin(distance_parts, source_row)
        _patch_loops(state, distance_metric, distance_parts, sources, targets, len(good))
        leave_m = gap + [o[1] for o in leave]
        dist_block = combine_distances(
            time_parts,
            distance_parts,
            leave_m,
            gap + [o[1] - target_m[o[0]] for o in first],
            gap + [o[1] - target_m[o[0]] for o in second],
            second_won,
        )
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
