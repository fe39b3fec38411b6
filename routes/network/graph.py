"""The directed road graph of one profile, with degree-2 chains folded into arcs.

Layout (all numpy, saved as one .npz per profile):

* ``points`` holds global node indices (into the shared node table) of every
  profile way, way after way. A *chain* is the piece of a way between two graph
  nodes; its polyline is ``points[chain_start[c] : chain_end[c] + 1]``. Chains
  are cut at junctions, at way ends and at least every ``max_chain_m`` metres so
  that a snapped point is never far (along the road) from a graph node.
* Graph nodes are the chain end points. A two-way chain gives two arcs sharing
  one polyline; ``arc_reversed`` says which way an arc runs along it.
* ``seg_*`` arrays describe each straight piece of every chain for snapping.

Folding shape points out of the graph makes the CCH 4x smaller on Porto (63 k
instead of 273 k nodes) and its many-to-many queries about 25-30 % faster.

Turn-aware (edge-expanded) graph, the one the CCH is built on: every arc (a
directed chain) is a *turn node*; every allowed manoeuvre from one arc onto the
next at their shared graph node is a *turn*. Turn restrictions (via a node)
remove turns; a restriction via ways copies the via arcs for traffic coming
from the restricted way (``enode_arc`` maps every turn node, copies included,
to its arc; turn node ``i < arc_count`` is arc ``i`` itself). Barriers that
block the profile leave only the U-turn at their node. The chain stays the unit
of road that closures, traffic and learned speed factors apply to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import numpy as np

from .geometry import haversine_m
from .osm_loader import OsmExtract
from .profiles import PROFILES

logger = logging.getLogger(__name__)

DEFAULT_MAX_CHAIN_M = 300.0
# junction sign codes (bit flags in node_signs / counts per chain)
SIGNALS, STOP, GIVE_WAY = 1, 2, 4


@dataclass
class ProfileGraph:
    points: np.ndarray  # int32 global node index per position
    chain_start: np.ndarray  # int32 position of a chain's first point
    chain_end: np.ndarray  # int32 position of a chain's last point
    chain_length_m: np.ndarray  # float64, haversine along the polyline
    chain_speed_kmh: np.ndarray  # float32 free-flow speed
    chain_class: np.ndarray  # uint8 road class code (profiles.ROAD_CLASSES)
    chain_way_id: np.ndarray  # int64 OSM way id
    chain_forward_arc: np.ndarray  # int32 arc running start->end, -1 if none
    chain_backward_arc: np.ndarray  # int32 arc running end->start, -1 if none
    chain_start_node: np.ndarray  # int32 graph node at the chain's first point
    chain_end_node: np.ndarray  # int32 graph node at the chain's last point
    node_global: np.ndarray  # int32 global node index of each graph node
    arc_tail: np.ndarray  # uint32 graph node
    arc_head: np.ndarray  # uint32 graph node
    arc_chain: np.ndarray  # int32
    arc_reversed: np.ndarray  # bool
    seg_position: np.ndarray  # int32 position of a segment's first point
    seg_chain: np.ndarray  # int32
    seg_offset_m: np.ndarray  # float32 distance from chain start to segment start
    seg_length_m: np.ndarray  # float32
    chain_local_only: np.ndarray  # bool: access=destination/private/...: stops only, no through traffic
    chain_signals: np.ndarray  # uint8 traffic signals inside the chain (not at its ends)
    chain_stops: np.ndarray  # uint8 stop signs inside the chain
    chain_give_ways: np.ndarray  # uint8 give-way signs inside the chain
    chain_barrier_s: np.ndarray  # float32 seconds lost at passable barriers inside the chain
    cost_point_chain: np.ndarray  # int32: the signs and barriers inside chains, one per point,
    cost_point_offset_m: np.ndarray  # float32 ... where along the chain (sorted by chain, offset)
    cost_point_signs: np.ndarray  # uint8 SIGNALS | STOP | GIVE_WAY
    cost_point_barrier_s: np.ndarray  # float32
    node_signs: np.ndarray  # uint8 SIGNALS | STOP | GIVE_WAY at a graph node
    node_barrier_s: np.ndarray  # float32 seconds lost passing a barrier at a graph node
    enode_arc: np.ndarray  # int32 arc of each turn node (arcs first, then via-way copies)
    turn_from: np.ndarray  # uint32 turn node
    turn_to: np.ndarray  # uint32 turn node
    turn_angle: np.ndarray  # int16 degrees, + to the right, -180..180 (180: U-turn)
    turn_node: np.ndarray  # int32 graph node where the turn happens

    @property
    def node_count(self) -> int:
        return len(self.node_global)

    @property
    def arc_count(self) -> int:
        return len(self.arc_tail)

    @property
    def arc_length_m(self) -> np.ndarray:
        return self.chain_length_m[self.arc_chain]

    @property
    def enode_count(self) -> int:
        return len(self.enode_arc)

    @property
    def turn_count(self) -> int:
        return len(self.turn_from)

    def reverse_arc(self) -> np.ndarray:
        """The arc running the other way along the same chain, -1 if none."""
        forward = self.chain_forward_arc[self.arc_chain]
        backward = self.chain_backward_arc[self.arc_chain]
        return np.where(self.arc_reversed, forward, backward)

    def save(self, path: str) -> None:
        np.savez(path, **{f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def load(cls, path: str) -> ProfileGraph:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in fields(cls)})

    def chain_polyline(self, chain: int) -> np.ndarray:
        """Global node indices along a chain, in chain direction."""
        return self.points[self.chain_start[chain] : self.chain_end[chain] + 1]


def _node_costs(extract: OsmExtract, profile: str):
    """Per global node: sign flags, barrier seconds (inf = blocked)."""
    rule = PROFILES[profile]
    signs = np.zeros(len(extract.node_lat), dtype=np.uint8)
    barrier_s = np.zeros(len(extract.node_lat), dtype=np.float64)
    if not extract.junction_tags:
        return signs, barrier_s
    osm_ids = np.fromiter(extract.junction_tags, dtype=np.int64)
    index = np.searchsorted(extract.node_osm_id, osm_ids)
    index = np.minimum(index, len(extract.node_osm_id) - 1)
    for osm_id, node in zip(osm_ids.tolist(), index.tolist()):
        if extract.node_osm_id[node] != osm_id:
            continue  # not on a road
        tags = extract.junction_tags[osm_id]
        highway = tags.get("highway")
        if highway == "traffic_signals":
            signs[node] |= SIGNALS
        elif highway == "stop":
            signs[node] |= STOP
        elif highway == "give_way":
            signs[node] |= GIVE_WAY
        if "barrier" in tags:
            barrier_s[node] = rule.barrier(tags)
    return signs, barrier_s


def build_profile_graph(extract: OsmExtract, profile: str, max_chain_m: float = DEFAULT_MAX_CHAIN_M) -> ProfileGraph:
    attrs = extract.attributes[profile]
    node_signs_global, barrier_s_global = _node_costs(extract, profile)
    ways = np.flatnonzero(attrs.allowed)
    way_start = extract.way_offsets[ways]
    way_len = extract.way_offsets[ways + 1] - way_start
    # positions of the profile's ways, concatenated, and the way each belongs to
    pos_way = np.repeat(np.arange(len(ways)), way_len)
    first_pos = np.zeros(len(ways) + 1, dtype=np.int64)
    np.cumsum(way_len, out=first_pos[1:])
    local = np.arange(first_pos[-1]) - first_pos[pos_way]
    points = extract.way_nodes[way_start[pos_way] + local]
    is_first = local == 0
    is_last = local == way_len[pos_way] - 1

    lat = extract.node_lat[points]
    lon = extract.node_lon[points]
    seg_len = np.zeros(len(points))
    seg_len[:-1] = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    seg_len[is_last] = 0.0  # no segment across a way boundary
    cumulative = np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
    along_way = cumulative - cumulative[first_pos[pos_way]]

    occurrences = np.bincount(points, minlength=len(extract.node_lat))
    # a blocking barrier ends the chains it sits on, so a stop on either side stays reachable
    junction = (occurrences[points] >= 2) | is_first | is_last | np.isinf(barrier_s_global[points])
    bucket = np.floor(along_way / max_chain_m).astype(np.int64)
    junction[1:] |= (bucket[1:] != bucket[:-1]) & ~is_first[1:]

    junction_pos = np.flatnonzero(junction)
    chain_start = np.flatnonzero(junction & ~is_last)
    chain_end = junction_pos[np.searchsorted(junction_pos, chain_start, side="right")]
    chain_way = pos_way[chain_start]
    chain_length = cumulative[chain_end] - cumulative[chain_start]

    node_global, graph_of_position = np.unique(points[junction_pos], return_inverse=True)
    graph_node = np.full(len(points), -1, dtype=np.int64)
    graph_node[junction_pos] = graph_of_position
    start_node = graph_node[chain_start]
    end_node = graph_node[chain_end]

    forward = attrs.forward[ways][chain_way] & (start_node != end_node)
    backward = attrs.backward[ways][chain_way] & (start_node != end_node)
    fwd_chains = np.flatnonzero(forward)
    bwd_chains = np.flatnonzero(backward)
    arc_chain = np.concatenate([fwd_chains, bwd_chains]).astype(np.int32)
    arc_reversed = np.concatenate([np.zeros(len(fwd_chains), bool), np.ones(len(bwd_chains), bool)])
    arc_tail = np.where(arc_reversed, end_node[arc_chain], start_node[arc_chain])
    arc_head = np.where(arc_reversed, start_node[arc_chain], end_node[arc_chain])
    chain_forward_arc = np.full(len(chain_start), -1, dtype=np.int32)
    chain_backward_arc = np.full(len(chain_start), -1, dtype=np.int32)
    chain_forward_arc[fwd_chains] = np.arange(len(fwd_chains), dtype=np.int32)
    chain_backward_arc[bwd_chains] = np.arange(len(bwd_chains), dtype=np.int32) + len(fwd_chains)

    seg_position = np.flatnonzero(~is_last)
    seg_chain = (np.cumsum(junction & ~is_last) - 1)[seg_position]

    # signs and passable barriers strictly inside a chain: counted on the chain
    inner = ~junction
    inner_chain = (np.cumsum(junction & ~is_last) - 1)[inner]
    chain_count = len(chain_start)
    inner_signs = node_signs_global[points[inner]]

    def per_chain(values) -> np.ndarray:
        return np.bincount(inner_chain, weights=values, minlength=chain_count)

    chain_signals = per_chain((inner_signs & SIGNALS) > 0).astype(np.uint8)
    chain_stops = per_chain((inner_signs & STOP) > 0).astype(np.uint8)
    chain_give_ways = per_chain((inner_signs & GIVE_WAY) > 0).astype(np.uint8)
    chain_barrier_s = per_chain(barrier_s_global[points[inner]]).astype(np.float32)
    inner_positions = np.flatnonzero(inner)
    costly = (inner_signs > 0) | (barrier_s_global[points[inner]] > 0)
    cost_positions = inner_positions[costly]
    cost_chains = inner_chain[costly]
    node_barrier_s = barrier_s_global[node_global]

    graph = ProfileGraph(
        points=points.astype(np.int32),
        chain_start=chain_start.astype(np.int32),
        chain_end=chain_end.astype(np.int32),
        chain_length_m=chain_length,
        chain_speed_kmh=attrs.speed_kmh[ways][chain_way],
        chain_class=attrs.road_class[ways][chain_way],
        chain_way_id=extract.way_osm_id[ways][chain_way],
        chain_forward_arc=chain_forward_arc,
        chain_backward_arc=chain_backward_arc,
        chain_start_node=start_node.astype(np.int32),
        chain_end_node=end_node.astype(np.int32),
        node_global=node_global.astype(np.int32),
        arc_tail=arc_tail.astype(np.uint32),
        arc_head=arc_head.astype(np.uint32),
        arc_chain=arc_chain,
        arc_reversed=arc_reversed,
        seg_position=seg_position.astype(np.int32),
        seg_chain=seg_chain.astype(np.int32),
        # float32: ~0.1 mm at 1.5 km, far below what a snap can resolve
        seg_offset_m=(cumulative[seg_position] - cumulative[chain_start[seg_chain]]).astype(np.float32),
        seg_length_m=seg_len[seg_position].astype(np.float32),
        chain_local_only=attrs.local_only[ways][chain_way],
        chain_signals=chain_signals,
        chain_stops=chain_stops,
        chain_give_ways=chain_give_ways,
        chain_barrier_s=chain_barrier_s,
        cost_point_chain=cost_chains.astype(np.int32),
        cost_point_offset_m=(cumulative[cost_positions] - cumulative[chain_start[cost_chains]]).astype(np.float32),
        cost_point_signs=node_signs_global[points[cost_positions]],
        cost_point_barrier_s=barrier_s_global[points[cost_positions]].astype(np.float32),
        node_signs=node_signs_global[node_global],
        node_barrier_s=np.where(np.isinf(node_barrier_s), 0.0, node_barrier_s).astype(np.float32),
        enode_arc=np.zeros(0, np.int32),
        turn_from=np.zeros(0, np.uint32),
        turn_to=np.zeros(0, np.uint32),
        turn_angle=np.zeros(0, np.int16),
        turn_node=np.zeros(0, np.int32),
    )
    blocked_node = np.isinf(node_barrier_s)
    build_turns(graph, extract, profile, blocked_node)
    return graph


def _arc_bearings(graph: ProfileGraph, node_lat: np.ndarray, node_lon: np.ndarray):
    """Compass bearing (degrees) at which each arc leaves its tail and enters its head."""
    first = np.where(graph.arc_reversed, graph.chain_end[graph.arc_chain], graph.chain_start[graph.arc_chain])
    last = np.where(graph.arc_reversed, graph.chain_start[graph.arc_chain], graph.chain_end[graph.arc_chain])
    step = np.where(graph.arc_reversed, -1, 1)

    def bearing(a_pos, b_pos):
        a, b = graph.points[a_pos], graph.points[b_pos]
        dy = node_lat[b] - node_lat[a]
        dx = (node_lon[b] - node_lon[a]) * np.cos(np.radians(node_lat[a]))
        return np.degrees(np.arctan2(dx, dy))

    return bearing(first, first + step), bearing(last - step, last)


def build_turns(graph: ProfileGraph, extract: OsmExtract, profile: str, blocked_node: np.ndarray) -> None:
    """Fill the turn-node and turn arrays of ``graph`` (see the module docstring)."""
    g = graph
    arc_count = g.arc_count
    out_order = np.argsort(g.arc_tail, kind="stable")
    out_start = np.searchsorted(g.arc_tail[out_order], np.arange(g.node_count + 1))
    out_degree = np.diff(out_start)
    # every pair (arc in, arc out) at the in-arc's head
    per_arc = out_degree[g.arc_head]
    turn_from = np.repeat(np.arange(arc_count), per_arc)
    within = np.arange(len(turn_from)) - np.repeat(np.cumsum(per_arc) - per_arc, per_arc)
    turn_to = out_order[out_start[g.arc_head[turn_from]] + within]
    turn_node = g.arc_head[turn_from].astype(np.int64)
    reverse = g.reverse_arc()
    u_turn = reverse[turn_from] == turn_to
    allowed = ~blocked_node[turn_node] | u_turn
    allowed &= ~(g.arc_chain[turn_from] == g.arc_chain[turn_to]) | u_turn  # loops of one chain

    scope = PROFILES[profile].restrictions
    chains_of_way: dict[int, np.ndarray] = {}
    way_order = np.argsort(g.chain_way_id, kind="stable")
    sorted_ways = g.chain_way_id[way_order]

    def chains(way_id: int) -> np.ndarray:
        if way_id not in chains_of_way:
            lo, hi = np.searchsorted(sorted_ways, [way_id, way_id + 1])
            chains_of_way[way_id] = way_order[lo:hi]
        return chains_of_way[way_id]

    def arcs_of(way_ids) -> np.ndarray:
        found = [c for w in way_ids for c in chains(w)]
        if not found:
            return np.zeros(0, np.int64)
        found = np.asarray(found)
        arcs = np.concatenate([g.chain_forward_arc[found], g.chain_backward_arc[found]])
        return arcs[arcs >= 0].astype(np.int64)

    def graph_node(osm_id: int) -> int:
        index = int(np.searchsorted(extract.node_osm_id, osm_id))
        if index >= len(extract.node_osm_id) or extract.node_osm_id[index] != osm_id:
            return -1
        found = int(np.searchsorted(g.node_global, index))
        if found >= len(g.node_global) or g.node_global[found] != index:
            return -1
        return found

    # (from arc, to arc) -> turn index, to find the turns a restriction names
    turn_key = turn_from.astype(np.int64) * arc_count + turn_to
    key_order = np.argsort(turn_key)
    sorted_keys = turn_key[key_order]

    def turn_index(pairs_from, pairs_to) -> np.ndarray:
        keys = np.asarray(pairs_from, np.int64) * arc_count + np.asarray(pairs_to, np.int64)
        pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        hit = sorted_keys[pos] == keys if len(sorted_keys) else np.zeros(len(keys), bool)
        return key_order[pos[hit]]

    via_way_rules = []
    applied = skipped = 0
    for restriction in extract.restrictions:
        kind = scope.kind(restriction.tags)
        if kind is None:
            continue
        from_arcs = arcs_of(restriction.from_ways)
        to_arcs = arcs_of(restriction.to_ways)
        if not len(from_arcs) or not len(to_arcs):
            skipped += 1
            continue
        if restriction.via_ways:
            via_way_rules.append((kind, from_arcs, arcs_of(restriction.via_ways), to_arcs))
            continue
        if len(restriction.via_nodes) != 1:
            skipped += 1
            continue
        via = graph_node(restriction.via_nodes[0])
        ins = from_arcs[g.arc_head[from_arcs] == via]
        outs = to_arcs[g.arc_tail[to_arcs] == via]
        if not len(ins) or not len(outs):
            skipped += 1
            continue
        if kind.startswith("no_"):
            same_way = set(restriction.from_ways) == set(restriction.to_ways)
            pairs = [(a, b) for a in ins for b in outs if not (same_way and kind == "no_u_turn") or reverse[a] == b]
        else:
            at_via = turn_index(
                np.repeat(ins, out_degree[via]), np.tile(out_order[out_start[via] : out_start[via + 1]], len(ins))
            )
            pairs = [(turn_from[t], turn_to[t]) for t in at_via if turn_to[t] not in set(outs.tolist())]
        if pairs:
            allowed[turn_index([p[0] for p in pairs], [p[1] for p in pairs])] = False
        applied += 1

    turn_from, turn_to, turn_node = turn_from[allowed], turn_to[allowed], turn_node[allowed]
    enode_arc = np.arange(arc_count)
    if via_way_rules:
        turn_from, turn_to, turn_node, enode_arc, done = _apply_via_ways(
            g, via_way_rules, turn_from, turn_to, turn_node, enode_arc, reverse
        )
        applied += done
        skipped += len(via_way_rules) - done

    out_bearing, in_bearing = _arc_bearings(g, extract.node_lat, extract.node_lon)
    arc_from, arc_to = enode_arc[turn_from], enode_arc[turn_to]
    angle = (out_bearing[arc_to] - in_bearing[arc_from] + 180.0) % 360.0 - 180.0
    angle = np.where(reverse[arc_from] == arc_to, 180.0, angle)
    g.enode_arc = enode_arc.astype(np.int32)
    g.turn_from = turn_from.astype(np.uint32)
    g.turn_to = turn_to.astype(np.uint32)
    g.turn_angle = np.round(angle).astype(np.int16)
    g.turn_node = turn_node.astype(np.int32)
    logger.info("%s: %d turn restrictions applied, %d skipped (not on the graph)", profile, applied, skipped)


def _apply_via_ways(g, rules, turn_from, turn_to, turn_node, enode_arc, reverse):
    """Restrictions from -> via way(s) -> to: copy the via arcs for traffic coming from
    the ``from`` way; the copies lead everywhere the originals do except the
    forbidden (no_*) or other-than-allowed (only_*) ``to`` arcs."""
    order = np.argsort(turn_from, kind="stable")
    starts = np.searchsorted(turn_from[order], np.arange(len(enode_arc) + 1))
    keep = np.ones(len(turn_from), bool)
    new_from, new_to, new_node, copies = [], [], [], []
    next_enode = len(enode_arc)
    redirected: set[tuple[int, int]] = set()
    done = 0

    def out_turns(enode):
        return order[starts[enode] : starts[enode + 1]]

    for kind, from_arcs, via_arcs, to_arcs in rules:
        via_set = set(via_arcs.tolist())
        to_set = set(to_arcs.tolist())
        to_tails = {int(g.arc_tail[b]) for b in to_arcs}
        paths = []
        for a in from_arcs.tolist():
            # shortest chain of via arcs from a's head to a tail of a "to" arc
            frontier = [(v, [v]) for v in via_set if g.arc_tail[v] == g.arc_head[a] and v != reverse[a]]
            seen = {v for v, _ in frontier}
            path = None
            while frontier and path is None:
                nxt = []
                for v, p in frontier:
                    if int(g.arc_head[v]) in to_tails:
                        path = p
                        break
                    for w in via_set:
                        if w not in seen and g.arc_tail[w] == g.arc_head[v] and w != reverse[v]:
                            seen.add(w)
                            nxt.append((w, p + [w]))
                frontier = nxt
            if path is not None:
                paths.append((a, path))
        if not paths:
            continue
        for a, path in paths:
            if (a, path[0]) in redirected:
                continue  # a second via-way rule from the same entry: not modelled
            redirected.add((a, path[0]))
            first = [t for t in out_turns(a) if turn_to[t] == path[0] and keep[t]]
            if not first:
                continue
            keep[first] = False
            copy_ids = list(range(next_enode, next_enode + len(path)))
            next_enode += len(path)
            copies.extend(path)
            new_from.append(a)
            new_to.append(copy_ids[0])
            new_node.append(g.arc_head[a])
            for i, v in enumerate(path):
                for t in out_turns(v):
                    target = int(turn_to[t])
                    if i + 1 < len(path):
                        if target == path[i + 1]:
                            target = copy_ids[i + 1]
                    elif (target in to_set) == kind.startswith("no_"):
                        continue
                    new_from.append(copy_ids[i])
                    new_to.append(target)
                    new_node.append(turn_node[t])
        done += 1
    turn_from = np.concatenate([turn_from[keep], np.asarray(new_from, np.int64)])
    turn_to = np.concatenate([turn_to[keep], np.asarray(new_to, np.int64)])
    turn_node = np.concatenate([turn_node[keep], np.asarray(new_node, np.int64)])
    enode_arc = np.concatenate([enode_arc, np.asarray(copies, np.int64)])
    return turn_from, turn_to, turn_node, enode_arc, done
