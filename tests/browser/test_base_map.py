"""Every map draws the region's streets from the app's own tiles, in a real browser (WebGL: SwiftShader).

For each map page — today, a plan, closures, live, the order page, the customer's tracking page,
analytics — the tiles the map asks for are answered, MapLibre reports the base map drawn, and a
screenshot of the map with the overlays hidden holds the base map's colours, not a blank background.
Close in, the map has buildings, street names and house numbers; the tracking page asks nothing of
another site. The live map reads at a glance: it opens on the depot's routes, each stop in its
route's colour with its status, stops gathered into clusters while zoomed out, drivers' names never
on top of each other.
"""

import io
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from PIL import Image

from dispatch.fleet.services import driver_create
from dispatch.models import Order
from routes.models import Route, Stop
from tests.browser.conftest import wait_for_js
from tests.browser.test_content_security_policy import RECORD_VIOLATIONS
from tests.customers.conftest import token_of
from tests.dispatch.test_basemap import built_tiles  # noqa: F401 - the tiles fixture
from tests.live_map.conftest import dispatched_route  # noqa: F401 - the plan fixture

pytestmark = pytest.mark.django_db(transaction=True)

# Leaflet's panes and controls drawn over the base map: hidden for the pixel count.
OVERLAYS = (
    ".leaflet-overlay-pane, .leaflet-marker-pane, .leaflet-shadow-pane, .leaflet-tooltip-pane,"
    " .leaflet-popup-pane, .leaflet-control-container"
)
BACKGROUND = (0xF2, 0xEF, 0xE9)  # static/js/basemap.js: BACKGROUND

# Resolves after the page's next two animation frames (what is scheduled for the next one has run).
NEXT_FRAMES = "new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)))"


@pytest.fixture
def live_settings(settings, built_tiles):  # noqa: F811 - the fixture imported above
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies
    settings.MAP_TILES_DIR = built_tiles
    settings.MAP_TILE_URL = ""
    settings.TASKS_RUN_INLINE = True
    settings.CELERY_TASK_ALWAYS_EAGER = True


def _office_context(browser, live_server, user, **options):
    """A browser context logged in as `user` (the login page has its own tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    session = Client()
    session.force_login(user)
    cookie = session.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    context.add_init_script(RECORD_VIOLATIONS)
    return context


def _map_frame(page, iframe_selector):
    if iframe_selector is None:
        return page.main_frame
    page.wait_for_selector(iframe_selector, timeout=30_000)
    return page.locator(iframe_selector).first.element_handle().content_frame()


def _wait(frame, expression: str, timeout_ms: int = 60_000, what: str = "") -> None:
    deadline = time.monotonic() + timeout_ms / 1000
    while not frame.evaluate(expression):
        assert time.monotonic() < deadline, f"{what}: still false after {timeout_ms} ms: {expression}"
        frame.wait_for_timeout(150)


def _base_map_pixels(page, frame, iframe_selector) -> tuple[float, int]:
    """(share of the map's pixels that are not the bare background, number of distinct colours)."""
    frame.evaluate(f"document.querySelectorAll({OVERLAYS!r}).forEach((el) => {{ el.style.visibility = 'hidden'; }})")
    container = (page.frame_locator(iframe_selector) if iframe_selector else page).locator(".leaflet-container").first
    image = Image.open(io.BytesIO(container.screenshot())).convert("RGB")
    frame.evaluate(f"document.querySelectorAll({OVERLAYS!r}).forEach((el) => {{ el.style.visibility = ''; }})")
    colours = image.getcolors(maxcolors=image.width * image.height)  # [(count, (r, g, b))]
    drawn = sum(count for count, rgb in colours if max(abs(rgb[i] - BACKGROUND[i]) for i in range(3)) > 6)
    return drawn / (image.width * image.height), len(colours)


def _check_base_map(page, tile_answers, name, iframe_selector=None) -> None:
    frame = _map_frame(page, iframe_selector)
    _wait(
        frame,
        "document.querySelector('.leaflet-container') &&"
        " document.querySelector('.leaflet-container').getAttribute('data-base-map') === 'drawn'",
        what=f"{name}: base map drawn",
    )
    statuses = [status for status, _ in tile_answers]
    assert 200 in statuses, f"{name}: no tile answered 200 ({tile_answers[:5]})"
    assert set(statuses) <= {200, 204, 304}, f"{name}: tiles answered {sorted(set(statuses))}"
    features = frame.evaluate(
        "[...new Set(DispatchBaseMap.added[0].gl.queryRenderedFeatures().map((f) => f.layer.id))]"
    )
    assert {"road-major", "road-medium"} & set(features), f"{name}: no road drawn ({features})"
    assert frame.evaluate("DispatchBaseMap.added[0].errors") == [], name
    share, colours = _base_map_pixels(page, frame, iframe_selector)
    assert share > 0.25 and colours > 20, f"{name}: the map is bare ({share:.0%} drawn, {colours} colours)"
    attribution = frame.locator(".leaflet-control-attribution").inner_text()
    assert "OpenStreetMap" in attribution, name
    # MapLibre's worker, tiles and glyphs within the page's Content-Security-Policy.
    for document in {page.main_frame, frame}:
        assert document.evaluate("window.__cspViolations || []") == [], name


def test_every_map_page_draws_the_streets_from_the_apps_own_tiles(
    browser,
    live_server,
    live_settings,
    dispatched_route,  # noqa: F811 - the fixture imported above
    dispatcher_a,
    screenshot,
):
    context = _office_context(browser, live_server, dispatcher_a)
    page = context.new_page()
    errors, tile_answers = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: tile_answers.append((r.status, r.url)) if "/map/tiles/" in r.url else None)
    day = timezone.localdate()
    order = Stop.objects.filter(route=dispatched_route).order_by("sequence").first().order
    pages = [
        ("today", f"/?date={day}", ".map-frame"),
        ("plan", f"/plans/{dispatched_route.plan_id}/", ".map-frame"),
        ("closures", "/closures/", ".map-frame"),
        ("live", "/live/", None),
        ("order", f"/orders/{order.pk}/", "iframe.order-map"),
        ("analytics", f"/analytics/?from={day}&to={day}", "iframe.analytics-map >> nth=0"),
    ]
    for name, path, iframe_selector in pages:
        tile_answers.clear()
        page.goto(live_server.url + path)
        _check_base_map(page, tile_answers, name, iframe_selector)
        screenshot(page, f"base-map-{name}")
    assert not errors, errors
    context.close()


