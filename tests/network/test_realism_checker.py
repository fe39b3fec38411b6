"""The judge of benchmarks/route_realism.py on hand-made junctions: a benchmark that counts forbidden
turns is only as good as its reading of the restrictions.

A crossroads X (node 5) with four arms split at X, as OSM restrictions want them; a dual carriageway
(ways 20 and 22 joined by the short link 21) for a via-way U-turn ban::

            2                  node ids; ways:
            |  way 11 (north)    10: 1-5 (west arm)    12: 5-4 (south arm)
   1 ------ 5 ------ 3           11: 5-2 (north arm)   13: 5-3 (east arm)
   way 10   |  way 13            20: 6-7, 21: 7-8, 22: 8-9 (carriageways 20, 22 and the link 21)
            4  way 12            23: 8-30 (a side street off the far end of the link)
"""

from __future__ import annotations

from benchmarks._restrictions import (
    TurnJudge,
    barrier_for_car,
    barriers_passed,
    restriction_for_car,
    route_nodes,
)

WAYS = {10: [1, 5], 11: [5, 2], 12: [5, 4], 13: [5, 3], 20: [6, 7], 21: [7, 8], 22: [8, 9], 23: [8, 30]}


def restriction(kind, from_way, to_way, *, via_node=None, via_ways=(), relation_id=100, **tags):
    members = [("w", from_way, "from"), ("w", to_way, "to")]
    members += [("n", via_node, "via")] if via_node is not None else [("w", w, "via") for w in via_ways]
    return restriction_for_car(relation_id, {"type": "restriction", "restriction": kind, **tags}, members)


def kinds_broken(judge, nodes):
    return [v.restriction.kind for v in judge.violations(nodes)]


def test_no_left_turn_is_broken_only_by_that_turn():
    judge = TurnJudge(WAYS, [restriction("no_left_turn", 10, 11, via_node=5)])
    assert kinds_broken(judge, [1, 5, 2]) == ["no_left_turn"]
    assert kinds_broken(judge, [1, 5, 3]) == []  # straight on
    assert kinds_broken(judge, [1, 5, 4]) == []  # right
    assert kinds_broken(judge, [3, 5, 2]) == []  # coming from another arm
    assert kinds_broken(judge, [1, 5]) == []  # the route ends at the junction: no turn taken


def test_only_straight_on_forbids_every_other_way_out():
    judge = TurnJudge(WAYS, [restriction("only_straight_on", 10, 13, via_node=5)])
    assert kinds_broken(judge, [1, 5, 3]) == []
    assert kinds_broken(judge, [1, 5, 2]) == ["only_straight_on"]
    assert kinds_broken(judge, [1, 5, 4]) == ["only_straight_on"]
    assert kinds_broken(judge, [1, 5, 1]) == ["only_straight_on"]  # a U-turn is another way out too
    assert kinds_broken(judge, [2, 5, 4]) == []


def test_no_u_turn_on_the_same_way():
    judge = TurnJudge(WAYS, [restriction("no_u_turn", 10, 10, via_node=5)])
    assert kinds_broken(judge, [1, 5, 1]) == ["no_u_turn"]
    assert kinds_broken(judge, [1, 5, 3]) == []


def test_via_way_u_turn_across_a_dual_carriageway():
    judge = TurnJudge(WAYS, [restriction("no_u_turn", 20, 22, via_ways=(21,))])
    assert kinds_broken(judge, [6, 7, 8, 9]) == ["no_u_turn"]
    assert kinds_broken(judge, [7, 8, 9]) == []  # onto the link from somewhere else
    assert kinds_broken(judge, [6, 7, 8]) == []  # ends on the link
    allowed = TurnJudge(WAYS, [restriction("only_straight_on", 20, 22, via_ways=(21,))])
    assert kinds_broken(allowed, [6, 7, 8, 9]) == []
    assert kinds_broken(allowed, [6, 7, 8, 30]) == ["only_straight_on"]  # into the side street


