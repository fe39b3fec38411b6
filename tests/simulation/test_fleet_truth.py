"""`simulate_fleet` (the live demo) drives under a truth: each leg takes what the truth's speeds say its
roads take, the doorstep what the truth draws, and the phone's positions carry its noise and gaps."""

import pytest
from django.core.management import CommandError, call_command

from dispatch.demo.simulator import Api, FleetSimulation, Options, dispatched_drivers, driver_tokens, simulated_drivers
from dispatch.demo.truth import parse_truth
from dispatch.models import DriverPosition, Order
from routes.network.route_pieces import route_pieces
from routes.road_network import get_road_network
from tests.live_map.conftest import dispatched_route  # noqa: F401 - the fixture of these tests

# Everything at half the default speed at every hour, a fixed doorstep: a leg's time is known exactly.
HALF_SPEED = {
    "format": 1, "name": "half speed",
    "speed": {"classes": {name: 0.5 for name in ("primary", "secondary", "tertiary", "unclassified", "residential",
                                                  "service", "living_street", "trunk", "primary_link", "road")}},
    "service": {"default": {"median_s": 100, "sigma": 0}, "per_item_s": 10},
    "access": {"default": {"median_s": 30, "sigma": 0}},
    "gps": {"interval_s": 5, "noise_m": 15, "gap_probability": 0.5},
}  # fmt: skip


def test_it_drives_each_leg_in_the_truths_time(dispatched_route, live_server, driver_a):  # noqa: F811
    truth = parse_truth(HALF_SPEED)
    api = Api(live_server.url)
    drivers = dispatched_drivers(dispatched_route.plan.date)
    fleet = simulated_drivers(api, drivers, driver_tokens(drivers), log=lambda text: None)
    [driver] = fleet
    options = Options(speed=2000, position_every_s=30, failure_rate=0, delay_rate=0, max_minutes=2, seed=3, truth=truth)
    log = []
    summary = FleetSimulation(api, fleet, options, log=log.append).run()

    assert summary.finished and summary.delivered == 6, log
    network = get_road_network()
    for leg in driver.legs:
        assert leg.timed_by_truth
        pieces = route_pieces(network, [[lon, lat] for lat, lon in leg.path.points], driver.profile)
        assert leg.duration_s == pytest.approx(sum(p.default_s for p in pieces) / 0.5)
    # The phone's noise: positions off the road by about the truth's 15 m (none without noise).
    positions = list(DriverPosition.objects.filter(driver=driver_a).values_list("lat", "lon", "accuracy_m"))
    assert len(positions) == summary.positions > 10
    off_road = sorted(network.snap(lat, lon).distance_m for lat, lon, _ in positions)
    assert off_road[len(off_road) // 2] > 4
    assert {accuracy for _, _, accuracy in positions} == {15.0}
    assert Order.objects.filter(stops__route=dispatched_route, status="delivered").count() == 6


def test_planned_times_without_a_truth(dispatched_route, live_server):  # noqa: F811
    api = Api(live_server.url)
    drivers = dispatched_drivers(dispatched_route.plan.date)
    [driver] = simulated_drivers(api, drivers, driver_tokens(drivers), log=lambda text: None)
    planned = [leg.duration_s for leg in driver.legs]
    options = Options(speed=2000, position_every_s=30, failure_rate=0, delay_rate=0, max_minutes=2, seed=3)
    FleetSimulation(api, [driver], options, log=lambda text: None).run()
    assert [leg.duration_s for leg in driver.legs] == planned
    assert not any(leg.timed_by_truth for leg in driver.legs)


def test_the_command_names_a_bad_truth_file(db, tmp_path):
    bad = tmp_path / "truth.json"
    bad.write_text('{"format": 1, "gps": {"noise": 3}}', encoding="utf-8")
    with pytest.raises(CommandError, match=r"gps.noise: unknown key"):
        call_command("simulate_fleet", "--url", "http://127.0.0.1:9", "--truth", str(bad))