def test_the_tracking_page_draws_streets_houses_and_numbers_without_another_site(
    browser,
    live_server,
    live_settings,
    dispatched_route,  # noqa: F811 - the fixture imported above
    screenshot,
):
    order = Stop.objects.filter(route=dispatched_route).order_by("sequence").first().order
    Order.objects.filter(pk=order.pk).update(lat=47.1397, lon=9.5226)  # in Vaduz's old town
    host = urlsplit(live_server.url).netloc
    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    requests, errors, tile_answers = [], [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: tile_answers.append((r.status, r.url)) if "/map/tiles/" in r.url else None)
    page.goto(f"{live_server.url}/t/{token_of(order)}/")
    _check_base_map(page, tile_answers, "tracking")

    # Close in (Leaflet zoom 18): the houses, the street's name and the house numbers.
    page.evaluate("DispatchBaseMap.added[0].layer._map.setView([47.1397, 9.5226], 18, { animate: false })")
    _wait(page.main_frame, "DispatchBaseMap.added[0].gl.loaded()", what="close zoom loaded")
    page.wait_for_timeout(500)  # the labels' placement fades in
    _wait(
        page.main_frame,
        "(() => { const ids = new Set(DispatchBaseMap.added[0].gl.queryRenderedFeatures().map((f) => f.layer.id));"
        " return ids.has('building') && ids.has('street-name') && ids.has('house-number'); })()",
        timeout_ms=20_000,
        what="buildings, street names and house numbers at close zoom",
    )
    names = page.evaluate(
        "DispatchBaseMap.added[0].gl.queryRenderedFeatures({ layers: ['street-name'] })"
        ".map((f) => f.properties['name:latin'])"
    )
    assert any(names), names
    screenshot(page, "base-map-tracking-close")

    # Zoomed out to the valley: the Rhine.
    page.evaluate("DispatchBaseMap.added[0].layer._map.setView([47.14, 9.51], 12, { animate: false })")
    _wait(page.main_frame, "DispatchBaseMap.added[0].gl.loaded()", what="valley loaded")
    water = page.evaluate("DispatchBaseMap.added[0].gl.queryRenderedFeatures({ layers: ['water', 'waterway'] }).length")
    assert water > 0

    foreign = [url for url in requests if urlsplit(url).netloc != host and not url.startswith(("data:", "blob:"))]
    assert foreign == []
    assert not errors, errors
    context.close()