def test_which_relations_bind_a_car():
    assert restriction("no_left_turn", 10, 11, via_node=5, **{"except": "bus;motorcar"}) is None
    delivery = restriction("no_left_turn", 10, 11, via_node=5, **{"except": "delivery"})
    assert delivery is not None and delivery.exempts_delivery
    bicycle_only = restriction_for_car(
        1,
        {"type": "restriction", "restriction:bicycle": "no_left_turn"},
        [("w", 10, "from"), ("n", 5, "via"), ("w", 11, "to")],
    )
    assert bicycle_only is None
    car_wins = restriction_for_car(
        2,
        {"type": "restriction", "restriction": "no_right_turn", "restriction:motorcar": "no_left_turn"},
        [("w", 10, "from"), ("n", 5, "via"), ("w", 11, "to")],
    )
    assert car_wins.kind == "no_left_turn"
    assert restriction_for_car(3, {"type": "restriction", "restriction": "no_left_turn"}, [("w", 10, "from")]) is None
    assert restriction_for_car(4, {"type": "multipolygon", "restriction": "no_left_turn"}, []) is None


def test_barriers_as_the_car_profile_reads_them():
    assert barrier_for_car({"barrier": "bollard"}) == "barrier=bollard"
    assert barrier_for_car({"barrier": "cycle_barrier"}) == "barrier=cycle_barrier"
    assert barrier_for_car({"barrier": "bollard", "bollard": "rising"}) is None
    assert barrier_for_car({"barrier": "bollard", "motor_vehicle": "yes"}) is None
    assert barrier_for_car({"barrier": "kerb", "kerb": "lowered"}) is None
    assert barrier_for_car({"barrier": "lift_gate"}) == "gate"
    assert barrier_for_car({"access": "no"}) == "access=no"
    assert barrier_for_car({"barrier": "gate", "access": "no"}) == "access=no"
    assert barrier_for_car({"access": "private"}) is None  # car.lua lets restricted access through
    assert barrier_for_car({"access": "no;yes"}) is None  # the most permissive part wins


def test_a_barrier_counts_only_where_the_route_passes_it():
    barriers = {5: "barrier=bollard", 2: "barrier=bollard", 3: "gate"}
    assert barriers_passed([1, 5, 3], barriers) == [(5, "barrier=bollard")]
    assert barriers_passed([5, 3], barriers) == []  # starts at the bollard: not passed
    assert barriers_passed([1, 5, 3, 13], {3: "gate"}) == []  # gates are counted apart


def test_route_nodes_from_geometry_adds_the_node_behind_a_road_point():
    location = {1: (0, 0), 5: (1000, 0), 2: (1000, 1000), 3: (2000, 0), 4: (1000, -1000)}
    by_coordinate = {xy: [node] for node, xy in location.items()}
    judge = TurnJudge(WAYS, [restriction("no_left_turn", 10, 11, via_node=5)])

    def lonlat(x, y):
        return [x * 1e-7, y * 1e-7]

    # starts between 1 and 5 (off-road point, then its road point), turns left at 5, ends between 5 and 2
    geometry = [lonlat(400, 30), lonlat(400, 0), lonlat(1000, 0), lonlat(1000, 600), lonlat(1030, 600)]
    nodes = route_nodes(geometry, by_coordinate, judge, location)
    assert nodes == [1, 5, 2]
    assert kinds_broken(judge, nodes) == ["no_left_turn"]

    # a U-turn at 5 back onto the segment the route started on is a turn at 5 as well
    u_turn = TurnJudge(WAYS, [restriction("no_u_turn", 10, 10, via_node=5)])
    geometry = [lonlat(400, 0), lonlat(1000, 0), lonlat(700, 0)]
    nodes = route_nodes(geometry, by_coordinate, u_turn, location)
    assert nodes == [1, 5, 1]
    assert kinds_broken(u_turn, nodes) == ["no_u_turn"]
