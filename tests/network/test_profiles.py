import pytest

from routes.network.profiles import ROAD_CLASS_CODE, bike_rule, car_rule, parse_maxspeed


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("50", 50.0),
        ("30 mph", 48.28032),
        ("CH:urban", 50.0),
        ("DE:rural", 90.0),
        ("DE:zone30", 30.0),
        ("walk", 7.0),
        ("50;30", 50.0),
        ("none", None),
        ("signals", None),
        (None, None),
    ],
)
def test_it_parses_maxspeed_values(value, expected):
    assert parse_maxspeed(value) == pytest.approx(expected) if expected else parse_maxspeed(value) is None


def test_it_falls_back_to_the_class_default_speed():
    assert car_rule({"highway": "residential", "maxspeed": "signals"}).speed_kmh == 25
    assert car_rule({"highway": "primary", "maxspeed": "CH:urban"}).speed_kmh == pytest.approx(40.0)
    # a posted limit far above the class default is capped at 1.5x the default
    assert car_rule({"highway": "service", "maxspeed": "80"}).speed_kmh == pytest.approx(22.5)


def test_it_reads_oneway_directions_for_cars():
    assert car_rule({"highway": "primary", "oneway": "yes"})[:2] == (True, False)
    assert car_rule({"highway": "primary", "oneway": "-1"})[:2] == (False, True)
    assert car_rule({"highway": "motorway"})[:2] == (True, False)
    assert car_rule({"highway": "tertiary", "junction": "roundabout"})[:2] == (True, False)
    assert car_rule({"highway": "motorway", "oneway": "no"})[:2] == (True, True)


def test_it_excludes_roads_closed_to_vans_but_keeps_delivery_access():
    # private, destination...: only to reach a stop on them (local_only); delivery: open to vans
    assert car_rule({"highway": "residential", "access": "private"}).local_only
    assert car_rule({"highway": "residential", "motor_vehicle": "destination"}).local_only
    assert car_rule({"highway": "residential", "motor_vehicle": "no"}) is None
    assert not car_rule({"highway": "residential", "access": "no", "motor_vehicle": "delivery"}).local_only
    assert not car_rule({"highway": "residential"}).local_only
    assert car_rule({"highway": "footway"}) is None
    assert car_rule({"highway": "cycleway"}) is None


def test_it_caps_speeds_on_rough_surfaces():
    assert car_rule({"highway": "primary", "surface": "sett"}).speed_kmh == 40
    assert car_rule({"highway": "residential", "surface": "gravel", "smoothness": "horrible"}).speed_kmh == 10
    assert car_rule({"highway": "residential", "smoothness": "impassable"}) is None
    assert bike_rule({"highway": "cycleway", "surface": "cobblestone"}).speed_kmh == 10
    assert car_rule({"highway": "primary", "surface": "asphalt"}).speed_kmh == 55


def test_it_lets_bikes_use_paths_but_not_motorways():
    assert bike_rule({"highway": "cycleway"}).speed_kmh == 18
    assert bike_rule({"highway": "path"})
    assert bike_rule({"highway": "footway"}) is None
    assert bike_rule({"highway": "footway", "bicycle": "yes"})
    assert bike_rule({"highway": "motorway"}) is None
    assert bike_rule({"highway": "trunk"}) is None
    assert bike_rule({"highway": "residential", "bicycle": "no"}) is None


def test_it_honours_bike_contraflow():
    assert bike_rule({"highway": "residential", "oneway": "yes"})[:2] == (True, False)
    assert bike_rule({"highway": "residential", "oneway": "yes", "oneway:bicycle": "no"})[:2] == (
        True,
        True,
    )
    assert bike_rule({"highway": "residential", "oneway": "yes", "cycleway": "opposite_lane"})[:2] == (True, True)
    assert bike_rule({"highway": "cycleway"}).road_class == ROAD_CLASS_CODE["cycleway"]