def test_the_live_map_reads_at_a_glance(
    browser,
    live_server,
    live_settings,
    dispatched_route,  # noqa: F811 - the fixture imported above
    dispatcher_a,
    depot_a,
    screenshot,
):
    # Three more vans standing in one yard, beside the route's driver: their names would cover each other.
    now = timezone.now()
    for index in range(3):
        driver = driver_create(username=f"yard{index}", password="x" * 12, name=f"Yard Driver {index}", depot=depot_a)
        driver.last_lat, driver.last_lon, driver.last_position_at = 47.1410 + index * 0.0002, 9.5215, now
        driver.save()
    route_driver = dispatched_route.driver
    route_driver.last_lat, route_driver.last_lon, route_driver.last_position_at = 47.1409, 9.5217, now
    route_driver.save()
    failed = Stop.objects.filter(route=dispatched_route).order_by("sequence").first()
    Order.objects.filter(pk=failed.order_id).update(status=Order.Status.FAILED)

    context = _office_context(browser, live_server, dispatcher_a)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/live/")
    _wait(page.main_frame, "window.LiveMap && window.LiveMap.map", what="live map")

    # Opens on the depot's route: all of it in view, and not a level further out than it needs.
    fit = page.evaluate(
        """(() => {
          const map = window.LiveMap.map;
          const route = Object.values(window.LiveMap.routes)[0];
          const bounds = L.latLngBounds(route.data.coordinates);
          return { contains: map.getBounds().pad(0.01).contains(bounds), zoom: map.getZoom(),
                   fitZoom: map.getBoundsZoom(bounds, false, L.point(48, 48)), color: route.data.color };
        })()"""
    )
    assert fit["contains"], fit
    assert fit["fitZoom"] - fit["zoom"] <= 0.5, fit

    # Each stop in its route's colour, its status marked; the failed one stands out, never clustered.
    stops = page.evaluate(
        "Object.values(Object.values(window.LiveMap.routes)[0].stops)"
        ".map((c) => [c.stop.status, c.options.fillColor, c.options.color])"
    )
    assert len(stops) == 6
    assert {fill for _, fill, _ in stops} == {fit["color"]}
    assert [color for status, _, color in stops if status == "failed"] == ["#dc2626"]
    assert {color for status, _, color in stops if status != "failed"} == {"#ffffff"}
    failed_marker = page.locator(f"path[data-order='{failed.order_id}'][data-status='failed']")
    assert failed_marker.get_attribute("data-route-color") == fit["color"]

    # Zoomed out, the stops gather into clusters; zoomed in, each stands alone.
    page.evaluate("window.LiveMap.map.setView(window.LiveMap.map.getCenter(), 10, { animate: false })")
    page.wait_for_selector(".stop-cluster", timeout=10_000)
    shown_out = page.locator("path[data-order]").count()
    clustered = page.evaluate(
        "[...document.querySelectorAll('.stop-cluster-count')].reduce((n, el) => n + Number(el.textContent), 0)"
    )
    assert clustered >= 2 and shown_out + clustered == 6, (shown_out, clustered)
    page.evaluate("window.LiveMap.map.setView(window.LiveMap.map.getCenter(), 16, { animate: false })")
    wait_for_js(page, "document.querySelectorAll('.stop-cluster').length === 0", timeout_ms=10_000)

    # Four vans in one yard: the names shown never overlap, the others wait for a closer look.
    page.evaluate("window.LiveMap.map.setView([47.1410, 9.5216], 13, { animate: false })")
    # The labels are placed in the next animation frame after a move: wait for two frames rather
    # than a fixed time a busy renderer may overrun.
    page.evaluate(NEXT_FRAMES)
    boxes = [label.bounding_box() for label in page.locator(".vehicle-icon .vehicle-label").all() if label.is_visible()]
    assert 1 <= len(boxes) < 4
    for index, a in enumerate(boxes):
        for b in boxes[index + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
            )  # fmt: skip
            assert apart, (a, b)
    page.evaluate("window.LiveMap.map.setView([47.1410, 9.5216], 19, { animate: false })")
    shown = "document.querySelectorAll('.vehicle-icon[data-label=\"shown\"]').length"
    wait_for_js(page, f"{shown} > {len(boxes)}", timeout_ms=10_000)
    screenshot(page, "live-map-at-a-glance")
    assert not errors, errors
    context.close()


