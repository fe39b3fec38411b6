"""Live ETAs follow the driver: re-timed on the roads from the latest position (dispatch.live.eta)."""

import time
from datetime import timedelta

import pytest
from django.core.cache import cache

from dispatch import events
from dispatch.live import eta as live_eta
from dispatch.models import Alert, Order
from routes.models import Stop
from routes.road_network import get_road_network
from tests.live_map.conftest import place_driver

pytestmark = pytest.mark.clock

EMITTED: list[dict] = []


def record_eta_changed(**payload):
    EMITTED.append(payload)


@pytest.fixture(autouse=True)
def _listen(monkeypatch):
    EMITTED.clear()
    cache.clear()
    monkeypatch.setitem(events.HANDLERS, "eta_changed", ("tests.live_map.test_live_eta.record_eta_changed",))


def stops_of(route):
    return list(Stop.objects.filter(route=route).select_related("order").order_by("sequence"))


def test_it_moves_etas_when_the_driver_is_far_behind_and_emits_eta_changed(
    dispatched_route, driver_a, depot_a, django_capture_on_commit_callbacks
):
    route = dispatched_route
    planned = stops_of(route)
    # Three hours after the route should have started, the van is still at the depot.
    now = route.start + timedelta(hours=3)
    place_driver(driver_a, depot_a.lat, depot_a.lon, now)

    with django_capture_on_commit_callbacks(execute=True):
        result = live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)

    assert result is not None and result.route.pk == route.pk
    after = stops_of(route)
    first = after[0]
    # The first stop: now + the road time from the depot, as the network says.
    drive = get_road_network().route([(depot_a.lat, depot_a.lon), (first.order.lat, first.order.lon)], "car", now)
    assert abs((first.live_eta - now).total_seconds() - drive.duration_s) < 5
    waited = timedelta()
    for before, stop in zip(planned, after, strict=True):
        assert stop.live_eta_updated_at == now
        # three hours behind, less the waiting the plan had up to this stop (a late van no longer waits
        # for windows to open), give or take the traffic of a later hour
        waited += timedelta(seconds=before.waiting_s)
        assert stop.live_eta - before.eta > timedelta(hours=3) - waited - timedelta(minutes=20)
        assert stop.live_eta - before.eta > timedelta(minutes=30)
    etas = [stop.live_eta for stop in after]
    assert etas == sorted(etas)
    assert {p["order_id"] for p in EMITTED} == {stop.order_id for stop in after}
    one = next(p for p in EMITTED if p["order_id"] == first.order_id)
    assert one["eta"] == first.live_eta and one["previous_eta"] == planned[0].eta and one["depot_id"] == depot_a.pk
    assert set(one) == {"order_id", "depot_id", "eta", "previous_eta", "window_start", "window_end", "at"}


def test_it_announces_an_eta_once_it_moved_two_minutes_since_the_last_announcement(
    dispatched_route, driver_a, depot_a, django_capture_on_commit_callbacks
):
    now = dispatched_route.start + timedelta(hours=3)
    place_driver(driver_a, depot_a.lat, depot_a.lon, now)
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    EMITTED.clear()
    later = now + timedelta(seconds=60)  # a minute later, still at the depot: every ETA moves by one minute
    place_driver(driver_a, depot_a.lat, depot_a.lon, later)
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=later)
    assert EMITTED == []
    assert all(stop.live_eta_updated_at == later for stop in stops_of(dispatched_route))

    # Another minute: two minutes since the ETA last announced, so it is announced again (drift adds up).
    announced = {stop.order_id: stop.live_eta - timedelta(seconds=60) for stop in stops_of(dispatched_route)}
    latest = later + timedelta(seconds=60)
    place_driver(driver_a, depot_a.lat, depot_a.lon, latest)
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=latest)
    assert {p["order_id"] for p in EMITTED} == set(announced)
    for payload in EMITTED:
        assert payload["previous_eta"] == announced[payload["order_id"]]
        assert payload["eta"] - payload["previous_eta"] == timedelta(seconds=120)


def test_it_waits_for_a_window_that_has_not_opened(dispatched_route, driver_a, depot_a):
    early = dispatched_route.start - timedelta(hours=1)
    place_driver(driver_a, depot_a.lat, depot_a.lon, early)
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=early)
    stops = stops_of(dispatched_route)
    for previous, stop in zip(stops, stops[1:], strict=False):
        window_start = previous.order.window_start
        if window_start and previous.live_eta < window_start:
            # The next stop cannot be reached before the previous one's window opened and it was served.
            assert stop.live_eta >= window_start + timedelta(seconds=previous.service_s)


