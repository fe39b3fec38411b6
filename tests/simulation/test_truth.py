"""The truth file (format 1, SIMULATION.md): every key checked with an error naming the key and the value,
the speed factor's arithmetic (class × area × day, local hours with an exclusive end, the smallest area),
the doorstep and GPS draws, all reproducible from the seed."""

import json
import math
import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from dispatch.demo.seeding import ZONES
from dispatch.demo.truth import (
    DEFAULT_TRUTH_PATH,
    TruthError,
    check_zone_codes,
    load_truth,
    parse_truth,
)
from routes.network.route_pieces import RoadPiece

ZONE = ZoneInfo(settings.TIME_ZONE)
SQUARE = [[9.50, 47.10], [9.52, 47.10], [9.52, 47.12], [9.50, 47.12], [9.50, 47.10]]
INSIDE = (47.11, 9.51)  # lat, lon
OUTSIDE = (47.20, 9.51)
TUESDAY = datetime(2026, 11, 3, tzinfo=ZONE)  # a Tuesday
SATURDAY = datetime(2026, 11, 7, tzinfo=ZONE)


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


def truth(**parts):
    return parse_truth({"format": 1, **parts}, zone=ZONE)


def piece(road_class="primary", lat=INSIDE[0], lon=INSIDE[1], length_m=1000.0, speed_kmh=36.0) -> RoadPiece:
    # 1 km at 36 km/h: 100 s at the default speed
    return RoadPiece(road_class=road_class, length_m=length_m, default_speed_kmh=speed_kmh, start_lat=lat,
                     start_lon=lon, end_lat=lat + length_m / 111_320, end_lon=lon, on_road=True)  # fmt: skip


# --- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, key, value",
    [
        ({"format": 1, "nmae": "x"}, "nmae", "x"),
        ({"format": 1, "speed": {"clases": {}}}, "speed.clases", {}),
        ({"format": 1, "speed": {"classes": {"primry": 0.8}}}, "speed.classes.primry", 0.8),
        ({"format": 1, "speed": {"classes": {"primary": {"default": 0.8, "hour": {}}}}}, "speed.classes.primary.hour", {}),
        ({"format": 1, "gps": {"interval": 5}}, "gps.interval", 5),
        ({"format": 1, "service": {"zones": {"vaduz-centre": {"median": 300}}}}, "service.zones.vaduz-centre.median", 300),
        ({"format": 1, "speed": {"areas": [{"polygon": SQUARE, "factor": 0.5, "hour": "07-09"}]}},
         "speed.areas[0].hour", "07-09"),
    ],
)  # fmt: skip
def test_it_refuses_an_unknown_key_naming_it(data, key, value):
    with pytest.raises(TruthError) as caught:
        parse_truth(data)
    assert caught.value.key == key
    assert caught.value.value == value
    assert key in str(caught.value) and json.dumps(value) in str(caught.value)


def test_it_requires_the_format():
    with pytest.raises(TruthError) as caught:
        parse_truth({"name": "no format"})
    assert caught.value.key == "format"
    assert "required" in str(caught.value)


@pytest.mark.parametrize("value", [2, "1", True, 0])
def test_it_refuses_another_format(value):
    with pytest.raises(TruthError) as caught:
        parse_truth({"format": value})
    assert caught.value.key == "format" and caught.value.value == value


@pytest.mark.parametrize("hours", ["07-07", "08-25", "24-02", "7-9", "07:00-09:00", "", 7])
def test_it_refuses_a_bad_hour_range(hours):
    with pytest.raises(TruthError) as caught:
        truth(speed={"classes": {"primary": {"default": 1, "hours": {hours: 0.5}}}})
    assert caught.value.key == f"speed.classes.primary.hours.{hours}"
    with pytest.raises(TruthError) as caught:
        truth(speed={"areas": [{"polygon": SQUARE, "factor": 0.5, "hours": hours}]})
    assert caught.value.key == "speed.areas[0].hours"
    assert caught.value.value == hours
    assert json.dumps(hours) in str(caught.value)


