"""POST /api/driver/positions/: validation, the latest position, personas, pruning."""

from datetime import datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from dispatch.live.positions import driver_positions_prune
from dispatch.models import Driver, DriverPosition
from tests.live.conftest import position

URL = "/api/driver/positions/"
pytestmark = pytest.mark.django_db


def test_it_stores_a_batch_and_answers_202(driver_client, driver_a):
    batch = [position(30, speed_mps=8.5, heading=90, accuracy_m=5), position(20), position(10, lat=47.15)]
    response = driver_client.post(URL, {"positions": batch}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 3
    assert DriverPosition.objects.filter(driver=driver_a, vehicle=driver_a.vehicle).count() == 3
    driver_a.refresh_from_db()
    assert driver_a.last_lat == 47.15
    assert driver_a.last_position_at == datetime.fromisoformat(batch[2]["recorded_at"])


@pytest.mark.parametrize(
    "field,value",
    [
        ("lat", 90.5),
        ("lat", -91),
        ("lon", 180.1),
        ("lat", "NaN"),
        ("lon", "Infinity"),
        ("lat", "-inf"),
        ("lat", "north"),
        ("recorded_at", "yesterday"),
        ("recorded_at", "6 minutes ahead"),  # made when the test runs: collection may be minutes earlier
        ("heading", 361),
        ("heading", -1),
        ("speed_mps", -0.1),
        ("accuracy_m", "nan"),
    ],
)
def test_it_names_the_bad_field_and_value_and_writes_nothing(driver_client, driver_a, field, value):
    if value == "6 minutes ahead":
        value = (timezone.now() + timedelta(minutes=6)).isoformat()
    batch = [position(5), position(4, **{field: value})]
    response = driver_client.post(URL, {"positions": batch}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [error["field"] for error in errors] == [f"positions[1].{field}"]
    assert errors[0]["value"] == value
    assert DriverPosition.objects.count() == 0
    driver_a.refresh_from_db()
    assert driver_a.last_position_at is None


def test_it_accepts_a_clock_slightly_ahead(driver_client):
    response = driver_client.post(URL, {"positions": [position(-240)]}, format="json")
    assert response.status_code == 202


def test_it_names_a_missing_field(driver_client):
    response = driver_client.post(URL, {"positions": [{"lat": 47.1, "recorded_at": timezone.now().isoformat()}]})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["positions[0].lon"]


def test_it_refuses_more_than_500_positions_or_none(driver_client):
    response = driver_client.post(URL, {"positions": [position(i) for i in range(501)]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "positions"
    assert driver_client.post(URL, {"positions": []}, format="json").status_code == 400
    assert driver_client.post(URL, {}, format="json").status_code == 400
    assert DriverPosition.objects.count() == 0


def test_it_keeps_the_newest_position_when_an_old_offline_batch_arrives(driver_client, driver_a):
    assert driver_client.post(URL, {"positions": [position(5, lat=47.20)]}, format="json").status_code == 202
    offline = [position(600 - i, lat=47.0 + i / 1000) for i in range(50)]
    assert driver_client.post(URL, {"positions": offline}, format="json").status_code == 202
    driver_a.refresh_from_db()
    assert driver_a.last_lat == 47.20
    assert DriverPosition.objects.filter(driver=driver_a).count() == 51


def test_it_moves_to_the_newest_of_a_batch_whatever_its_order(driver_client, driver_a):
    batch = [position(1, lat=47.3), position(50, lat=47.1), position(20, lat=47.2)]
    driver_client.post(URL, {"positions": batch}, format="json")
    driver_a.refresh_from_db()
    assert driver_a.last_lat == 47.3


def test_it_lets_only_drivers_post(anonymous_client, dispatcher_a_client, manager_client, driver_client):
    body = {"positions": [position(1)]}
    assert anonymous_client.post(URL, body, format="json").status_code == 401
    assert dispatcher_a_client.post(URL, body, format="json").status_code == 403
    assert manager_client.post(URL, body, format="json").status_code == 403
    assert driver_client.post(URL, body, format="json").status_code == 202
    assert DriverPosition.objects.count() == 1


def test_it_refuses_a_driver_login_without_a_driver_record(driver_a, dispatcher_a_client):
    from tests.conftest import _client_for

    Driver.objects.filter(pk=driver_a.pk).delete()
    driver_a.user.refresh_from_db()
    response = _client_for(driver_a.user).post(URL, {"positions": [position(1)]}, format="json")
    assert response.status_code == 403


def test_it_prunes_positions_older_than_the_retention(driver_a, settings):
    settings.POSITION_RETENTION_DAYS = 30
    now = timezone.now()
    for days in (40, 31, 29, 1):
        DriverPosition.objects.create(driver=driver_a, lat=47.1, lon=9.5, recorded_at=now - timedelta(days=days))
    assert driver_positions_prune(now=now) == 2
    assert DriverPosition.objects.count() == 2
    call_command("prune_positions", "--days", "2")
    assert DriverPosition.objects.count() == 1


def test_it_schedules_pruning_with_celery_beat(settings):
    from dispatch.live.tasks import prune_driver_positions

    entry = settings.CELERY_BEAT_SCHEDULE["prune-driver-positions"]
    assert entry["task"] == prune_driver_positions.name
    assert prune_driver_positions.apply().get() == 0
