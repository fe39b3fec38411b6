"""A cargo bike's rider sees "Back to <hub> to reload" between two trips, with its times, in the list
and on the next stop's card once the first trip is done (issue 19: multi-trip and micro-hubs)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import Depot, Order
from routes.plans.services import plan_dispatch
from tests.browser.conftest import log_in
from tests.driver.conftest import driver_b, todays_orders, vehicle_a2, write_plan  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


@pytest.fixture
def two_trips(depot_a, vehicle_a, driver_a, vehicle_a2, driver_b, todays_orders, dispatcher_a):  # noqa: F811
    hub = Depot.objects.create(code="HUB", name="Hub Zentrum", lat=47.1405, lon=9.5210, is_micro_hub=True)
    plan = write_plan(
        day=timezone.localdate(), depot=depot_a,
        routes={(vehicle_a, driver_a): todays_orders[:3], (vehicle_a2, driver_b): todays_orders[3:]},
    )  # fmt: skip
    route = plan.routes.get(vehicle=vehicle_a)
    first = route.stops.get(sequence=1)
    arrival = first.etd + timedelta(minutes=6)
    route.reloads = [
        {"after_sequence": 1, "depot_id": hub.id, "arrival": arrival.isoformat(),
         "departure": (arrival + timedelta(minutes=10)).isoformat(), "leg_duration_s": 360, "leg_distance_m": 900},
    ]  # fmt: skip
    route.save(update_fields=["reloads"])
    plan_dispatch(plan=plan, by=dispatcher_a)
    return route, first, arrival


def test_the_rider_sees_the_reload_between_the_trips(browser, live_server, live_settings, two_trips, driver_a):
    route, first, arrival = two_trips
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, driver_a.user.username, lands_on="/driver/")
    page.wait_for_selector("#stops li.stop-reload")
    items = page.locator("#stops li")
    assert items.count() == 4  # three stops and the reload after the first
    reload_item = items.nth(1)
    assert "stop-reload" in reload_item.get_attribute("class")
    assert "Back to Hub Zentrum to reload" in reload_item.inner_text()
    local = timezone.localtime(arrival)
    assert f"{local:%H:%M}" in reload_item.inner_text()
    assert page.locator("#next-reload").is_hidden()  # the first stop comes before any reload

    Order.objects.filter(pk=first.order_id).update(status=Order.Status.DELIVERED)
    page.reload()
    page.wait_for_selector("#next-reload:not([hidden])")
    assert "Back to Hub Zentrum to reload" in page.locator("#next-reload").inner_text()
    assert not errors, errors
    context.close()
