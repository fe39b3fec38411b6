"""Matrices over our own contraction of the turn graph: both metrics, many sources per sweep.

RoutingKit's many-to-many answers one source at a time and one metric at a
time: each source sweeps the union of the targets' search spaces, and the
lengths of the fastest routes need a second metric and so a second pass (see
profile_state.DistanceEncoding). Here the same CCH (RoutingKit's nested-
dissection order, saved with the prepared network) is contracted and
customized in numba, and a matrix sweeps that union once for a batch of
LANES sources and both metrics: the inner loop runs over the sources of the
batch, which the compiler turns into vector instructions, and the graph is
read once per batch instead of once per source and metric. The sums are the
same integers RoutingKit returns (checked entry by entry in the tests).

Layout, in rank space (rank 0 = contracted first):
- ``up_first``/``up_head``: the upward arcs of each node (CSR, heads sorted,
  so arc ids grow with the tail's rank);
- ``parent``: the elimination tree; every upward neighbour is an ancestor, so
  a node's search space is its path to the root;
- per metric, ``forward[a]``: the weight of going up arc a (tail -> head),
  ``backward[a]``: of coming down it (head -> tail).

Point-to-point routes with their paths stay with RoutingKit.
"""

from __future__ import annotations

import heapq
import os

import numpy as np
from numba import njit

INF = np.uint32(2147483647)  # RoutingKit's inf_weight: a sum of two stays below 2**32
LANES = 64  # sources per sweep: 64 x 4 bytes per node and metric fill whole vectors


@njit(cache=True, nogil=True)
def _elimination_tree(n, low_first, low_head):
    """Liu's algorithm: each node's parent in the elimination tree (-1: a root).
    ``low_*``: every node's neighbours of lower rank (CSR)."""
    parent = np.full(n, -1, dtype=np.int32)
    ancestor = np.full(n, -1, dtype=np.int32)
    for u in range(n):
        for e in range(low_first[u], low_first[u + 1]):
            r = low_head[e]
            while ancestor[r] != -1 and ancestor[r] != u:
                t = ancestor[r]
                ancestor[r] = u
                r = t
            if ancestor[r] == -1 and r != u:
                ancestor[r] = u
                parent[r] = u
    return parent


@njit(cache=True, nogil=True)
def _fill(n, low_first, low_head, parent, up_first, up_head):
    """The upward arcs of the contracted graph: x gets u when x lies on the tree
    path from a lower neighbour of u up to u. Called once to count (empty
    ``up_head``) and once to fill; heads come out sorted because u grows."""
    mark = np.full(n, -1, dtype=np.int32)
    count = np.zeros(n, dtype=np.int64)
    filling = up_head.shape[0] > 0
    for u in range(n):
        mark[u] = u
        for e in range(low_first[u], low_first[u + 1]):
            x = low_head[e]
            while mark[x] != u:
                mark[x] = u
                if filling:
                    up_head[up_first[x] + count[x]] = u
                count[x] += 1
                x = parent[x]
    return count


