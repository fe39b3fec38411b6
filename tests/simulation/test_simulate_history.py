"""`simulate_history` plays past days under a truth: orders as an import makes them, the day planned and
dispatched by the app's services at that day's clock, driven under the truth with positions and stop
actions stored through the driver services with their real (past) times, and a report in the format of
SIMULATION.md. Today is never touched, whatever the hour the suite runs at."""

import json
import random
from datetime import date, datetime, time, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from customers.models import PromisedWindow
from customers.notifications.promises import promise_window_for
from dispatch.demo import simulated_history
from dispatch.demo.simulated_history import simulate_history, simulated_orders_csv
from dispatch.demo.truth import DEFAULT_TRUTH_PATH, parse_truth
from dispatch.models import Depot, DriverPosition, Order, OrderStatusChange
from routes.models import Plan, Stop

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

ZONE = ZoneInfo(settings.TIME_ZONE)
WEDNESDAY = date(2026, 6, 10)
TUESDAY = WEDNESDAY - timedelta(days=1)
# A truth without any randomness: the oracle then knows the world exactly.
EXACT = {
    "format": 1, "name": "exact",
    "speed": {"classes": {"primary": {"default": 1.1, "hours": {"07-10": 0.6}}, "residential": 0.7},
              "areas": [{"name": "Vaduz", "polygon": [[9.51, 47.13], [9.54, 47.13], [9.54, 47.15], [9.51, 47.15],
                                                      [9.51, 47.13]], "factor": 0.5, "hours": "07-19"}]},
    "service": {"default": {"median_s": 200, "sigma": 0}, "per_item_s": 10},
    "access": {"default": {"median_s": 40, "sigma": 0}},
    "gps": {"interval_s": 5, "noise_m": 10, "gap_probability": 0.05},
}  # fmt: skip


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZONE)


@pytest.mark.parametrize("now", [local(WEDNESDAY, 12), local(WEDNESDAY, 0, 20)], ids=["midday", "after-midnight"])
def test_it_plays_yesterday_through_the_services_with_past_times(company, now):
    with time_machine.travel(now, tick=True):
        report = simulate_history(
            days=1, truth=parse_truth(EXACT, zone=ZONE), seed=5, depot_codes=["VDZ"], orders_per_day=8,
            time_budget_s=1, failure_rate=0.0, log=lambda text: None,
        )  # fmt: skip
        today = date.fromisoformat(str(now.date()))
        assert not Order.objects.filter(date=today).exists()  # today is left alone
        assert not Plan.objects.filter(date=today).exists()

    orders = Order.objects.filter(reference__startswith=f"SIM-{TUESDAY:%Y%m%d}-")
    assert orders.count() == 8 or 7 <= orders.count() <= 9
    assert not orders.filter(service_minutes__isnull=False).exists()  # the learned service time applies
    assert set(orders.values_list("depot__code", flat=True)) == {"VDZ"}
    [plan] = Plan.objects.filter(date=TUESDAY)
    assert plan.dispatched_at < local(TUESDAY, 8)  # dispatched that morning, before the first van left
    delivered = orders.filter(status=Order.Status.DELIVERED)
    assert delivered.count() == report["days"][0]["stops"] > 0
    changes = OrderStatusChange.objects.filter(order__in=delivered, to_status__in=["arrived", "delivered"])
    assert changes.count() == 2 * delivered.count()
    for changed_at, received_at in changes.values_list("changed_at", "received_at"):
        assert local(TUESDAY, 8) <= changed_at < local(WEDNESDAY, 0)  # that day, as it happened
        assert received_at == changed_at  # sent when it happened (the phone had signal)
    positions = DriverPosition.objects.all()
    assert positions.count() > 20
    assert all(local(TUESDAY, 7) < at < local(WEDNESDAY, 0) for at in positions.values_list("recorded_at", flat=True))

    [row] = report["days"]
    assert report["truth"] == "exact" and report["seed"] == 5
    assert row["date"] == TUESDAY.isoformat()
    assert set(row) == {"date", "stops", "model_version", "eta_abs_error_s", "window_coverage", "window_width_median_s"}
    assert set(row["eta_abs_error_s"]) == {"default", "learned", "oracle"}
    # Without noise and failures the oracle predicts the truth's arrivals to the second; the planner
    # (OSM defaults, no learning yet) cannot know the slow centre.
    assert row["eta_abs_error_s"]["oracle"]["p90"] < 1
    assert row["eta_abs_error_s"]["default"]["mean"] > 60
    assert row["eta_abs_error_s"]["learned"]["mean"] > 60
    assert 0 <= row["window_coverage"]["learned"] <= 1
    assert row["window_width_median_s"] > 0


