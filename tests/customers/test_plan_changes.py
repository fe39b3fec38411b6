"""Every customer whose stop a new plan version changes is told exactly once, and the tracking page
(API, HTML, socket) never says the driver is coming to a stop no longer on a route.

The first tests write the versions by hand (what the customers are told does not need a solver);
the last ones make them through the real services on the demo road network: a dispatcher's edit of
a dispatched plan and a closure re-plan that applies by itself (a proposal's approval is
tests/routes/test_replan_guard_rails.py::test_approval_applies_it_and_tells_each_changed_customer_exactly_once).
"""

from datetime import timedelta

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.utils import timezone

from customers.models import Notification, PromisedWindow
from customers.selectors import tracking_state
from dispatch import events
from dispatch.fleet.services import driver_create
from dispatch.models import Customer, Driver, Order, Vehicle
from dispatch.orders.services import order_change_status
from routes.models import Plan, Stop, UnassignedOrder
from routes.plans.saving import mark_orders_dispatched
from tests.customers.conftest import make_order, make_plan, soon, token_of

pytestmark = pytest.mark.clock
ON_THE_WAY_WORDS = ("Unterwegs zu Ihnen", "On the way to you", "Der Fahrer ist an Ihrer Tür", "nächste Halt")


def told(order) -> list[tuple[str, str]]:
    """(event, occasion) of everything the order's customer was told, one per message (not per channel)."""
    return sorted(set(Notification.objects.filter(order=order).values_list("event", "occasion")))


def driver_of(vehicle):
    return Driver.objects.filter(vehicle=vehicle).first()


def changes_since(order, before: list) -> list[str]:
    return [event for event, occasion in told(order) if (event, occasion) not in before]


@pytest.fixture
def second_van(depot_a):
    vehicle = Vehicle.objects.create(name="A-Van-2", depot=depot_a, kind="van", capacity_kg=800)
    driver_create(username="driver_a2", password="x" * 12, name="Lukas Lenker", vehicle=vehicle)
    return vehicle


