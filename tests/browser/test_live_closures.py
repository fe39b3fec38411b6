"""A dispatcher watches the live map while roads are closed and a route is re-planned, in a real browser.

The live map draws each closure as it is drawn (active or announced, with its reason) and drops it
when lifted; a re-plan that changes a running route marks that route; the closures page lists and
draws the routes running today. The server is daphne in a child process (tests/browser/test_live_map.py).
"""

import json
import urllib.request
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.authtoken.models import Token

from routes.models import Plan
from tests.browser.conftest import log_in, wait_for_js
from tests.browser.test_live_map import daphne_url  # noqa: F401 - the fixture for these tests
from tests.live_map.conftest import dispatched_route, today_at  # noqa: F401 - the fixture for these tests

pytestmark = pytest.mark.django_db(transaction=True)

# A short stretch of road in Schaan, away from the Vaduz stops of the dispatched route.
SCHAAN_ROAD = {"type": "LineString", "coordinates": [[9.5095, 47.1650], [9.5105, 47.1655]]}


def _api(url, method, path, token, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


@pytest.fixture
def morning_route(request):
    """dispatched_route planned and dispatched at 09:30 today (in this process: the server keeps the real
    clock), so that a re-plan of the rest of the day has a shift to plan in whatever the hour of the run."""
    with time_machine.travel(today_at(9, 30), tick=True):
        return request.getfixturevalue("dispatched_route")


def test_it_draws_closures_and_marks_the_route_a_replan_changed(
    browser,
    daphne_url,  # noqa: F811 - the fixture imported above
    morning_route,
    dispatcher_a,
    driver_a,
    screenshot,
):
    token = Token.objects.get_or_create(user=dispatcher_a)[0].key
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error) + (error.stack or "")))
    log_in(page, daphne_url, dispatcher_a.username)
    page.goto(f"{daphne_url}/live/")
    page.wait_for_selector("#live-connection[data-state=live]", timeout=20_000)
    assert page.locator("#closure-list li").count() == 0
    assert page.locator("#vehicle-list li[data-changed]").count() == 0

    # A road closed now, and one announced for later: both appear with their reasons while the page is open.
    later = (timezone.now() + timedelta(hours=2)).isoformat()
    status, active = _api(
        daphne_url, "POST", "/api/closures/", token, {"geometry": SCHAAN_ROAD, "reason": "Burst water main"}
    )
    assert status == 201
    status, announced = _api(
        daphne_url,
        "POST",
        "/api/closures/",
        token,
        {"geometry": SCHAAN_ROAD, "reason": "Market day", "starts_at": later},
    )
    assert status == 201
    page.wait_for_selector(f"#closure-list li[data-closure='{announced['id']}']", timeout=10_000)
    active_row = page.locator(f"#closure-list li[data-closure='{active['id']}']")
    assert "Burst water main" in active_row.inner_text() and "active" in active_row.inner_text().lower()
    announced_row = page.locator(f"#closure-list li[data-closure='{announced['id']}']")
    assert "Market day" in announced_row.inner_text() and "announced" in announced_row.inner_text().lower()
    # On the map: a red line each, the announced one dashed.
    assert page.locator(f"path[data-closure='{active['id']}'][data-closure-state='active']").count() == 1
    dashed = page.locator(f"path[data-closure='{announced['id']}'][data-closure-state='announced']")
    assert dashed.count() == 1 and dashed.get_attribute("stroke-dasharray")
    active_row.locator("button.closure-reason").click()  # the map frames it
    page.evaluate(
        f"(() => {{ const layer = window.LiveMap.closures[{active['id']}].layer; "
        "layer.openTooltip(layer.getBounds().getCenter()); })()"
    )
    page.wait_for_selector(".leaflet-tooltip:has-text('Closed: Burst water main')", timeout=5_000)
    screenshot(page, "live-closures-1-drawn")

    # Lifting the announced one takes it off the map.
    status, _ = _api(daphne_url, "DELETE", f"/api/closures/{announced['id']}/", token)
    assert status == 204
    page.wait_for_selector(f"#closure-list li[data-closure='{announced['id']}']", state="detached", timeout=10_000)
    assert page.locator(f"path[data-closure='{announced['id']}']").count() == 0

    # The driver delivers the first stop and stays there; the dispatcher re-plans the rest of the day.
    # (Through the server: this process's event loop belongs to Playwright.) The server re-plans on its
    # own clock: a morning re-plan drives on from the first stop, an evening one finds the shift over
    # and takes stops off; either way the route changed.
    driver_token = Token.objects.get_or_create(user=driver_a.user)[0].key
    first = morning_route.stops.select_related("order").order_by("sequence").first()
    for action, body in (("arrive", {}), ("deliver", {"recipient_name": "B. Frick"})):
        assert _api(daphne_url, "POST", f"/api/driver/stops/{first.pk}/{action}/", driver_token, body)[0] == 200
    position = {"lat": first.order.lat, "lon": first.order.lon, "recorded_at": timezone.now().isoformat()}
    assert _api(daphne_url, "POST", "/api/driver/positions/", driver_token, {"positions": [position]})[0] == 202
    status, queued = _api(
        daphne_url, "POST", f"/api/plans/{morning_route.plan_id}/replan/", token, {"reason": "driver called in"}
    )
    assert status == 202
    replan = Plan.objects.get(pk=queued["id"])
    assert replan.status == Plan.Status.DONE and replan.dispatched_at is not None, replan.error

    # plan.updated reaches the page, which reads the new version and marks the route it changed.
    row = page.locator("#vehicle-list li[data-changed='true']")
    row.wait_for(timeout=15_000)
    assert "re-planned" in row.inner_text() and "driver called in" in row.inner_text()
    assert f"v{morning_route.plan.version}→v{replan.version}" in row.inner_text()
    wait_for_js(page, "document.querySelectorAll('path[data-changed-route]').length === 1", timeout_ms=5_000)
    # The closure drawn before is still there after the page re-read its state.
    assert page.locator(f"path[data-closure='{active['id']}']").count() == 1
    screenshot(page, "live-closures-2-replanned")

    # The closures page lists the running route and draws it under the closures.
    page.goto(f"{daphne_url}/closures/")
    running = page.locator("#running-routes li[data-route]")
    assert (
        running.count() == 1
        and "Dana Driver" in running.inner_text()
        and f"plan v{replan.version}" in running.inner_text()
    )
    frame = page.frame_locator(".map-frame").owner.element_handle().content_frame()
    wait_for_js(frame, "window.DispatchMap && DispatchMap.layers.routes && true", timeout_ms=10_000)
    assert frame.evaluate("Object.keys(DispatchMap.layers.routes.byId).length") == 1
    assert frame.evaluate("Object.keys(DispatchMap.layers.closures.byId)") == [str(active["id"])]
    screenshot(page, "live-closures-3-closures-page")
    assert errors == []
    context.close()
