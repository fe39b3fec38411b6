"""The analytics page's one-pass figures, the cached comparison period and the sampled map.

The page's grouped query must give exactly what the one-query selectors give (kpis, kpis_grouped,
the daily and weekly trends): they are the reference, and the KPI API still uses them.
"""

import random
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.core.cache import cache
from django.test import Client

from analytics import fact_versions, selectors
from analytics.filters import KpiFilters
from analytics.models import OrderFact
from analytics.services import order_facts_refresh
from dispatch.fleet.services import driver_create
from dispatch.models import Order, Vehicle, Zone
from tests.analytics.conftest import DAY, at, dispatched_route, make_order, walk
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.clock]

WEEK = KpiFilters(date_from=DAY - timedelta(days=1), date_to=DAY + timedelta(days=5))


def _feedback_model():
    try:
        return apps.get_model("customers", "Feedback")
    except LookupError:
        return None


@pytest.fixture
def week_of_two_depots(day_of_depot_a, depot_b):
    """Depot A's hand-made day, plus two days of depot B in a zone (late, failed, never dispatched) and ratings."""
    zone = Zone.objects.create(code="north-b", name="North B", depot=depot_b,
                               polygon={"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.6, 47.2],
                                                                             [9.5, 47.1]]]})  # fmt: skip
    vehicle = Vehicle.objects.create(name="B-Bike-1", depot=depot_b, kind="cargo_bike", capacity_kg=150)
    driver = driver_create(username="driver_b", password=PASSWORD, name="Bea Biker", vehicle=vehicle)
    for offset, late_minutes in ((1, 0), (3, 50)):
        day = DAY + timedelta(days=offset)
        late = make_order(depot_b, f"B{offset}-late", day=day, window=(at(9, 0, day), at(10, 0, day)), zone=zone)
        failed = make_order(depot_b, f"B{offset}-failed", day=day, window=(at(11, 0, day), at(12, 0, day)), zone=zone)
        make_order(depot_b, f"B{offset}-new", day=day, zone=zone)  # never dispatched: no route, no driver
        dispatched_route(depot=depot_b, vehicle=vehicle, driver=driver, day=day, distance_m=9000,
                         stops=[(late, at(9, 30, day), at(9, 35, day)), (failed, at(11, 0, day), at(11, 5, day))])  # fmt: skip
        for order in (late, failed):
            walk(order, ("planned", at(6, 0, day)), ("dispatched", at(7, 0, day)))
        walk(late, ("arrived", at(10, late_minutes, day)), ("delivered", at(10, late_minutes + 5, day)))
        walk(failed, ("arrived", at(11, 20, day)), ("failed", at(11, 25, day), "refused" if offset == 1 else ""))
    order_facts_refresh(date_from=WEEK.date_from, date_to=WEEK.date_to)
    feedback = _feedback_model()
    if feedback is not None:
        feedback.objects.create(order=day_of_depot_a["O1"], rating=5, comment="")
        feedback.objects.create(order=Order.objects.get(reference="B3-late"), rating=2, comment="late")
    return {"driver_b": driver, "zone": zone}


@pytest.fixture
def shared_cache(settings, tmp_path):
    """The default cache as one all processes would share: Redis when configured, else files."""
    if not fact_versions.is_shared_cache():
        settings.CACHES = {
            "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
        }
    assert fact_versions.is_shared_cache()
    yield cache
    cache.clear()


def test_it_groups_the_page_figures_exactly_as_the_per_group_queries(week_of_two_depots):
    figures = selectors.page_figures(WEEK)
    assert figures.totals == selectors.kpis(WEEK)
    assert figures.by_driver == selectors.kpis_grouped(WEEK, "f.driver_id")
    assert figures.by_zone == selectors.kpis_grouped(WEEK, "f.zone_id")
    assert selectors.daily_trend(WEEK, figures.daily_sums) == selectors.daily_trend(WEEK)
    assert selectors.weekly_trend(WEEK, figures.daily_sums) == selectors.weekly_trend(WEEK)
    # The data reaches every grouping: no driver and no zone are groups of their own.
    assert set(figures.by_driver) == {week_of_two_depots["driver_b"].id, None} | {
        OrderFact.objects.get(order__reference="O1").driver_id
    }
    assert set(figures.by_zone) == {week_of_two_depots["zone"].id, None}
    assert figures.totals["failure_reasons"] == {"no_access": 1, "not_home": 1, "other": 1, "refused": 1}
    assert figures.by_driver[None]["orders"] == 2 and figures.by_driver[None]["attempted"] == 0
    assert figures.by_zone[week_of_two_depots["zone"].id]["p90_delay_s"] == 50 * 60


