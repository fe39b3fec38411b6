"""Reads of the customers app: tracking links and what a tracking page may show, outboxes, inboxes."""

import re
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerMessage, Feedback, Notification, PromisedWindow, TrackingLink
from customers.notifications.promises import promise_window_for
from customers.tracking_tokens import digest_for_token, token_for_nonce
from dispatch.models import Handoff, Order
from dispatch.roles import visible_depot_ids
from routes.models import Route, Stop
from routes.plans.selectors import latest_dispatched_plan

# What a token looks like (base64url of 20 bytes); anything else cannot be one of ours.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


def tracking_path_for_link(link: TrackingLink) -> str:
    return reverse("customers:tracking_page", kwargs={"token": token_for_nonce(link.nonce)})


def active_tracking_links_by_order(order_ids) -> dict[int, TrackingLink]:
    links = {}
    for link in TrackingLink.objects.filter(order_id__in=list(order_ids), revoked_at__isnull=True).order_by(
        "created_at"
    ):
        links[link.order_id] = link  # newest wins
    return links


def tracking_link_for_token(token: str) -> TrackingLink | None:
    """The live link for a token, or None, whether unknown, malformed, revoked or expired.

    The token is never compared itself: its HMAC digest is looked up by equality on a unique index,
    so response time says nothing about how close a guess was. The digest is computed for every
    request, well-formed or not, so a malformed token costs the same as a wrong one.
    """
    digest = digest_for_token(token)
    if not _TOKEN_SHAPE.match(token):
        return None
    link = (
        TrackingLink.objects.select_related("order__customer", "order__depot")
        .filter(digest=digest, revoked_at__isnull=True)
        .first()
    )
    if link is None or (link.expires_at is not None and link.expires_at <= timezone.now()):
        return None
    return link


# Statuses a customer sees, in their words (planned and dispatched both read "scheduled").
PUBLIC_STATUS = {
    "new": "received",
    "planned": "received",
    "dispatched": "scheduled",
    "en_route": "on_the_way",
    "arrived": "arrived",
    "delivered": "delivered",
    "failed": "failed",
    "cancelled": "cancelled",
}


def _next_stop(order: Order):
    """(this order's stop, whether it is the driver's next open stop) in the plan drivers follow."""

    plan = latest_dispatched_plan(day=order.date, depot_id=order.depot_id)
    if plan is None:
        return None, False
    stop = Stop.objects.filter(route__plan=plan, order=order).select_related("route__driver").first()
    if stop is None:
        return None, False
    first_open = (
        Stop.objects.filter(route_id=stop.route_id)
        .exclude(order__status__in=["delivered", "failed", "cancelled"])
        .order_by("sequence")
        .values_list("order_id", flat=True)
        .first()
    )
    return stop, first_open == order.pk


def tracking_state(order: Order) -> dict:
    """Everything the customer may see about their order, as the API and the page show it.

    The driver's position is included only while this order is the driver's next stop and the
    position is fresh: the customer must not follow the driver around the other customers' homes.
    """
    stop, is_next = _next_stop(order) if order.status in ("dispatched", "en_route", "arrived") else (None, False)
    if stop is None and order.status in ("delivered", "failed"):
        stop, _ = _next_stop(order)
    promise = PromisedWindow.objects.filter(order=order).first()
    start, end = (promise.start, promise.end) if promise else (order.window_start, order.window_end)
    if promise is None and stop is not None:
        # Dispatched but not yet told (the notification task is behind): the window it will be told.

        start, end = promise_window_for(stop.live_eta or stop.eta)
    driver = stop.route.driver if stop is not None and stop.route.driver_id else None
    position = None
    max_age = timezone.now() - timedelta(seconds=settings.TRACKING_POSITION_MAX_AGE_S)
    if (
        is_next
        and driver is not None
        and driver.last_lat is not None
        and driver.last_position_at is not None
        and driver.last_position_at >= max_age
    ):
        position = {"lat": driver.last_lat, "lon": driver.last_lon, "recorded_at": driver.last_position_at}
    if stop is None and order.status in ("dispatched", "en_route", "arrived"):
        # A courier partner's delivery: its courier approaching, only if the partner shares positions.
        position = _partner_courier_position(order, max_age)
        is_next = position is not None
    history = list(order.status_history.all())
    events = [
        {"status": PUBLIC_STATUS.get(change.to_status, change.to_status), "at": change.changed_at}
        for change in history
        if change.to_status in ("dispatched", "en_route", "arrived", "delivered", "failed", "cancelled")
    ]
    status = PUBLIC_STATUS.get(order.status, order.status)
    # The last step at or beyond "dispatched" (a version that drops a stop writes dispatched -> planned -> new).
    last_step = next(
        (
            c.to_status if c.to_status not in ("new", "planned") else c.from_status
            for c in reversed(history)
            if c.to_status not in ("new", "planned") or c.from_status not in ("", "new", "planned")
        ),
        None,
    )
    if order.status in ("new", "planned") and last_step == "dispatched":
        # Taken off a running route (a closed road, no time left): no window that will not be kept.
        status, start, end = "rescheduling", None, None
    state = {
        "status": status,
        "order_status": order.status,
        "reference": order.reference,
        "date": order.date,
        "eta_window": {"start": start, "end": end},
        "eta": (stop.live_eta or stop.eta)
        if stop is not None and order.status not in ("delivered", "failed")
        else None,
        "driver_name": driver.first_name if driver is not None else "",
        "driver_position": position,
        "is_next_stop": is_next,
        "destination": {"lat": order.lat, "lon": order.lon},
        "events": events,
        "proof": None,
        "feedback": None,
    }
    if order.status == "delivered":
        proof = order.proofs.order_by("-delivered_at").first()
        if proof is not None:
            state["proof"] = {
                "delivered_at": proof.delivered_at,
                "recipient_name": proof.recipient_name,
                "has_photo": bool(proof.photo),
                "has_signature": bool(proof.signature),
            }
        feedback = Feedback.objects.filter(order=order).first()
        if feedback is not None:
            state["feedback"] = {"rating": feedback.rating, "comment": feedback.comment}
    return state