@njit(cache=True, nogil=True)
def _find_arc(up_first, up_head, x, u):
    lo, hi = up_first[x], up_first[x + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        if up_head[mid] < u:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _input_arcs(up_first, up_head, rank_from, rank_to):
    """Each turn's upward arc (-1 for a turn onto its own turn node, which never
    shortens a path) and whether it runs upward."""
    m = rank_from.shape[0]
    arc = np.empty(m, dtype=np.int64)
    upward = np.empty(m, dtype=np.bool_)
    for i in range(m):
        a, b = rank_from[i], rank_to[i]
        upward[i] = a < b
        if a == b:
            arc[i] = -1
        elif a < b:
            arc[i] = _find_arc(up_first, up_head, a, b)
        else:
            arc[i] = _find_arc(up_first, up_head, b, a)
    return arc, upward


@njit(cache=True, nogil=True)
def _transpose(n, up_first, up_head):
    """Every node's lower neighbours (sorted) with the arc ids that reach it."""
    count = np.zeros(n + 1, dtype=np.int64)
    for a in range(up_head.shape[0]):
        count[up_head[a] + 1] += 1
    first = np.cumsum(count)
    tail = np.empty(up_head.shape[0], dtype=np.int32)
    arc = np.empty(up_head.shape[0], dtype=np.int64)
    fill = first[:-1].copy()
    for x in range(n):
        for a in range(up_first[x], up_first[x + 1]):
            u = up_head[a]
            tail[fill[u]] = x
            arc[fill[u]] = a
            fill[u] += 1
    return first, tail, arc


@njit(cache=True, nogil=True)
def _customize(n, up_first, up_head, input_arc, input_upward, weights, forward, backward):
    """Turn weights onto the upward arcs, then the lower triangles x < u < v in
    rank order: going u -> v may go u -> x -> v (and back)."""
    forward[:] = INF
    backward[:] = INF
    for i in range(input_arc.shape[0]):
        a = input_arc[i]
        if a < 0:
            continue
        if input_upward[i]:
            forward[a] = min(forward[a], weights[i])
        else:
            backward[a] = min(backward[a], weights[i])
    for x in range(n):
        start, stop = up_first[x], up_first[x + 1]
        for i in range(start, stop):
            u = up_head[i]
            # x's heads above u are all heads of u (the filled graph is chordal): walk both sorted lists
            top = up_first[u]
            for j in range(i + 1, stop):
                v = up_head[j]
                while up_head[top] < v:
                    top += 1
                forward[top] = min(forward[top], np.add(backward[i], forward[j]))
                backward[top] = min(backward[top], np.add(backward[j], forward[i]))


@njit(cache=True, nogil=True)
def _recustomize(
    up_first, up_head, arc_tail, down_first, down_tail, down_arc,
    arc_turn_first, arc_turns, input_upward, weights, old_forward, old_backward, forward, backward, changed,
):  # fmt: skip
    """Partial customization after some turns changed: recompute the arcs of
    those turns from their turns and lower triangles, lowest tail first (an arc
    id grows with its tail's rank, so a heap of ids is rank order); when an arc
    changed, recompute an arc above it only where a triangle through it now
    beats that arc's old value or made its old value and got dearer. A
    triangle's last test uses both its arcs' final values, so no arc whose
    value changes is missed. ``old_*``: the values before; ``forward`` and
    ``backward`` start as their copies. Returns the number of arcs recomputed."""
    queued = np.zeros(up_head.shape[0], dtype=np.bool_)
    heap = [np.int64(0)]
    heap.pop()
    for a in changed:
        if not queued[a]:
            queued[a] = True
            heapq.heappush(heap, np.int64(a))
    done = 0
    while len(heap):
        a = heapq.heappop(heap)
        queued[a] = False
        done += 1
        x = arc_tail[a]
        u = up_head[a]
        f = INF
        b = INF
        for p in range(arc_turn_first[a], arc_turn_first[a + 1]):
            turn = arc_turns[p]
            if input_upward[turn]:
                f = min(f, weights[turn])
            else:
                b = min(b, weights[turn])
        p, p_end = down_first[x], down_first[x + 1]
        q, q_end = down_first[u], down_first[u + 1]
        while p < p_end and q < q_end:
            yx, yu = down_tail[p], down_tail[q]
            if yx == yu:
                ax, au = down_arc[p], down_arc[q]
                f = min(f, np.add(backward[ax], forward[au]))
                b = min(b, np.add(backward[au], forward[ax]))
                p += 1
                q += 1
            elif yx < yu:
                p += 1
            else:
                q += 1
        forward[a] = f
        backward[a] = b
        if f == old_forward[a] and b == old_backward[a]:
            continue
        for i in range(up_first[x], up_first[x + 1]):
            v = up_head[i]
            if v == u:
                continue
            if v > u:  # arc u -> v: up u -> x -> v; down v -> x -> u
                d = _find_arc(up_first, up_head, u, v)
                up_old, up_new = np.add(old_backward[a], old_forward[i]), np.add(backward[a], forward[i])
                down_old, down_new = np.add(old_backward[i], old_forward[a]), np.add(backward[i], forward[a])
            else:  # arc v -> u: up v -> x -> u; down u -> x -> v
                d = _find_arc(up_first, up_head, v, u)
                up_old, up_new = np.add(old_backward[i], old_forward[a]), np.add(backward[i], forward[a])
                down_old, down_new = np.add(old_backward[a], old_forward[i]), np.add(backward[a], forward[i])
            if queued[d]:
                continue
            if (
                up_new < old_forward[d]
                or down_new < old_backward[d]
                or (up_new > up_old and up_old == old_forward[d] and up_old < INF)
                or (down_new > down_old and down_old == old_backward[d] and down_old < INF)
            ):
                queued[d] = True
                heapq.heappush(heap, d)
    return done


@njit(cache=True, nogil=True)
def _search_space(parent, targets, n):
    """The union of the targets' search spaces (their ancestors), highest rank first."""
    seen = np.zeros(n, dtype=np.bool_)
    for t in targets:
        x = t
        while x != -1 and not seen[x]:
            seen[x] = True
            x = parent[x]
    # a copy: a reversed view is contiguous only when it holds 0 or 1 nodes, which numba types apart
    return np.flatnonzero(seen)[::-1].copy()


@njit(cache=True, nogil=True)
def _restrict(n, up_first, up_head, backward0, backward1, nodes):
    """The down-sweep graph over ``nodes`` (highest rank first): for local node i,
    its upward neighbours' local indices and the weights of coming down."""
    local = np.full(n, -1, dtype=np.int32)
    for i in range(nodes.shape[0]):
        local[nodes[i]] = i
    first = np.zeros(nodes.shape[0] + 1, dtype=np.int64)
    for i in range(nodes.shape[0]):
        x = nodes[i]
        first[i + 1] = first[i] + up_first[x + 1] - up_first[x]
    head = np.empty(first[-1], dtype=np.int32)
    down = np.empty((2, first[-1]), dtype=np.uint32)
    for i in range(nodes.shape[0]):
        x = nodes[i]
        e = first[i]
        for a in range(up_first[x], up_first[x + 1]):
            head[e] = local[up_head[a]]
            down[0, e] = backward0[a]
            down[1, e] = backward1[a]
            e += 1
    return local, first, head, down


@njit(cache=True, nogil=True)
def _matrix(
    n, up_first, up_head, parent, forward0, forward1, metrics,
    local, first, head, down, sources, target_local, lanes, out0, out1,
):  # fmt: skip
    """out0[s, t] (and out1[s, t] for a second metric): sums from sources[s] to
    the target at local index target_local[t]; INF where there is none.

    ``lanes`` is a run-time value on purpose: with a constant trip count the
    compiler unrolls the lane loops and stops vectorizing them; np.add and
    np.minimum keep the arithmetic in uint32 (a plain + widens to 64 bits,
    halving the lanes per instruction).
    """
    size = first.shape[0] - 1
    up = np.full((n, 2), INF, dtype=np.uint32)
    label = np.empty((size, 2, lanes), dtype=np.uint32)
    for batch in range(0, sources.shape[0], lanes):
        used = min(lanes, sources.shape[0] - batch)
        label[:] = INF
        for lane in range(used):
            # upward search: the source's ancestors, lowest first
            s = sources[batch + lane]
            up[s, 0] = 0
            up[s, 1] = 0
            x = s
            while x != -1:
                for a in range(up_first[x], up_first[x + 1]):
                    u = up_head[a]
                    up[u, 0] = min(up[u, 0], np.add(up[x, 0], forward0[a]))
                    if metrics == 2:
                        up[u, 1] = min(up[u, 1], np.add(up[x, 1], forward1[a]))
                i = local[x]
                if i >= 0:
                    label[i, 0, lane] = up[x, 0]
                    label[i, 1, lane] = up[x, 1]
                x = parent[x]
            x = s
            while x != -1:
                up[x, 0] = INF
                up[x, 1] = INF
                x = parent[x]
        # down sweep over the targets' search spaces, all lanes at once
        for i in range(size):
            for e in range(first[i], first[i + 1]):
                j = head[e]
                for k in range(metrics):
                    w = down[k, e]
                    mine = label[i, k]
                    above = label[j, k]
                    for lane in range(lanes):
                        mine[lane] = np.minimum(mine[lane], np.add(above[lane], w))
        for k in range(metrics):
            result = out0 if k == 0 else out1
            for t in range(target_local.shape[0]):
                row = label[target_local[t], k]
                for lane in range(used):
                    result[batch + lane, t] = min(row[lane], INF)


def read_order(cch_dir: str, node_count: int) -> np.ndarray:
    """The nested-dissection order RoutingKit saved with the topology (``order``:
    the node of each rank, raw uint32)."""
    path = os.path.join(cch_dir, "order")
    if os.path.getsize(path) != 4 * node_count:
        raise ValueError(f"{path}: expected {node_count} uint32 ranks")
    order = np.fromfile(path, dtype=np.uint32)
    # the kernels do not check bounds: anything but a permutation must stop here
    if (node_count and order.max() >= node_count) or np.bincount(order, minlength=node_count).max(initial=1) != 1:
        raise ValueError(f"{path}: not an order of the {node_count} turn nodes")
    return order


class Contraction:
    """The contracted turn graph of one profile, built from the saved order
    (Porto's car graph: ~0.6 s, once per process); metrics customize over it."""

    def __init__(self, order: np.ndarray, turn_from: np.ndarray, turn_to: np.ndarray):
        n = len(order)
        self.n = n
        self.rank = np.empty(n, dtype=np.int32)
        self.rank[order] = np.arange(n, dtype=np.int32)
        rank_from = self.rank[turn_from]
        rank_to = self.rank[turn_to]
        lo = np.minimum(rank_from, rank_to)
        hi = np.maximum(rank_from, rank_to)
        keep = lo != hi
        pairs = np.unique(np.stack([hi[keep], lo[keep]], axis=1), axis=0)  # sorted by higher end
        low_first = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs[:, 0], minlength=n), out=low_first[1:])
        low_head = pairs[:, 1].astype(np.int32)
        self.parent = _elimination_tree(n, low_first, low_head)
        count = _fill(n, low_first, low_head, self.parent, np.zeros(1, np.int64), np.empty(0, np.int32))
        self.up_first = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(count, out=self.up_first[1:])
        self.up_head = np.empty(self.up_first[-1], dtype=np.int32)
        _fill(n, low_first, low_head, self.parent, self.up_first, self.up_head)
        self.arc_tail = np.repeat(np.arange(n, dtype=np.int32), count)
        self.down_first, self.down_tail, self.down_arc = _transpose(n, self.up_first, self.up_head)
        self.input_arc, self.input_upward = _input_arcs(self.up_first, self.up_head, rank_from, rank_to)
        used = np.flatnonzero(self.input_arc >= 0)
        by_arc = used[np.argsort(self.input_arc[used], kind="stable")]
        self.arc_turns = by_arc
        self.arc_turn_first = np.zeros(len(self.up_head) + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.input_arc[used], minlength=len(self.up_head)), out=self.arc_turn_first[1:])

    @property
    def arc_count(self) -> int:
        return len(self.up_head)

    def customize(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Turn weights (uint32) -> (forward, backward) per upward arc."""
        weights = np.ascontiguousarray(weights, dtype=np.uint32)
        forward = np.empty(self.arc_count, dtype=np.uint32)
        backward = np.empty_like(forward)
        _customize(self.n, self.up_first, self.up_head, self.input_arc, self.input_upward, weights, forward, backward)
        return forward, backward

    def recustomize(self, weights: np.ndarray, old: tuple, turns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New (forward, backward) for ``weights`` after ``turns`` changed, from the
        ``old`` pair (left as it is: a matrix may still be reading it)."""
        weights = np.ascontiguousarray(weights, dtype=np.uint32)
        forward, backward = (part.copy() for part in old)
        arcs = np.unique(self.input_arc[np.asarray(turns, dtype=np.int64)])
        arcs = arcs[arcs >= 0]
        if len(arcs):
            _recustomize(
                self.up_first, self.up_head, self.arc_tail, self.down_first, self.down_tail, self.down_arc,
                self.arc_turn_first, self.arc_turns, self.input_upward, weights, *old, forward, backward, arcs,
            )  # fmt: skip
        return forward, backward

    def search_space(self, backward0: np.ndarray, backward1: np.ndarray, targets: np.ndarray):
        """The down-sweep graph of a set of target turn nodes (their local indices last)."""
        ranks = self.rank[np.asarray(targets, dtype=np.int64)]
        nodes = _search_space(self.parent, ranks, self.n)
        local, first, head, down = _restrict(self.n, self.up_first, self.up_head, backward0, backward1, nodes)
        return local, first, head, down, local[ranks]

    def sums(self, forward0, forward1, space, sources: np.ndarray, out=None) -> list[np.ndarray]:
        """Path sums (uint32, INF where there is no path), a (sources, targets) array
        per metric, written into ``out`` if given; ``forward1`` None for one metric."""
        local, first, head, down, target_local = space
        metrics = 1 if forward1 is None else 2
        if out is None:
            out = [np.empty((len(sources), len(target_local)), dtype=np.uint32) for _ in range(metrics)]
        # fewer lanes for few sources: a batch costs the same whether its lanes are used or not
        lanes = min(LANES, max(8, -(-len(sources) // 8) * 8))
        _matrix(
            self.n, self.up_first, self.up_head, self.parent,
            forward0, forward0 if forward1 is None else forward1, metrics,
            local, first, head, down, self.rank[np.asarray(sources, dtype=np.int64)], target_local, lanes,
            out[0], out[-1],
        )  # fmt: skip
        return out


def warm() -> None:
    """Compile every kernel into numba's cache (``__pycache__`` beside this file)
    on a small grid, with the argument types the network uses (matrices.warm)."""
    side = 6
    cells = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate(
        [
            np.stack([cells[:, :-1].ravel(), cells[:, 1:].ravel()], axis=1),
            np.stack([cells[:-1, :].ravel(), cells[1:, :].ravel()], axis=1),
        ]
    )
    turn_from = np.concatenate([pairs[:, 0], pairs[:, 1]]).astype(np.uint32)
    turn_to = np.concatenate([pairs[:, 1], pairs[:, 0]]).astype(np.uint32)
    order = np.random.default_rng(0).permutation(side * side).astype(np.uint32)
    contraction = Contraction(order, turn_from, turn_to)
    weights = np.arange(1, len(turn_from) + 1, dtype=np.uint32)
    time_arrays = contraction.customize(weights)
    weights[:3] = INF
    time_arrays = contraction.recustomize(weights, time_arrays, np.arange(3, dtype=np.uint32))
    nodes = np.arange(side * side, dtype=np.uint32)
    space = contraction.search_space(time_arrays[1], time_arrays[1], nodes)
    contraction.sums(time_arrays[0], None, space, nodes)
    contraction.sums(time_arrays[0], time_arrays[0], space, nodes)