def test_it_groups_each_filter_the_same_way(week_of_two_depots, depot_b):
    for filters in (
        KpiFilters(date_from=WEEK.date_from, date_to=WEEK.date_to, depot_ids=frozenset({depot_b.id})),
        KpiFilters(date_from=WEEK.date_from, date_to=WEEK.date_to, zone_id=week_of_two_depots["zone"].id),
        KpiFilters(date_from=WEEK.date_from, date_to=WEEK.date_to, depot_ids=frozenset()),
    ):
        figures = selectors.page_figures(filters)
        assert figures.totals == selectors.kpis(filters)
        assert figures.by_driver == selectors.kpis_grouped(filters, "f.driver_id")
        assert figures.by_zone == selectors.kpis_grouped(filters, "f.zone_id")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_it_finds_the_same_p90s_as_percentile_disc_across_minute_boundaries(depot_a, seed):
    """Many facts with delays and ETA errors around whole minutes (59, 60, 61 s...), ties and NULLs."""
    rng = random.Random(seed)
    orders = Order.objects.bulk_create(
        Order(reference=f"R{n}", date=DAY + timedelta(days=n % 3), depot=depot_a, lat=47.14, lon=9.52)
        for n in range(300)
    )

    def seconds():
        return rng.choice([None, 0, 0, rng.randrange(0, 7200), 60 * rng.randrange(0, 60) + rng.choice([-1, 0, 1])])

    OrderFact.objects.bulk_create(
        OrderFact(order=order, date=order.date, depot_id=depot_a.id, status="delivered", attempted=True,
                  delivered=True, driver_id=rng.choice([None, 1, 2, 3]), zone_id=rng.choice([None, 7, 8]),
                  delay_s=None if (value := seconds()) is None else max(value, 0),
                  eta_error_s=None if (value := seconds()) is None else max(value, 0))
        for order in orders
    )  # fmt: skip
    figures = selectors.page_figures(WEEK)
    assert figures.totals == selectors.kpis(WEEK)
    assert figures.by_driver == selectors.kpis_grouped(WEEK, "f.driver_id")
    assert figures.by_zone == selectors.kpis_grouped(WEEK, "f.zone_id")
    assert figures.totals["p90_delay_s"] is not None


def test_it_answers_an_empty_range_like_the_per_group_queries(db):
    empty = KpiFilters(date_from=date(2030, 1, 1), date_to=date(2030, 1, 31))
    figures = selectors.page_figures(empty)
    assert figures.totals == selectors.kpis(empty)
    assert figures.totals["orders"] == 0 and figures.totals["p90_delay_s"] is None
    assert figures.by_driver == {} and figures.by_zone == {} and figures.daily_sums == []


def test_it_serves_the_previous_period_from_the_cache_until_its_days_are_rebuilt(week_of_two_depots, shared_cache):
    period = KpiFilters(date_from=DAY, date_to=DAY + timedelta(days=1))
    first = selectors.kpis_of_past_period(period)
    assert first == selectors.kpis(period)
    # A change behind the rebuild's back is not seen: the figures came from the cache.
    OrderFact.objects.filter(order__reference="O1").update(delivered=False)
    assert selectors.kpis_of_past_period(period)["deliveries"] == first["deliveries"]
    # Rebuilding a day outside the period leaves its cached figures alone...
    order_facts_refresh(date_from=DAY + timedelta(days=3), date_to=DAY + timedelta(days=3))
    assert selectors.kpis_of_past_period(period)["deliveries"] == first["deliveries"]
    # ...rebuilding one of its days replaces them (O1's changed fact, on the other day, now counts).
    order_facts_refresh(date_from=DAY + timedelta(days=1), date_to=DAY + timedelta(days=1))
    assert selectors.kpis_of_past_period(period) == selectors.kpis(period)
    assert selectors.kpis(period)["deliveries"] == first["deliveries"] - 1


