"""The fleet simulator drives a dispatched route through the real HTTP API (pytest-django's live server)."""

import pytest
import time_machine
from django.core.management import CommandError, call_command

from dispatch.demo.simulator import (
    Api,
    FleetSimulation,
    Options,
    Path,
    SimulationError,
    dispatched_drivers,
    driver_tokens,
    simulated_drivers,
)
from dispatch.models import Alert, DriverPosition, Order
from routes.models import Stop


def test_it_drives_a_route_to_the_end_through_the_api(dispatched_route, live_server, driver_a):
    api = Api(live_server.url)
    drivers = dispatched_drivers(dispatched_route.plan.date)
    assert drivers == [driver_a]
    fleet = simulated_drivers(api, drivers, driver_tokens(drivers), log=lambda text: None)
    [driver] = fleet
    assert len(driver.legs) == 7  # six stops and the way back
    log = []
    options = Options(speed=2000, position_every_s=60, failure_rate=0.3, delay_rate=0.3, max_minutes=2, seed=3)
    summary = FleetSimulation(api, fleet, options, log=log.append).run()

    assert summary.finished, log
    assert summary.delivered + summary.failed == 6 and summary.errors == 0, log
    statuses = list(Order.objects.filter(stops__route=dispatched_route).values_list("status", flat=True))
    assert sorted(statuses) == sorted(["delivered"] * summary.delivered + ["failed"] * summary.failed)
    assert summary.failed >= 1  # seed 3 fails some: each failure opened an alert
    assert Alert.objects.filter(kind=Alert.Kind.FAILED).count() == summary.failed
    positions = DriverPosition.objects.filter(driver=driver_a)
    assert positions.count() == summary.positions > 10
    # It followed the roads: every position is near the route's geometry.
    line = Path([(lat, lon) for lon, lat in dispatched_route.geometry["coordinates"]])
    for lat, lon in positions.values_list("lat", "lon")[:50]:
        assert min(abs(lat - p[0]) + abs(lon - p[1]) for p in line.points) < 0.002
    assert Stop.objects.filter(route=dispatched_route, live_eta__isnull=False).exists()  # ETAs followed it


def test_it_refuses_a_server_that_is_not_on_this_machine():
    with pytest.raises(SimulationError, match="only drives a server on this machine"):
        Api("http://dispatch.example.com")


def test_it_says_clearly_when_nothing_is_dispatched(db, live_server):
    with pytest.raises(CommandError, match="No plan is dispatched for"):
        call_command("simulate_fleet", "--url", live_server.url)


def test_it_plans_and_dispatches_first_when_asked(
    dispatcher_a, depot_a, vehicle_a, driver_a, live_server, request, settings, capsys
):
    request.getfixturevalue("road_network")
    from django.utils import timezone

    from tests.live_map.conftest import PASSWORD, today_at
    from tests.routes.test_plans import VADUZ_POINTS

    day = timezone.localdate()
    for i, (lat, lon) in enumerate(VADUZ_POINTS[:3]):
        Order.objects.create(reference=f"S{i}", date=day, depot=depot_a, lat=lat, lon=lon)
    # In the van's shift: a plan for today starts from now, and in the evening the shift is over.
    with time_machine.travel(today_at(9), tick=True):
        call_command(
            "simulate_fleet", "--url", live_server.url, "--plan", "--dispatcher", f"{dispatcher_a.username}:{PASSWORD}",
            "--speed", "5000", "--every", "120", "--failure-rate", "0", "--delay-rate", "0", "--max-minutes", "2",
        )  # fmt: skip
    out = capsys.readouterr().out
    assert "Dispatched plan" in out and "Done: 1 drivers, 3 delivered, 0 failed" in out
    assert set(Order.objects.values_list("status", flat=True)) == {"delivered"}
