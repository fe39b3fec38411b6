"""KPIs against hand-computed figures (tests/analytics/conftest.py describes the day).

The route: planned 08:00-12:00 (14 400 s), 20 km, vehicle 40 fixed + 0.50/km + 30/h.
Actual route time = first to last status change (08:30 arrival of O4 .. 11:55 delivery of O4,
12 300 s) + planned leg from the depot (08:00 -> first ETA 08:30, 1 800 s) + planned leg back
(last ETD 11:05 -> 12:00, 3 300 s) = 17 400 s. Cost = 40 + 0.5 x 20 + 30 x 17 400 / 3 600 = 195.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps

from analytics import selectors
from analytics.filters import KpiFilters
from analytics.services import order_facts_refresh
from tests.analytics.conftest import DAY, at, dispatched_route, make_order, walk

pytestmark = [pytest.mark.django_db, pytest.mark.clock]


def day_kpis(**filters):
    return selectors.kpis(KpiFilters(date_from=DAY, date_to=DAY, **filters))


def test_it_computes_the_hand_computed_kpis(day_of_depot_a):
    k = day_kpis()
    assert k["orders"] == 4
    assert k["deliveries"] == 3
    assert k["attempted"] == 4
    assert k["failed"] == 1
    assert k["failed_attempts"] == 2
    # O1 and O2 delivered at the first try; O4 needed two, O3 failed.
    assert k["first_attempt_success_rate"] == pytest.approx(2 / 4)
    # Windowed arrivals: O1 on time, O2 late, O4 (last arrival 11:50, window to 09:00) late. O3 has no window.
    assert k["on_time_rate"] == pytest.approx(1 / 3)
    assert k["on_time_counted"] == 3
    assert k["attempted_without_window"] == 1
    # Delays 0, 1 200, 10 200: mean 3 800; nearest-rank p90 of three values is the largest.
    assert k["avg_delay_s"] == pytest.approx(3800)
    assert k["p90_delay_s"] == 10200
    # ETA errors |arrival - ETA|: O4 11:50-08:30 = 12 000, O1 600, O2 3 000, O3 2 400.
    assert k["eta_mean_abs_error_s"] == pytest.approx(4500)
    assert k["eta_p90_abs_error_s"] == 12000
    assert k["planned_route_duration_s"] == 14400
    assert k["actual_route_duration_s"] == 17400
    assert k["cost"] == pytest.approx(195.0)
    assert k["cost_per_delivery"] == pytest.approx(65.0)
    assert k["distance_per_delivery_m"] == 6667
    assert k["stops_per_hour"] == pytest.approx(round(4 / (17400 / 3600), 2))
    assert k["failure_reasons"] == {"no_access": 1, "not_home": 1}


def test_it_splits_route_figures_equally_per_stop_when_filtered(day_of_depot_a, driver_a):
    by_driver = selectors.kpis_grouped(KpiFilters(date_from=DAY, date_to=DAY), "f.driver_id")
    assert by_driver[driver_a.id]["cost"] == pytest.approx(195.0)
    # Only O3 has no zone... none has: the zone filter finds nothing; the driver filter finds all four.
    assert day_kpis(driver_id=driver_a.id)["deliveries"] == 3
    assert day_kpis(vehicle_kind="cargo_bike")["orders"] == 0


def test_it_answers_nulls_and_zeros_when_there_are_no_deliveries(db):
    k = selectors.kpis(KpiFilters(date_from=date(2030, 1, 1), date_to=date(2030, 1, 31)))
    assert k["deliveries"] == 0
    assert k["orders"] == 0
    for name in ("on_time_rate", "first_attempt_success_rate", "avg_delay_s", "p90_delay_s", "cost_per_delivery",
                 "distance_per_delivery_m", "stops_per_hour", "csat_avg", "eta_mean_abs_error_s"):  # fmt: skip
        assert k[name] is None, name
    assert k["feedback_count"] == 0
    assert k["failure_reasons"] == {}


def test_it_handles_a_day_where_everything_failed(depot_a, costed_vehicle, driver_a):
    orders = [make_order(depot_a, f"F{n}", window=(at(9), at(10))) for n in range(3)]
    dispatched_route(depot=depot_a, vehicle=costed_vehicle, driver=driver_a,
                     stops=[(o, at(9, 10 * n), at(9, 10 * n + 5)) for n, o in enumerate(orders)])  # fmt: skip
    for n, order in enumerate(orders):
        walk(order, ("planned", at(6)), ("dispatched", at(7)), ("arrived", at(9, 10 * n)),
             ("failed", at(9, 10 * n + 2), "refused"))  # fmt: skip
    order_facts_refresh(date_from=DAY, date_to=DAY)
    k = day_kpis()
    assert k["deliveries"] == 0
    assert k["attempted"] == 3
    assert k["first_attempt_success_rate"] == 0.0
    assert k["success_rate"] == 0.0
    assert k["cost_per_delivery"] is None  # no delivery to divide by, but the route still cost money
    assert k["cost"] > 0
    assert k["on_time_rate"] == 1.0  # the driver was there in the window; the customer refused
    assert k["failure_reasons"] == {"refused": 3}


def test_it_leaves_orders_without_windows_out_of_the_on_time_rate(depot_a, costed_vehicle, driver_a):
    orders = [make_order(depot_a, f"N{n}") for n in range(2)]
    dispatched_route(depot=depot_a, vehicle=costed_vehicle, driver=driver_a,
                     stops=[(o, at(9 + n), at(9 + n, 5)) for n, o in enumerate(orders)])  # fmt: skip
    for n, order in enumerate(orders):
        walk(order, ("planned", at(6)), ("dispatched", at(7)), ("arrived", at(9 + n, 30)),
             ("delivered", at(9 + n, 35)))  # fmt: skip
    order_facts_refresh(date_from=DAY, date_to=DAY)
    k = day_kpis()
    assert k["deliveries"] == 2
    assert k["on_time_rate"] is None
    assert k["avg_delay_s"] is None and k["p90_delay_s"] is None
    assert k["attempted_without_window"] == 2
    assert k["eta_mean_abs_error_s"] == pytest.approx(1800)
    assert k["first_attempt_success_rate"] == 1.0


@pytest.mark.parametrize(
    ("day", "window_hours"),
    [(date(2026, 10, 25), 4), (date(2026, 3, 29), 2)],  # clocks back (a 25-hour day), clocks forward (23 hours)
)
def test_it_measures_delays_in_real_seconds_on_days_when_clocks_change(depot_a, costed_vehicle, driver_a, day,
                                                                      window_hours):  # fmt: skip
    tz = ZoneInfo("Europe/Vaduz")
    start, end = (datetime.combine(day, time(h), tzinfo=tz) for h in (1, 4))
    # Python subtracts same-zone datetimes on the wall clock; the database (and the KPIs) in real time.
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == window_hours * 3600
    order = make_order(depot_a, "DST", day=day, window=(start, end))
    arrival = datetime.combine(day, time(4, 30), tzinfo=tz)
    dispatched_route(depot=depot_a, vehicle=costed_vehicle, driver=driver_a, day=day,
                     start=datetime.combine(day, time(0, 30), tzinfo=tz), end=datetime.combine(day, time(6), tzinfo=tz),
                     stops=[(order, datetime.combine(day, time(3), tzinfo=tz),
                             datetime.combine(day, time(3, 5), tzinfo=tz))])  # fmt: skip
    walk(order, ("planned", start - timedelta(hours=3)), ("dispatched", start - timedelta(hours=2)),
         ("arrived", arrival), ("delivered", arrival + timedelta(minutes=5)))  # fmt: skip
    order_facts_refresh(date_from=day, date_to=day)
    filters = KpiFilters(date_from=day - timedelta(days=1), date_to=day + timedelta(days=1))
    k = selectors.kpis(filters)
    assert k["p90_delay_s"] == 1800  # 04:00 -> 04:30 local is half an hour whatever the clocks did
    assert k["on_time_rate"] == 0.0
    # ETA 03:00 -> arrival 04:30 local: both after the change, so 1.5 h of real time on either day.
    assert k["eta_mean_abs_error_s"] == pytest.approx(
        (arrival - datetime.combine(day, time(3), tzinfo=tz)).total_seconds()
    )
    daily = {row["date"]: row["deliveries"] for row in selectors.daily_trend(filters)}
    assert daily == {day - timedelta(days=1): 0, day: 1, day + timedelta(days=1): 0}


def test_it_compares_with_the_previous_period(day_of_depot_a, depot_a, costed_vehicle, driver_a):
    previous_day = DAY - timedelta(days=1)
    order = make_order(depot_a, "P1", day=previous_day, window=(at(9, 0, previous_day), at(10, 0, previous_day)))
    dispatched_route(depot=depot_a, vehicle=costed_vehicle, driver=driver_a, day=previous_day,
                     stops=[(order, at(9, 0, previous_day), at(9, 5, previous_day))])  # fmt: skip
    walk(order, ("planned", at(6, 0, previous_day)), ("dispatched", at(7, 0, previous_day)),
         ("arrived", at(9, 10, previous_day)), ("delivered", at(9, 15, previous_day)))  # fmt: skip
    order_facts_refresh(date_from=previous_day, date_to=previous_day)
    comparison = selectors.kpis_compare(KpiFilters(date_from=DAY, date_to=DAY))
    assert comparison["previous"]["deliveries"] == 1
    assert comparison["change"]["deliveries"] == 2
    assert comparison["change"]["on_time_rate"] == pytest.approx(1 / 3 - 1.0)


def test_it_sums_weeks_from_days_not_averages_of_rates(day_of_depot_a):
    weeks = selectors.weekly_trend(KpiFilters(date_from=DAY - timedelta(days=1), date_to=DAY + timedelta(days=6)))
    assert [w["week"] for w in weeks] == [date(2026, 3, 9), date(2026, 3, 16)]
    assert weeks[0]["deliveries"] == 3
    assert weeks[0]["on_time_rate"] == pytest.approx(1 / 3)
    assert weeks[0]["avg_delay_s"] == pytest.approx(3800)


@pytest.mark.skipif(not apps.is_installed("customers"), reason="customers app")
def test_it_averages_customer_ratings(day_of_depot_a):
    try:
        feedback = apps.get_model("customers", "Feedback")
    except LookupError:
        pytest.skip("customers.Feedback is not there yet")
    feedback.objects.create(order=day_of_depot_a["O1"], rating=5, comment="")
    feedback.objects.create(order=day_of_depot_a["O2"], rating=3, comment="late")
    k = day_kpis()
    assert k["csat_avg"] == pytest.approx(4.0)
    assert k["feedback_count"] == 2
    assert k["csat_distribution"] == {"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}


def test_it_keeps_facts_fresh_after_a_status_change(depot_a, costed_vehicle, driver_a,
                                                      django_capture_on_commit_callbacks):  # fmt: skip
    order = make_order(depot_a, "LIVE", window=(at(9), at(10)))
    dispatched_route(depot=depot_a, vehicle=costed_vehicle, driver=driver_a, stops=[(order, at(9), at(9, 5))])
    with django_capture_on_commit_callbacks(execute=True):
        walk(order, ("planned", at(6)), ("dispatched", at(7)), ("arrived", at(9, 20)), ("delivered", at(9, 25)))
    k = day_kpis()
    assert k["deliveries"] == 1
    assert k["on_time_rate"] == 1.0


def test_it_rebuilding_twice_leaves_one_fact_per_order(day_of_depot_a):
    order_facts_refresh(date_from=DAY, date_to=DAY)
    order_facts_refresh(date_from=DAY, date_to=DAY)
    assert day_kpis()["orders"] == 4