def test_it_skips_stops_already_done_and_starts_after_the_one_the_driver_is_at(
    dispatched_route, driver_a, django_capture_on_commit_callbacks
):
    stops = stops_of(dispatched_route)
    now = dispatched_route.start + timedelta(hours=1)
    Order.objects.filter(pk=stops[0].order_id).update(status=Order.Status.DELIVERED)
    place_driver(driver_a, stops[1].order.lat, stops[1].order.lon, now)
    from dispatch.orders.services import order_change_status

    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=stops[1].order, to_status=Order.Status.ARRIVED, at=now)
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    after = stops_of(dispatched_route)
    assert after[0].live_eta is None  # done: not re-timed
    assert after[1].live_eta == now  # arrived there now
    assert after[2].live_eta >= now + timedelta(seconds=after[1].service_s)


def test_it_recomputes_from_a_position_posted_through_the_api_at_most_once_per_interval(
    dispatched_route, driver_a, driver_client, depot_a, django_capture_on_commit_callbacks, monkeypatch
):
    from django.utils import timezone

    monkeypatch.setenv("LIVE_ETA_EVERY_S", "30")
    now = timezone.now()
    calls = []
    original = live_eta.live_etas_refresh
    monkeypatch.setattr(live_eta, "live_etas_refresh", lambda **kw: calls.append(kw) or original(**kw))
    for seconds in (0, 5):
        # A second apart in real time too: no trailing position broadcast (dispatch.live.broadcast) outlives the test.
        time.sleep(1.1 if seconds else 0)
        body = {
            "positions": [
                {"lat": depot_a.lat, "lon": depot_a.lon, "recorded_at": (now + timedelta(seconds=seconds)).isoformat()}
            ]
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = driver_client.post("/api/driver/positions/", body, format="json")
        assert response.status_code == 202, response.json()
    assert calls == [{"driver_id": driver_a.pk}]  # the second position fell inside the 30 s window
    assert all(stop.live_eta is not None for stop in stops_of(dispatched_route))


def test_it_keeps_the_first_eta_computed_within_the_hour_before_the_arrival(
    dispatched_route, driver_a, depot_a, monkeypatch
):
    # The van waits at the depot: each stop's ETA stays the same time ahead of the clock.
    now = dispatched_route.start
    place_driver(driver_a, depot_a.lat, depot_a.lon, now)
    monkeypatch.setattr(live_eta, "HOUR_BEFORE_S", (0, 0))
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    assert all(stop.hour_before_eta is None for stop in stops_of(dispatched_route))
    # The band around how far ahead the first stop is: it (and only what is as far ahead) is kept.
    ahead = (stops_of(dispatched_route)[0].live_eta - now).total_seconds()
    monkeypatch.setattr(live_eta, "HOUR_BEFORE_S", (ahead - 30, ahead + 30))
    later = now + timedelta(minutes=1)
    place_driver(driver_a, depot_a.lat, depot_a.lon, later)
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=later)
    first, *others = stops_of(dispatched_route)
    assert (first.hour_before_eta, first.hour_before_eta_at) == (first.live_eta, later)
    for stop in others:
        if stop.hour_before_eta is not None:
            assert abs((stop.hour_before_eta - later).total_seconds() - ahead) <= 30
    # The next refresh moves the live ETA, not the one kept.
    latest = later + timedelta(minutes=1)
    place_driver(driver_a, depot_a.lat, depot_a.lon, latest)
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=latest)
    kept = stops_of(dispatched_route)[0]
    assert kept.live_eta > first.live_eta
    assert (kept.hour_before_eta, kept.hour_before_eta_at) == (first.live_eta, later)


def test_a_replayed_position_is_recomputed_as_of_its_own_moment_on_its_own_clock(
    dispatched_route, driver_a, depot_a, monkeypatch, django_capture_on_commit_callbacks
):
    """A simulated day's position (received_at given: dispatch.demo.simulated_history) sets off live ETAs
    as of its moment, at most one per LIVE_ETA_EVERY_S of that day's clock, and the ETA changes they
    announce carry the moment (the customers' promises move as of then)."""
    monkeypatch.setenv("LIVE_ETA_EVERY_S", "20")
    moment = dispatched_route.start + timedelta(hours=3)  # far behind: every ETA moves
    for seconds, recomputed_at in ((0, 0), (5, 0), (25, 25)):
        at = moment + timedelta(seconds=seconds)
        place_driver(driver_a, depot_a.lat, depot_a.lon, at)
        with django_capture_on_commit_callbacks(execute=True):
            live_eta.on_driver_moved(driver_id=driver_a.pk, depot_id=depot_a.pk, received_at=at)
        expected = moment + timedelta(seconds=recomputed_at)
        assert {stop.live_eta_updated_at for stop in stops_of(dispatched_route)} == {expected}
    assert EMITTED and {payload["at"] for payload in EMITTED} == {moment}


