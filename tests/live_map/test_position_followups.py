"""Positions through the Django view (every position in the embedded mode): the dashboards hear of each
move, the other listeners (live ETAs, idle alerts, the tracking socket) of at most one per driver in
each LIVE_FOLLOWUP_EVERY_S slice of the phone's clock, in a task on the "live" queue."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from dispatch.live import eta as live_eta
from dispatch.live.positions import _followups_due


def _at(seconds: float) -> datetime:
    return datetime(2026, 12, 4, 10, 0, tzinfo=timezone.get_current_timezone()) + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("previous", "newest", "due"),
    [
        (None, 0, True),  # the first position of the day
        (0, 1, False),  # the same 5-second slice
        (0, 4.9, False),
        (4.9, 5.0, True),  # the next slice
        (0, 60, True),
        (10, 9, True),  # an older one (an offline batch): never held back here
    ],
)
def test_it_follows_a_move_up_once_per_slice_of_the_phones_clock(settings, previous, newest, due):
    settings.LIVE_FOLLOWUP_EVERY_S = 5.0
    previous = None if previous is None else _at(previous)
    assert _followups_due(previous=previous, newest=_at(newest)) is due


def test_it_follows_every_move_up_when_the_interval_is_zero(settings):
    settings.LIVE_FOLLOWUP_EVERY_S = 0
    assert _followups_due(previous=_at(0), newest=_at(0.5)) is True


def test_it_recomputes_live_etas_from_positions_a_second_apart_once_per_slice(
    dispatched_route, driver_a, driver_client, depot_a, django_capture_on_commit_callbacks, monkeypatch, settings
):
    settings.LIVE_FOLLOWUP_EVERY_S = 5.0
    monkeypatch.setenv("LIVE_ETA_EVERY_S", "0")  # live ETAs recompute at every follow-up they get
    calls = []
    original = live_eta.live_etas_refresh
    monkeypatch.setattr(live_eta, "live_etas_refresh", lambda **kw: calls.append(kw) or original(**kw))
    start = timezone.now().replace(microsecond=0)
    start -= timedelta(seconds=start.second % 5)  # the beginning of a slice
    for seconds in (0, 1, 2, 6):  # a phone posting every second (the simulator at --speed 10), then later
        body = {
            "positions": [
                {
                    "lat": depot_a.lat,
                    "lon": depot_a.lon,
                    "recorded_at": (start + timedelta(seconds=seconds)).isoformat(),
                }
            ]
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = driver_client.post("/api/driver/positions/", body, format="json")
        assert response.status_code == 202, response.json()
    assert calls == [{"driver_id": driver_a.pk}] * 2  # at 0 s and at 6 s; 1 s and 2 s fell in the first slice
    driver_a.refresh_from_db()
    assert driver_a.last_position_at == start + timedelta(seconds=6)  # every position was stored
