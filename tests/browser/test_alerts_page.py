"""Alerts at scale in Chromium: select all and resolve in one go, the nav's count, the company's clock.

The browser runs in UTC (timezone_id) while the company is in Europe/Vaduz: every time on the
Alerts page and on the live map must be Vaduz's. The server is daphne (the live map's socket).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import Alert
from tests.browser.conftest import log_in, wait_for_js
from tests.browser.test_live_map import daphne_url  # noqa: F401 - the server for these tests

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]

LATE = 12


@pytest.fixture
def many_alerts(depot_a, depot_b, driver_a):
    # Written directly: alert_open would also publish to the live layer, from Playwright's event loop.
    half_an_hour_ago = timezone.now() - timedelta(minutes=30)  # an hour that differs between UTC and Vaduz
    made = Alert.objects.bulk_create(
        [
            Alert(depot=depot_a, kind="late", dedup_key=f"late:{n}", message=f"L{n} predicted {n + 5} min late",
                  driver=driver_a)
            for n in range(LATE)
        ]
        + [
            Alert(depot=depot_a, kind="idle", dedup_key="idle:1", message="Dana: not moved"),
            Alert(depot=depot_b, kind="late", dedup_key="late:b", message="B is late"),
        ]
    )  # fmt: skip
    Alert.objects.update(created_at=half_an_hour_ago)
    return made


def _context(browser, width=1440, height=900):
    return browser.new_context(viewport={"width": width, "height": height}, timezone_id="UTC")


def _vaduz_clock(alert_id: int) -> str:
    created = timezone.localtime(Alert.objects.get(pk=alert_id).created_at)
    return created.strftime("%H:%M")


def test_it_resolves_every_open_alert_shown_with_select_all(browser, daphne_url, many_alerts, dispatcher_a,  # noqa: F811
                                                           screenshot):  # fmt: skip
    context = _context(browser)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, daphne_url, dispatcher_a.username)
    assert page.locator("#nav-alert-count").inner_text() == str(LATE + 1)  # depot B's alert is not theirs
    page.click(".nav a[href='/alerts/']")
    page.wait_for_selector("#alert-bulk")
    assert page.locator(".alert-group-title").all_inner_texts() == ["Predicted late", "Driver idle"]
    assert (
        page.locator("#time-zone-note").inner_text()
        == "All times in Europe/Vaduz (" + timezone.localtime().tzname() + ")"
    )
    first = many_alerts[0]
    assert page.locator(f"tr[data-alert='{first.pk}'] time").inner_text().endswith(_vaduz_clock(first.pk))
    screenshot(page, "alerts-1-grouped")

    assert page.locator("#resolve-selected").is_disabled()
    page.check(".group-checkbox[data-group='idle']")
    assert page.locator("#selected-count").inner_text() == "1"
    page.check("#select-all")
    assert page.locator("#selected-count").inner_text() == str(LATE + 1)
    assert page.locator(".group-checkbox[data-group='late']").is_checked()
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/alerts/resolve/")):
        page.click("#resolve-selected")
    page.wait_for_selector(".flash-success")
    assert f"{LATE + 1} alerts resolved." in page.locator(".flash-success").inner_text()
    assert page.locator("#nav-alert-count").count() == 0
    assert "Nothing needs you right now." in page.locator("main").inner_text()
    assert list(Alert.objects.filter(resolved_at__isnull=True).values_list("dedup_key", flat=True)) == ["late:b"]
    assert not errors
    context.close()


def test_it_fits_a_phone_without_sideways_scrolling(browser, daphne_url, many_alerts, dispatcher_a,  # noqa: F811
                                                   screenshot):  # fmt: skip
    context = _context(browser, 390, 844)
    page = context.new_page()
    log_in(page, daphne_url, dispatcher_a.username)
    page.goto(f"{daphne_url}/alerts/")
    page.wait_for_selector("#alert-bulk")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page is {overflow} px wider than the phone"
    screenshot(page, "alerts-2-phone")
    context.close()


def test_it_groups_the_live_maps_alerts_in_the_companys_time_and_resolves_a_group(
    browser,
    daphne_url,  # noqa: F811 - the fixture imported above
    many_alerts,
    dispatcher_a,
    screenshot,
):
    context = _context(browser)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, daphne_url, dispatcher_a.username)
    page.goto(f"{daphne_url}/live/")
    page.wait_for_selector("#live-connection[data-state=live]", timeout=20_000)
    assert page.locator("#time-zone-note").inner_text().startswith("All times in Europe/Vaduz")
    late = page.locator(".alert-group[data-kind='late']")
    assert late.locator(".alert-kind").inner_text().lower() == "predicted late"
    assert late.locator(".alert-item").count() == 5  # the newest few; the rest are a link away
    assert re.search(rf"\+ {LATE - 5} more on the Alerts page", late.inner_text())
    shown = late.locator(".alert-item").first
    alert_id = int(shown.get_attribute("data-alert"))
    # Not the browser's UTC; after midnight, yesterday's alert also names its day ("Wed 9 Dec 23:50").
    assert shown.locator("time").inner_text().endswith(_vaduz_clock(alert_id))
    screenshot(page, "alerts-3-live-grouped")

    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/api/alerts/resolve/")) as posted:
        late.locator(".alert-resolve-all").click()
    assert len(posted.value.post_data_json["alerts"]) == LATE
    late.wait_for(state="detached", timeout=10_000)
    wait_for_js(page, "document.getElementById('nav-alert-count').textContent === '1'")
    assert Alert.objects.filter(kind="late", resolved_at__isnull=True).count() == 1  # depot B's
    assert not errors
    context.close()
