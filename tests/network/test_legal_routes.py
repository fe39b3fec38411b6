"""Legal routes on hand-made junctions (#17): turn restrictions, barriers,
local-access-only roads, turn costs and the fastest route's length.

One crossroads with an outer ring, built fresh per test from OSM XML::

    NW ---8--- N ---5--- NE        arms (into / out of the centre C):
    |          |          |          1 W-C (west), 2 C-E (east), 3 C-N (north),
    8          3          5          4 S-C (south)
    |          |          |        ring: 5 N-NE-E, 6 E-SE-S, 7 S-SW-W, 8 W-NW-N
    W ---1---- C ----2--- E ---9--- F   9 E-F: a dead end
    |          |          |
    7          4          6        (0.001 deg lat ~111 m, 0.0015 deg lon ~114 m)
    |          |          |
    SW ---7--- S ---6--- SE
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from routes.network import RoadNetwork, build_network
from routes.network.geometry import haversine_m
from routes.network.profiles import PROFILES

NODES = {
    1: (47.000, 9.0000),  # C
    2: (47.001, 9.0000),  # N
    3: (46.999, 9.0000),  # S
    4: (47.000, 9.0015),  # E
    5: (47.000, 8.9985),  # W
    6: (47.001, 9.0015),  # NE
    7: (46.999, 9.0015),  # SE
    8: (46.999, 8.9985),  # SW
    9: (47.001, 8.9985),  # NW
    10: (47.000, 9.0030),  # F, end of the dead end
    11: (47.000, 8.99925),  # halfway along the west arm
}
C, N, S, E, W, NE, SE, SW, NW, F, WEST_MID = range(1, 12)


def crossroads(arms_highway="residential", ring_highway="residential", **way_tags):
    """Ways as (id, refs, tags); ``way_tags`` adds tags per way id (``w1={...}``)."""
    ways = [
        (1, [W, WEST_MID, C], {"highway": arms_highway}),
        (2, [C, E], {"highway": arms_highway}),
        (3, [C, N], {"highway": arms_highway}),
        (4, [S, C], {"highway": arms_highway}),
        (5, [N, NE, E], {"highway": ring_highway}),
        (6, [E, SE, S], {"highway": ring_highway}),
        (7, [S, SW, W], {"highway": ring_highway}),
        (8, [W, NW, N], {"highway": ring_highway}),
        (9, [E, F], {"highway": "residential"}),
    ]
    return [(i, refs, {**tags, **way_tags.get(f"w{i}", {})}) for i, refs, tags in ways]


def restriction(rel_id, kind, from_way, to_way, via_node=None, via_ways=(), key="restriction", **tags):
    members = [("way", from_way, "from"), ("way", to_way, "to")]
    members += [("node", via_node, "via")] if via_node else [("way", w, "via") for w in via_ways]
    return rel_id, members, {"type": "restriction", key: kind, **tags}


def _tags(tags: dict) -> str:
    return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())


@pytest.fixture
def build(tmp_path):
    """build(ways, relations=(), node_tags={}) -> RoadNetwork"""
    counter = iter(range(1000))

    def _build(ways, relations=(), node_tags=None) -> RoadNetwork:
        node_tags = node_tags or {}
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
        for node_id, (lat, lon) in NODES.items():
            lines.append(
                f'<node id="{node_id}" version="1" lat="{lat}" lon="{lon}">{_tags(node_tags.get(node_id, {}))}</node>'
            )
        for way_id, refs, tags in ways:
            nds = "".join(f'<nd ref="{ref}"/>' for ref in refs)
            lines.append(f'<way id="{way_id}" version="1">{nds}{_tags(tags)}</way>')
        for rel_id, members, tags in relations:
            body = "".join(f'<member type="{t}" ref="{ref}" role="{role}"/>' for t, ref, role in members)
            lines.append(f'<relation id="{rel_id}" version="1">{body}{_tags(tags)}</relation>')
        lines.append("</osm>")
        directory = tmp_path / f"net{next(counter)}"
        os.makedirs(directory)
        osm_path = str(directory / "junction.osm")
        with open(osm_path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        build_network(osm_path, str(directory / "prepared"))
        return RoadNetwork.load(str(directory / "prepared"))

    return _build


def way_turns(net: RoadNetwork, route, profile="car") -> list[tuple[int, int]]:
    """Consecutive (way, way) pairs the route drives, from its chains."""
    ways = [int(w) for w in net._states[profile].graph.chain_way_id[route.chains]]
    return list(zip(ways, ways[1:]))


def between(a, b, t=0.5):
    return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))


ON_SOUTH_ARM = between(NODES[S], NODES[C], 0.7)  # near the centre
ON_WEST_ARM = between(NODES[W], NODES[C], 0.75)
ON_EAST_ARM = between(NODES[C], NODES[E], 0.3)  # nearer the centre: a matrix origin leaves westwards
# the south arm one-way northbound: a car on it must go through the centre
SOUTH_ONE_WAY = {"w4": {"oneway": "yes"}}


def test_no_left_turn_is_never_taken_by_a_route_or_a_matrix(build):
    free = build(crossroads(**SOUTH_ONE_WAY))
    legal = build(crossroads(**SOUTH_ONE_WAY), [restriction(1, "no_left_turn", 4, 1, via_node=C)])
    assert (4, 1) in way_turns(free, free.route([ON_SOUTH_ARM, ON_WEST_ARM]))
    route = legal.route([ON_SOUTH_ARM, ON_WEST_ARM])
    assert (4, 1) not in way_turns(legal, route)
    assert route.duration_s > free.route([ON_SOUTH_ARM, ON_WEST_ARM]).duration_s + 20
    matrix = legal.matrix([ON_SOUTH_ARM, ON_WEST_ARM])
    assert matrix.durations_s[0, 1] == pytest.approx(route.duration_s, rel=1e-6)
    assert matrix.distances_m[0, 1] == pytest.approx(route.distance_m, abs=5)


def test_only_straight_on_forbids_every_other_exit(build):
    net = build(crossroads(**SOUTH_ONE_WAY), [restriction(1, "only_straight_on", 4, 3, via_node=C)])
    route = net.route([ON_SOUTH_ARM, ON_EAST_ARM])
    turns = way_turns(net, route)
    assert (4, 3) in turns
    assert (4, 2) not in turns and (4, 1) not in turns
    free = build(crossroads(**SOUTH_ONE_WAY))
    assert (4, 2) in way_turns(free, free.route([ON_SOUTH_ARM, ON_EAST_ARM]))


def test_no_u_turn_removes_the_turn_back(build):
    net = build(crossroads(), [restriction(1, "no_u_turn", 2, 2, via_node=C)])
    free = build(crossroads())

    def u_turns_at_c_on_way_2(network):
        graph = network._states["car"].graph
        reverse = graph.reverse_arc()
        arcs_in = [a for a in range(graph.arc_count) if graph.chain_way_id[graph.arc_chain[a]] == 2]
        pairs = set(zip(graph.enode_arc[graph.turn_from].tolist(), graph.enode_arc[graph.turn_to].tolist()))
        c = int(np.searchsorted(graph.node_global, 0))  # node C is the first OSM id
        return [a for a in arcs_in if graph.arc_head[a] == c and (a, int(reverse[a])) in pairs]

    assert len(u_turns_at_c_on_way_2(free)) == 1
    assert u_turns_at_c_on_way_2(net) == []
    # the other turns at C stay
    assert (2, 3) in way_turns(net, net.route([ON_EAST_ARM, between(NODES[C], NODES[N])]))


def test_a_via_way_restriction_binds_only_traffic_from_its_from_way(build):
    # from the south arm, right onto the east arm, right again onto the ring south: forbidden
    rule = restriction(1, "no_u_turn", 4, 6, via_ways=(2,))
    ways = crossroads(**SOUTH_ONE_WAY, w3={"oneway": "-1"})  # north arm: one-way into the centre
    free, net = build(ways), build(ways, [rule])
    on_ring = between(NODES[E], NODES[SE], 0.2)
    assert [(4, 2), (2, 6)] == [
        t for t in way_turns(free, free.route([ON_SOUTH_ARM, on_ring])) if t in ((4, 2), (2, 6))
    ]
    turns = way_turns(net, net.route([ON_SOUTH_ARM, on_ring]))
    assert not ((4, 2) in turns and (2, 6) in turns)
    matrix = net.matrix([ON_SOUTH_ARM, on_ring])
    assert matrix.durations_s[0, 1] == pytest.approx(net.route([ON_SOUTH_ARM, on_ring]).duration_s, rel=1e-6)
    # from the north arm, the same two turns stay allowed
    from_north = net.route([between(NODES[N], NODES[C], 0.5), on_ring])
    assert (2, 6) in way_turns(net, from_north)


def test_except_delivery_frees_vans_but_not_bikes(build):
    rule = restriction(1, "no_left_turn", 4, 1, via_node=C, **{"except": "delivery"})
    net = build(crossroads(w4={"oneway": "yes", "oneway:bicycle": "yes"}), [rule])
    assert (4, 1) in way_turns(net, net.route([ON_SOUTH_ARM, ON_WEST_ARM], "car"))
    assert (4, 1) not in way_turns(net, net.route([ON_SOUTH_ARM, ON_WEST_ARM], "bike"), "bike")


def test_a_bicycle_only_restriction_binds_bikes_only(build):
    rule = restriction(1, "no_left_turn", 4, 1, via_node=C, key="restriction:bicycle")
    net = build(crossroads(w4={"oneway": "yes", "oneway:bicycle": "yes"}), [rule])
    assert (4, 1) in way_turns(net, net.route([ON_SOUTH_ARM, ON_WEST_ARM], "car"))
    assert (4, 1) not in way_turns(net, net.route([ON_SOUTH_ARM, ON_WEST_ARM], "bike"), "bike")


def test_a_bollard_blocks_cars_but_not_bikes(build):
    net = build(crossroads(), node_tags={WEST_MID: {"barrier": "bollard"}})
    west_of_it = between(NODES[W], NODES[WEST_MID], 0.5)
    bollard = [NODES[WEST_MID][1], NODES[WEST_MID][0]]
    car = net.route([ON_EAST_ARM, west_of_it], "car")
    bike = net.route([ON_EAST_ARM, west_of_it], "bike")
    assert bollard not in car.geometry["coordinates"]
    assert bollard in bike.geometry["coordinates"]
    assert car.distance_m > bike.distance_m + 150
    # both sides of the bollard stay reachable by car
    east_of_it = between(NODES[WEST_MID], NODES[C], 0.5)
    assert net.route([east_of_it, west_of_it], "car").distance_m > 300


def test_a_gate_costs_time_and_signals_cost_time(build):
    plain = build(crossroads())
    gated = build(crossroads(), node_tags={WEST_MID: {"barrier": "gate"}, C: {"highway": "traffic_signals"}})
    costs = PROFILES["car"].turn_costs
    # through the gate, along one street section
    a, b = between(NODES[W], NODES[WEST_MID], 0.5), between(NODES[WEST_MID], NODES[C], 0.5)
    assert gated.route([a, b]).duration_s - plain.route([a, b]).duration_s == pytest.approx(costs.gate_s, abs=0.01)
    assert gated.matrix([a, b]).durations_s[0, 1] == pytest.approx(gated.route([a, b]).duration_s, rel=1e-6)
    # through the signals at the centre
    extra = gated.route([ON_SOUTH_ARM, ON_EAST_ARM]).duration_s - plain.route([ON_SOUTH_ARM, ON_EAST_ARM]).duration_s
    assert extra == pytest.approx(costs.traffic_signals_s, abs=0.01)


def test_a_destination_only_street_is_reached_as_a_stop_but_never_crossed(build):
    net = build(crossroads(w1={"motor_vehicle": "destination"}))
    free = build(crossroads())
    near_w = between(NODES[SW], NODES[W], 0.9)
    # through traffic from the west ring to the east arm: the short way is down the west arm
    assert 1 in free.route([near_w, ON_EAST_ARM]).way_ids
    through = net.route([near_w, ON_EAST_ARM])
    assert 1 not in through.way_ids
    # a stop on it: reached, left, and its durations carry no penalty
    to_stop = net.route([ON_EAST_ARM, ON_WEST_ARM])
    assert to_stop.way_ids[-1] == 1
    matrix = net.matrix([near_w, ON_EAST_ARM, ON_WEST_ARM])
    assert 1 not in net.route([near_w, ON_EAST_ARM]).way_ids
    assert matrix.durations_s[1, 2] == pytest.approx(to_stop.duration_s, rel=1e-6)
    assert np.nanmax(matrix.durations_s) < 300
    # (a matrix origin leaves towards its nearer end: at most a U-turn and a short drive more)
    assert through.duration_s - 1e-6 <= matrix.durations_s[0, 1] < through.duration_s + 60


def test_matrices_give_the_length_of_the_fastest_route(build):
    # slow arms (living streets), fast ring: the fastest way from west to east goes round
    net = build(crossroads(arms_highway="living_street", ring_highway="primary"))
    a = between(NODES[SW], NODES[W], 0.9)
    b = between(NODES[NE], NODES[E], 0.9)
    route = net.route([a, b])
    assert 1 not in route.way_ids  # not through the centre
    matrix = net.matrix([a, b])
    assert matrix.distances_m[0, 1] == pytest.approx(route.distance_m, abs=5)
    assert matrix.durations_s[0, 1] == pytest.approx(route.duration_s, rel=1e-6)
    # the shortest road distance, through the centre, is far shorter
    points = [a, NODES[W], NODES[C], NODES[E], b]
    through_centre = sum(float(haversine_m(*p, *q)) for p, q in zip(points, points[1:]))
    assert through_centre < 260
    assert matrix.distances_m[0, 1] > 400


def test_leaving_an_origin_the_way_one_came_costs_a_u_turn(build):
    net = build(crossroads())
    u_turn = PROFILES["car"].turn_costs.u_turn_s
    near_dead_end = between(NODES[E], NODES[F], 0.8)
    on_ring = between(NODES[E], NODES[NE], 0.5)
    # a matrix origin leaves towards its section's nearer end: here the dead end, where it must turn
    matrix = net.matrix([near_dead_end, on_ring])
    first_point = net.route([near_dead_end, on_ring])  # parked: free to leave either way
    assert matrix.durations_s[0, 1] >= first_point.duration_s + u_turn
    # arriving at a stop heading east and going back west costs a U-turn on the spot
    legs = net.route([ON_EAST_ARM, near_dead_end, on_ring]).legs
    assert legs[1]["duration_s"] == pytest.approx(first_point.duration_s + u_turn, rel=1e-6)


def test_closures_reweight_the_turn_aware_graph(build):
    net = build(crossroads(**SOUTH_ONE_WAY), [restriction(1, "no_left_turn", 4, 1, via_node=C)])
    before = net.route([ON_SOUTH_ARM, ON_WEST_ARM])
    matrix_before = net.matrix([ON_SOUTH_ARM, ON_WEST_ARM])
    used = {w for pair in way_turns(net, before) for w in pair}
    blocked = 8 if 8 in used else 3  # close the north-side detour it takes
    line = {3: [[9.0, 47.0002], [9.0, 47.0008]], 8: [[8.9985, 47.0002], [8.9985, 47.0008]]}[blocked]
    closed = net.set_closures([{"type": "LineString", "coordinates": line}])
    assert closed["car"] == 2
    during = net.route([ON_SOUTH_ARM, ON_WEST_ARM])
    assert blocked not in during.way_ids
    assert (4, 1) not in way_turns(net, during)
    matrix = net.matrix([ON_SOUTH_ARM, ON_WEST_ARM])
    assert matrix.durations_s[0, 1] == pytest.approx(during.duration_s, rel=1e-6)
    assert matrix.durations_s[0, 1] > matrix_before.durations_s[0, 1]
    net.set_closures([])
    assert net.matrix([ON_SOUTH_ARM, ON_WEST_ARM]).durations_s[0, 1] == pytest.approx(matrix_before.durations_s[0, 1])


def test_per_chain_speed_factors_reweight_without_rebuild(build):
    net = build(crossroads())
    before = net.route([ON_WEST_ARM, ON_EAST_ARM])
    factors = np.ones(len(net._states["car"].graph.chain_start))
    factors[before.chains] = 0.5
    net.set_chain_speed_factors("car", factors)
    slower = net.route([ON_WEST_ARM, ON_EAST_ARM])
    assert slower.duration_s > before.duration_s * 1.3
    assert net.matrix([ON_WEST_ARM, ON_EAST_ARM]).durations_s[0, 1] == pytest.approx(slower.duration_s, rel=1e-6)
    with pytest.raises(ValueError):
        net.set_chain_speed_factors("car", np.ones(3))
    net.set_chain_speed_factors("car", None)
    assert net.route([ON_WEST_ARM, ON_EAST_ARM]).duration_s == pytest.approx(before.duration_s)


def test_going_back_along_a_one_way_section_drives_round_the_block(build):
    net = build(crossroads(w2={"oneway": "yes"}))
    ahead, behind = between(NODES[C], NODES[E], 0.7), between(NODES[C], NODES[E], 0.3)
    route = net.route([ahead, behind])
    assert route.distance_m > 400  # out at E, round the ring, back in at C
    matrix = net.matrix([ahead, behind])
    assert matrix.durations_s[0, 1] == pytest.approx(route.duration_s, rel=1e-6)
    assert matrix.distances_m[0, 1] == pytest.approx(route.distance_m, abs=5)


def test_stops_on_one_section_drive_straight_along_it_paying_the_signals_between(build):
    # three stops on the one-way west arm (W -> C), a traffic signal at its middle node
    net = build(crossroads(w1={"oneway": "yes"}), node_tags={WEST_MID: {"highway": "traffic_signals"}})
    stops = [between(NODES[W], NODES[C], t) for t in (0.2, 0.4, 0.8)]
    matrix = net.matrix(stops)
    signal_s = PROFILES["car"].turn_costs.traffic_signals_s
    for i, j in ((0, 1), (0, 2), (1, 2), (2, 0), (1, 0)):
        route = net.route([stops[i], stops[j]])
        assert matrix.durations_s[i, j] == pytest.approx(route.duration_s, rel=1e-6)
        assert matrix.distances_m[i, j] == pytest.approx(route.distance_m, abs=5)
    straight = haversine_m(*stops[1], *stops[2])
    assert matrix.distances_m[1, 2] == pytest.approx(straight, abs=2)  # no detour
    # the same stretch without the signal between: the signal's seconds are the difference
    assert matrix.durations_s[1, 2] - matrix.durations_s[0, 1] * 2 == pytest.approx(signal_s, abs=0.05)
    assert matrix.distances_m[2, 0] > 300  # back against the one-way: round the block
