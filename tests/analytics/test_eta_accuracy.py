"""ETA accuracy (issue 18): errors per horizon, window coverage and the split per travel model version,
on two hand-made days whose every figure is worked out below; the page section and the API's personas."""

import io
from datetime import timedelta

import numpy as np
import pytest
from django.test import Client

from analytics import eta_accuracy
from analytics.filters import KpiFilters
from analytics.handlers import on_order_status_changed
from analytics.maps import speed_ratio_map_html
from analytics.models import ArrivalEta
from analytics.services import arrival_eta_record, order_facts_refresh
from customers.models import PromisedWindow
from dispatch.models import Zone
from routes.learning import doorstep
from routes.models import Stop, TravelModel
from routes.network import ROAD_CLASSES
from routes.road_network import get_road_network
from tests.analytics.conftest import DAY, at, dispatched_route, make_order, walk
from tests.offline_pages import assert_no_cdn
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures for the speed map

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

NEXT = DAY + timedelta(days=1)
SQUARE = {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.6, 47.2], [9.5, 47.1]]]}
URL = f"/api/analytics/eta-accuracy/?from={DAY}&to={NEXT}"


def promise(order, start, end, *, told=True, revision=1):
    PromisedWindow.objects.update_or_create(
        order=order,
        defaults={"day": order.date, "start": start, "end": end, "revision": revision, "told_revision": revision,
                  "told_start": start if told else None, "told_end": end if told else None},
    )  # fmt: skip


def arrive(order, arrival, *, live=None, live_at=None, hour=None, hour_at=None):
    if live is not None:
        Stop.objects.filter(order=order).update(live_eta=live, live_eta_updated_at=live_at)
    if hour is not None:
        Stop.objects.filter(order=order).update(hour_before_eta=hour, hour_before_eta_at=hour_at)
    walk(order, ("planned", at(18, 0, order.date - timedelta(days=1))), ("dispatched", at(7, 0, order.date)),
         ("arrived", arrival), ("delivered", arrival + timedelta(minutes=3)))  # fmt: skip
    arrival_eta_record(order_id=order.pk, at=arrival)


@pytest.fixture
def two_days(depot_a, vehicle_a, driver_a):
    """Day 1, planned with the defaults (no model):
        A1  ETA 09:30, arrived 09:40 (600 s); told 09:00-10:00 (inside); live ETA 09:38 at 09:30 (120 s);
            an hour before: 09:20 at 08:30 (1200 s)
        A2  ETA 10:30, arrived 11:20 (3000 s); a delay moved the promise to 10:45-11:45 (inside, moved);
            an hour before: 11:10 at 10:15 (600 s)
        A3  ETA 11:00, arrived 10:55 (300 s); window 10:30-11:30 not told yet (inside); no ETA an hour
            before (its live ETAs began closer)
        A4  ETA 12:00, arrived 13:00 (3600 s); told 11:30-12:30 (outside); an hour before: 12:40 at
            12:00 (1200 s)
        A5  ETA 12:30, never attempted (not counted)
    Day 2, planned with travel model v3:
        B1  ETA 09:00, arrived 09:05 (300 s); told 08:45-09:15 (inside)
        B2  ETA 10:00, arrived 10:02 (120 s); told 09:45-10:15 (inside); its live ETA was computed after
            the arrival (it is the arrival itself): no live figure; its "hour before" ETA too (no figure)
    """
    a = [make_order(depot_a, f"A{n}") for n in range(1, 6)]
    dispatched_route(depot=depot_a, vehicle=vehicle_a, driver=driver_a, stops=[
        (a[0], at(9, 30), at(9, 35)), (a[1], at(10, 30), at(10, 35)), (a[2], at(11), at(11, 5)),
        (a[3], at(12), at(12, 5)), (a[4], at(12, 30), at(12, 35))])  # fmt: skip
    b = [make_order(depot_a, f"B{n}", day=NEXT) for n in (1, 2)]
    route = dispatched_route(depot=depot_a, vehicle=vehicle_a, driver=driver_a, day=NEXT, stops=[
        (b[0], at(9, 0, NEXT), at(9, 5, NEXT)), (b[1], at(10, 0, NEXT), at(10, 5, NEXT))])  # fmt: skip
    route.plan.travel_model_version = 3
    route.plan.save(update_fields=["travel_model_version"])

    promise(a[0], at(9), at(10))
    promise(a[1], at(10, 45), at(11, 45), revision=2)
    promise(a[2], at(10, 30), at(11, 30), told=False)
    promise(a[3], at(11, 30), at(12, 30))
    promise(b[0], at(8, 45, NEXT), at(9, 15, NEXT))
    promise(b[1], at(9, 45, NEXT), at(10, 15, NEXT))
    arrive(a[0], at(9, 40), live=at(9, 38), live_at=at(9, 30), hour=at(9, 20), hour_at=at(8, 30))
    arrive(a[1], at(11, 20), hour=at(11, 10), hour_at=at(10, 15))
    arrive(a[2], at(10, 55))
    arrive(a[3], at(13), hour=at(12, 40), hour_at=at(12))
    arrive(b[0], at(9, 5, NEXT))
    arrive(b[1], at(10, 2, NEXT), live=at(10, 2, NEXT), live_at=at(10, 3, NEXT), hour=at(11, 0, NEXT),
           hour_at=at(10, 3, NEXT))  # fmt: skip
    walk(a[4], ("planned", at(18, 0, DAY - timedelta(days=1))), ("dispatched", at(7, 0)))
    order_facts_refresh(date_from=DAY, date_to=NEXT)
    return a, b


