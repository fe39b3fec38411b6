"""After a failed delivery the customer chooses another time on the tracking page, in Chromium, in
both languages: the free windows of the next days (the green one marked), the move, the confirmation."""

from datetime import datetime, time

import pytest
from django.utils import timezone

from customers.models import Event, Notification
from dispatch.models import Customer, Order, Vehicle
from routes.slots.grid import local_zone
from tests.customers.conftest import make_order, token_of
from tests.routes.test_slots import next_weekday

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]

TEXTS = {
    "en": {"title": "Choose another time", "button": "Move my delivery", "green": "green choice", "done": "Done"},
    "de": {"title": "Einen anderen Termin wählen", "button": "Lieferung verschieben", "green": "grüne Wahl",
           "done": "Erledigt"},
}  # fmt: skip


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SMS_BACKEND = "customers.notifications.backends.OutboxSmsBackend"


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_customer_moves_a_failed_delivery_to_a_window_of_their_choice(
    browser, live_server, live_settings, depot_a, vehicle_a, language, screenshot
):
    customer = Customer.objects.create(name="Erika", email="erika@example.com", phone="+41790000001", language=language)
    Vehicle.objects.update(cost_per_km=0.5, cost_per_hour=30, fixed_cost=40)
    order = make_order(
        depot_a,
        f"ORD-{language}",
        customer=customer,
        day=timezone.localdate(),
        status="failed",
        lat=47.1650,
        lon=9.5090,
    )  # in Schaan, 3 km from the depot
    # A neighbour booked on Tuesday 11-13: the van is around then, so that window is the green one.
    # The next Tuesday after today: the page lists the first DAYS_SHOWN days with a free window, and
    # on a Monday the Tuesday at least two days ahead (next_weekday's default) is the 8th.
    tuesday = next_weekday(1, at_least=1)
    make_order(
        depot_a, f"NEXT-DOOR-{language}", day=tuesday, status="new", lat=47.1655, lon=9.5090,
        window_start=datetime.combine(tuesday, time(11), tzinfo=local_zone()),
        window_end=datetime.combine(tuesday, time(13), tzinfo=local_zone()),
    )  # fmt: skip
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="de-CH")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The HTTP-only test server has no socket (the page falls back to polling): only script errors count.
    page.on("console", lambda m: m.type == "error" and "WebSocket" not in m.text and errors.append(m.text))
    page.goto(f"{live_server.url}/t/{token_of(order)}/")
    texts = TEXTS[language]
    assert page.locator("#choose-time-title").inner_text() == texts["title"]
    page.locator("#slot-days .slot").first.wait_for()
    # The green window: Tuesday's 11-13, when the van is next door anyway; the other days cost the same
    # whenever, so none of their windows is green.
    green = page.locator("#slot-days .slot.green")
    assert green.count() == 1 and texts["green"] in green.inner_text()
    assert green.locator("input").get_attribute("value") == f"{tuesday.isoformat()}|11:00|13:00"
    # The customer is never home in the morning and takes Tuesday 13:00-15:00.
    page.locator(f"input[name=slot][value='{tuesday.isoformat()}|13:00|15:00']").check()
    page.click(f"#slot-submit:has-text('{texts['button']}')")
    page.locator("#slot-picker .form-status", has_text=texts["done"]).wait_for()
    screenshot(page, f"tracking-slots-{language}")
    moved = Order.objects.get(pk=order.pk)
    assert moved.status == Order.Status.NEW and moved.date == tuesday
    assert moved.window_start == datetime.combine(tuesday, time(13), tzinfo=local_zone())
    assert Notification.objects.filter(order=moved, event=Event.REPLY, channel="sms").exists()
    assert not errors, errors
    context.close()
