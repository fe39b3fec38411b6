"""Every page of each persona, on a phone (390x844) and a laptop (1440x900): no horizontal overflow,
no table column cut off, no console error. A screenshot of each lands in test-artifacts/layout-*.png.

A page that overflows at phone width is one a driver or a dispatcher on the move scrolls sideways
through; a console error is usually a map or a socket that silently stopped working.
"""

import pytest
from django.contrib.auth import get_user_model

from dispatch.models import Customer
from tests.browser.conftest import log_in
from tests.browser.test_live_map import daphne_url  # noqa: F401 - the server these pages need (WebSocket)
from tests.customers.conftest import build_day_route, token_of

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"phone": (390, 844), "laptop": (1440, 900)}

# What is wrong with the page as a person sees it: the page wider than the screen, a table cell cut
# off by a container that hides its overflow (a container that scrolls is fine: the column can be
# reached), and text wider than its cell's clipping box.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const width = window.innerWidth;
  const pageWidth = document.documentElement.scrollWidth;
  if (pageWidth > width + 1) {
    const wide = [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > width + 1 && getComputedStyle(e).position !== 'fixed')
      .filter(e => !e.closest('.leaflet-container, .maplibregl-map'))
      .slice(0, 3)
      .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : ''));
    problems.push(`page is ${pageWidth}px wide at ${width}px (widest: ${wide.join(', ')})`);
  }
  for (const cell of document.querySelectorAll('th, td')) {
    const rect = cell.getBoundingClientRect();
    // Screen-reader-only headers (the admin's "Model name") are clipped on purpose.
    if (rect.width <= 1 || rect.height <= 1 || cell.closest('.visually-hidden, .sr-only')) continue;
    let box = cell.parentElement;
    while (box && box !== document.body) {
      const overflow = getComputedStyle(box).overflowX;
      if (overflow === 'auto' || overflow === 'scroll') break;
      if (overflow === 'hidden' || overflow === 'clip') {
        if (rect.right > box.getBoundingClientRect().right + 1) {
          problems.push(`table column "${cell.textContent.trim().slice(0, 30)}" cut off`);
        }
        break;
      }
      box = box.parentElement;
    }
    if (problems.length > 5) break;
  }
  return problems;
}"""


def _open_pages(browser, base_url, size_name, persona, pages, *, username=None, lands_on="/", screenshot):
    """Open each page as the persona at the size; return what is wrong, page by page."""
    width, height = SIZES[size_name]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    # The console only says "404": name the resource.
    page.on("response", lambda response: response.status >= 400 and errors.append(f"{response.status} {response.url}"))
    if username:
        log_in(page, base_url, username, lands_on=lands_on)
    found = {}
    for name, path in pages:
        errors.clear()
        response = page.goto(f"{base_url}{path}")
        assert response is not None and response.status == 200, f"{persona} {path}: {response and response.status}"
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)  # maps and charts draw after load
        problems = page.evaluate(LAYOUT_PROBLEMS) + [f"console: {text}" for text in errors]
        screenshot(page, f"layout-{persona}-{name}-{size_name}")
        if problems:
            found[path] = problems
    context.close()
    return found


@pytest.fixture
def demo_pages(depot_a, vehicle_a, driver_a, dispatcher_a, manager):
    """The pages of a day with a dispatched route: the order, the plan, the tracking link."""
    customer = Customer.objects.create(name="Erika Muster", email="erika@example.com", phone="+41790000001")
    day = build_day_route(depot_a, vehicle_a, driver_a, customer)
    get_user_model().objects.filter(pk=manager.pk).update(is_superuser=True)
    order = day["orders"][0]
    return {"order": order.pk, "plan": day["plan"].pk, "token": token_of(order)}


@pytest.mark.parametrize("size_name", SIZES)
def test_it_lays_out_every_dispatcher_page(browser, daphne_url, demo_pages, size_name, screenshot):  # noqa: F811
    pages = [
        ("today", "/"),
        ("import", "/orders/import/"),
        ("order", f"/orders/{demo_pages['order']}/"),
        ("inbox", "/inbox/"),
        ("live", "/live/"),
        ("plans", "/plans/"),
        ("plan", f"/plans/{demo_pages['plan']}/"),
        ("closures", "/closures/"),
    ]
    found = _open_pages(browser, daphne_url, size_name, "dispatcher", pages, username="disp_a", screenshot=screenshot)
    assert not found, found


@pytest.mark.parametrize("size_name", SIZES)
def test_it_lays_out_every_manager_page(browser, daphne_url, demo_pages, size_name, screenshot):  # noqa: F811
    pages = [
        ("today", "/"),
        ("analytics", "/analytics/"),
        ("admin", "/admin/"),
        ("admin-orders", "/admin/dispatch/order/"),
        ("admin-vehicles", "/admin/dispatch/vehicle/"),
        ("admin-zones", "/admin/dispatch/zone/"),
    ]
    found = _open_pages(browser, daphne_url, size_name, "manager", pages, username="manager", screenshot=screenshot)
    assert not found, found


@pytest.mark.parametrize("size_name", SIZES)
def test_it_lays_out_the_driver_app(browser, daphne_url, demo_pages, size_name, screenshot):  # noqa: F811
    found = _open_pages(
        browser,
        daphne_url,
        size_name,
        "driver",
        [("app", "/driver/")],
        username="driver_a",
        lands_on="/driver/",
        screenshot=screenshot,
    )
    assert not found, found


@pytest.mark.parametrize("size_name", SIZES)
def test_it_lays_out_the_customer_tracking_page(browser, daphne_url, demo_pages, size_name, screenshot):  # noqa: F811
    found = _open_pages(
        browser, daphne_url, size_name, "customer", [("tracking", f"/t/{demo_pages['token']}/")], screenshot=screenshot
    )
    assert not found, found
