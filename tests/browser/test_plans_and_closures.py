"""A dispatcher in a real browser: logs in, asks for a plan, waits for it, draws a road closure."""

import json
import re
from datetime import time

import pytest

from dispatch.models import Vehicle
from routes.models import Plan, RoadClosure
from tests.browser.conftest import log_in
from tests.routes.test_plans import DAY, VADUZ_POINTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_settings(settings):
    # The live server runs the optimization in its own thread right after the request commits.
    settings.TASKS_RUN_INLINE = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


@pytest.fixture
def day_of_orders(road_network, depot_a, vehicle_a, driver_a):  # noqa: F811 - road_network comes from conftest
    from dispatch.models import Order

    Vehicle.objects.update(cost_per_km=0.4, cost_per_hour=30, fixed_cost=40, shift_start=time(8), shift_end=time(17))
    for index, (lat, lon) in enumerate(VADUZ_POINTS):
        Order.objects.create(reference=f"R{index}", date=DAY, depot=depot_a, lat=lat, lon=lon, weight_kg=2 + index)


def test_it_plans_the_day_and_draws_a_closure(
    browser, live_server, live_settings, day_of_orders, dispatcher_a, screenshot
):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, dispatcher_a.username)

    page.goto(f"{live_server.url}/plans/?date={DAY}")
    page.click("#plan-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/plans/\d+/$"))
    page.wait_for_selector("table.routes", timeout=120_000)
    plan = Plan.objects.get()
    assert plan.status == Plan.Status.DONE
    map_frame = page.frame_locator(".map-frame")
    map_frame.locator(".stop-marker").first.wait_for()
    assert map_frame.locator(".leaflet-control-attribution").inner_text().find("OpenStreetMap") >= 0
    # The map draws on a canvas: count what its layers hold rather than SVG paths.
    frame = page.frame_locator(".map-frame").owner.element_handle().content_frame()
    assert frame.evaluate("Object.keys(DispatchMap.layers.routes.byId).length") == plan.routes.count()
    screenshot(page, "browser-plan")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#dispatch-button")
    page.wait_for_selector(".badge.plan-dispatched")
    plan.refresh_from_db()
    assert plan.dispatched_at is not None

    page.goto(f"{live_server.url}/closures/")
    map_frame = page.frame_locator(".map-frame")
    map_frame.locator(".leaflet-draw-draw-polyline").click()
    surface = map_frame.locator(".leaflet-container")
    box = surface.bounding_box()
    points = [
        (box["width"] * 0.3, box["height"] * 0.7),
        (box["width"] * 0.45, box["height"] * 0.75),
    ]  # clear of the depot
    for attempt in range(3):
        for x, y in points:
            surface.click(position={"x": x, "y": y})
        surface.click(position={"x": points[-1][0], "y": points[-1][1]})  # the last point again finishes the line
        try:
            page.wait_for_selector("#closure-shape.ok", timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - a slow machine can merge two clicks into a double-click: draw again
            if attempt == 2:
                raise
            map_frame.locator(".leaflet-draw-draw-polyline").click()

    page.click("#closure-form button[type=submit]")  # no reason yet: the API's error is shown
    page.wait_for_selector("#closure-errors:not([hidden])")
    assert "reason" in page.inner_text("#closure-errors")

    page.fill("input[name=reason]", "Burst water main")
    page.click("#closure-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/closures/\?added=\d+$"))
    closure = RoadClosure.objects.get()
    assert closure.reason == "Burst water main" and closure.created_by == dispatcher_a
    assert closure.geometry["type"] == "LineString" and len(closure.geometry["coordinates"]) == 2
    assert page.locator(f'[data-closure="{closure.id}"]').is_visible()
    frame = page.frame_locator(".map-frame").owner.element_handle().content_frame()
    assert frame.evaluate("Object.keys(DispatchMap.layers.closures.byId)") == [str(closure.id)]
    screenshot(page, "browser-closures")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f'[data-closure="{closure.id}"] [data-lift]')
    page.wait_for_url(re.compile(r".*/closures/\?lifted=\d+$"))
    closure.refresh_from_db()
    assert closure.lifted_at is not None
    assert not errors, json.dumps(errors)
    context.close()