def test_it_opens_a_late_alert_and_resolves_it_when_on_time_again(
    dispatched_route, driver_a, depot_a, django_capture_on_commit_callbacks
):
    windowed = [s for s in stops_of(dispatched_route) if s.order.window_end]
    assert windowed
    late_now = windowed[0].order.window_end + timedelta(minutes=30)
    place_driver(driver_a, depot_a.lat, depot_a.lon, late_now)
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=late_now)
    late = Alert.objects.filter(kind=Alert.Kind.LATE, resolved_at__isnull=True)
    assert {a.order_id for a in late} == {s.order_id for s in windowed}
    alert = late.get(order_id=windowed[0].order_id)
    assert alert.dedup_key == f"late:{windowed[0].order_id}" and "late" in alert.message
    assert alert.depot_id == depot_a.pk and alert.driver_id == driver_a.pk

    # Refreshing again while still late keeps one open alert per order, worded as before while the
    # lateness moved less than LATE_ALERT_STEP_MIN (no new message to dashboards every refresh)...
    worded = dict(late.values_list("order_id", "message"))
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=late_now + timedelta(seconds=30))
    assert Alert.objects.filter(kind=Alert.Kind.LATE).count() == len(windowed)
    assert dict(late.values_list("order_id", "message")) == worded
    # ...and re-worded once it moved more.
    place_driver(driver_a, depot_a.lat, depot_a.lon, late_now + timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=late_now + timedelta(minutes=10))
    assert Alert.objects.filter(kind=Alert.Kind.LATE).count() == len(windowed)
    assert late.get(order_id=windowed[0].order_id).message != worded[windowed[0].order_id]

    # The van was in fact on its way early: on time again, the alerts resolve themselves.
    on_time = dispatched_route.start
    Stop.objects.filter(route=dispatched_route).update(live_eta=None)
    from dispatch.models import Driver, DriverPosition

    DriverPosition.objects.all().delete()
    Driver.objects.filter(pk=driver_a.pk).update(last_position_at=None)
    place_driver(driver_a, depot_a.lat, depot_a.lon, on_time)
    with django_capture_on_commit_callbacks(execute=True):
        live_eta.live_etas_refresh(driver_id=driver_a.pk, now=on_time)
    assert not Alert.objects.filter(kind=Alert.Kind.LATE, resolved_at__isnull=True).exists()
    assert Alert.objects.filter(kind=Alert.Kind.LATE, resolved_at__isnull=False).count() == len(windowed)


def test_it_does_nothing_for_a_driver_without_a_route(driver_a, depot_a, road_network):
    from django.utils import timezone

    place_driver(driver_a, depot_a.lat, depot_a.lon, timezone.now())
    assert live_eta.live_etas_refresh(driver_id=driver_a.pk) is None


def test_a_break_still_to_come_pushes_the_stops_after_it(dispatched_route, driver_a, depot_a):
    """A driver late at the depot still takes the plan's break after stop 2: stops 3+ are later by it."""
    route = dispatched_route
    now = route.start + timedelta(hours=3)
    place_driver(driver_a, depot_a.lat, depot_a.lon, now)
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    without = {stop.sequence: stop.live_eta for stop in stops_of(route)}

    route.breaks = [{"after_sequence": 2, "start": (route.start + timedelta(hours=2)).isoformat(), "duration_s": 1800}]
    route.save(update_fields=["breaks"])
    cache.clear()
    live_eta.live_etas_refresh(driver_id=driver_a.pk, now=now)
    with_break = {stop.sequence: stop.live_eta for stop in stops_of(route)}

    assert with_break[1] == without[1] and with_break[2] == without[2]
    # 30 minutes later from stop 3 on (less any waiting for a window that the later start saves)
    assert timedelta(minutes=20) <= with_break[3] - without[3] <= timedelta(minutes=31)
    assert all(with_break[n] >= without[n] for n in without)