def _partner_courier_position(order: Order, max_age) -> dict | None:
    """The newest position a partner posted for this order (POST /api/partner/positions/), while it is
    fresh and the partner still shares positions (a partner that stops sharing is shown no more)."""
    handoff = (
        Handoff.objects.filter(
            order=order,
            status__in=Handoff.OPEN_STATUSES,
            partner__shares_position=True,
            courier_position_at__gte=max_age,
        )
        .only("courier_lat", "courier_lon", "courier_position_at")
        .first()
    )
    if handoff is None or handoff.courier_lat is None:
        return None
    return {"lat": handoff.courier_lat, "lon": handoff.courier_lon, "recorded_at": handoff.courier_position_at}


def notifications_for_order(order: Order):
    return Notification.objects.filter(order=order).order_by("created_at", "id")


def conversation_for_order(order: Order):
    return CustomerMessage.objects.filter(order=order).select_related("author").order_by("created_at", "id")


def _orders_of_user(user):
    depot_ids = visible_depot_ids(user)
    orders = Order.objects.all()
    return orders if depot_ids is None else orders.filter(depot_id__in=depot_ids)


def inbox_unread_count(user) -> int:
    return CustomerMessage.objects.filter(
        direction=CustomerMessage.Direction.INBOUND, read_at__isnull=True, order__in=_orders_of_user(user)
    ).count()


def inbox_conversations(user, *, limit: int = 200):
    """Orders with customer messages in the user's depots, unread first, then the most recent."""
    return (
        _orders_of_user(user)
        .filter(customer_messages__isnull=False)
        .annotate(
            unread=Count(
                "customer_messages",
                filter=Q(customer_messages__direction="in", customer_messages__read_at__isnull=True),
            ),
            last_message_at=Max("customer_messages__created_at"),
        )
        .select_related("depot")
        .order_by("-unread", "-last_message_at")[:limit]
    )


def failed_notifications_count(user) -> int:
    return Notification.objects.filter(status=Notification.Status.FAILED, order__in=_orders_of_user(user)).count()


def next_stop_order_id_for_driver(driver_id: int) -> int | None:
    """The order of the driver's next open stop today, in the plan the driver follows."""

    today = timezone.localdate()
    route = (
        Route.objects.filter(driver_id=driver_id, plan__date=today, plan__dispatched_at__isnull=False)
        .select_related("plan")
        .order_by("-plan__version")
        .first()
    )
    if route is None:
        return None
    plan = latest_dispatched_plan(day=today, depot_id=route.plan.depot_id)
    if plan is None or plan.pk != route.plan_id:
        return None
    return (
        Stop.objects.filter(route=route)
        .exclude(order__status__in=["delivered", "failed", "cancelled"])
        .order_by("sequence")
        .values_list("order_id", flat=True)
        .first()
    )