def test_it_counts_errors_coverage_and_widths_per_day(two_days, depot_a):
    figures = eta_accuracy.eta_accuracy(KpiFilters(date_from=DAY, date_to=NEXT))
    first, second = figures["by_day"]
    assert first["date"] == DAY.isoformat() and first["arrivals"] == 4
    assert first["dispatch"] == {"count": 4, "mean_abs_error_s": 1875.0, "p90_abs_error_s": 3600.0}
    assert first["live"] == {"count": 1, "mean_abs_error_s": 120.0, "p90_abs_error_s": 120.0}
    assert first["window_coverage"] == 0.75 and first["promises_moved"] == 0.25
    assert first["window_width_median_s"] == 3600.0
    assert first["hour"] == {"count": 3, "mean_abs_error_s": 1000.0, "p90_abs_error_s": 1200.0}
    assert second["dispatch"] == {"count": 2, "mean_abs_error_s": 210.0, "p90_abs_error_s": 300.0}
    assert second["hour"] == {"count": 0, "mean_abs_error_s": None, "p90_abs_error_s": None}
    assert second["live"] == {"count": 0, "mean_abs_error_s": None, "p90_abs_error_s": None}
    assert second["window_coverage"] == 1.0 and second["window_width_median_s"] == 1800.0
    total = figures["totals"]
    assert total["dispatch"]["mean_abs_error_s"] == 1320.0  # (600 + 3000 + 300 + 3600 + 300 + 120) / 6
    assert total["dispatch"]["p90_abs_error_s"] == 3600.0
    assert total["window_coverage"] == pytest.approx(5 / 6)
    assert total["window_width_median_s"] == 3600.0
    assert total["hour"] == {"count": 3, "mean_abs_error_s": 1000.0, "p90_abs_error_s": 1200.0}
    assert figures["horizons"] == ["dispatch", "hour", "live"]


def test_it_splits_by_the_model_version_each_plan_used(two_days):
    by_version = eta_accuracy.eta_accuracy(KpiFilters(date_from=DAY, date_to=NEXT))["by_version"]
    assert [row["model_version"] for row in by_version] == [None, 3]  # the defaults first
    assert by_version[0]["arrivals"] == 4 and by_version[0]["dispatch"]["mean_abs_error_s"] == 1875.0
    assert by_version[1]["arrivals"] == 2 and by_version[1]["dispatch"]["p90_abs_error_s"] == 300.0


def test_the_filters_limit_the_figures(two_days, depot_a, depot_b):
    assert eta_accuracy.eta_accuracy(KpiFilters(date_from=NEXT, date_to=NEXT))["totals"]["arrivals"] == 2
    other = eta_accuracy.eta_accuracy(KpiFilters(date_from=DAY, date_to=NEXT, depot_ids=frozenset({depot_b.id})))
    assert other["totals"]["arrivals"] == 0 and other["totals"]["window_coverage"] is None
    assert other["by_day"] == [] and other["by_version"] == []


def test_the_arrival_keeps_the_live_eta_the_next_recompute_replaces(two_days):
    a1 = two_days[0][0]
    kept = ArrivalEta.objects.get(order=a1)
    assert (kept.arrived_at, kept.planned_eta, kept.live_eta, kept.live_eta_at) == (at(9, 40), at(9, 30),
                                                                                   at(9, 38), at(9, 30))  # fmt: skip
    # The live recompute after the arrival sets the arrival itself: the kept row does not change.
    Stop.objects.filter(order=a1).update(live_eta=at(9, 40), live_eta_updated_at=at(9, 41))
    assert ArrivalEta.objects.get(order=a1).live_eta == at(9, 38)
    # A later attempt's arrival (through the event handler) replaces it, with the live ETA held then.
    on_order_status_changed(order_id=a1.pk, depot_id=a1.depot_id, from_status="dispatched", to_status="arrived",
                            at=at(15))  # fmt: skip
    kept = ArrivalEta.objects.get(order=a1)
    assert (kept.arrived_at, kept.live_eta, kept.live_eta_at) == (at(15), at(9, 40), at(9, 41))
    # Delivered after "arrived" is the same visit: nothing is recorded again.
    on_order_status_changed(order_id=a1.pk, depot_id=a1.depot_id, from_status="arrived", to_status="delivered",
                            at=at(16))  # fmt: skip
    assert ArrivalEta.objects.get(order=a1).arrived_at == at(15)


