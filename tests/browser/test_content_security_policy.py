"""Every main page in a real browser under its Content-Security-Policy: nothing refused, no script error.

A CSP violation breaks a page silently (a map that never draws, a button that does nothing), so
each page is opened as the person who uses it, its maps (folium documents in srcdoc frames, which
inherit the page's policy) are waited for, and the browser's own violation reports are collected.
"""

import pytest
from django.contrib.auth import get_user_model

from dispatch.models import Customer
from tests.conftest import PASSWORD
from tests.customers.conftest import build_day_route, token_of

pytestmark = pytest.mark.django_db(transaction=True)

# Installed in every document before its own scripts (DevTools protocol: outside the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""

# path -> (persona, a selector that only appears once the page's scripts ran, in the map frame if any)
PAGES = {
    "/": ("dispatcher", ("frame", ".leaflet-container")),
    "/orders/import/": ("dispatcher", None),
    "/orders/{order}/": ("dispatcher", None),
    "/inbox/": ("dispatcher", None),
    "/live/": ("dispatcher", ("page", ".leaflet-container")),
    "/plans/": ("dispatcher", None),
    "/plans/{plan}/": ("dispatcher", ("frame", ".leaflet-container")),
    "/closures/": ("dispatcher", ("frame", ".leaflet-draw-draw-polyline")),
    "/analytics/": ("manager", ("frame", ".leaflet-container")),
    "/api/docs/": ("dispatcher", ("page", ".swagger-ui .info")),
    "/api/redoc/": ("dispatcher", ("page", ".api-content")),
    "/admin/": ("manager", None),
    "/admin/dispatch/order/": ("manager", None),
    "/admin/routes/trafficprofile/": ("manager", None),
    "/driver/": ("driver", ("page", "#stops li")),
    "/t/{token}/": ("anonymous", ("page", "#map.leaflet-container")),
}
# Violations that are the policy working: Redoc's footer shows its vendor's logo from the vendor's
# CDN. The page must not reach other sites, the request is refused, and nothing depends on it.
EXPECTED_VIOLATIONS = {"/api/redoc/": ("https://cdn.redoc.ly/",)}


@pytest.fixture
def live_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies
    settings.TASKS_RUN_INLINE = True


@pytest.fixture
def world(depot_a, vehicle_a, driver_a, dispatcher_a, manager):
    customer = Customer.objects.create(name="Erika Muster", email="erika@example.com", phone="+41790000001")
    day = build_day_route(depot_a, vehicle_a, driver_a, customer)
    get_user_model().objects.filter(pk=manager.pk).update(is_superuser=True)
    order = day["orders"][0]
    return {
        "order": order.pk,
        "plan": day["plan"].pk,
        "token": token_of(order),
        "logins": {"dispatcher": dispatcher_a.username, "manager": manager.username, "driver": driver_a.user.username},
    }


def _log_in(context, live_server, username):
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)
    page.close()


@pytest.mark.parametrize("persona", ["dispatcher", "manager", "driver", "anonymous"])
def test_it_opens_every_main_page_without_a_csp_violation(browser, live_server, live_settings, world, persona):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORD_VIOLATIONS)
    if persona != "anonymous":
        _log_in(context, live_server, world["logins"][persona])
    problems = []
    for template, (who, ready) in PAGES.items():
        if who != persona:
            continue
        path = template.format(**world)
        page = context.new_page()
        expected = EXPECTED_VIOLATIONS.get(template, ())

        def on_console(message, path=path, expected=expected):
            text = message.text
            if "Content Security Policy" in text and not any(url in text for url in expected):
                problems.append(f"{path}: {text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error, p=path: problems.append(f"{p}: {error}"))
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "content-security-policy" in response.headers, path
        if ready:
            where, selector = ready
            root = page.frame_locator("iframe").first if where == "frame" else page
            root.locator(selector).first.wait_for(timeout=30_000)
        page.wait_for_load_state("networkidle")
        for frame in page.frames:
            violations = frame.evaluate("window.__cspViolations || []")
            problems.extend(f"{path} ({frame.url[:40]}): {v}" for v in violations if not any(u in v for u in expected))
        page.close()
    context.close()
    assert not problems, "\n".join(problems)