@pytest.fixture
def running(depot_a, vehicle_a, driver_a, second_van, customer, django_capture_on_commit_callbacks):
    """Version 1 dispatched and told: four customers, three on van 1, one on van 2."""
    today = timezone.localdate()
    john = Customer.objects.create(name="John Smith", email="john@example.com", language="en")
    orders = {
        "same": make_order(depot_a, "SAME", customer=john, day=today),
        "later": make_order(depot_a, "LATER", day=today, phone="+41790000002"),
        "dropped": make_order(depot_a, "DROP", customer=customer, day=today),
        "other_van": make_order(depot_a, "VAN2", day=today, phone="+41790000004"),
    }
    plan = make_plan(
        depot_a, vehicle_a, driver_a,
        [(orders["same"], soon(120)), (orders["later"], soon(150)), (orders["dropped"], soon(180))], day=today,
    )  # fmt: skip
    Stop.objects.create(
        route=plan.routes.create(vehicle=second_van, driver=driver_of(second_van)),
        order=orders["other_van"], sequence=1, eta=soon(140), etd=soon(145),
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        events.plan_dispatched(plan_id=plan.pk, previous_plan_id=None, reason="optimized")
    assert all(told(order) == [("scheduled", today.isoformat())] for order in orders.values())
    return plan, orders


def new_version(running_plan, version: int, routes: dict, *, left_out=(), code="closed_road") -> Plan:
    """A dispatched version: routes {vehicle: [(order, eta)]}; `left_out` go back to new, as the
    services leave them (routes.plans.saving.mark_orders_dispatched)."""
    plan = Plan.objects.create(
        date=running_plan.date, depot=running_plan.depot, version=version, parent=running_plan,
        status=Plan.Status.DONE, dispatched_at=timezone.now(), reason="closure 1 v1 change: road closed",
    )  # fmt: skip
    routed = []
    for vehicle, stops in routes.items():
        route = plan.routes.create(vehicle=vehicle, driver=driver_of(vehicle))
        for sequence, (order, eta) in enumerate(stops, start=1):
            Stop.objects.create(route=route, order=order, sequence=sequence, eta=eta, etd=eta + timedelta(minutes=5))
            routed.append(order.pk)
    for order in left_out:
        UnassignedOrder.objects.create(plan=plan, order=order, reason="no road leads there", code=code)
    mark_orders_dispatched(routed=routed, left_out=[o.pk for o in left_out], note=f"v{version}")
    return plan


def apply(capture, plan: Plan) -> None:
    with capture(execute=True):
        events.plan_updated(plan_id=plan.pk, previous_plan_id=plan.parent_id, reason=plan.reason, changes={})


def test_a_new_version_tells_each_changed_customer_once_and_the_others_nothing(
    running, vehicle_a, second_van, django_capture_on_commit_callbacks
):
    plan, orders = running
    etas = dict(Stop.objects.filter(route__plan=plan).values_list("order_id", "eta"))
    before = {key: told(order) for key, order in orders.items()}
    version_2 = new_version(
        plan, 2,
        {
            vehicle_a: [(orders["same"], etas[orders["same"].pk]), (orders["later"], etas[orders["later"].pk] + timedelta(minutes=55))],
            # Another van, the same time: nothing the customer is told changes.
            second_van: [(orders["other_van"], etas[orders["other_van"].pk] + timedelta(minutes=5))],
        },
        left_out=[orders["dropped"]],
    )  # fmt: skip
    apply(django_capture_on_commit_callbacks, version_2)
    apply(django_capture_on_commit_callbacks, version_2)  # a repeated event, a retried task
    assert changes_since(orders["same"], before["same"]) == []
    assert changes_since(orders["other_van"], before["other_van"]) == []
    assert changes_since(orders["later"], before["later"]) == ["delayed"]
    assert changes_since(orders["dropped"], before["dropped"]) == ["rescheduled"]
    rescheduled = Notification.objects.get(order=orders["dropped"], event="rescheduled", channel="email")
    assert "Straße auf dem Weg ist gesperrt" in rescheduled.body

    # Version 3 puts the dropped stop back: a new first window, once.
    before = {key: told(order) for key, order in orders.items()}
    version_3 = new_version(
        version_2, 3,
        {vehicle_a: [(orders["same"], etas[orders["same"].pk]),
                     (orders["later"], etas[orders["later"].pk] + timedelta(minutes=55)),
                     (orders["dropped"], etas[orders["dropped"].pk] + timedelta(minutes=60))],
         second_van: [(orders["other_van"], etas[orders["other_van"].pk] + timedelta(minutes=5))]},
    )  # fmt: skip
    apply(django_capture_on_commit_callbacks, version_3)
    apply(django_capture_on_commit_callbacks, version_3)
    assert [changes_since(order, before[key]) for key, order in orders.items()] == [[], [], ["scheduled"], []]
    state = tracking_state(Order.objects.get(pk=orders["dropped"].pk))
    assert state["status"] == "scheduled" and state["eta_window"]["start"] is not None


def test_an_older_version_applied_late_tells_nobody(running, vehicle_a, django_capture_on_commit_callbacks):
    plan, orders = running
    etas = dict(Stop.objects.filter(route__plan=plan).values_list("order_id", "eta"))
    stops = [(orders[key], etas[orders[key].pk] + timedelta(hours=2)) for key in ("same", "later", "dropped")]
    version_2 = new_version(plan, 2, {vehicle_a: stops})
    version_3 = new_version(version_2, 3, {vehicle_a: stops})
    apply(django_capture_on_commit_callbacks, version_3)
    before = {key: told(order) for key, order in orders.items()}
    apply(django_capture_on_commit_callbacks, version_2)  # its task ran after version 3's
    assert all(told(order) == before[key] for key, order in orders.items())


def test_a_dropped_stop_loses_every_waiting_word_that_the_driver_is_coming(
    running, vehicle_a, customer, django_capture_on_commit_callbacks
):
    plan, orders = running
    dropped = orders["dropped"]
    # The driver sets off in the customer's quiet hours: "out for delivery" waits for the morning.
    now = timezone.localtime()
    customer.quiet_hours_start = (now - timedelta(hours=1)).time().replace(second=0, microsecond=0)
    customer.quiet_hours_end = (now + timedelta(hours=1)).time().replace(second=0, microsecond=0)
    customer.save()
    with django_capture_on_commit_callbacks(execute=True):
        order_change_status(order=orders["same"], to_status=Order.Status.EN_ROUTE)
    assert set(
        Notification.objects.filter(order=dropped, event="out_for_delivery").values_list("status", flat=True)
    ) == {"held"}
    etas = dict(Stop.objects.filter(route__plan=plan).values_list("order_id", "eta"))
    version_2 = new_version(
        plan, 2, {vehicle_a: [(orders["same"], etas[orders["same"].pk]), (orders["later"], etas[orders["later"].pk])]},
        left_out=[dropped],
    )  # fmt: skip
    apply(django_capture_on_commit_callbacks, version_2)
    waiting = Notification.objects.filter(order=dropped, status__in=["pending", "held"])
    assert sorted(waiting.values_list("event", flat=True)) == ["rescheduled", "rescheduled"]  # e-mail, SMS
    assert set(
        Notification.objects.filter(order=dropped, event="out_for_delivery").values_list("status_reason", flat=True)
    ) == {"no longer on a route"}
    # A live ETA for it computed before the version (a late task) says nothing now.
    with django_capture_on_commit_callbacks(execute=True):
        events.eta_changed(order_id=dropped.pk, depot_id=dropped.depot_id, eta=soon(5))
    assert not Notification.objects.filter(order=dropped, event__in=["arriving_soon", "delayed"]).exists()
    assert not PromisedWindow.objects.filter(order=dropped).exists()


def test_a_dropped_stop_moved_to_another_day_hears_the_new_day_once_its_plan_goes_out(
    running, depot_a, vehicle_a, driver_a, django_capture_on_commit_callbacks
):
    from dispatch.orders.services import orders_move_to_date

    plan, orders = running
    dropped = orders["dropped"]
    etas = dict(Stop.objects.filter(route__plan=plan).values_list("order_id", "eta"))
    version_2 = new_version(
        plan, 2, {vehicle_a: [(orders[k], etas[orders[k].pk]) for k in ("same", "later")]}, left_out=[dropped]
    )
    apply(django_capture_on_commit_callbacks, version_2)
    tomorrow = plan.date + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        orders_move_to_date(orders=[Order.objects.get(pk=dropped.pk)], new_date=tomorrow)
    dropped.refresh_from_db()
    assert tracking_state(dropped)["status"] == "rescheduling"  # no time yet: nothing that will not be kept
    before = told(dropped)
    tomorrows = make_plan(depot_a, vehicle_a, driver_a, [(dropped, etas[dropped.pk] + timedelta(days=1))], day=tomorrow)
    Order.objects.filter(pk=dropped.pk).update(status=Order.Status.DISPATCHED)
    for _ in range(2):  # a repeated event
        with django_capture_on_commit_callbacks(execute=True):
            events.plan_dispatched(plan_id=tomorrows.pk, previous_plan_id=None, reason="optimized")
    assert changes_since(dropped, before) == ["scheduled"]
    [message] = Notification.objects.filter(
        order=dropped, event="scheduled", channel="email", occasion__contains="after"
    )
    assert f"für den {tomorrow:%d.%m.%Y} zwischen" in message.body
    state = tracking_state(Order.objects.get(pk=dropped.pk))
    assert state["status"] == "scheduled" and state["date"] == tomorrow and state["eta_window"]["start"] is not None


def test_the_tracking_page_of_a_dropped_stop_says_rescheduling_in_the_api_and_the_html(
    running, vehicle_a, driver_a, client, django_capture_on_commit_callbacks
):
    plan, orders = running
    dropped = orders["dropped"]
    driver_a.last_lat, driver_a.last_lon, driver_a.last_position_at = 47.15, 9.52, timezone.now()
    driver_a.save()
    etas = dict(Stop.objects.filter(route__plan=plan).values_list("order_id", "eta"))
    # The first two stops are done: the dropped one was the driver's next stop.
    for key in ("same", "later"):
        Order.objects.filter(pk=orders[key].pk).update(status=Order.Status.DELIVERED)
    token = token_of(dropped)
    before = client.get(f"/api/track/{token}/").json()
    assert before["is_next_stop"] and before["driver_position"] is not None and before["status"] == "scheduled"

    version_2 = new_version(
        plan, 2, {vehicle_a: [(orders[k], etas[orders[k].pk]) for k in ("same", "later")]}, left_out=[dropped]
    )
    apply(django_capture_on_commit_callbacks, version_2)
    api = client.get(f"/api/track/{token}/").json()
    assert api["status"] == "rescheduling" and api["eta_window"] == {"start": None, "end": None}
    assert api["eta"] is None and api["driver_position"] is None and api["driver_name"] == ""
    assert not api["is_next_stop"]
    page = client.get(f"/t/{token}/").content.decode()
    assert "Wir suchen einen neuen Termin" in page and 'id="next-stop" class="next-stop" hidden' in page
    assert not any(words in page.split('id="next-stop"')[0] for words in ON_THE_WAY_WORDS)
    assert "driver-name" not in page


@pytest.mark.django_db(transaction=True)
def test_the_tracking_socket_hears_at_once_of_a_new_window_and_of_a_dropped_stop(
    depot_a, vehicle_a, driver_a, second_van, customer, settings
):
    from config.asgi import application

    today = timezone.localdate()
    later = make_order(depot_a, "LATER", customer=customer, day=today)
    dropped = make_order(depot_a, "DROP", day=today, phone="+41790000003")
    plan = make_plan(depot_a, vehicle_a, driver_a, [(dropped, soon(90)), (later, soon(120))], day=today)
    events.plan_dispatched(plan_id=plan.pk, previous_plan_id=None, reason="optimized")
    driver_a.last_lat, driver_a.last_lon, driver_a.last_position_at = 47.15, 9.52, timezone.now()
    driver_a.save()
    later_token, dropped_token = token_of(later), token_of(dropped)

    @database_sync_to_async
    def apply_version_2():
        version_2 = new_version(plan, 2, {vehicle_a: [(later, soon(180))]}, left_out=[dropped])
        events.plan_updated(plan_id=version_2.pk, previous_plan_id=plan.pk, reason="closure", changes={})
        return PromisedWindow.objects.get(order=later)

    async def scenario():
        sockets = []
        for token in (later_token, dropped_token):
            socket = WebsocketCommunicator(
                application, f"/ws/track/{token}/", headers=[(b"origin", b"http://testserver")]
            )
            assert (await socket.connect(timeout=5))[0]
            sockets.append(socket)
        later_socket, dropped_socket = sockets
        assert (await later_socket.receive_json_from(timeout=5))["state"]["status"] == "scheduled"
        snapshot = (await dropped_socket.receive_json_from(timeout=5))["state"]
        assert snapshot["is_next_stop"] and snapshot["driver_position"] is not None
        promise = await apply_version_2()
        state = None
        while state is None or state["status"] != "rescheduling":  # a status change, then the refresh
            state = (await dropped_socket.receive_json_from(timeout=5))["state"]
        assert state["driver_position"] is None and not state["is_next_stop"] and state["eta"] is None
        window = None
        while window != promise.start:
            message = await later_socket.receive_json_from(timeout=5)
            window = message["state"]["eta_window"]["start"]
            window = window and timezone.datetime.fromisoformat(window)
        for socket in sockets:
            await socket.disconnect()

    async_to_sync(scenario)()


# --- through the real services, on the demo road network ------------------------------------------

from tests.routes.conftest import demo_network_dir, road_network  # noqa: E402, F401 - fixtures
from tests.routes.test_replan_guard_rails import (  # noqa: E402, F401 - fixtures and helpers
    DAY,
    at,
    busy_route,
    close_a_road_on,
    morning,
    the_replan,
)


def promised() -> dict[int, tuple]:
    return {p.order_id: (p.start, p.end) for p in PromisedWindow.objects.all()}


def expected_changes(promises: dict, plan_before: Plan, plan_after: Plan) -> dict[int, str]:
    """What each customer should hear: a stop left out -> rescheduled; an ETA beyond the window
    promised before (± ETA_DELAY_THRESHOLD_MIN) -> delayed; anything else -> nothing."""
    threshold = timedelta(minutes=django_settings.ETA_DELAY_THRESHOLD_MIN)
    after = dict(Stop.objects.filter(route__plan=plan_after).values_list("order_id", "eta"))
    expected = {}
    for order_id in Stop.objects.filter(route__plan=plan_before).values_list("order_id", flat=True):
        start, end = promises[order_id]
        if order_id not in after:
            expected[order_id] = "rescheduled"
        elif not start - threshold <= after[order_id] <= end + threshold:
            expected[order_id] = "delayed"
    return expected


def heard(since_id: int) -> dict[int, list[str]]:
    """Per order, the messages (not channels) written after `since_id`."""
    per_order = {}
    rows = Notification.objects.filter(id__gt=since_id).values_list("order_id", "event", "occasion").distinct()
    for order_id, event, _occasion in rows:
        per_order.setdefault(order_id, []).append(event)
    return per_order


def last_notification_id() -> int:
    return Notification.objects.order_by("-id").values_list("id", flat=True).first() or 0


def test_a_dispatchers_edit_of_the_running_plan_tells_each_changed_customer_once(
    morning,  # noqa: F811 - the imported fixture
    dispatcher_a_client,
    django_capture_on_commit_callbacks,
):
    route = busy_route(morning)
    stops = list(route.stops.order_by("sequence"))
    other = Vehicle.objects.exclude(pk=route.vehicle_id).get(
        name="A-Van-2" if route.vehicle.name != "A-Van-2" else "A-Van-1"
    )
    with time_machine.travel(at(10), tick=True):
        since, promises = last_notification_id(), promised()
        operations = [
            {"op": "unassign", "order": stops[-1].order_id},
            {"op": "move", "order": stops[0].order_id, "vehicle": other.pk, "position": 1},
        ]
        with django_capture_on_commit_callbacks(execute=True):
            response = dispatcher_a_client.post(
                f"/api/plans/{morning.pk}/edit/", {"operations": operations}, format="json"
            )
        assert response.status_code == 200, response.json()
        edited = Plan.objects.get(parent=morning, reason__icontains="edit")
        assert edited.dispatched_at is not None
        expected = expected_changes(promises, morning, edited)
    assert expected[stops[-1].order_id] == "rescheduled"
    assert heard(since) == {order_id: [event] for order_id, event in expected.items()}


def test_a_closure_replan_that_applies_by_itself_tells_each_changed_customer_once(
    morning,  # noqa: F811 - the imported fixture
    dispatcher_a,
    settings,
    django_capture_on_commit_callbacks,
):
    # A policy that lets hours of ETA shift apply by itself: no stop is dropped or moved at 17:55.
    settings.REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN = 24 * 60
    settings.REPLAN_RESCUE_BY_MOVES = False
    since, promises = last_notification_id(), promised()
    with time_machine.travel(at(17, 55), tick=True):
        close_a_road_on(busy_route(morning), dispatcher_a, django_capture_on_commit_callbacks)
        replan = the_replan(morning)
        assert replan.state == "active" and replan.dispatched_at is not None, replan.proposal
        expected = expected_changes(promises, morning, replan)
    assert "delayed" in expected.values()  # the busy van's stops move by hours
    assert heard(since) == {order_id: [event] for order_id, event in expected.items()}
