"""Time at the doorstep: the fallback order building > customer > zone > vehicle kind > everything,
shrinkage where data is thin, and an order's own service minutes winning over anything learned."""

import math

import pytest
from django.conf import settings

from dispatch.models import Order, Zone
from routes.learning import doorstep
from routes.learning.selectors import doorstep_seconds
from routes.models import TravelModel


def _obs(seconds, n, **keys):
    base = {"building": "", "customer": "", "zone": "", "kind": "van", "items": 0}
    return [doorstep.DoorstepObservation(**{**base, **keys, "seconds": seconds}) for _ in range(n)]


@pytest.fixture
def table():
    rows = (
        _obs(100, 40, zone="north")  # the zone's usual
        + _obs(100, 40, zone="south", kind="cargo_bike")
        + _obs(400, 30, zone="north", customer="7")  # a customer with a long walk, everywhere
        + _obs(900, 25, zone="north", customer="7", building="tower")  # and one tower with a lift
    )
    return doorstep.fit(rows, per_item=False)


def test_the_finest_level_with_data_wins_and_each_coarser_one_is_the_fallback(table):
    def predict(**keys):
        return doorstep.predict(table, **keys)

    assert predict(building="tower", customer="7", zone="north", kind="van") == pytest.approx(900, rel=0.1)
    assert predict(building="elsewhere", customer="7", zone="north", kind="van") == pytest.approx(600, rel=0.35)
    assert predict(building="new", customer="new", zone="south", kind="cargo_bike") == pytest.approx(100, rel=0.1)
    # no building, customer or zone it knows: the vehicle kind's, then everything's
    van_only = predict(kind="van")
    everything = predict()
    assert predict(building="x", customer="y", zone="z", kind="van") == pytest.approx(van_only)
    # everything's mean (an ETA sums doorsteps: their means, not their medians)
    log_mean, _, log_variance = table["all"]
    assert min(100, 900) < everything < 900 and everything == pytest.approx(math.exp(log_mean + log_variance / 2))


def test_the_prediction_is_the_mean_of_a_skewed_doorstep_not_its_median():
    """Log-normal doorsteps (median 200 s, sigma 0.5): the mean is 200 x exp(0.125) = 227 s. An ETA
    sums the doorsteps before it, so predicting medians made every route run late."""
    rows = [
        doorstep.DoorstepObservation("", "", "centre", "van", 0, 200 * math.exp(0.5 * z / 10))
        for z in range(-30, 31)
        for _ in range(3)
    ]
    sigma = (sum((0.5 * z / 10) ** 2 for z in range(-30, 31)) / 60) ** 0.5
    table = doorstep.fit(rows, per_item=False)
    assert doorstep.predict(table, zone="centre") == pytest.approx(200 * math.exp(sigma**2 / 2), rel=0.02)


def test_buildings_seen_once_do_not_replace_their_zones_time():
    """Every building visited once, all with the zone's spread and no time of their own: a building's
    one long doorstep must not become its prediction (it once weighed 83 % against the zone's)."""
    rows = [
        doorstep.DoorstepObservation(f"b{n}", "", "north", "van", 0, 150 * math.exp(0.5 * ((n * 7919) % 61 - 30) / 15))
        for n in range(300)
    ]
    table = doorstep.fit(rows, per_item=False)
    zone_only = doorstep.predict(table, zone="north")
    slowest = max(range(300), key=lambda n: rows[n].seconds)
    assert table["levels"]["building"]["k"] >= 10
    assert doorstep.predict(table, building=f"b{slowest}", zone="north") == pytest.approx(zone_only, rel=0.15)


def test_a_building_seen_once_moves_the_estimate_only_part_of_the_way():
    rows = _obs(100, 60, zone="north") + _obs(1000, 1, zone="north", building="once")
    table = doorstep.fit(rows, per_item=False)
    once = doorstep.predict(table, building="once", zone="north")
    assert 100 < once < 1000 * 0.9


def test_service_time_grows_with_the_items():
    rows = [
        doorstep.DoorstepObservation("", "", "", "van", items, 60 + 20 * items)
        for items in range(1, 9)
        for _ in range(5)
    ]
    table = doorstep.fit(rows, per_item=True)
    assert table["per_item_s"] == pytest.approx(20, abs=1)
    assert doorstep.predict(table, items=5) == pytest.approx(160, rel=0.05)


@pytest.mark.django_db
def test_an_orders_own_minutes_win_and_without_them_the_learned_time_applies(depot_a):
    zone = Zone.objects.create(code="north", name="North", polygon={"type": "Polygon", "coordinates": []},
                               access_time_s=45)  # fmt: skip
    common = {"date": "2026-11-02", "depot": depot_a, "lat": 47.14, "lon": 9.52, "zone": zone}
    explicit = Order.objects.create(reference="E", service_minutes=4, **common)
    learned = Order.objects.create(reference="L", service_minutes=None, **common)
    orders = list(Order.objects.select_related("zone").order_by("reference"))
    # no model yet: the company default, and the zone's access time
    assert doorstep_seconds(orders)[learned.id] == (settings.DEFAULT_SERVICE_MINUTES * 60, 45)
    assert doorstep_seconds(orders)[explicit.id] == (240, 45)
    service = doorstep.fit(_obs(130, 20, zone="north"), per_item=False)
    access = doorstep.fit(_obs(70, 20, zone="north"), per_item=False)
    TravelModel.objects.create(version=1, active=True, parameters={"service": service, "access": access})
    times = doorstep_seconds(orders)
    assert times[explicit.id][0] == 240  # the import's value wins
    assert times[learned.id][0] == pytest.approx(130, abs=2)
    assert times[learned.id][1] == pytest.approx(70, abs=2) and times[explicit.id][1] == times[learned.id][1]
