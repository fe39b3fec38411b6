"""Routing behaviour on the hand-made town of conftest.py."""

import math
from datetime import datetime

import numpy as np
import pytest

from routes.network import ClosureError, PointNotSnapped, UnknownProfile
from routes.network.geometry import haversine_m
from routes.network.profiles import PROFILES

# points a few metres off the streets
NEAR_A = (47.0021, 9.5002)  # top street, west end
NEAR_C = (47.0021, 9.5018)  # top street, east end
NEAR_D = (46.9999 + 0.0010, 9.5002)  # bottom street, west end
NEAR_F = (47.0009, 9.5018)  # bottom street, east end
NEAR_M = (46.9981, 9.5021)  # end of the dead end
BOTTOM_STREET_EAST = {"type": "LineString", "coordinates": [[9.501, 47.001], [9.502, 47.001]]}
DEAD_END = {"type": "LineString", "coordinates": [[9.502, 46.999], [9.502, 46.998]]}


def test_it_respects_one_way_streets_for_cars(town):
    with_the_flow = town.route([NEAR_A, NEAR_C], "car")
    against = town.route([NEAR_C, NEAR_A], "car")
    assert with_the_flow.distance_m < 160
    # C -> F -> E -> D -> A: around the block
    assert against.distance_m > 350
    assert against.way_ids == [11, 14, 12, 13]  # down C-F, west on the bottom, up D-A


def test_it_lets_bikes_ride_against_a_one_way_with_oneway_bicycle_no(town):
    bike = town.route([NEAR_C, NEAR_A], "bike")
    assert bike.distance_m < 160
    assert bike.way_ids == [11]


def test_it_gives_bikes_the_footway_cars_cannot_use(town):
    car = town.route([(47.0015, 9.5011), (47.0015, 9.5011)], "car")
    assert car.distance_m == 0 and car.duration_s == 0
    bike_net = town.route([(47.0019, 9.5010), (47.0011, 9.5010)], "bike")
    car_net = town.route([(47.0019, 9.5010), (47.0011, 9.5010)], "car")
    assert 15 in bike_net.way_ids
    assert 15 not in car_net.way_ids
    assert bike_net.distance_m < car_net.distance_m


def test_it_keeps_bikes_off_trunks_and_reaches_private_roads_only_as_stops(town):
    near_g = (47.0011, 9.5039)
    assert town.snap(*near_g, "car").distance_m < 20
    assert town.snap(*near_g, "bike").distance_m > 100
    # E-H is private: a stop on it is reachable (a company yard), for both profiles
    near_h = (47.0001, 9.5010)
    assert town.snap(*near_h, "car").way_id == 17
    assert town.snap(*near_h, "bike").way_id == 17
    assert 17 in town.route([NEAR_D, near_h], "car").way_ids


def test_it_reports_snap_distance_and_honours_the_limit(town):
    snap = town.snap(47.0012, 9.5005, "car")
    assert snap.distance_m == pytest.approx(haversine_m(47.0012, 9.5005, 47.001, 9.5005), abs=0.5)
    assert snap.road_lat == pytest.approx(47.001, abs=1e-6)
    assert town.snap(47.0012, 9.5005, "car", max_distance_m=10) is None
    far = town.matrix([NEAR_A, (47.02, 9.52)], "car", max_snap_m=250)
    assert far.snaps[1] is None
    assert math.isnan(far.durations_s[0, 1]) and math.isnan(far.distances_m[1, 0])
    with pytest.raises(PointNotSnapped):
        town.route([NEAR_A, (47.02, 9.52)], "car", max_snap_m=250)


def test_it_forces_a_detour_around_a_closure_and_lifting_restores_it(town):
    before = town.matrix([NEAR_D, NEAR_F], "car")
    route_before = town.route([NEAR_D, NEAR_F], "car")
    closed = town.set_closures([BOTTOM_STREET_EAST])
    # E-F, both ways (E is a junction: the private E-H is a street stops can be on).
    assert closed["car"] == 2 and closed["bike"] == 2
    during = town.matrix([NEAR_D, NEAR_F], "car")
    route_during = town.route([NEAR_D, NEAR_F], "car")
    assert during.distances_m[0, 1] > before.distances_m[0, 1] + 200
    assert during.durations_s[0, 1] > before.durations_s[0, 1]
    assert route_during.distance_m > 350
    # around the block: north by Hauptstrasse (11) or south by Schulweg (20)
    assert 12 in route_before.way_ids and {11, 20} & set(route_during.way_ids)
    town.set_closures([])
    after = town.matrix([NEAR_D, NEAR_F], "car")
    np.testing.assert_array_equal(after.durations_s, before.durations_s)
    assert town.route([NEAR_D, NEAR_F], "car").distance_m == route_before.distance_m