def test_it_refuses_overlapping_hours_of_a_class():
    with pytest.raises(TruthError) as caught:
        truth(speed={"classes": {"primary": {"default": 1, "hours": {"07-09": 0.5, "08-10": 0.6}}}})
    assert caught.value.key == "speed.classes.primary.hours.08-10"
    assert "overlaps 07-09" in str(caught.value)


@pytest.mark.parametrize(
    "polygon, key",
    [
        (SQUARE[:-1], "speed.areas[0].polygon"),  # not closed
        (SQUARE[:3], "speed.areas[0].polygon"),  # too few positions
        ([[9.5, 47.1], [9.6, 47.1], [9.7, 47.1], [9.5, 47.1]], "speed.areas[0].polygon"),  # no area
        ([[9.5, 47.1], [9.6, 47.1], [9.6, 95.0], [9.5, 47.1]], "speed.areas[0].polygon[2][1]"),  # latitude 95
        ([[9.5, 47.1], [9.6, 47.1], [9.6], [9.5, 47.1]], "speed.areas[0].polygon[2]"),
        ({"type": "Polygon"}, "speed.areas[0].polygon"),
    ],
)
def test_it_refuses_a_bad_polygon(polygon, key):
    with pytest.raises(TruthError) as caught:
        truth(speed={"areas": [{"name": "centre", "polygon": polygon, "factor": 0.5}]})
    assert caught.value.key == key
    assert key in str(caught.value)


@pytest.mark.parametrize(
    "parts, key, value",
    [
        ({"speed": {"classes": {"primary": 0}}}, "speed.classes.primary", 0),
        ({"speed": {"classes": {"primary": -0.5}}}, "speed.classes.primary", -0.5),
        ({"speed": {"classes": {"primary": "fast"}}}, "speed.classes.primary", "fast"),
        ({"speed": {"days": {"sat-sun": 1.1, "sun": 1.2}}}, "speed.days.sun", "sun"),
        ({"speed": {"days": {"weekend": 1.1}}}, "speed.days.weekend", "weekend"),
        ({"speed": {"leg_noise_sigma": -0.1}}, "speed.leg_noise_sigma", -0.1),
        ({"speed": {"areas": [{"polygon": SQUARE}]}}, "speed.areas[0].factor", None),
        ({"speed": {"areas": [{"polygon": SQUARE, "factor": 0.5, "days": "mon-fry"}]}}, "speed.areas[0].days", "mon-fry"),
        ({"service": {"default": {"median_s": -1}}}, "service.default.median_s", -1),
        ({"service": {"default": {"sigma": 0.4}}}, "service.default.median_s", None),
        ({"access": {"default": {"median_s": 30, "sigma": "wide"}}}, "access.default.sigma", "wide"),
        ({"gps": {"interval_s": 0}}, "gps.interval_s", 0),
        ({"gps": {"gap_probability": 1}}, "gps.gap_probability", 1),
        ({"name": ""}, "name", ""),
    ],
)  # fmt: skip
def test_it_names_a_bad_value_with_its_key(parts, key, value):
    with pytest.raises(TruthError) as caught:
        truth(**parts)
    assert (caught.value.key, caught.value.value) == (key, value)
    assert str(caught.value).startswith(f"{key}: ")


def test_it_refuses_a_zone_the_app_does_not_know():
    known = [code for code, *_ in ZONES]
    check_zone_codes(truth(service={"zones": {"vaduz-centre": {"median_s": 300}}}), known)
    with pytest.raises(TruthError) as caught:
        check_zone_codes(truth(access={"zones": {"vaduz-center": {"median_s": 300}}}), known)
    assert caught.value.key == "access.zones.vaduz-center"


def test_it_reads_a_file_and_names_a_file_that_is_no_json(tmp_path):
    broken = tmp_path / "truth.json"
    broken.write_text('{"format": 1,', encoding="utf-8")
    with pytest.raises(TruthError, match="not JSON"):
        load_truth(broken)
    with pytest.raises(TruthError, match="cannot read"):
        load_truth(tmp_path / "missing.json")


