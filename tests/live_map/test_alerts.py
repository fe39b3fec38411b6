"""Alerts: idle drivers and failed deliveries open and resolve themselves; one open alert per key."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from dispatch import alerts
from dispatch.live import alerts as live_alerts
from dispatch.models import Alert, Order
from routes.models import Stop
from tests.live_map.conftest import place_driver

pytestmark = pytest.mark.clock


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()


def test_it_opens_one_alert_per_key_and_refreshes_its_text(depot_a, django_capture_on_commit_callbacks):
    first = alerts.alert_open(depot_id=depot_a.pk, kind="other", dedup_key="x:1", message="one")
    again = alerts.alert_open(depot_id=depot_a.pk, kind="other", dedup_key="x:1", message="two")
    assert again.pk == first.pk and Alert.objects.get().message == "two"
    assert alerts.alert_resolve(alert=first) is True
    assert alerts.alert_resolve(alert=first) is False  # already resolved: nothing happens twice
    reopened = alerts.alert_open(depot_id=depot_a.pk, kind="other", dedup_key="x:1", message="three")
    assert reopened.pk != first.pk and Alert.objects.filter(resolved_at__isnull=True).count() == 1


def test_it_opens_an_idle_alert_for_a_driver_standing_still_with_open_stops(dispatched_route, driver_a, monkeypatch):
    monkeypatch.setenv("IDLE_ALERT_MINUTES", "10")
    now = dispatched_route.start + timedelta(hours=1)
    stop = Stop.objects.filter(route=dispatched_route).select_related("order").first()
    for minutes in (15, 8, 3, 0):  # parked within a few metres for a quarter of an hour
        place_driver(driver_a, stop.order.lat + minutes * 1e-6, stop.order.lon, now - timedelta(minutes=minutes))
    assert live_alerts.idle_alerts_check(now=now) == 1
    alert = Alert.objects.get(kind=Alert.Kind.IDLE, resolved_at__isnull=True)
    assert alert.dedup_key == f"idle:{driver_a.pk}" and alert.driver_id == driver_a.pk
    assert driver_a.name in alert.message and "not moved" in alert.message

    # It drives off: the next position resolves the alert (through the driver_moved handler).
    later = now + timedelta(minutes=1)
    place_driver(driver_a, stop.order.lat + 0.01, stop.order.lon, later)
    monkeypatch.setattr(timezone, "now", lambda: later)
    live_alerts.on_driver_moved(driver_id=driver_a.pk, depot_id=driver_a.depot_id)
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_it_does_not_call_a_moving_driver_idle_or_one_just_started(dispatched_route, driver_a):
    now = dispatched_route.start + timedelta(hours=1)
    stop = Stop.objects.filter(route=dispatched_route).select_related("order").first()
    place_driver(driver_a, stop.order.lat, stop.order.lon, now - timedelta(minutes=3))  # first position ever
    assert live_alerts.idle_alerts_check(now=now) == 0
    for minutes in (12, 6, 0):
        place_driver(driver_a, stop.order.lat + minutes * 0.001, stop.order.lon, now - timedelta(minutes=minutes))
    assert live_alerts.idle_alerts_check(now=now) == 0
    assert not Alert.objects.exists()


def test_it_calls_a_driver_idle_whose_phone_went_quiet_and_not_once_the_route_is_done(dispatched_route, driver_a):
    now = dispatched_route.start + timedelta(hours=1)
    place_driver(driver_a, 47.14, 9.52, now - timedelta(minutes=25))
    assert live_alerts.idle_alerts_check(now=now) == 1
    assert "no position" in Alert.objects.get(resolved_at__isnull=True).message
    Order.objects.filter(stops__route=dispatched_route).update(status=Order.Status.DELIVERED)
    assert live_alerts.idle_alerts_check(now=now) == 0
    assert not Alert.objects.filter(resolved_at__isnull=True).exists()


def test_it_opens_an_alert_for_a_failed_delivery_from_the_driver_app(
    dispatched_route, driver_client, django_capture_on_commit_callbacks
):
    stop = Stop.objects.filter(route=dispatched_route).select_related("order").first()
    with django_capture_on_commit_callbacks(execute=True):
        response = driver_client.post(
            f"/api/driver/stops/{stop.pk}/fail/", {"reason": "not_home", "note": "rang twice"}, format="json"
        )
    assert response.status_code == 200, response.json()
    alert = Alert.objects.get(kind=Alert.Kind.FAILED)
    assert alert.dedup_key == f"failed:{stop.order_id}" and alert.resolved_at is None
    assert stop.order.reference in alert.message and "nobody home" in alert.message and "rang twice" in alert.message
    assert alert.driver_id == dispatched_route.driver_id

    # Planned again for another day: the failure has been dealt with.
    from dispatch.orders.services import order_change_status

    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=stop.order, to_status=Order.Status.NEW)
    assert Alert.objects.get(pk=alert.pk).resolved_at is not None


def test_it_publishes_alerts_to_the_depot_group(depot_a, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(f"depot.{depot_a.pk}", channel)
    with django_capture_on_commit_callbacks(execute=True):
        alert = alerts.alert_open(depot_id=depot_a.pk, kind="other", dedup_key="x:2", message="Look")
    message = async_to_sync(layer.receive)(channel)
    assert message["type"] == "alert" and message["id"] == alert.pk and message["resolved"] is False
    assert message["message"] == "Look" and isinstance(message["seq"], int)
    with django_capture_on_commit_callbacks(execute=True):
        alerts.alert_resolve(alert=alert)
    resolved = async_to_sync(layer.receive)(channel)
    assert resolved["id"] == alert.pk and resolved["resolved"] is True and resolved["seq"] > message["seq"]
    async_to_sync(layer.group_discard)(f"depot.{depot_a.pk}", channel)
