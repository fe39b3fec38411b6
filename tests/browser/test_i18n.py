"""German in a real browser at phone width (390 px): today's page for a dispatcher whose setting is
German, and the driver app for a driver whose browser asks for German, with driver.js's own texts
(the embedded catalog) in German too; no page wider than the phone, no console error."""

import pytest
from django.utils import timezone

from dispatch.models import UserPreference
from routes.plans.services import plan_dispatch
from tests.browser.conftest import wait_for_js
from tests.browser.test_driver_app import _session_cookie
from tests.driver.conftest import driver_b, todays_orders, vehicle_a2, write_plan  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


@pytest.fixture
def route_of_driver_a(depot_a, vehicle_a, driver_a, vehicle_a2, driver_b, todays_orders, dispatcher_a):  # noqa: F811
    plan = write_plan(
        day=timezone.localdate(), depot=depot_a,
        routes={(vehicle_a, driver_a): todays_orders[:3], (vehicle_a2, driver_b): todays_orders[3:]},
    )  # fmt: skip
    plan_dispatch(plan=plan, by=dispatcher_a)
    return plan


def _open(browser, live_server, user, path, *, locale="en-US"):
    context = browser.new_context(viewport=PHONE, locale=locale, is_mobile=True, has_touch=True)
    context.add_cookies([_session_cookie(live_server, user)])
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}{path}")
    return context, page, errors


def _no_overflow(page):
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


def test_today_in_german_on_a_phone(browser, live_server, live_settings, dispatcher_a, todays_orders, screenshot):  # noqa: F811
    UserPreference.objects.create(user=dispatcher_a, language="de")
    context, page, errors = _open(browser, live_server, dispatcher_a, "/")
    try:
        assert page.locator("html").get_attribute("lang") == "de"
        body = page.locator("body").inner_text()
        assert "Suche" in body and "Anzeigen" in body and "Abmelden" in body
        assert "Search" not in body and "Log out" not in body and "All statuses" not in body
        # The page's scripts have the German catalog (/jsi18n/).
        assert page.evaluate("window.gettext('Something went wrong.')") == "Etwas ist schiefgegangen."
        _no_overflow(page)
        screenshot(page, "i18n-today-de-phone")
        assert not errors, errors
    finally:
        context.close()


def test_driver_app_in_german_from_the_browser(
    browser, live_server, live_settings, route_of_driver_a, driver_a, screenshot
):
    context, page, errors = _open(browser, live_server, driver_a.user, "/driver/", locale="de-CH")
    try:
        wait_for_js(page, "window.DriverApp && DriverApp.state.route")
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.locator("#action-deliver").inner_text() == "Zugestellt"
        # Texts written by driver.js: the progress line and the stop badges.
        assert "Stopps erledigt" in page.locator("#progress-count").inner_text()
        assert page.locator("#connection").inner_text() in ("Online", "Sende…")
        page.locator("#action-fail").click()
        assert "Niemand zu Hause" in page.locator("#fail-reasons").inner_text()
        page.locator("#fail-submit").click()
        assert page.locator("#fail-error").inner_text() == "Wählen Sie einen Grund."
        _no_overflow(page)
        screenshot(page, "i18n-driver-de-phone")
        assert not errors, errors
    finally:
        context.close()


def test_the_switcher_in_the_driver_app(browser, live_server, live_settings, route_of_driver_a, driver_a):
    context, page, errors = _open(browser, live_server, driver_a.user, "/driver/", locale="en-US")
    try:
        assert page.locator("#action-deliver").inner_text() == "Delivered"
        page.locator("button[data-language=de]").click()
        page.wait_for_load_state()
        assert page.locator("#action-deliver").inner_text() == "Zugestellt"
        assert UserPreference.objects.get(user=driver_a.user).language == "de"
    finally:
        context.close()