def test_the_shipped_truth_is_valid_and_unlike_the_defaults():
    shipped = load_truth(DEFAULT_TRUTH_PATH, zone=ZONE)
    check_zone_codes(shipped, [code for code, *_ in ZONES])
    centre = (47.14, 9.522)  # Vaduz centre
    peak, night = at(TUESDAY, 8), at(TUESDAY, 23)
    assert shipped.speed_factor("primary", *centre, peak) < 0.5  # the centre crawls at the peak
    assert shipped.speed_factor("primary", 47.10, 9.51, night) > 1.0  # the main road flies at night
    assert shipped.service_zones["vaduz-centre"].median_s > 2 * shipped.service.median_s


# --- the speed factor -------------------------------------------------------------------------------


def test_the_speed_factor_is_class_times_area_times_day():
    world = truth(speed={
        "classes": {"primary": {"default": 0.9, "hours": {"07-09": 0.5}}, "residential": 0.7},
        "areas": [{"name": "centre", "polygon": SQUARE, "factor": 0.6, "hours": "07-19", "days": "mon-fri"}],
        "days": {"sat-sun": 1.2, "tue": 0.95},
    })  # fmt: skip
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 8)) == pytest.approx(0.5 * 0.6 * 0.95)
    assert world.speed_factor("primary", *OUTSIDE, at(TUESDAY, 8)) == pytest.approx(0.5 * 0.95)
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 12)) == pytest.approx(0.9 * 0.6 * 0.95)
    assert world.speed_factor("primary", *INSIDE, at(SATURDAY, 8)) == pytest.approx(0.5 * 1.2)  # area is mon-fri
    assert world.speed_factor("residential", *INSIDE, at(TUESDAY, 20)) == pytest.approx(0.7 * 0.95)
    assert world.speed_factor("service", *OUTSIDE, at(TUESDAY, 20)) == pytest.approx(0.95)  # not listed: 1


def test_hours_end_exclusive_in_local_time():
    world = truth(speed={"classes": {"primary": {"default": 1.0, "hours": {"07-09": 0.5}}}})
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 6, 59)) == 1.0
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 7, 0)) == 0.5
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 8, 59)) == 0.5
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 9, 0)) == 1.0
    # 07:30 in Vaduz is 06:30 UTC in winter: the hour is read in the app's zone, whatever the datetime's.
    utc = at(TUESDAY, 7, 30).astimezone(ZoneInfo("UTC"))
    assert utc.hour == 6
    assert world.speed_factor("primary", *INSIDE, utc) == 0.5


def test_hours_may_run_past_midnight():
    world = truth(speed={"classes": {"residential": {"default": 1.0, "hours": {"22-06": 1.3}}}})
    assert world.speed_factor("residential", *INSIDE, at(TUESDAY, 23)) == 1.3
    assert world.speed_factor("residential", *INSIDE, at(TUESDAY, 5, 59)) == 1.3
    assert world.speed_factor("residential", *INSIDE, at(TUESDAY, 6)) == 1.0


def test_a_point_in_several_areas_takes_the_smallest_factor():
    inner = [[9.505, 47.105], [9.515, 47.105], [9.515, 47.115], [9.505, 47.115], [9.505, 47.105]]
    world = truth(speed={"areas": [
        {"name": "bypass", "polygon": SQUARE, "factor": 1.3},
        {"name": "centre", "polygon": inner, "factor": 0.6},
        {"name": "night works", "polygon": inner, "factor": 0.2, "hours": "22-24"},
    ]})  # fmt: skip
    assert world.speed_factor("primary", 47.11, 9.51, at(TUESDAY, 12)) == pytest.approx(0.6)
    assert world.speed_factor("primary", 47.11, 9.51, at(TUESDAY, 23)) == pytest.approx(0.2)
    assert world.speed_factor("primary", 47.119, 9.501, at(TUESDAY, 12)) == pytest.approx(1.3)  # only the bypass


