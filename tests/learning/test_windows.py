"""Customers' windows sized by the learned arrival errors: wider for later stops, within the limits."""

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from customers.notifications.promises import promise_window_for
from routes.learning import windows
from routes.learning.selectors import arrival_window
from routes.models import TravelModel

NOW = datetime(2026, 11, 3, 8, 0, tzinfo=ZoneInfo("Europe/Vaduz"))
FIGURES = {"leg_bias_s": 30.0, "leg_sd_s": 120.0, "service_bias_s": 0.0, "service_sd_s": 60.0,
           "stops_per_hour": 4.0, "legs": 200}  # fmt: skip


@pytest.fixture
def model(db):
    return TravelModel.objects.create(version=1, active=True, parameters={"arrival_error": FIGURES})


def test_without_a_learned_model_the_window_is_the_fixed_width(db, settings):
    settings.ETA_WINDOW_HALF_WIDTH_MIN = 30
    assert arrival_window(3600) is None
    start, end = promise_window_for(NOW + timedelta(hours=2), now=NOW)
    assert (start, end) == (NOW + timedelta(hours=1, minutes=30), NOW + timedelta(hours=2, minutes=30))


def test_the_window_grows_with_the_horizon_and_leans_late_like_the_errors(model):
    soon_low, soon_high = arrival_window(1800)
    late_low, late_high = arrival_window(5 * 3600)
    assert late_high - late_low > soon_high - soon_low
    assert late_high > -late_low  # legs ran late on average: more room after the ETA than before


def test_the_learned_window_stays_between_the_minimum_and_the_maximum_width(model, settings):
    settings.ETA_WINDOW_MIN_WIDTH_MIN, settings.ETA_WINDOW_MAX_WIDTH_MIN = 20, 25
    # 20 minutes ahead the errors span ~6 minutes: the minimum; 7 hours ahead ~30: the maximum
    eta_soon, eta_late = NOW + timedelta(minutes=20), NOW + timedelta(hours=7)
    start, end = promise_window_for(eta_soon, now=NOW)
    assert timedelta(minutes=20) <= end - start <= timedelta(minutes=25) and start <= eta_soon <= end
    start, end = promise_window_for(eta_late, now=NOW)
    assert end - start == timedelta(minutes=25)
    assert start.minute % 5 == 0 and end.minute % 5 == 0


def test_a_large_mean_error_leans_the_window_but_keeps_the_eta_inside(db):
    """Per-leg mean errors summed over many stops must not carry the window past its own ETA (it once
    put a 5-hour-ahead window an hour after the ETA, and kept one customer in ten)."""
    TravelModel.objects.create(
        version=2, active=True, parameters={"arrival_error": {**FIGURES, "leg_bias_s": 300.0, "service_bias_s": 100.0}}
    )
    for horizon_s in (1800, 3 * 3600, 6 * 3600):
        low, high = arrival_window(horizon_s)
        assert low < 0 < high  # the ETA itself is in the window
        assert high > -low  # still leaning late, as the errors do
        assert high <= 3 * -low  # ... by at most half of the half-width


def test_windows_from_the_arrivals_own_errors_cover_nine_in_ten_and_grow_with_the_horizon(db):
    """The window of a horizon is the p3-p97 of the arrivals' errors near it (their ETAs given at the
    dispatch), whatever the legs' figures say; the ETA stays inside it."""
    draws = random.Random(3)
    horizons = [draws.uniform(0, 6 * 3600) for _ in range(2000)]
    # errors spread with the horizon (sd 60 s + 100 s per hour ahead) and lean 2 minutes late
    errors = [120 + draws.gauss(0, 60 + 100 * h / 3600) for h in horizons]
    table = windows.residual_table(np.asarray(horizons), np.asarray(errors))
    TravelModel.objects.create(
        version=3, active=True, parameters={"eta_residuals": table, "arrival_error": {**FIGURES, "leg_bias_s": 900.0}}
    )
    soon, late = arrival_window(1800), arrival_window(5 * 3600)
    assert late[1] - late[0] > soon[1] - soon[0]
    assert soon[0] < 0 < soon[1] and late[0] < 0 < late[1]
    for horizon_s in (1800, 3 * 3600, 5 * 3600):
        low, high = arrival_window(horizon_s)
        near = [e for h, e in zip(horizons, errors) if abs(h - horizon_s) < 900]
        inside = sum(low <= e <= high for e in near) / len(near)
        assert 0.90 <= inside <= 0.98
    assert windows.residual_table(np.zeros(10), np.zeros(10)) is None  # too few arrivals: the legs' figures
