"""What a new plan version tells its customers: a first window (scheduled), a window that moved
(delayed, within the interval of customers.notifications.promises), or "we will reschedule" for an order the
version took off every route. One message per changed customer and version: each message's
occasion names the promise revision or the version, so a retried task adds none."""

from django.core.cache import cache
from django.db import transaction

from customers.models import Event, Notification, PromisedWindow
from customers.notifications.outbox import PROGRESS_EVENTS, TERMINAL, notifications_create, notifications_skip_waiting
from customers.notifications.promises import driver_first_name, promise_check, tracking_page_refresh
from customers.notifications.rendering import customer_language
from customers.notifications.texts import RESCHEDULE_REASONS
from dispatch.models import Order
from routes.models import Plan, Stop
from routes.plans.selectors import latest_dispatched_plan


def notifications_for_plan(*, plan_id: int, now=None) -> int:
    """A plan was dispatched or replaced: schedule new orders, tell those whose ETA left the promise,
    and those the new version took off every route that we will reschedule. `now`: the moment the
    plan went out when a simulator replays a past day (the promises are made then); None: now."""

    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None or plan.dispatched_at is None:
        return 0
    current = latest_dispatched_plan(day=plan.date, depot_id=plan.depot_id)
    if current is None or current.pk != plan.pk:
        return 0  # an older version: drivers no longer follow it
    count = 0
    # without the routes' geometry, which would be decoded once for every stop of the route
    stops = list(
        Stop.objects.filter(route__plan=plan)
        .select_related("order__customer", "route__driver")
        .defer("route__geometry")
    )
    # The tracking sockets pass the driver's position to the driver's next stop, cached per driver
    # (customers.handlers): a new version may have changed who is next.
    cache.delete_many([f"customers:next-stop:{driver_id}" for driver_id in {s.route.driver_id for s in stops}])
    for stop in stops:
        if stop.order.status in TERMINAL:
            continue
        eta = stop.live_eta or stop.eta
        count += len(promise_check(order=stop.order, eta=eta, driver_first_name=driver_first_name(stop), now=now))
    previous = latest_dispatched_plan(day=plan.date, depot_id=plan.depot_id, before_version=plan.version)
    if previous is not None:
        on_routes = {stop.order_id for stop in stops}
        reasons = dict(plan.unassigned.values_list("order_id", "code"))
        for stop in Stop.objects.filter(route__plan=previous).exclude(order_id__in=on_routes).select_related("order"):
            if stop.order.status not in TERMINAL:
                count += len(reschedule_notice(order=stop.order, plan=plan, code=reasons.get(stop.order_id, "")))
    return count


@transaction.atomic
def reschedule_notice(*, order: Order, plan, code: str) -> list[Notification]:
    """The order left the routes: the promise no longer holds and nothing may still say the driver
    is coming; the customer hears once that we will reschedule (whatever the interval between
    "delayed" messages: this is not a new time but no time)."""
    # Forgotten, so the tracking page shows no window that will not be kept, a "new time" waiting
    # for its interval is not sent, and a later version that plans it again makes a new first promise.
    PromisedWindow.objects.filter(order=order).delete()
    notifications_skip_waiting(order=order, events=PROGRESS_EVENTS, reason="no longer on a route")
    tracking_page_refresh(order.pk)
    words = RESCHEDULE_REASONS[customer_language(order)].get(code, "")
    occasion = f"{order.date.isoformat()}/plan-{plan.pk}"
    return notifications_create(order=order, event=Event.RESCHEDULED, occasion=occasion, extra={"reason": words})
