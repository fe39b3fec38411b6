"""The analytics CSV export downloaded by Chromium arrives whole: every order, as the KPIs count them.

The server is daphne (tests/browser/test_live_map.py), as in production: under ASGI the export
streams from an async generator, the case in which the browser used to save only the header row.
"""

import csv
import io
from pathlib import Path

import pytest

from analytics import selectors
from analytics.services import order_facts_refresh
from dispatch.models import Order
from tests.analytics.conftest import DAY, _empty_cache, costed_vehicle, day_of_depot_a  # noqa: F401
from tests.browser.conftest import log_in
from tests.browser.test_live_map import daphne_url  # noqa: F401 - the server for this test

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]


def test_it_downloads_every_order_of_the_period_in_chromium(browser, daphne_url, day_of_depot_a, depot_a, manager):  # noqa: F811
    # More orders than one page of the export (analytics/export.py: PAGE_ROWS), so it streams in several chunks.
    Order.objects.bulk_create(
        Order(reference=f"X{n:04d}", date=DAY, depot=depot_a, lat=47.14, lon=9.52) for n in range(2100)
    )
    order_facts_refresh(date_from=DAY, date_to=DAY)
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    log_in(page, daphne_url, manager.username)
    page.goto(f"{daphne_url}/analytics/?from={DAY}&to={DAY}")
    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == f"deliveries-{DAY:%Y%m%d}-{DAY:%Y%m%d}.csv"
    body = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(body)))
    kpis = selectors.kpis(selectors.KpiFilters(date_from=DAY, date_to=DAY))
    assert len(rows) == kpis["orders"] == Order.objects.filter(date=DAY).count() == 2104
    assert {"O1", "O2", "O3", "O4", "X0000", "X2099"} <= {row["reference"] for row in rows}
    context.close()