def test_it_makes_a_point_unreachable_when_its_only_road_closes(town):
    assert town.snap(*NEAR_M, "car").distance_m < 20
    town.set_closures([DEAD_END])
    assert town.snap(*NEAR_M, "car", max_distance_m=60) is None
    result = town.matrix([NEAR_A, NEAR_M], "car", max_snap_m=60)
    assert math.isnan(result.durations_s[0, 1]) and math.isnan(result.durations_s[1, 0])
    town.set_closures([])
    assert town.snap(*NEAR_M, "car", max_distance_m=60) is not None


def test_it_closes_roads_inside_a_polygon_but_not_side_streets_touching_a_line(town):
    square = {
        "type": "Polygon",
        "coordinates": [[[9.5015, 46.9995], [9.5025, 46.9995], [9.5025, 47.0005],
                         [9.5015, 47.0005], [9.5015, 46.9995]]],
    }  # fmt: skip
    assert town.set_closures([square])["car"] == 4  # F-I and I-J around I, both ways
    # the line along the bottom street touches C-F, F-I and F-G only at F
    assert town.set_closures([BOTTOM_STREET_EAST])["car"] == 2


def test_it_never_reports_road_distance_below_the_straight_line(town):
    rng = np.random.default_rng(7)
    points = list(zip(rng.uniform(46.9995, 47.0025, 25), rng.uniform(9.4995, 9.5045, 25)))
    for profile in ("car", "bike"):
        result = town.matrix(points, profile)
        lat = np.array([p[0] for p in points])
        lon = np.array([p[1] for p in points])
        straight = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        finite = ~np.isnan(result.distances_m)
        assert finite.all()
        assert np.all(result.distances_m[finite] >= straight[finite])


def test_it_never_routes_slower_than_the_matrix_says(town):
    # The matrix leaves a two-way street towards its nearer end; a route tries
    # both ends, so it can only be as fast or faster.
    points = [NEAR_A, NEAR_C, NEAR_F, NEAR_D, NEAR_M]
    for profile in ("car", "bike"):
        result = town.matrix(points, profile)
        for i in range(len(points)):
            for j in range(len(points)):
                if i != j:
                    route = town.route([points[i], points[j]], profile)
                    assert route.duration_s <= result.durations_s[i, j] + 1e-6
                    assert route.duration_s >= 0.5 * result.durations_s[i, j]
        assert np.all(np.diag(result.durations_s) == 0)


def test_it_returns_geojson_through_the_points_in_order(town):
    route = town.route([NEAR_A, NEAR_C, NEAR_F], "car")
    coordinates = route.geometry["coordinates"]
    assert route.geometry["type"] == "LineString"
    assert coordinates[0] == [NEAR_A[1], NEAR_A[0]]
    assert coordinates[-1] == [NEAR_F[1], NEAR_F[0]]
    assert [NEAR_C[1], NEAR_C[0]] in coordinates
    assert len(route.legs) == 2
    assert route.distance_m == pytest.approx(sum(leg["distance_m"] for leg in route.legs))


def test_it_slows_cars_in_rush_hour_and_times_legs_by_the_hour(town):
    town.set_traffic_profile("car", weekday={"residential": [0.5] * 8 + [1.0] * 16})
    rush = datetime(2025, 3, 4, 7, 30)  # a Tuesday
    free = town.matrix([NEAR_D, NEAR_F], "car").durations_s[0, 1]
    slow = town.matrix([NEAR_D, NEAR_F], "car", departure=rush).durations_s[0, 1]
    assert slow > free * 1.3
    legs = town.time_legs([NEAR_D, NEAR_F, NEAR_D], "car", rush, service_s=3600)
    # the first leg drives in the slow 7 h slot, the second after 8 h at free flow
    assert legs[0]["duration_s"] == pytest.approx(town.route([NEAR_D, NEAR_F], "car", departure=rush).duration_s)
    # a matrix origin leaves towards its section's nearer end (a U-turn there if the trip goes
    # the other way); the route tries both directions from the first point
    assert legs[0]["duration_s"] <= slow
    assert legs[1]["depart_at"].hour == 8
    # the van arrived at F heading east: going back west starts with a U-turn on the spot
    u_turn = PROFILES["car"].turn_costs.u_turn_s
    back = town.route([NEAR_F, NEAR_D], "car", departure=legs[1]["depart_at"]).duration_s
    assert legs[1]["duration_s"] == pytest.approx(back + u_turn)
    assert legs[1]["duration_s"] - u_turn < legs[0]["duration_s"]
    assert town.matrix([NEAR_D, NEAR_F], "bike", departure=rush).durations_s[0, 1] > 0


def test_it_rejects_an_unknown_profile(town):
    with pytest.raises(UnknownProfile):
        town.snap(47.0, 9.5, "truck")


def test_it_rejects_geometry_it_cannot_read_and_keeps_the_old_closures(town):
    town.set_closures([BOTTOM_STREET_EAST])
    with pytest.raises(ClosureError):
        town.set_closures([{"type": "Point", "coordinates": [9.5, 47.0]}])
    with pytest.raises(ClosureError):
        town.set_closures([{"type": "LineString", "coordinates": [[9.5, 47.0]]}])
    assert town.closures == [BOTTOM_STREET_EAST]
