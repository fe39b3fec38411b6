"""A dispatcher hands a stop of our routes to a courier partner on the plan page and brings it back,
with the keyboard and by dragging; an order the partner already has is refused in words."""

import json
import time as time_module
from decimal import Decimal

import pytest
from django.db import OperationalError

from dispatch.models import Handoff, Order, Vehicle
from routes.models import Plan, PlanChange, Stop
from routes.plans import services
from tests.browser.conftest import log_in
from tests.partners.test_make_or_buy import courier  # noqa: F401 - fixture
from tests.routes.test_plans import DAY, VADUZ_POINTS

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def peak_plan(road_network, depot_a, vehicle_a, driver_a, dispatcher_a, courier, settings):  # noqa: F811
    """Ten orders of 10 kg around Vaduz; our only van carries 40 kg: the partner gets five of the rest."""
    settings.TASKS_RUN_INLINE = True
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies
    Vehicle.objects.filter(pk=vehicle_a.pk).update(capacity_kg=40, cost_per_km=0.4, cost_per_hour=30, fixed_cost=40)
    for n, (lat, lon) in enumerate(VADUZ_POINTS):
        Order.objects.create(
            reference=f"P{n}", date=DAY, depot=depot_a, lat=lat, lon=lon, weight_kg=Decimal("10"),
            customer_name=f"Customer {n}", address=f"Städtle {n + 1}, Vaduz",
        )  # fmt: skip
    [plan] = services.plan_request(
        user=dispatcher_a, day=DAY, depot_code="A", vehicle_ids=None, objectives=["cost"], time_budget_s=1
    )
    plan.refresh_from_db()
    assert plan.status == Plan.Status.DONE, plan.error
    assert len(plan.make_or_buy["handoffs"][0]["orders"]) == 5
    return plan


def _retry(read):
    # The live server's thread shares the in-memory SQLite database (shared cache, table locks).
    for attempt in range(50):
        try:
            return read()
        except OperationalError:
            if attempt == 49:
                raise
            time_module.sleep(0.1)


def _where(plan_id) -> tuple[list[str], dict[str, list[str]]]:
    """The references on our routes, and per partner code, as the database has them."""

    def read():
        routed = list(Stop.objects.filter(route__plan_id=plan_id).values_list("order__reference", flat=True))
        make_or_buy = Plan.objects.get(pk=plan_id).make_or_buy or {}
        refs = dict(Order.objects.values_list("id", "reference"))
        partners = {g["partner"]: sorted(refs[o] for o in g["orders"]) for g in make_or_buy.get("handoffs", [])}
        return sorted(routed), partners

    return _retry(read)


def test_a_stop_goes_to_a_partner_and_back_by_keyboard_and_by_dragging(
    browser, live_server, peak_plan, vehicle_a, dispatcher_a, screenshot
):
    plan = peak_plan
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, live_server.url, dispatcher_a.username)
    page.goto(f"{live_server.url}/plans/{plan.id}/")
    page.wait_for_selector("#plan-board .board-content")
    box = page.locator('.partner-box[data-partner="berg"]')
    routed, partners = _where(plan.id)
    assert box.locator("li.stop").count() == 5 and len(routed) == 4
    assert "Berg Bote" in box.inner_text() and "65.00" in box.inner_text()
    page.click(f'section[data-vehicle="{vehicle_a.id}"] .route-toggle')

    # The keyboard way: "To partner…" on a stop, the partner, Enter.
    stop_ref = routed[0]
    stop = page.locator(f'li.stop:has(.stop-ref:text-is("{stop_ref}"))')
    stop.locator(".partner-open").focus()
    page.keyboard.press("Enter")
    form = stop.locator(".partner-form")
    assert form.locator("select").evaluate("node => node === document.activeElement")
    assert form.locator("option").all_inner_texts() == ["Berg Bote (13.00)"]
    page.keyboard.press("Tab")  # to "Hand over"
    page.keyboard.press("Enter")
    page.wait_for_selector(f".edit-status:text-matches('^Handed {stop_ref} to Berg Bote')")
    routed, partners = _where(plan.id)
    assert stop_ref not in routed and stop_ref in partners["berg"] and len(partners["berg"]) == 6
    assert box.locator(f'li.stop:has(.stop-ref:text-is("{stop_ref}"))').count() == 1
    assert page.inner_text('[data-total="stops"] dd') == "3"
    screenshot(page, "browser-plan-partner-handed")

    # Back to our van from the partner's box: Move… then the vehicle.
    held = box.locator(f'li.stop:has(.stop-ref:text-is("{stop_ref}"))')
    held.locator(".partner-move-open").click()
    held.locator(".partner-form select").select_option(f"vehicle:{vehicle_a.id}")
    held.locator(".partner-form button[type=submit]").click()
    page.wait_for_selector(f".edit-status:text-matches('^Moved {stop_ref} to {vehicle_a.name}')")
    routed, partners = _where(plan.id)
    assert stop_ref in routed and stop_ref not in partners["berg"] and len(partners["berg"]) == 5
    assert page.inner_text('[data-total="stops"] dd') == "4"

    # Dragging a stop onto the partner's box hands it over too.
    page.wait_for_selector("#plan-board[aria-busy=false]")
    dragged_ref = routed[-1]
    page.locator(f'section[data-vehicle="{vehicle_a.id}"] li.stop:has(.stop-ref:text-is("{dragged_ref}"))').drag_to(
        box.locator(".route-head")
    )
    page.wait_for_selector(f".edit-status:text-matches('^Handed {dragged_ref} to Berg Bote')")
    routed, partners = _where(plan.id)
    assert dragged_ref not in routed and dragged_ref in partners["berg"]
    assert PlanChange.objects.filter(plan=plan).count() == 3

    # Dispatched, the partner has its orders: moving one back is refused, in the API's words.
    page.wait_for_selector("#plan-board[aria-busy=false]")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#dispatch-button")
    page.wait_for_selector(".badge.plan-dispatched")
    page.wait_for_selector("#plan-board .board-content")
    assert _retry(lambda: Handoff.objects.filter(order__reference=dragged_ref, plan=plan).exists())
    # Five fit the partner's day; the sixth is not planned now, and no longer in its box.
    assert page.locator('.partner-box[data-partner="berg"] li.stop').count() == 5
    assert _retry(lambda: Handoff.objects.filter(plan=plan).count()) == 5
    held = page.locator(f'.partner-box[data-partner="berg"] li.stop:has(.stop-ref:text-is("{dragged_ref}"))')
    held.locator(".partner-move-open").click()
    held.locator(".partner-form select").select_option(f"vehicle:{vehicle_a.id}")
    page.once("dialog", lambda dialog: dialog.accept())
    held.locator(".partner-form button[type=submit]").click()
    page.wait_for_selector("#edit-errors:not([hidden])")
    assert "take it back from the partner first" in page.inner_text("#edit-errors")
    assert not Plan.objects.filter(parent=plan).exists()
    screenshot(page, "browser-plan-partner-refused")
    assert not errors, json.dumps(errors)
    context.close()
