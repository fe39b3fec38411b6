"""A dispatcher decides a re-plan the guard rails held back, on the plan page (issue #14): the
one-screen diff, then Approve (the proposal becomes the running version and the drivers' routes
change) or Reject (the running version stays).

The plans are written by hand and held through routes.plans.proposals (the diff and the hold are
the services a closure re-plan uses); what is under test is the page, its buttons and what they do.
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dispatch.fleet.services import driver_create
from dispatch.models import Order, Vehicle
from routes.models import Plan, Stop
from routes.plans.proposals import proposal_hold, replan_diff
from routes.plans.selectors import latest_dispatched_plan
from routes.plans.services import plan_dispatch
from tests.browser.conftest import log_in, wait_for_js

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page_settings(settings):
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies
    settings.NOTIFICATION_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def soon(minutes: int):
    return (timezone.now() + timedelta(minutes=minutes)).replace(second=0, microsecond=0)


@pytest.fixture
def proposal(page_settings, depot_a, vehicle_a, driver_a, dispatcher_a):
    """Today: v1 running (van 1: P1, P2, P3; van 2: P4), and v2 proposed, which moves P3 to van 2."""
    van_2 = Vehicle.objects.create(name="A-Van-2", depot=depot_a, kind="van", capacity_kg=800)
    driver_2 = driver_create(username="driver_a2", password="x" * 12, name="Lukas Lenker", vehicle=van_2)
    today = timezone.localdate()
    orders = [
        Order.objects.create(
            reference=f"P{n}",
            date=today,
            depot=depot_a,
            lat=47.14 + n / 1000,
            lon=9.52,
            customer_name=f"Customer {n}",
            email=f"p{n}@example.com",
        )  # fmt: skip
        for n in range(1, 5)
    ]

    def version(number: int, routes: dict, parent=None) -> Plan:
        plan = Plan.objects.create(
            date=today, depot=depot_a, version=number, parent=parent, status=Plan.Status.DONE, stage="done",
            progress=100, reason="closure 1 v1 change: road closed (burst water main)" if parent else "",
            cost=40 * len(routes),
        )  # fmt: skip
        for vehicle, (driver, stops) in routes.items():
            route = plan.routes.create(vehicle=vehicle, driver=driver, cost=40)
            for sequence, (order, eta) in enumerate(stops, start=1):
                Stop.objects.create(
                    route=route, order=order, sequence=sequence, eta=eta, etd=eta + timedelta(minutes=5)
                )
        return plan

    running = version(
        1,
        {vehicle_a: (driver_a, [(orders[0], soon(60)), (orders[1], soon(80)), (orders[2], soon(100))]),
         van_2: (driver_2, [(orders[3], soon(70))])},
    )  # fmt: skip
    running = plan_dispatch(plan=running, by=dispatcher_a)
    revision = version(
        2,
        {vehicle_a: (driver_a, [(orders[0], soon(60)), (orders[1], soon(80))]),
         van_2: (driver_2, [(orders[3], soon(70)), (orders[2], soon(95))])},
        parent=running,
    )  # fmt: skip
    revision.proposal = replan_diff(parent=running, revision=revision)
    revision.save(update_fields=["proposal"])
    proposal_hold(revision=revision)
    revision.refresh_from_db()
    assert revision.state == "proposed" and revision.proposal["moved_count"] == 1
    return {"running": running, "revision": revision, "orders": orders, "driver_2": driver_2}


def driver_route_references(live_server, driver) -> list[str]:
    """The driver's route as the phone reads it (GET /api/driver/route/)."""
    import json
    import urllib.request

    token, _ = Token.objects.get_or_create(user=driver.user)
    request = urllib.request.Request(
        f"{live_server.url}/api/driver/route/",
        headers={"Authorization": f"Token {token.key}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the test's own live server
        route = json.load(response)["route"]
    return [stop["reference"] for stop in route["stops"]]


def open_plan(browser, live_server, dispatcher, plan: Plan):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())  # the buttons ask "Apply this re-plan?"
    log_in(page, live_server.url, dispatcher.username)
    page.goto(f"{live_server.url}/plans/{plan.pk}/")
    return page, errors


def test_approve_makes_the_proposal_the_running_version_and_changes_the_drivers_route(
    browser, live_server, proposal, dispatcher_a, screenshot
):
    running, revision = proposal["running"], proposal["revision"]
    assert driver_route_references(live_server, proposal["driver_2"]) == ["P4"]
    page, errors = open_plan(browser, live_server, dispatcher_a, revision)
    box = page.locator("#plan-proposal")
    assert "Re-plan waiting for your approval" in box.inner_text()
    assert box.locator("[data-diff=moved] dd").inner_text() == "1"
    assert "P3: A-Van-1 → A-Van-2" in box.inner_text()
    assert page.locator("#dispatch-button").count() == 0  # a proposal goes out through Approve only
    screenshot(page, "plan-proposal-before-approve")

    page.get_by_role("button", name="Approve and send to drivers").click()
    page.locator("#plan-proposal h2", has_text="What this re-plan changed").wait_for(timeout=15_000)
    assert page.locator("#proposal-outcome").inner_text().startswith(f"Approved by {dispatcher_a.username} at ")
    assert page.locator("button[data-decide]").count() == 0
    revision.refresh_from_db()
    assert revision.state == "active" and revision.dispatched_at is not None
    assert latest_dispatched_plan(day=running.date, depot_id=running.depot_id) == revision
    assert driver_route_references(live_server, proposal["driver_2"]) == ["P4", "P3"]
    screenshot(page, "plan-proposal-approved")
    assert errors == []


def test_reject_keeps_the_running_version(browser, live_server, proposal, dispatcher_a):
    running, revision = proposal["running"], proposal["revision"]
    page, errors = open_plan(browser, live_server, dispatcher_a, revision)
    page.get_by_role("button", name="Reject: keep the running plan").click()
    page.locator("#plan-proposal h2", has_text="What this re-plan changed").wait_for(timeout=15_000)
    outcome = page.locator("#proposal-outcome").inner_text()
    assert outcome.startswith(f"Rejected by {dispatcher_a.username} at ") and "keep v1" in outcome
    revision.refresh_from_db()
    assert revision.state == "rejected" and revision.dispatched_at is None
    assert latest_dispatched_plan(day=running.date, depot_id=running.depot_id) == running
    assert driver_route_references(live_server, proposal["driver_2"]) == ["P4"]
    assert set(Order.objects.values_list("status", flat=True)) == {"dispatched"}
    assert errors == []


def test_a_proposal_that_expired_meanwhile_says_so_and_stays_undecided(browser, live_server, proposal, dispatcher_a):
    running, revision = proposal["running"], proposal["revision"]
    page, errors = open_plan(browser, live_server, dispatcher_a, revision)
    Plan.objects.filter(pk=revision.pk).update(decide_by=timezone.now() - timedelta(minutes=1))
    page.get_by_role("button", name="Approve and send to drivers").click()
    wait_for_js(page, "!document.getElementById('proposal-errors').hidden")
    assert "expired" in page.locator("#proposal-errors").inner_text()
    # Nothing was decided: both buttons are back, for a dispatcher who wants to reject it instead.
    assert page.locator("button[data-decide]:enabled").count() == 2
    assert latest_dispatched_plan(day=running.date, depot_id=running.depot_id) == running
    assert errors == []
