"""The driver app's route map in a real browser at phone size (390x844): the "Route map" tab beside the
list shows the route's line, its numbered stops coloured by status with the next one highlighted and
the phone's own position; a tap on a stop opens it; opened again without signal (from the service
worker's cache) the map still draws the route and stops from the route the phone saved."""

import pytest

import dispatch.live.tasks  # noqa: F401 - the phone's positions start a task by its name, as the workers load it
from tests.browser.conftest import wait_for_js
from tests.browser.test_driver_app import (  # noqa: F401 - fixtures
    PHONE,
    _session_cookie,
    _status_is,
    _wait_for_server,
    live_settings,
    route_of_driver_a,
)
from tests.driver.conftest import driver_b, todays_orders, vehicle_a2  # noqa: F401 - fixtures

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.clock, pytest.mark.usefixtures("live_settings")]
HERE = {"latitude": 47.1405, "longitude": 9.5209}
MARKERS = "#route-map .driver-stop-marker span"


@pytest.fixture
def stops(request):
    """driver_a's three stops today (test_driver_app's route_of_driver_a), in order."""
    return request.getfixturevalue("route_of_driver_a")


def _is_error(message) -> bool:
    return message.type == "error"


def _phone(browser, live_server, driver, **options):
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        geolocation=HERE, permissions=["geolocation"], **options,
    )  # fmt: skip
    context.add_cookies([_session_cookie(live_server, driver.user)])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on("console", lambda message: errors.append(message.text) if _is_error(message) else None)
    return context, page, errors


def _open_map(page):
    page.click("#view-map")
    page.wait_for_selector("#route-map-panel:not([hidden])")
    page.wait_for_selector(MARKERS)


def _marker_classes(page) -> list[str]:
    return page.eval_on_selector_all(MARKERS, "(els) => els.map((e) => e.textContent + ' ' + e.className)")


def test_the_driver_sees_the_route_stops_and_own_position_on_the_map(browser, live_server, stops, driver_a, screenshot):
    context, page, errors = _phone(browser, live_server, driver_a)
    first, second, third = stops
    page.goto(f"{live_server.url}/driver/")
    page.wait_for_selector("#next:not([hidden])")
    assert page.locator("#stops").is_visible() and page.locator("#route-map-panel").is_hidden()
    _open_map(page)
    assert page.locator("#stops").is_hidden()

    # The line (a white casing under the coloured line), three numbered stops, the first one next.
    assert page.locator("#route-map .leaflet-overlay-pane path").count() >= 2
    assert _marker_classes(page) == ["1 status-dispatched next", "2 status-dispatched", "3 status-dispatched"]
    box = page.locator(MARKERS).first.bounding_box()
    assert box["width"] >= 36 and box["height"] >= 36  # a thumb's target
    # The phone's position (watchPosition), and a button that centres on it.
    page.wait_for_selector("#route-map .driver-me-marker")
    assert page.locator("#route-map-me").is_visible()
    legend = page.locator("#route-map-legend").inner_text()
    assert "To do" in legend and "Delivered" in legend and "You" in legend
    assert "OpenStreetMap" in page.locator("#route-map .leaflet-control-attribution").inner_text()
    # No tiles are built here: no streets, and nothing said about them.
    assert page.locator("#route-map-note").is_hidden()
    # Everything fits the phone's width.
    assert not page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    screenshot(page, "driver-map")

    # A tap on stop 2 opens it (the card with its actions), as its row in the list does.
    page.locator(MARKERS).nth(1).tap()
    wait_for_js(page, f"document.getElementById('next-title').textContent === {second.order.customer_name!r}")
    assert "#2" in page.locator("#next-label").inner_text()
    assert _marker_classes(page)[1] == "2 status-dispatched next"

    # Arriving there turns its marker into "arrived".
    page.click("#action-arrive")
    _wait_for_server(page, _status_is(second.order_id, "arrived"))
    assert _marker_classes(page)[1] == "2 status-arrived next"

    # The choice of view lasts: opened again, the map shows.
    page.reload()
    page.wait_for_selector(MARKERS)
    assert page.locator("#stops").is_hidden()
    assert errors == []
    context.close()


def test_the_map_draws_the_saved_route_without_signal(browser, live_server, stops, driver_a, screenshot):
    context, page, errors = _phone(browser, live_server, driver_a)
    page.goto(f"{live_server.url}/driver/")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # now controlled by the worker, which keeps a copy of the page and of the map's files
    wait_for_js(page, "navigator.serviceWorker.controller !== null")
    _open_map(page)
    page.click("#action-arrive")
    _wait_for_server(page, _status_is(stops[0].order_id, "arrived"))

    context.set_offline(True)
    page.reload()
    page.wait_for_selector(MARKERS)
    assert page.locator("#connection").inner_text() == "Offline"
    assert _marker_classes(page)[0] == "1 status-arrived next"  # what the phone saw last
    assert page.locator("#route-map .leaflet-overlay-pane path").count() >= 2
    assert page.locator("#route-map .driver-me-marker").count() == 1  # the last known position
    screenshot(page, "driver-map-offline")
    assert errors == []
    context.close()
