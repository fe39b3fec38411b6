"""A dispatcher watches the live map in a real browser while a driver's phone posts positions.

The page needs the WebSocket, so the server here is daphne (the production ASGI server) in a child
process, as channels' ChannelsLiveServerTestCase runs it; it shares the test database, which
therefore cannot be SQLite in memory (the browser run uses PostgreSQL).
"""

import json
import urllib.request

import pytest
from django.db import connections
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dispatch.models import Alert
from routes.models import Stop
from tests.browser.conftest import log_in, wait_for_js
from tests.live_map.conftest import dispatched_route  # noqa: F401 - the fixture for this test

pytestmark = pytest.mark.django_db(transaction=True)


def _application():
    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    return ASGIStaticFilesHandler(get_default_application())


@pytest.fixture
def daphne_url(transactional_db, settings):
    from daphne.testing import DaphneProcess

    if connections["default"].vendor == "sqlite" and connections["default"].is_in_memory_db():
        pytest.skip("daphne runs in another process: it needs a database file or PostgreSQL, not SQLite in memory")
    settings.TASKS_RUN_INLINE = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
    # The child inherits this process's memory: hand it no open database connection to share. With
    # PostgreSQL's connection pool, closing gives the connection back to the pool, which the child
    # would inherit too (two processes on one socket: "another command is already in progress"):
    # close the pool itself; this process opens a new one on its next query.
    connections.close_all()
    for connection in connections.all():
        if hasattr(connection, "close_pool"):
            connection.close_pool()
    server = DaphneProcess("127.0.0.1", _application)
    server.start()
    assert server.ready.wait(timeout=30), "daphne did not start"
    yield f"http://127.0.0.1:{server.port.value}"
    server.terminate()
    server.join(timeout=10)


def _post(url, path, token, body):
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def _marker_position(page, driver_id):
    return page.evaluate(
        f"(() => {{ const m = window.LiveMap.drivers[{driver_id}]; const p = m && m.marker && m.marker.getLatLng(); return p ? [p.lat, p.lng] : null; }})()"
    )


def test_it_moves_the_vehicle_and_shows_the_alert_of_a_failed_delivery(
    browser,
    daphne_url,
    dispatched_route,  # noqa: F811 - the fixture imported above
    dispatcher_a,
    driver_a,
    screenshot,  # noqa: F811
):
    token = Token.objects.get_or_create(user=driver_a.user)[0].key
    coordinates = dispatched_route.geometry["coordinates"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, daphne_url, dispatcher_a.username)
    page.goto(f"{daphne_url}/live/")
    page.wait_for_selector("#live-connection[data-state=live]", timeout=20_000)
    assert "OpenStreetMap" in page.locator(".leaflet-control-attribution").inner_text()
    assert page.locator("#vehicle-list li").count() == 1

    # The phone's first position: the van appears where it is, turned to its heading.
    first_lon, first_lat = coordinates[5]
    body = {
        "positions": [{"lat": first_lat, "lon": first_lon, "heading": 90, "recorded_at": timezone.now().isoformat()}]
    }
    assert _post(daphne_url, "/api/driver/positions/", token, body) == 202
    marker = page.locator(f".vehicle-icon[data-driver='{driver_a.pk}']")
    marker.wait_for(timeout=10_000)
    assert marker.get_attribute("data-lat") == f"{first_lat:.6f}"
    assert "rotate(90deg)" in marker.locator(".vehicle-arrow").get_attribute("style")
    assert "Dana Driver" in marker.inner_text()
    box_before = marker.bounding_box()
    screenshot(page, "live-map-1-first-position")

    # It drives on: the same marker moves, in the DOM and in Leaflet's layer.
    next_lon, next_lat = coordinates[min(len(coordinates) - 1, 60)]
    body = {
        "positions": [{"lat": next_lat, "lon": next_lon, "heading": 180, "recorded_at": timezone.now().isoformat()}]
    }
    assert _post(daphne_url, "/api/driver/positions/", token, body) == 202
    wait_for_js(
        page,
        f"document.querySelector(\".vehicle-icon[data-driver='{driver_a.pk}']\").dataset.lat === '{next_lat:.6f}'",
        timeout_ms=10_000,
    )
    assert _marker_position(page, driver_a.pk) == pytest.approx([next_lat, next_lon])
    assert marker.bounding_box() != box_before
    assert page.locator(".vehicle-icon").count() == 1

    # A failed delivery: an alert in the list, and the stop turns red.
    stop = Stop.objects.filter(route=dispatched_route).order_by("sequence").first()
    assert _post(daphne_url, f"/api/driver/stops/{stop.pk}/fail/", token, {"reason": "not_home"}) == 200
    alert_item = page.locator(".alert-item.alert-failed")
    alert_item.wait_for(timeout=10_000)
    assert stop.order.reference in alert_item.inner_text() and "nobody home" in alert_item.inner_text()
    page.wait_for_selector(f"path[data-order='{stop.order_id}'][data-status='failed']", timeout=10_000)
    screenshot(page, "live-map-2-failed-delivery-alert")

    # The dispatcher deals with it.
    alert_item.locator("button", has_text="Resolve").click()
    alert_item.wait_for(state="detached", timeout=10_000)
    assert Alert.objects.get(kind=Alert.Kind.FAILED).resolved_by == dispatcher_a

    # Reloaded with the van already on the road: it is drawn where it was last seen.
    page.reload()
    page.wait_for_selector("#live-connection[data-state=live]", timeout=20_000)
    assert marker.get_attribute("data-lat") == f"{next_lat:.6f}"

    # At phone width the page stacks: the map on top, the alerts below, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "live-map-3-phone")
    assert errors == []
    context.close()