def test_a_leg_is_priced_piece_by_piece_then_the_noise():
    world = truth(speed={"classes": {"primary": 0.5, "residential": 0.8}, "leg_noise_sigma": 0.2})
    pieces = [piece("primary", lat=47.3), piece("residential", lat=47.3)]
    expected = world.drive(pieces, at(TUESDAY, 12), None)
    assert expected.piece_s == pytest.approx((200.0, 125.0))  # 100 s / 0.5, 100 s / 0.8
    one, two = (
        world.drive(pieces, at(TUESDAY, 12), random.Random(3)),
        world.drive(pieces, at(TUESDAY, 12), random.Random(3)),
    )
    assert one.piece_s == two.piece_s
    noise = one.duration_s / expected.duration_s
    assert noise != 1.0
    assert one.piece_s[0] / one.piece_s[1] == pytest.approx(200 / 125)  # one noise for the whole leg
    draws = [world.drive(pieces, at(TUESDAY, 12), random.Random(seed)).duration_s / 325 for seed in range(2000)]
    assert sorted(draws)[1000] == pytest.approx(1.0, abs=0.03)  # log-normal with median 1
    assert math.exp(0.2) == pytest.approx(sorted(draws)[1682], rel=0.05)  # ~84th percentile: one sigma


def test_a_piece_takes_the_factor_of_the_moment_the_van_enters_it():
    world = truth(speed={"classes": {"primary": {"default": 1.0, "hours": {"08-09": 0.5}}}})
    pieces = [piece(length_m=36_000.0, lat=47.3), piece(lat=47.3)]  # an hour, then 100 s
    leg = world.drive(pieces, at(TUESDAY, 7), None)
    assert leg.piece_s == pytest.approx((3600.0, 200.0))


# --- doorsteps and the phone -------------------------------------------------------------------------


def test_doorstep_draws_follow_the_zone_and_the_items():
    world = truth(
        service={"default": {"median_s": 150, "sigma": 0.5}, "per_item_s": 20,
                 "zones": {"vaduz-centre": {"median_s": 300, "sigma": 0.0}}},
        access={"default": {"median_s": 30, "sigma": 0.5}},
    )  # fmt: skip
    assert world.service_s(zone_code="vaduz-centre", items=3, rng=random.Random(1)) == 360.0
    assert world.service_s(zone_code="oberland", items=2, rng=None) == 190.0  # the median without a draw
    assert world.access_s(zone_code=None, rng=None) == 30.0
    draws = sorted(world.service_s(zone_code=None, items=0, rng=random.Random(s)) for s in range(1001))
    assert draws[500] == pytest.approx(150, rel=0.05)
    assert world.service_s(zone_code=None, items=1, rng=random.Random(9)) == world.service_s(
        zone_code=None, items=1, rng=random.Random(9)
    )


def test_a_truth_that_says_nothing_behaves_as_the_planner_assumes():
    world = truth()
    assert world.speed_factor("primary", *INSIDE, at(TUESDAY, 8)) == 1.0
    assert world.service_s(zone_code=None, items=4, rng=random.Random(1)) == settings.DEFAULT_SERVICE_MINUTES * 60
    assert world.access_s(zone_code=None, rng=random.Random(1)) == 0.0


def test_the_phone_reports_at_its_interval_with_noise_and_gaps():
    world = truth(gps={"interval_s": 5, "noise_m": 10, "gap_probability": 0.2})
    leg = world.drive([piece(length_m=10_000.0, lat=47.3)], at(TUESDAY, 12), None)  # 1000 s
    positions = world.positions(leg, random.Random(4))
    assert positions == world.positions(leg, random.Random(4))
    assert 0.7 * 201 < len(positions) < 0.9 * 201  # 201 ticks, a fifth lost
    assert all((p.recorded_at - leg.departure).total_seconds() % 5 == 0 for p in positions)
    assert positions[-1].recorded_at <= leg.arrival
    # displacement from the road (a north-south line at lon 9.51): Gaussian with sd 10 m per axis
    east_m = [(p.lon - 9.51) * 111_320 * math.cos(math.radians(p.lat)) for p in positions]
    spread = math.sqrt(sum(e * e for e in east_m) / len(east_m))
    assert 7 < spread < 13
    clean = truth(gps={"interval_s": 10}).positions(leg, random.Random(4))
    assert len(clean) == 101 and clean[50].lon == pytest.approx(9.51)
