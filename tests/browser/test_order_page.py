"""An order's page in a real browser, on a phone (390x844) and a laptop (1440x900): nothing wider than
the screen, no console error, and a dispatcher reschedules the order with the form (a bad window first,
refused with the field named, then a good one). Screenshots land in test-artifacts/order-page-*.png."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone

from customers.models import Channel, Event, Notification
from dispatch.models import Customer, Order, ProofOfDelivery
from tests.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"phone": {"width": 390, "height": 844}, "laptop": {"width": 1440, "height": 900}}
OVERFLOW = "document.documentElement.scrollWidth > window.innerWidth"


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


@pytest.fixture
def busy_order(depot_a, driver_a):
    """An order with everything the page shows, and long words that a narrow screen must wrap."""
    zone = ZoneInfo(settings.TIME_ZONE)
    day = timezone.localdate() + timedelta(days=1)
    customer = Customer.objects.create(name="Anna-Katharina Musterfrau-Oberhofer", language="de")
    order = Order.objects.create(
        reference="ORD-2026-000123-LONGREFERENCE", date=day, depot=depot_a, customer=customer,
        customer_name=customer.name, email="anna-katharina.musterfrau-oberhofer@beispiel-unternehmen.example.li",
        phone="+423 791 23 45", address="Obere Feldstrasse 123, Hinterschellenberg-Oberdorf, 9488 Schellenberg",
        lat=47.1399, lon=9.5213, notes="Hinterhaus, 2. Stock; bitte zweimal klingeln. " * 3,
        window_start=datetime.combine(day, time(10), tzinfo=zone), window_end=datetime.combine(day, time(12), tzinfo=zone),
    )  # fmt: skip
    Notification.objects.create(
        order=order, event=Event.SCHEDULED, channel=Channel.EMAIL, recipient=order.email, occasion=str(day), language="de",
        subject="Ihre Lieferung kommt", body="https://dispatch.example.li/t/" + "x" * 120 + "/",
        status=Notification.Status.SENT, sent_at=timezone.now(),
    )  # fmt: skip
    ProofOfDelivery.objects.create(
        order=order, driver=driver_a, recipient_name="Nachbarin im Erdgeschoss", delivered_at=timezone.now()
    )
    return order


def _is_error(message) -> bool:
    # The refused form comes back with 400 on purpose (the page with the error, not a redirect), which
    # Chromium logs as a failed load of the document; any other error counts.
    refused_form = message.location.get("url", "").endswith("/reschedule/") and "status of 400" in message.text
    return message.type == "error" and not refused_form


def _open(browser, base_url, size: str, username: str, path: str):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(message.text) if _is_error(message) else None)
    log_in(page, base_url, username)
    page.goto(base_url + path)
    page.wait_for_selector("h1")
    page.wait_for_load_state("load")
    return context, page, errors


@pytest.mark.parametrize("size", SIZES)
def test_it_fits_the_screen_without_console_errors(
    browser, live_server, live_settings, dispatcher_a, busy_order, screenshot, size
):
    context, page, errors = _open(browser, live_server.url, size, dispatcher_a.username, f"/orders/{busy_order.pk}/")
    try:
        assert "ORD-2026-000123-LONGREFERENCE" in page.locator("h1").inner_text()
        assert page.locator(".order-zone-note").inner_text() == f"All times in {settings.TIME_ZONE}."
        assert page.locator("[data-field=recipient]").inner_text() == "Nachbarin im Erdgeschoss"
        # The map's popup of the order leads to its page (as on Today's map and the plan's).
        frame = page.frame_locator("iframe.order-map")
        frame.locator(".leaflet-container").wait_for()
        map_frame = next(f for f in page.frames if f.parent_frame is not None)
        assert map_frame.evaluate(f"DispatchMap.showOrder({busy_order.pk})")
        link = frame.locator(".map-popup-link")
        assert link.get_attribute("href") == f"/orders/{busy_order.pk}/" and link.get_attribute("target") == "_top"
        page.locator("#action-reschedule summary").click()
        page.locator("#action-cancel summary").click()
        screenshot(page, f"order-page-{size}")
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert not page.evaluate(OVERFLOW), f"the page is {widths[0]} px wide at {widths[1]} px"
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("size", SIZES)
def test_it_reschedules_from_the_form(browser, live_server, live_settings, dispatcher_a, busy_order, screenshot, size):
    context, page, errors = _open(browser, live_server.url, size, dispatcher_a.username, f"/orders/{busy_order.pk}/")
    new_day = busy_order.date + timedelta(days=2)
    try:
        page.locator("#action-reschedule summary").click()
        form = page.locator("#action-reschedule form")
        form.locator("input[name=date]").fill(new_day.isoformat())
        form.locator("input[name=window_start]").fill("15:00")
        form.locator("input[name=window_end]").fill("14:00")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#action-reschedule[open] .form-error")
        assert (
            "ends at 14:00, not after it starts at 15:00" in page.locator("#action-reschedule .form-error").inner_text()
        )
        assert not page.evaluate(OVERFLOW)
        busy_order.refresh_from_db()
        assert busy_order.date == new_day - timedelta(days=2)

        form = page.locator("#action-reschedule form")
        form.locator("input[name=window_end]").fill("17:30")
        form.locator("button[type=submit]").click()
        page.wait_for_selector(".flash-success")
        assert "rescheduled to" in page.locator(".flash-success").inner_text()
        screenshot(page, f"order-page-rescheduled-{size}")
        busy_order.refresh_from_db()
        assert busy_order.date == new_day
        assert timezone.localtime(busy_order.window_end).time() == time(17, 30)
        assert page.locator("[data-field=window]").inner_text() == "15:00–17:30"
        assert not page.evaluate(OVERFLOW)
        assert errors == []
    finally:
        context.close()