@pytest.mark.django_db(transaction=True)  # the events after each commit run, as in the command
def test_a_simulated_days_promises_and_live_etas_are_made_at_its_own_moments(company):
    with time_machine.travel(local(WEDNESDAY, 12), tick=True):
        simulate_history(
            days=1, truth=parse_truth(EXACT, zone=ZONE), seed=5, depot_codes=["VDZ"], orders_per_day=8,
            time_budget_s=1, failure_rate=0.0, log=lambda text: None,
        )  # fmt: skip
    orders = Order.objects.filter(reference__startswith=f"SIM-{TUESDAY:%Y%m%d}-")
    [plan] = Plan.objects.filter(date=TUESDAY)
    # The customers' promises were made at the simulated dispatch, not at the wall clock (which would
    # start every window "now", on Wednesday, and leave the day's coverage at 0 %).
    stops = {s.order_id: s for s in Stop.objects.filter(route__plan=plan)}
    promises = PromisedWindow.objects.filter(order__in=orders)
    assert promises.count() == len(stops) > 0
    for promise in promises:
        assert promise.day == TUESDAY
        assert plan.dispatched_at <= promise.told_start < promise.told_end < local(WEDNESDAY, 0)
        if promise.revision == 1:  # never moved by a live ETA: the window of the dispatched ETA
            assert (promise.start, promise.end) == promise_window_for(
                stops[promise.order_id].eta, now=plan.dispatched_at
            )
    # The live ETAs were computed as of the positions' moments on that day, and some stops kept the
    # one computed 45-60 minutes before (the "1 h before" horizon).
    updated = [s.live_eta_updated_at for s in stops.values() if s.live_eta_updated_at]
    assert updated and all(local(TUESDAY, 7) < at < local(WEDNESDAY, 0) for at in updated)
    hour_before = [s for s in stops.values() if s.hour_before_eta is not None]
    assert hour_before
    for stop in hour_before:
        assert 45 * 60 <= (stop.hour_before_eta - stop.hour_before_eta_at).total_seconds() <= 60 * 60
        assert local(TUESDAY, 7) < stop.hour_before_eta_at < local(WEDNESDAY, 0)


def test_the_command_writes_the_report_and_prints_a_table(company, tmp_path, monkeypatch):
    truth_file = tmp_path / "truth.json"
    truth_file.write_text(json.dumps(EXACT), encoding="utf-8")
    output, out = tmp_path / "report.json", StringIO()
    learned = []
    monkeypatch.setattr(simulated_history, "learn_after_simulated_day", lambda *, day: learned.append(day))
    with time_machine.travel(local(WEDNESDAY, 9), tick=True):
        call_command("simulate_history", "--days", "1", "--truth", str(truth_file), "--depot", "VDZ", "--orders",
                     "5", "--time-budget", "1", "--json", str(output), "--seed", "3", stdout=out)  # fmt: skip
    report = json.loads(output.read_text())
    assert [row["date"] for row in report["days"]] == [TUESDAY.isoformat()]
    assert learned == [TUESDAY]  # the learning ran after the day, as the nightly task would
    assert "default mean/p90" in out.getvalue() and TUESDAY.isoformat() in out.getvalue()


def test_the_command_names_a_bad_truth_file(company, tmp_path):
    truth_file = tmp_path / "truth.json"
    truth_file.write_text(json.dumps({**EXACT, "sped": {}}), encoding="utf-8")
    with pytest.raises(CommandError, match=r"sped: unknown key"):
        call_command("simulate_history", "--days", "1", "--truth", str(truth_file))
    truth_file.write_text(json.dumps({**EXACT, "service": {"zones": {"vaduz-center": {"median_s": 1}}}}))
    with pytest.raises(CommandError, match=r"service.zones.vaduz-center: no such zone"):
        call_command("simulate_history", "--days", "1", "--truth", str(truth_file))
    with pytest.raises(CommandError, match="unknown depot XYZ"):
        call_command("simulate_history", "--days", "1", "--depot", "XYZ", "--truth", str(DEFAULT_TRUTH_PATH))


def test_the_same_seed_gives_the_same_orders(company):
    depots = list(Depot.objects.order_by("code"))
    addresses = [type("A", (), {"lat": 47.14 + i / 1000, "lon": 9.52, "label": f"Street {i}"}) for i in range(40)]
    starts = {d.id: local(TUESDAY, 8) for d in depots}

    def orders(seed):
        return simulated_orders_csv(day=TUESDAY, count=10, rng=random.Random(seed), addresses=addresses,
                                    depots=depots, all_depots=depots, shift_start=starts)  # fmt: skip

    assert orders(1) == orders(1)
    assert orders(1) != orders(2)
    rows = orders(1).decode().splitlines()
    assert len(rows) == 11 and rows[0].startswith("reference;")
