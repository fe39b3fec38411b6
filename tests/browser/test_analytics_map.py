"""The analytics page's lateness map in a real browser: the compact point data is drawn and read.

In the browser run (tests/browser): Playwright's event loop and DJANGO_ALLOW_ASYNC_UNSAFE must not
leak into the other tests.
"""

import pytest
from django.conf import settings as django_settings
from django.test import Client

from tests.analytics.conftest import DAY, _empty_cache, costed_vehicle, day_of_depot_a  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies


def test_it_draws_every_delivery_with_its_lateness_and_popup(browser, live_server, live_settings, day_of_depot_a,  # noqa: F811
                                                             manager):  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    session = Client()
    session.force_login(manager)  # the login page is tested elsewhere; here the session cookie will do
    cookie = session.cookies[django_settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_server.url}/analytics/?from={DAY}&to={DAY}")
    map_frame = page.frame_locator("iframe.analytics-map >> nth=0")  # the lateness map (the learned-speed map follows)
    map_frame.locator(".leaflet-container").wait_for(timeout=30_000)
    frame = next(f for f in page.frames if f != page.main_frame)
    frame.wait_for_function("window.DispatchMap && window.DispatchMap.layers.lateness")
    # O1 on time, O2 20 min late, O3 failed, O4 late (delivered at the second attempt).
    colours = frame.evaluate("DispatchMap.layers.lateness.getLayers().map((m) => m.options.fillColor).sort()")
    assert colours == sorted(["#16a34a", "#ea580c", "#111827", "#b91c1c"])
    frame.evaluate("DispatchMap.layers.lateness.getLayers()[0].openPopup()")
    popup = map_frame.locator(".map-popup")
    popup.wait_for(timeout=10_000)
    assert popup.locator(".map-popup-title").inner_text().startswith("O")
    assert "Day" in popup.inner_text() and str(DAY) in popup.inner_text()
    assert not errors
    context.close()
