"""A customer opens their tracking link in a real browser: every request stays on our site, the
page obeys its own Content-Security-Policy, shows the window, the driver and the map, falls back
to polling when there is no socket (the test server speaks HTTP only), and sends a message."""

from datetime import datetime, time, timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from customers.models import CustomerMessage, PromisedWindow
from dispatch.models import Customer
from tests.customers.conftest import build_day_route, token_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def day_route(depot_a, vehicle_a, driver_a):
    customer = Customer.objects.create(
        name="Erika Muster", email="erika@example.com", phone="+41790000001", language="de"
    )
    return build_day_route(depot_a, vehicle_a, driver_a, customer)


def test_it_shows_the_tracking_page_without_foreign_requests_or_csp_violations(
    browser,
    live_server,
    live_settings,
    day_route,
    screenshot,
):
    first = day_route["orders"][0]
    # Erika was promised 23:35-00:35, a window across midnight (at 23:40, `make test-clock`, it is now).
    midnight = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=1), time(0)))
    start, end = midnight - timedelta(minutes=25), midnight + timedelta(minutes=35)
    PromisedWindow.objects.create(order=first, day=first.date, start=start, end=end)
    driver = day_route["driver"]
    driver.last_lat, driver.last_lon, driver.last_position_at = 47.15, 9.52, timezone.now()
    driver.save()
    url = f"{live_server.url}/t/{token_of(first)}/"
    host = urlsplit(live_server.url).netloc

    # A customer whose phone is set to another zone (on holiday in New York): the page, its script's
    # updates included, writes the window in the company's zone, as the messages do.
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="de-CH", timezone_id="America/New_York"
    )
    page = context.new_page()
    requests, console, errors = [], [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(url)
    assert response.status == 200
    headers = response.headers
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    assert headers["x-robots-tag"].startswith("noindex") and "script-src 'self'" in headers["content-security-policy"]

    assert page.locator("h1#status").inner_text() == "Eingeplant"
    assert page.locator("#driver-name").inner_text() == "Dana"
    # The window as told, in local time. Its order is its datetimes' (start < end), not its text's.
    shown = (page.locator("#window-start").inner_text(), page.locator("#window-end").inner_text())
    assert shown == ("23:35", "00:35")
    page.locator("#map .leaflet-interactive").first.wait_for()
    assert page.locator("#map path.leaflet-interactive").count() == 2  # the address and the driver
    assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
    # No socket on this HTTP-only test server: the page says it falls back to polling.
    page.wait_for_timeout(1500)

    page.fill("#message-text", "Bitte beim Nachbarn abgeben.")
    page.click("#message-form button[type=submit]")
    page.locator("#message-form .form-status", has_text="Danke").wait_for()
    assert CustomerMessage.objects.get(order=first).text == "Bitte beim Nachbarn abgeben."
    screenshot(page, "tracking-page")

    foreign = [u for u in requests if urlsplit(u).scheme in ("http", "https") and urlsplit(u).netloc != host]
    foreign += [u for u in requests if urlsplit(u).scheme in ("ws", "wss") and urlsplit(u).netloc != host]
    assert not foreign, foreign
    violations = [line for line in console if "Content Security Policy" in line or "Refused to" in line]
    assert not violations, violations
    assert not errors, errors
    context.close()


def test_it_renders_the_english_page_for_an_english_customer(
    browser,
    live_server,
    live_settings,
    day_route,
):
    second = day_route["orders"][1]
    page = browser.new_page()
    page.goto(f"{live_server.url}/t/{token_of(second)}/")
    assert page.locator("h1#status").inner_text() == "Scheduled"
    assert page.locator("html").get_attribute("lang") == "en"
    page.close()