def test_it_forgets_cached_figures_of_a_day_an_order_moved_away_from(week_of_two_depots, shared_cache):
    later = DAY + timedelta(days=3)
    period = KpiFilters(date_from=DAY, date_to=DAY)
    assert selectors.kpis_of_past_period(period)["orders"] == 4
    Order.objects.filter(reference="O3").update(date=later)
    order_facts_refresh(date_from=later, date_to=later)  # also removes O3's fact filed under DAY
    assert selectors.kpis_of_past_period(period)["orders"] == selectors.kpis(period)["orders"] == 3


@pytest.mark.skipif(_feedback_model() is None, reason="customers.Feedback is not there yet")
def test_it_counts_a_new_rating_of_a_cached_period_at_once(week_of_two_depots, shared_cache):
    period = KpiFilters(date_from=DAY, date_to=DAY)
    assert selectors.kpis_of_past_period(period)["feedback_count"] == 1
    _feedback_model().objects.create(order=Order.objects.get(reference="O2"), rating=3, comment="")
    again = selectors.kpis_of_past_period(period)
    assert again["feedback_count"] == 2
    assert again["csat_avg"] == pytest.approx(4.0)


def test_it_caches_nothing_in_a_cache_of_one_process(week_of_two_depots, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    period = KpiFilters(date_from=DAY, date_to=DAY)
    assert selectors.kpis_of_past_period(period)["deliveries"] == 3
    # Another process (a worker, seed_demo) could rebuild the facts without this cache hearing of it.
    OrderFact.objects.filter(order__reference="O1").update(delivered=False)
    assert selectors.kpis_of_past_period(period)["deliveries"] == 2


def test_it_compares_the_page_period_with_the_previous_one(week_of_two_depots):
    period = KpiFilters(date_from=DAY + timedelta(days=1), date_to=DAY + timedelta(days=1))
    comparison = selectors.kpis_compare(period, current=selectors.page_figures(period).totals)
    assert comparison == selectors.kpis_compare(period)
    assert comparison["previous"]["deliveries"] == 3
    assert comparison["change"]["deliveries"] == 1 - 3


def test_it_samples_the_map_evenly_and_the_same_way_every_time(week_of_two_depots):
    attempted = selectors.kpis(WEEK)["attempted"]
    assert attempted == 8
    every = selectors.lateness_points(WEEK, attempted=attempted)
    assert len(every) == attempted
    sample = selectors.lateness_points(WEEK, attempted=attempted, limit=3)
    assert len(sample) == 3
    assert {point["id"] for point in sample} <= {point["id"] for point in every}
    assert selectors.lateness_points(WEEK, attempted=attempted, limit=3) == sample


def test_it_says_when_the_map_shows_a_sample(week_of_two_depots, manager, monkeypatch):
    monkeypatch.setattr(selectors, "MAP_POINTS_CAP", 3)
    client = Client()
    assert client.login(username=manager.username, password=PASSWORD)
    html = client.get(f"/analytics/?from={WEEK.date_from}&to={WEEK.date_to}").content.decode()
    assert "The map shows 3 of the 8 attempted deliveries: at most 3, a sample" in html


def test_it_says_on_the_page_how_many_deliveries_the_map_shows(week_of_two_depots, manager):
    client = Client()
    assert client.login(username=manager.username, password=PASSWORD)
    html = client.get(f"/analytics/?from={WEEK.date_from}&to={WEEK.date_to}").content.decode()
    assert "The map shows all 8 attempted deliveries (it draws at most" in html
    assert "Bea Biker" in html and "North B" in html


def test_it_reads_the_facts_and_rebuilds_them_when_the_cache_is_down(week_of_two_depots, settings):
    # A Redis nobody listens on (port 9 refuses at once): the page still answers, rebuilds still run.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}
    }
    period = KpiFilters(date_from=DAY, date_to=DAY)
    assert order_facts_refresh(date_from=DAY, date_to=DAY) == 4
    assert selectors.kpis_of_past_period(period) == selectors.kpis(period)
