"""A manager in a real browser: draws a zone on the admin's map and saves it, then edits one hour
of a traffic profile and watches the chart follow."""

import json

import pytest
from django.core import mail

from customers.models import NotificationTemplate
from dispatch.models import Zone
from routes.models import TrafficProfile
from tests.browser.conftest import wait_for_js
from tests.browser.test_content_security_policy import RECORD_VIOLATIONS
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


def _admin_log_in(page, base_url: str, username: str, next_path: str) -> None:
    page.goto(f"{base_url}/admin/login/?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{base_url}{next_path}")


def test_it_draws_a_zone_on_the_map_and_edits_a_traffic_hour(
    browser, live_server, live_settings, manager, depot_a, screenshot
):
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.add_init_script(RECORD_VIOLATIONS)  # the map's frame runs under the admin page's policy
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    _admin_log_in(page, live_server.url, manager.username, "/admin/dispatch/zone/add/")

    page.fill("#id_code", "vaduz-nord")
    page.fill("#id_name", "Vaduz Nord")
    page.fill("#id_color", "#16a34a")
    map_frame = page.frame_locator(".zone-map-frame")
    map_frame.locator(".leaflet-draw-draw-polygon").click()
    surface = map_frame.locator(".leaflet-container")
    box = surface.bounding_box()
    corners = [(0.35, 0.3), (0.65, 0.32), (0.62, 0.68), (0.38, 0.7)]  # around the depot, in the middle
    for x, y in corners:
        surface.click(position={"x": box["width"] * x, "y": box["height"] * y})
        page.wait_for_timeout(150)  # two quick clicks would be a double-click, which ends the drawing
    # Clicking the first corner again closes the area.
    map_frame.locator(".leaflet-marker-icon.leaflet-editing-icon").first.click()
    wait_for_js(page, "document.getElementById('id_polygon').value.length > 0")
    assert page.inner_text("[data-zone-status]") == "Area with 4 corners."
    drawn = json.loads(page.input_value("#id_polygon"))
    assert drawn["type"] == "Polygon" and len(drawn["coordinates"][0]) == 5
    map_document = page.frame_locator(".zone-map-frame").owner.element_handle().content_frame()
    assert page.evaluate("window.__cspViolations") == [] and map_document.evaluate("window.__cspViolations") == []
    screenshot(page, "admin-zone-drawn")

    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/dispatch/zone/")
    zone = Zone.objects.get(code="vaduz-nord")
    assert zone.polygon == drawn and zone.color == "#16a34a"
    ring = zone.polygon["coordinates"][0]
    assert ring[0] == ring[-1]
    # The depot sits inside the area drawn around it, in GeoJSON's [lon, lat] order.
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    assert min(lons) < depot_a.lon < max(lons) and min(lats) < depot_a.lat < max(lats)

    # The saved zone opens on its polygon, editable.
    page.goto(f"{live_server.url}/admin/dispatch/zone/{zone.pk}/change/")
    frame = page.frame_locator(".zone-map-frame").owner.element_handle().content_frame()
    map_window = "document.querySelector('.zone-map-frame').contentWindow"
    wait_for_js(page, f"{map_window}.DispatchMap && {map_window}.DispatchMap.layers.zone !== undefined")
    assert frame.evaluate("DispatchMap.layers.zone.getLayers().length") == 1

    profile = TrafficProfile.objects.get(road_class="primary", day_type="weekday")
    page.goto(f"{live_server.url}/admin/routes/trafficprofile/{profile.pk}/change/")
    assert page.locator("svg[data-chart] rect.bar").count() == 24
    assert "very-slow" not in page.get_attribute("svg[data-chart] rect.bar[data-hour='10']", "class")
    page.fill("#id_hourly_factors_10", "0,45")
    assert "very-slow" in page.get_attribute("svg[data-chart] rect.bar[data-hour='10']", "class")  # followed the typing
    page.fill("#id_hourly_factors_11", "fast")
    assert "invalid" in page.get_attribute("#id_hourly_factors_11", "class")
    assert "invalid" in page.get_attribute("svg[data-chart] rect.bar[data-hour='11']", "class")
    screenshot(page, "admin-traffic-profile")
    page.click("input[name=_save]")  # the server names the hour too
    page.wait_for_selector(".errorlist")
    assert "Hour 11–12 h: 'fast' is not a number" in page.inner_text(".errorlist")
    page.fill("#id_hourly_factors_11", "0.8")
    page.click("input[name=_save]")
    page.wait_for_url(f"{live_server.url}/admin/routes/trafficprofile/")
    profile.refresh_from_db()
    assert profile.hourly_factors[10] == 0.45 and profile.hourly_factors[11] == 0.8
    assert not errors, json.dumps(errors)
    context.close()


def test_the_template_preview_follows_the_typing_and_sends_one_test(
    browser, live_server, live_settings, manager, screenshot
):
    manager.email = "mia.manager@example.com"
    manager.save()
    template = NotificationTemplate.objects.get(event="scheduled", channel="sms", language="de")
    email_template = NotificationTemplate.objects.get(event="scheduled", channel="email", language="de")
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    path = f"/admin/customers/notificationtemplate/{template.pk}/change/"
    _admin_log_in(page, live_server.url, manager.username, path)
    assert "zwischen 10:00 und 12:00 Uhr" in page.inner_text("[data-preview-body]")
    page.fill("#id_body", "Hallo {{ name }}, heute {{ window_start }}–{{ window_end }} – bis gleich!")
    page.wait_for_selector("[data-preview-body]:has-text('Hallo Anna Schädler, heute 10:00–12:00')")
    assert "UCS-2" in page.inner_text("[data-preview-sms]")  # the en dash
    # This manager has no phone: the SMS test is refused up front, with the reason.
    assert page.is_disabled("[data-test-send]")
    assert "no phone number" in page.inner_text("[data-test-result]")
    screenshot(page, "admin-template-preview")

    page.goto(f"{live_server.url}/admin/customers/notificationtemplate/{email_template.pk}/change/")
    page.fill("#id_subject", "Test {{ reference }}")
    page.click("[data-test-send]")
    page.wait_for_selector("[data-test-result].ok")
    assert page.inner_text("[data-test-result]") == "Sent to mia.manager@example.com by E-mail."
    (message,) = mail.outbox
    assert message.to == ["mia.manager@example.com"] and message.subject.startswith("[Test] Test LI-")
    assert not errors, json.dumps(errors)
    context.close()
