"""A customer opens their tracking link in a real browser: every request stays on our site, the
page obeys its own Content-Security-Policy, shows the window, the driver and the map, falls back
to polling when there is no socket (the test server speaks HTTP only), and sends a message."""

from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from customers.models import CustomerMessage
from dispatch.models import Customer
from tests.customers.conftest import build_day_route, token_of

pytestmark = pytest.mark.django_db(transaction=True)


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
    driver = day_route["driver"]
    driver.last_lat, driver.last_lon, driver.last_position_at = 47.15, 9.52, timezone.now()
    driver.save()
    url = f"{live_server.url}/t/{token_of(first)}/"
    host = urlsplit(live_server.url).netloc

    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-CH")
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
    assert page.locator("#window-start").inner_text() < page.locator("#window-end").inner_text()
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
