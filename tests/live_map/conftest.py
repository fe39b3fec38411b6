"""A dispatched plan of today on the demo region (Liechtenstein) for driver_a, and helpers."""

from datetime import datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from dispatch.models import Driver, DriverPosition
from routes.models import Route
from tests.conftest import PASSWORD  # noqa: F401 - for the tests of this folder
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures for these tests
from tests.routes.test_plans import VADUZ_POINTS, import_orders

# Windows on every third order, so that a driver far behind is predicted late there.
WINDOW = ("09:00", "11:00")


def today_at(hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(), datetime.min.time())) + timedelta(
        hours=hour, minutes=minute
    )


@pytest.fixture
def dispatched_route(dispatcher_a_client, depot_a, vehicle_a, driver_a, request, django_capture_on_commit_callbacks):
    """Today's plan for depot A (one van, driver_a), computed and dispatched through the API.

    Planned at 07:00 today, as a dispatcher does in the morning: a plan for today starts from the
    moment it is computed, and at the evening hours the suite may run at the van's shift is over."""
    request.getfixturevalue("road_network")  # the demo region
    day = timezone.localdate()
    rows = [
        f"L{i},{day},{lat},{lon},{WINDOW[0] if i % 3 == 0 else ''},{WINDOW[1] if i % 3 == 0 else ''},{2 + i},,0"
        for i, (lat, lon) in enumerate(VADUZ_POINTS[:6])
    ]
    import_orders(dispatcher_a_client, rows)
    with time_machine.travel(today_at(7, 0), tick=True):
        with django_capture_on_commit_callbacks(execute=True):
            queued = dispatcher_a_client.post("/api/plans/", {"date": str(day), "depot": "A"}, format="json")
        assert queued.status_code == 202, queued.json()
        plan_id = queued.json()["id"]
        with django_capture_on_commit_callbacks(execute=True):
            dispatched = dispatcher_a_client.post(f"/api/plans/{plan_id}/dispatch/")
    assert dispatched.status_code == 200, dispatched.json()
    route = Route.objects.select_related("vehicle", "driver").get(plan_id=plan_id)
    assert route.driver_id == driver_a.pk and route.stops.count() == 6
    return route


def place_driver(driver: Driver, lat: float, lon: float, at: datetime) -> None:
    """Where the driver's phone last said it was (as dispatch.live.positions leaves it)."""
    DriverPosition.objects.create(driver=driver, vehicle_id=driver.vehicle_id, lat=lat, lon=lon, recorded_at=at)
    Driver.objects.filter(pk=driver.pk).update(last_lat=lat, last_lon=lon, last_position_at=at)
    driver.refresh_from_db()