def test_the_driver_app_draws_the_streets_under_the_route_and_says_when_they_are_missing(
    browser,
    live_server,
    live_settings,
    dispatched_route,  # noqa: F811 - the fixture imported above
    screenshot,
):
    # The phone at 390x844, its session as after logging in (the login page has its own tests).
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    session = Client()
    session.force_login(dispatched_route.driver.user)
    cookie = session.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    errors, tile_answers = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: tile_answers.append((r.status, r.url)) if "/map/tiles/" in r.url else None)
    page.goto(f"{live_server.url}/driver/")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()  # controlled by the service worker from now on: it keeps the page and the map's files
    _wait(page.main_frame, "navigator.serviceWorker.controller !== null", what="service worker")
    page.click("#view-map")
    _check_base_map(page, tile_answers, "driver")
    assert page.locator("#route-map .driver-stop-marker").count() == 6
    assert page.locator("#route-map-note").is_hidden()
    screenshot(page, "base-map-driver")

    # Without signal the map says that streets may be missing; opened again without signal, it draws
    # the route and stops it saved, asks for no tile, and says the streets come back with the signal.
    context.set_offline(True)
    page.wait_for_selector("#route-map-note:not([hidden])")
    assert "No signal" in page.locator("#route-map-note").inner_text()
    tile_answers.clear()
    page.reload()
    page.wait_for_selector("#route-map .driver-stop-marker")
    assert page.locator("#route-map .driver-stop-marker").count() == 6
    assert page.locator("#route-map .leaflet-overlay-pane path").count() >= 2
    assert "signal returns" in page.locator("#route-map-note").inner_text()
    assert page.locator("#route-map").get_attribute("data-base-map") is None and tile_answers == []
    screenshot(page, "base-map-driver-offline")
    context.set_offline(False)
    _wait(
        page.main_frame,
        "document.getElementById('route-map').getAttribute('data-base-map') === 'drawn'",
        what="driver: streets back with the signal",
    )
    assert page.locator("#route-map-note").is_hidden()
    assert not errors, errors
    context.close()


def test_the_order_page_draws_its_route_and_driver_over_the_streets(
    browser,
    live_server,
    live_settings,
    dispatched_route,  # noqa: F811 - the fixture imported above
    dispatcher_a,
    screenshot,
):
    stops = list(Stop.objects.filter(route=dispatched_route).order_by("sequence").select_related("order"))
    order = stops[2].order
    driver = dispatched_route.driver
    driver.last_lat, driver.last_lon = 47.1409, 9.5217
    driver.last_position_at = timezone.now() - timedelta(minutes=4)
    driver.save()
    # On the road since an hour ago, whatever the time the suite runs at (the plan says 07:00).
    Route.objects.filter(pk=dispatched_route.pk).update(start=timezone.now() - timedelta(hours=1))
    context = _office_context(browser, live_server, dispatcher_a)
    page = context.new_page()
    errors, tile_answers = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: tile_answers.append((r.status, r.url)) if "/map/tiles/" in r.url else None)
    page.goto(f"{live_server.url}/orders/{order.pk}/")
    _check_base_map(page, tile_answers, "order", "iframe.order-map")
    frame = _map_frame(page, "iframe.order-map")
    drawn = frame.evaluate(
        """(() => {
          const route = Object.values(DispatchMap.layers.routes.byId)[0];
          const markers = [];
          route.eachLayer((part) => { if (part.stop) markers.push([part.stop.sequence, part.options.opacity,
            part.getElement().querySelector('span').className]); });
          return { markers: markers.sort((a, b) => a[0] - b[0]), line: route.getBounds().isValid(),
                   driver: DispatchMap.layers.driverPosition.driver.label };
        })()"""
    )
    assert drawn["line"] and len(drawn["markers"]) == 6
    assert [opacity for _, opacity, _ in drawn["markers"]] == [0.45, 0.45, 1, 0.45, 0.45, 0.45]
    assert "focus" in drawn["markers"][2][2]
    assert drawn["driver"].startswith(driver.name) and "4 min ago" in drawn["driver"]
    assert "4 min ago" in page.locator("[data-field=driver-position]").inner_text()
    screenshot(page, "base-map-order-route")
    assert not errors, errors
    context.close()
