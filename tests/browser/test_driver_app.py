"""A driver in a real browser at phone size: logs in, sees the dispatched route, arrives, delivers with a
signature drawn on the canvas, and records an arrival while offline that is sent when the signal returns,
with the time of the tap."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from dispatch.models import DriverPosition, Order, OrderStatusChange, ProofOfDelivery
from routes.plans.services import plan_dispatch
from tests.browser.conftest import log_in, wait_for_js
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
    return list(plan.routes.get(vehicle=vehicle_a).stops.order_by("sequence").select_related("order"))


def _wait_for_queue_to_empty(page):
    wait_for_js(page, "window.DriverApp && DriverApp.state.queue.length === 0 && !DriverApp.state.sending")


def _wait_for_server(page, check, timeout_s: float = 30) -> None:
    """The phone queues an action before sending it, so an empty queue right after a click may be
    the moment before: wait for the server to have it too."""
    _wait_for_queue_to_empty(page)
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the server never got the phone's action"
        page.wait_for_timeout(200)


def _status_is(order_id: int, status: str):
    return lambda: Order.objects.filter(pk=order_id, status=status).exists()


def test_it_lets_a_driver_arrive_and_deliver_with_a_signature(
    browser, live_server, live_settings, route_of_driver_a, driver_a, screenshot
):
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
        geolocation={"latitude": 47.1399, "longitude": 9.5213}, permissions=["geolocation"],
    )  # fmt: skip
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, live_server.url, driver_a.user.username, lands_on="/driver/")
    first, second, third = route_of_driver_a

    page.wait_for_selector("#next:not([hidden])")
    assert page.locator("#next-title").inner_text() == first.order.customer_name
    assert page.locator("#stops li").count() == 3
    assert page.locator("#call").get_attribute("href") == "tel:" + first.order.phone.replace(" ", "")
    assert page.locator("#navigate").get_attribute("href").startswith(f"geo:{first.order.lat},{first.order.lon}")
    assert page.locator("#progress-count").inner_text() == "0 of 3 stops done"
    screenshot(page, "driver-route")

    page.click("#action-arrive")
    _wait_for_server(page, _status_is(first.order_id, "arrived"))
    assert page.locator("#action-arrive").is_hidden()

    page.click("#action-deliver")
    canvas = page.locator("#signature")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + 30, box["y"] + box["height"] * 0.7)
    page.mouse.down()
    for step in range(1, 25):
        page.mouse.move(box["x"] + 30 + step * 12, box["y"] + box["height"] * (0.7 - 0.4 * ((step % 6) / 6)))
    page.mouse.up()
    page.fill("#deliver-note", "Signed at the door")
    screenshot(page, "driver-signature")
    page.click("#deliver-submit")
    _wait_for_server(page, _status_is(first.order_id, "delivered"))

    order = Order.objects.get(pk=first.order_id)
    assert order.status == "delivered"
    proof = ProofOfDelivery.objects.get(order=order)
    assert proof.signature.name.endswith(".png") and proof.signature.read().startswith(b"\x89PNG\r\n\x1a\n")
    assert proof.note == "Signed at the door" and proof.driver == driver_a
    assert page.locator("#next-title").inner_text() == second.order.customer_name
    assert "stop-done" in page.locator("#stops li").first.get_attribute("class")
    assert page.locator("#progress-count").inner_text() == "1 of 3 stops done"

    # Without signal: the arrival waits in the queue (the page says so) and goes out when the signal returns,
    # recorded at the time of the tap, not when the server got it.
    context.set_offline(True)
    tapped_from = timezone.now()
    page.click("#action-arrive")
    page.wait_for_selector("#pending:not([hidden])")
    tapped_by = timezone.now()
    assert "#2 arrived" in page.locator("#pending-text").inner_text()
    assert page.locator("#connection").inner_text() == "Offline"
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar is drawn where the page is scrolled
    screenshot(page, "driver-offline")
    assert Order.objects.get(pk=second.order_id).status == "dispatched"
    page.wait_for_timeout(3000)  # a while in the dead zone
    signal_back = timezone.now()
    context.set_offline(False)
    _wait_for_server(page, _status_is(second.order_id, "arrived"))
    (arrived,) = OrderStatusChange.objects.filter(order_id=second.order_id, to_status="arrived")
    # The page's clock is not the server's (with the clock pinned they differ by some milliseconds):
    # a second either way, far from the three seconds offline.
    assert tapped_from - timedelta(seconds=1) <= arrived.changed_at <= tapped_by + timedelta(seconds=1)
    assert arrived.received_at >= signal_back

    page.click("#action-fail")
    page.check("input[name=reason][value=not_home]")
    page.click("#fail-submit")
    _wait_for_server(page, _status_is(second.order_id, "failed"))
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "driver-after-actions")

    # A photo from the camera input: shrunk in the page to a JPEG and sent with the recipient's name.
    page.click("#action-deliver")
    page.fill("#recipient", "Neighbour at no. 4")
    page.set_input_files("#photo", files=[{"name": "door.png", "mimeType": "image/png", "buffer": _camera_photo()}])
    page.wait_for_selector("#photo-preview:not([hidden])")
    page.click("#deliver-submit")
    _wait_for_server(page, ProofOfDelivery.objects.filter(order_id=third.order_id).exists)
    proof = ProofOfDelivery.objects.get(order_id=third.order_id)
    assert proof.recipient_name == "Neighbour at no. 4" and not proof.signature
    assert proof.photo.name.endswith(".jpg") and proof.photo.read().startswith(b"\xff\xd8\xff")
    assert page.locator("#done-all").is_visible()

    # The phone's position was sent (batched) to the positions endpoint.
    page.evaluate("DriverApp.flushPositions()")
    wait_for_js(page, "JSON.parse(localStorage.getItem('driver-positions') || '[]').length === 0")
    assert DriverPosition.objects.filter(driver=driver_a).exists()
    assert errors == []
    context.close()


def test_it_shows_a_banner_when_the_route_changes(
    browser, live_server, live_settings, route_of_driver_a, driver_a, vehicle_a, dispatcher_a, screenshot
):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.add_cookies([_session_cookie(live_server, driver_a.user)])
    page = context.new_page()
    page.goto(f"{live_server.url}/driver/")
    page.wait_for_selector("#next:not([hidden])")
    orders = [stop.order for stop in route_of_driver_a]
    revision = write_plan(
        day=timezone.localdate(), depot=driver_a.depot, version=2, routes={(vehicle_a, driver_a): orders[::-1]}
    )
    plan_dispatch(plan=revision, by=dispatcher_a)
    page.evaluate("DriverApp.refreshRoute()")
    page.wait_for_selector("#route-changed:not([hidden])")
    assert "version 2" in page.locator("#route-changed-text").inner_text()
    assert page.locator("#next-title").inner_text() == orders[2].customer_name
    screenshot(page, "driver-route-changed")
    context.close()


def test_it_sends_the_tap_time_corrected_for_a_phone_clock_running_ten_minutes_fast(
    browser, live_server, live_settings, route_of_driver_a, driver_a
):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_cookies([_session_cookie(live_server, driver_a.user)])
    page = context.new_page()
    page.clock.set_system_time(time.time() + 600)
    page.goto(f"{live_server.url}/driver/")
    page.wait_for_selector("#next:not([hidden])")

    # The first answer refuses the time (in the future); its Date header tells the page how far off
    # the phone is, and the page sends the action again with the tap time corrected. The header counts
    # whole seconds: a tap within a second of the plan's dispatch could be corrected to before it.
    page.wait_for_timeout(1500)
    tapped_from = timezone.now()
    page.click("#action-arrive")
    tapped_by = timezone.now()
    first = route_of_driver_a[0]
    _wait_for_server(page, _status_is(first.order_id, "arrived"))
    (arrived,) = OrderStatusChange.objects.filter(order_id=first.order_id, to_status="arrived")
    # The Date header counts whole seconds: the correction is right to about one second.
    assert tapped_from - timedelta(seconds=2) <= arrived.changed_at <= tapped_by + timedelta(seconds=1)
    assert page.evaluate("DriverApp.state.problems") == []
    assert abs(page.evaluate("DriverApp.state.clockOffsetMs") + 600_000) < 5_000
    context.close()


def _camera_photo() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (2400, 1800), "#88aacc").save(buffer, format="PNG")
    return buffer.getvalue()


def _session_cookie(live_server, user) -> dict:
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return {"name": settings.SESSION_COOKIE_NAME, "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": live_server.url}  # fmt: skip


def test_it_opens_from_the_service_worker_cache_without_signal(
    browser, live_server, live_settings, route_of_driver_a, driver_a, screenshot
):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    context.add_cookies([_session_cookie(live_server, driver_a.user)])
    page = context.new_page()
    page.goto(f"{live_server.url}/driver/")
    scope = page.evaluate("navigator.serviceWorker.ready.then((registration) => registration.scope)")
    assert scope == f"{live_server.url}/driver/"
    page.reload()  # now controlled by the worker, which keeps a copy of the page
    wait_for_js(page, "navigator.serviceWorker.controller !== null")
    page.click("#action-arrive")  # after the worker cached the page: its copy still says "to do"
    _wait_for_server(page, _status_is(route_of_driver_a[0].order_id, "arrived"))
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("#next:not([hidden])")
    assert page.locator("#stops li").count() == 3
    assert page.locator("#stops li .badge").first.inner_text() == "Arrived"  # what the phone saw last
    assert page.locator("#connection").inner_text() == "Offline"
    assert page.evaluate("getComputedStyle(document.querySelector('.next')).borderTopStyle") == "solid"  # CSS cached
    screenshot(page, "driver-offline-reload")
    context.close()


def test_it_shows_times_in_the_companys_zone_on_a_phone_set_to_another(
    browser, live_server, live_settings, route_of_driver_a, driver_a
):
    # A phone left on UTC (or abroad): the driver must read the times the customers were promised.
    context = browser.new_context(viewport=PHONE, timezone_id="America/New_York")
    page = context.new_page()
    log_in(page, live_server.url, driver_a.user.username, lands_on="/driver/")
    first = route_of_driver_a[0]
    page.wait_for_selector("#next:not([hidden])")
    expected = timezone.localtime(first.live_eta or first.eta).strftime("%H:%M")
    assert page.locator("#next-eta").inner_text() == expected
    context.close()