def test_the_api_answers_office_staff_of_the_depot_only(two_days, manager_client, dispatcher_a_client,
                                                        dispatcher_b_client, driver_client, anonymous_client):  # fmt: skip
    body = manager_client.get(URL).json()
    assert body["totals"]["arrivals"] == 6
    assert body["totals"]["hour"] == {"count": 3, "mean_abs_error_s": 1000.0, "p90_abs_error_s": 1200.0}
    assert [row["model_version"] for row in body["by_version"]] == [None, 3]
    assert {"zones", "model_version", "per_item_s"} <= set(body["service_times"])
    assert dispatcher_a_client.get(URL).json()["totals"]["window_coverage"] == pytest.approx(5 / 6)
    assert dispatcher_b_client.get(URL).json()["totals"]["arrivals"] == 0
    assert dispatcher_b_client.get(URL + "&depot=A").status_code == 400
    assert driver_client.get(URL).status_code == 403
    assert anonymous_client.get(URL).status_code in (401, 403)


def test_the_page_shows_the_section(two_days, manager):
    browser = Client()
    browser.force_login(manager)
    response = browser.get(f"/analytics/?from={DAY}&to={NEXT}")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="eta-accuracy"' in page
    assert "v3" in page and "83.3" in page  # the version's row; 5 of 6 arrivals inside the window
    # The totals row: at dispatch 0:22/1:00, an hour before 0:17 (1000 s) and 0:20 (1200 s), live 0:02.
    assert "P90 error 1 h before" in page
    assert "<td>0:22 h</td><td>1:00 h</td><td>0:17 h</td><td>0:20 h</td><td>0:02 h</td>" in page
    assert "speedRatio" in page  # the speed map, drawn from local scripts
    assert_no_cdn(page)


def test_the_service_table_shows_each_zone_learned_and_default(depot_a, settings):
    settings.DEFAULT_SERVICE_MINUTES = 3
    centre = Zone.objects.create(code="centre", name="Centre", depot=depot_a, access_time_s=120, polygon=SQUARE)
    Zone.objects.create(code="edge", name="Edge", depot=depot_a, access_time_s=30, polygon=SQUARE)
    stops = [doorstep.DoorstepObservation(building=f"b{n}", customer="", zone="centre", kind="van", items=0,
                                          seconds=300) for n in range(12)]  # fmt: skip
    TravelModel.objects.create(version=1, active=True, parameters={"service": doorstep.fit(stops, per_item=True)})
    table = eta_accuracy.service_time_table()
    assert table["model_version"] == 1
    rows = {row["zone"]: row for row in table["zones"]}
    assert rows["centre"]["service_s"] == 300 and rows["centre"]["service_stops"] == 12
    assert rows["centre"]["default_service_s"] == 180 and rows["centre"]["default_access_s"] == centre.access_time_s
    assert rows["centre"]["access_s"] is None  # nothing learned about parking
    assert rows["edge"]["service_stops"] == 0 and rows["edge"]["default_access_s"] == 30


@pytest.mark.usefixtures("road_network")
def test_the_speed_map_lists_stretches_the_model_changed():
    network = get_road_network()
    state = network._state("car")
    chains = len(state.graph.chain_class)
    factors = np.array([state.traffic.class_factors(("weekday", hour)) for hour in range(24)])[
        :, state.graph.chain_class
    ]
    factors = np.stack([factors, factors]).astype(np.float32)  # the defaults everywhere ...
    primary = int(np.flatnonzero(state.graph.chain_class == ROAD_CLASSES.index("primary"))[0])
    factors[0, :, primary] *= 0.5  # ... but one primary stretch at half the speed on weekdays
    buffer = io.BytesIO()
    np.savez_compressed(buffer, car=factors.astype(np.float16))
    assert eta_accuracy.speed_ratio_lines() == []  # no model yet
    TravelModel.objects.create(version=1, active=True, speeds=buffer.getvalue())
    lines = eta_accuracy.speed_ratio_lines()
    assert len(lines) == 1 and chains > 1
    assert lines[0]["ratio"] == pytest.approx(0.5, abs=0.01) and lines[0]["road_class"] == "primary"
    assert len(lines[0]["line"]) >= 2
    html = speed_ratio_map_html(lines=lines, depots=[])
    assert "speedRatio" in html and "OpenStreetMap" in html
