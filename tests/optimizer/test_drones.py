"""The drones' flight model: straight legs at their speed, no-fly zones no leg may cross, which orders
a drone may take (routes.optimizer.drones)."""

import numpy as np
import pytest

from routes.optimizer import drones

# A square no-fly zone around Vaduz's hospital, about 500 m by 500 m.
HOSPITAL = drones.NoFlyArea.from_geojson(
    "Landesspital",
    {"type": "Polygon", "coordinates": [[[9.5193, 47.1325], [9.5259, 47.1325], [9.5259, 47.1370], [9.5193, 47.1370], [9.5193, 47.1325]]]},
)  # fmt: skip
NORTH = (47.1450, 9.5226)  # north of the zone
SOUTH = (47.1250, 9.5226)  # south of it: the straight line between them crosses it
EAST = (47.1347, 9.5400)  # east of it, same latitude as its middle
INSIDE = (47.1347, 9.5226)


def test_a_leg_is_the_great_circle_at_the_drones_speed_plus_take_off_and_landing():
    # One minute of latitude is one nautical mile, 1852 m (to 0.5 % on the WGS84 sphere used here).
    metres = drones.flight_distance_m((47.0, 9.5), (47.0 + 1 / 60, 9.5))
    assert metres == pytest.approx(1853, abs=10)
    seconds = drones.flight_seconds(metres, speed_kmh=60)
    assert seconds == pytest.approx(metres / (60 / 3.6) + drones.TAKE_OFF_LANDING_S)
    assert drones.flight_seconds(0, speed_kmh=60) == 0


def test_a_leg_across_a_no_fly_zone_crosses_it_and_one_beside_it_does_not():
    assert HOSPITAL.crossed_by(NORTH, SOUTH)
    assert HOSPITAL.crossed_by(SOUTH, NORTH)
    assert HOSPITAL.crossed_by(INSIDE, EAST)  # starts inside
    assert not HOSPITAL.crossed_by(NORTH, EAST)  # passes north-east of the corner
    assert not HOSPITAL.crossed_by((47.1380, 9.5150), (47.1380, 9.5300))  # a line just north of it


def test_a_leg_through_one_corner_only_crosses_it():
    # A short leg that cuts the south-east corner and nothing else.
    assert HOSPITAL.crossed_by((47.1320, 9.5250), (47.1335, 9.5270))
    # Grazing the border counts: a drone may not touch the zone.
    assert HOSPITAL.crossed_by((47.1325, 9.5150), (47.1325, 9.5300))


def test_a_point_inside_a_hole_is_not_in_the_zone_but_a_flight_to_it_crosses_it():
    ring = [[9.50, 47.10], [9.56, 47.10], [9.56, 47.16], [9.50, 47.16], [9.50, 47.10]]
    hole = [[9.52, 47.12], [9.54, 47.12], [9.54, 47.14], [9.52, 47.14], [9.52, 47.12]]
    area = drones.NoFlyArea.from_geojson("Ring", {"type": "Polygon", "coordinates": [ring, hole]})
    assert area.contains(47.11, 9.51)
    assert not area.contains(47.13, 9.53)
    assert area.crossed_by((47.13, 9.45), (47.13, 9.53))


def test_the_flight_matrix_forbids_legs_across_a_zone_and_times_the_others():
    points = [NORTH, SOUTH, EAST]
    durations, distances = drones.flight_matrices(points, speed_kmh=72, areas=[HOSPITAL])
    assert np.isnan(durations[0, 1]) and np.isnan(durations[1, 0]) and np.isnan(distances[0, 1])
    assert durations[0, 0] == 0 and distances[2, 2] == 0
    expected = drones.flight_distance_m(NORTH, EAST)
    assert distances[0, 2] == pytest.approx(expected, rel=1e-9)
    assert durations[0, 2] == pytest.approx(expected / 20 + drones.TAKE_OFF_LANDING_S, rel=1e-9)
    plain, _ = drones.flight_matrices(points, speed_kmh=72)
    assert not np.isnan(plain).any()


def _drone(range_km=10, payload=2.5, bases=(("Hub", NORTH),)):
    return drones.Drone(payload_kg=payload, range_m=range_km * 1000, bases=bases)


def test_a_drone_takes_a_light_order_in_range_on_a_clear_path():
    assert drones.drone_refusal(_drone(), EAST, 1.0, [HOSPITAL]) is None


def test_a_drone_refuses_an_order_too_heavy():
    reason = drones.drone_refusal(_drone(payload=2.5), EAST, 4.0, [HOSPITAL])
    assert reason == "it weighs 4 kg, more than a drone carries (2.5 kg)"


def test_a_drone_refuses_an_order_out_of_range():
    far = (47.2060, 9.5268)  # Eschen, about 6.8 km north of the hub
    reason = drones.drone_refusal(_drone(range_km=10), far, 1.0, [])
    assert reason is not None and "beyond a drone's range of 10 km out and back" in reason
    assert drones.drone_refusal(_drone(range_km=14), far, 1.0, []) is None


def test_a_drone_refuses_an_order_inside_a_no_fly_zone():
    assert drones.drone_refusal(_drone(), INSIDE, 1.0, [HOSPITAL]) == "it lies in the no-fly zone Landesspital"


def test_a_drone_refuses_an_order_whose_flight_crosses_a_zone_unless_another_hub_has_a_clear_path():
    reason = drones.drone_refusal(_drone(), SOUTH, 1.0, [HOSPITAL])
    assert reason == "the flight from Hub would cross the no-fly zone Landesspital"
    two_hubs = _drone(bases=(("Hub", NORTH), ("Depot", (47.1250, 9.5100))))
    assert drones.drone_refusal(two_hubs, SOUTH, 1.0, [HOSPITAL]) is None


@pytest.mark.parametrize("speed", [40, 60, 100])
def test_the_profile_names_the_speed(speed):
    profile = drones.drone_profile(speed)
    assert drones.is_drone_profile(profile) and profile == f"drone-{speed}"
    assert not drones.is_drone_profile("car")


def test_the_crossing_test_agrees_with_a_dense_sampling_of_random_legs():
    # Independent check: sample 400 points along each leg and ask whether any falls in the zone.
    rng = np.random.default_rng(7)
    min_lon, min_lat, max_lon, max_lat = HOSPITAL.bbox
    disagreements = 0
    for _ in range(300):
        a = (rng.uniform(min_lat - 0.01, max_lat + 0.01), rng.uniform(min_lon - 0.01, max_lon + 0.01))
        b = (rng.uniform(min_lat - 0.01, max_lat + 0.01), rng.uniform(min_lon - 0.01, max_lon + 0.01))
        sampled = any(
            HOSPITAL.contains(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])) for t in np.linspace(0, 1, 400)
        )
        if sampled != HOSPITAL.crossed_by(a, b):
            # Only a leg that barely clips a corner may slip between two samples.
            disagreements += 1
            assert not sampled
    assert disagreements <= 3
