"""The road pieces of a route (routes.network.route_pieces): what a truth prices a driven route by."""

import pytest

from routes.network import ROAD_CLASSES, RoadNetwork
from routes.network.route_pieces import route_pieces

VADUZ_DEPOT, ESCHEN_DEPOT = (47.1307, 9.5162), (47.2060, 9.5268)


@pytest.fixture(scope="module")
def network(demo_network_dir):
    return RoadNetwork.load(str(demo_network_dir))


def test_the_pieces_cover_the_route_with_its_classes_and_default_speeds(network):
    route = network.route([VADUZ_DEPOT, ESCHEN_DEPOT])
    pieces = route_pieces(network, route.geometry["coordinates"])
    assert sum(p.length_m for p in pieces) == pytest.approx(route.distance_m, rel=1e-6)
    on_road = [p for p in pieces if p.on_road]
    assert {p.road_class for p in on_road} <= set(ROAD_CLASSES)
    assert "primary" in {p.road_class for p in on_road}  # the main road between the two villages
    walk_s = sum(p.length_m for p in pieces if not p.on_road) / (5 / 3.6)
    # Free flow (no departure): the route's time is the pieces' default time plus the walks to the door,
    # plus what the turn-aware network charges at junctions (turns, signals, signs: a few per cent).
    driving_s = sum(p.default_s for p in on_road) + walk_s
    assert driving_s < route.duration_s < driving_s * 1.08
    assert [p.road_class for p in pieces[:1]] == [""] and not pieces[0].on_road  # the depot's walk to its road
    assert all(p.default_s == 0 for p in pieces if not p.on_road)


def test_a_line_too_short_has_no_pieces(network):
    assert route_pieces(network, [[9.52, 47.14]]) == []
    assert route_pieces(network, [[9.52, 47.14], [9.52, 47.14]]) == []
