"""Courier partners in the analytics: own fleet against partners, each partner's rates, the share handed
off per zone, and the monthly statement as CSV (managers, and the partner for its own).

A hand-made day (tests.analytics.conftest: four orders on our route, 195.00 of route cost, 3 delivered)
plus five orders of zone Malbun handed over; every expected figure is worked out by hand below.
"""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from analytics.errors import AnalyticsError
from analytics.filters import KpiFilters
from analytics.partners import month_from_query, partner_figures
from analytics.services import order_facts_refresh
from dispatch.models import Handoff
from tests.analytics import conftest as day_fixtures
from tests.analytics.conftest import DAY, at, make_order, walk

# The hand-made day of the analytics tests (fixtures used by name).
_empty_cache, costed_vehicle, day_of_depot_a = (
    day_fixtures._empty_cache, day_fixtures.costed_vehicle, day_fixtures.day_of_depot_a,
)  # fmt: skip

H = Handoff.Status


def handed(order, partner, status, cost, parts, reason=""):
    return Handoff.objects.create(
        order=order, partner=partner, status=status, cost=Decimal(cost), price_parts=parts, reason=reason,
        cutoff_at=at(7, 0, DAY - timedelta(days=1)), offered_at=at(17, 0, DAY - timedelta(days=1)),
    )  # fmt: skip


@pytest.fixture
def partner_day(day_of_depot_a, depot_a, zone_a, partner, other_partner):
    """Alpen: P1 on time at the first attempt (14.00), P2 late (12.00, kept before price parts were),
    P3 failed without window (13.00), P4 still offered (not billed). Berg rejected P5: ours again."""
    orders = {}
    for reference, window in (("P1", (at(9), at(10))), ("P2", (at(10), at(11))), ("P3", None), ("P4", None),
                              ("P5", None)):  # fmt: skip
        orders[reference] = make_order(depot_a, reference, window=window, zone=zone_a)
        walk(orders[reference], ("planned", at(17, 0, DAY - timedelta(days=1))), ("dispatched", at(17, 1, DAY - timedelta(days=1))))  # fmt: skip
    walk(orders["P1"], ("arrived", at(9, 30)), ("delivered", at(9, 35)))
    walk(orders["P2"], ("arrived", at(11, 10)), ("delivered", at(11, 15)))
    walk(orders["P3"], ("failed", at(12), "not_home"))
    walk(orders["P5"], ("planned", at(6)), ("new", at(6, 1)))
    handed(orders["P1"], partner, H.DELIVERED, "14.00", {"stop": "9.50", "kg": "2.00", "zone": "2.50"})
    handed(orders["P2"], partner, H.DELIVERED, "12.00", {})
    handed(orders["P3"], partner, H.FAILED, "13.00", {"stop": "9.50", "kg": "1.00", "zone": "2.50"}, "not_home")
    handed(orders["P4"], partner, H.OFFERED, "12.00", {"stop": "9.50", "kg": "0.00", "zone": "2.50"})
    handed(orders["P5"], other_partner, H.REJECTED, "12.00", {"stop": "12.00", "kg": "0.00", "zone": "0.00"})
    order_facts_refresh(date_from=DAY, date_to=DAY)
    return orders


def test_it_compares_the_own_fleet_with_the_partners(partner_day):
    figures = partner_figures(KpiFilters(date_from=DAY, date_to=DAY))
    own, partners = figures["own_fleet"], figures["partners"]
    # Ours: O1-O4 and P5 (rejected: back with us); 195.00 of route over 3 deliveries.
    assert own["orders"] == 5 and own["deliveries"] == 3
    assert own["cost"] == pytest.approx(195.0) and own["cost_per_delivery"] == pytest.approx(65.0)
    assert own["on_time_rate"] == pytest.approx(1 / 3) and own["first_attempt_success_rate"] == pytest.approx(2 / 4)
    # Partners: P1-P4; billed P1 + P2 + P3 = 39.00 over 2 deliveries; P4 (offered) costs nothing yet.
    assert partners["orders"] == 4 and partners["deliveries"] == 2
    assert partners["cost"] == pytest.approx(39.0) and partners["cost_per_delivery"] == pytest.approx(19.5)
    [alpen] = figures["by_partner"]
    assert alpen["partner"] == "alpen" and alpen["name"] == "Alpen Kurier"
    # On time: P1 in its window, P2 after it, P3 had none: 1 of 2. First attempt: P1, P2 of P1-P3.
    assert alpen["on_time_rate"] == pytest.approx(0.5)
    assert alpen["first_attempt_success_rate"] == pytest.approx(2 / 3)
    assert alpen["cost_per_delivery"] == pytest.approx(19.5)
    zones = {row["zone"]: row for row in figures["by_zone"]}
    assert zones["malbun"]["orders"] == 5 and zones["malbun"]["handed_off"] == 4
    assert zones["malbun"]["handed_off_share"] == pytest.approx(0.8)
    assert zones[None]["orders"] == 4 and zones[None]["handed_off_share"] == 0


def test_it_serves_the_figures_by_api_and_on_the_page(
    partner_day, manager, manager_client, dispatcher_b_client, driver_client
):
    answer = manager_client.get("/api/analytics/partners/", {"from": "2026-03-10", "to": "2026-03-10"})
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["partners"]["cost_per_delivery"] == pytest.approx(19.5)
    assert body["by_partner"][0]["partner"] == "alpen"
    # Another depot's dispatcher sees nothing of depot A.
    other = dispatcher_b_client.get("/api/analytics/partners/", {"from": "2026-03-10", "to": "2026-03-10"}).json()
    assert other["own_fleet"]["orders"] == 0 and other["by_partner"] == []
    assert driver_client.get("/api/analytics/partners/").status_code == 403
    browser = Client()
    browser.force_login(manager)
    page = browser.get("/analytics/", {"from": "2026-03-10", "to": "2026-03-10"})
    html = page.content.decode()
    assert page.status_code == 200 and 'data-table="partner-sides"' in html and "Alpen Kurier" in html
    assert "/api/analytics/partners/alpen/statement.csv" in html and 'value="2026-03"' in html


def _rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_it_exports_a_partners_monthly_statement(partner_day, manager_client):
    response = manager_client.get("/api/analytics/partners/alpen/statement.csv", {"month": "2026-03"})
    assert 'filename="statement-alpen-2026-03.csv"' in response["Content-Disposition"]
    rows = _rows(response)
    assert rows[0] == ["date", "reference", "status", "outcome", "failure_reason", "price_per_stop",
                       "price_weight", "price_zone", "total", "billed"]  # fmt: skip
    assert rows[1:5] == [
        ["2026-03-10", "P1", "delivered", "delivered", "", "9.50", "2.00", "2.50", "14.00", "yes"],
        # Kept before the parts were: today's kg and zone prices, the rest on the stop price (sums to 12.00).
        ["2026-03-10", "P2", "delivered", "delivered", "", "9.50", "0.00", "2.50", "12.00", "yes"],
        ["2026-03-10", "P3", "failed", "failed", "not_home", "9.50", "1.00", "2.50", "13.00", "yes"],
        ["2026-03-10", "P4", "offered", "dispatched", "", "9.50", "0.00", "2.50", "12.00", "no"],
    ]
    assert rows[5] == ["total", "alpen 2026-03", "3 billed", "", "", "", "", "", "39.00", ""]
    assert len(rows) == 6
    # Another month has no hand-off: the header and a zero total.
    empty = _rows(manager_client.get("/api/analytics/partners/alpen/statement.csv", {"month": "2026-04"}))
    assert len(empty) == 2 and empty[1][8] == "0.00"


def test_it_gives_a_partner_its_own_statement_and_nobody_elses(
    partner_day, partner_client, other_partner_client, dispatcher_a_client, manager_client
):
    own = _rows(partner_client.get("/api/partner/statement/", {"month": "2026-03"}))
    assert own == _rows(manager_client.get("/api/analytics/partners/alpen/statement.csv", {"month": "2026-03"}))
    # Berg's statement holds none of Alpen's orders (P5 it rejected is not billed nor listed).
    berg = _rows(other_partner_client.get("/api/partner/statement/", {"month": "2026-03"}))
    assert [row[1] for row in berg[1:-1]] == [] and berg[-1][8] == "0.00"
    # Statements are the managers' and the partner's own: a dispatcher, a partner asking for another's.
    assert (
        dispatcher_a_client.get("/api/analytics/partners/alpen/statement.csv", {"month": "2026-03"}).status_code == 403
    )
    assert partner_client.get("/api/analytics/partners/berg/statement.csv", {"month": "2026-03"}).status_code == 403
    assert dispatcher_a_client.get("/api/partner/statement/", {"month": "2026-03"}).status_code == 403
    assert manager_client.get("/api/analytics/partners/nope/statement.csv", {"month": "2026-03"}).status_code == 404


@pytest.mark.parametrize("month", ["", "2026-3", "2026-13", "march", "2026-03-01", "1999-12"])
def test_it_names_a_bad_month(partner_day, manager_client, partner_client, month):
    for client, path in ((manager_client, "/api/analytics/partners/alpen/statement.csv"),
                         (partner_client, "/api/partner/statement/")):  # fmt: skip
        response = client.get(path, {"month": month})
        assert response.status_code == 400, (path, month, response.content)
        error = response.json()["errors"][0]
        assert error["field"] == "month" and "YYYY-MM" in error["message"]


def test_it_reads_a_month_to_its_last_day():
    assert month_from_query("2028-02").last == date(2028, 2, 29)
    assert month_from_query("2026-12").last == date(2026, 12, 31)
    with pytest.raises(AnalyticsError):
        month_from_query("2026-00")
