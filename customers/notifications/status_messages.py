"""What an order's status change tells customers: delivered (with the proof), failed (with the
reason, in their words), and, as the driver works the route, "out for delivery" to everyone still
waiting and "arriving soon" to the next stop. Completing an order expires its tracking link."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from customers.models import Event, Notification
from customers.notifications.outbox import TERMINAL, notifications_create
from customers.notifications.partner_messages import notifications_for_handoff_withdrawn
from customers.notifications.promises import driver_first_name, route_stop
from customers.notifications.rendering import customer_language, hhmm
from customers.notifications.texts import FAILURE_REASONS
from customers.tracking_links import tracking_links_set_expiry
from dispatch.models import Order
from routes.models import Stop

S = Order.Status
# A stop action the driver's phone sent from its offline queue this long after it happened says
# nothing about where the driver is now (the next stops may be in the same queue, already done):
# the waiting customers hear from the live ETAs instead (customers.notifications.promises.notifications_for_eta).
OFFLINE_ACTION_STALE_AFTER = timedelta(minutes=10)


def _proof_context(order: Order) -> dict:
    proof = order.proofs.order_by("-delivered_at").first()
    delivered_at = proof.delivered_at if proof else timezone.now()
    return {"recipient_name": proof.recipient_name if proof else "", "delivered_at": hhmm(delivered_at)}


@transaction.atomic
def notifications_for_status(*, order_id: int, to_status: str, reason: str = "") -> int:
    """An order changed status: out for delivery, arriving soon (next stop), delivered, failed."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None:
        return 0
    day = order.date.isoformat()
    sent: list[Notification] = []
    if to_status == S.DELIVERED and order.status == S.DELIVERED:
        sent += notifications_create(order=order, event=Event.DELIVERED, occasion=day, extra=_proof_context(order))
    elif to_status == S.FAILED and order.status == S.FAILED:
        language = customer_language(order)
        words = FAILURE_REASONS[language].get(reason) or FAILURE_REASONS[language]["other"]
        sent += notifications_create(order=order, event=Event.FAILED, occasion=day, extra={"reason": words})
    if to_status in (S.EN_ROUTE, S.ARRIVED, S.DELIVERED, S.FAILED) and not _sent_from_offline_queue(order, to_status):
        sent += _route_progress(order=order, to_status=to_status)
    # After the messages (which may have created the order's first link): expire or revive links.
    if to_status in TERMINAL:
        tracking_links_set_expiry(order_id=order.pk, completed=True)
    elif to_status == S.NEW:
        tracking_links_set_expiry(order_id=order.pk, completed=False)
        if reason == "handoff_withdrawn":
            # Taken back from a courier partner: the window its acceptance promised no longer holds.
            return len(sent) + notifications_for_handoff_withdrawn(order_id=order.pk)
    return len(sent)


def _sent_from_offline_queue(order: Order, to_status: str) -> bool:
    change = order.status_history.filter(to_status=to_status).order_by("-received_at", "-id").first()
    return change is not None and change.received_at - change.changed_at > OFFLINE_ACTION_STALE_AFTER


def _route_waiting_stops(order: Order):
    """The order's stop in the plan drivers follow, and the stops of its route still waiting for
    their driver (dispatched or en route, in order), or (None, [])."""

    stop = route_stop(order)
    if stop is None:
        return None, []
    # Only the waiting stops, without their route: every tap of a driver asks, and building all the
    # route's stops with a copy of the route each was most of the embedded mode's CPU on a busy day.
    waiting = list(
        Stop.objects.filter(route_id=stop.route_id, order__status__in=(S.DISPATCHED, S.EN_ROUTE))
        .select_related("order__customer")
        .order_by("sequence")
    )
    return stop, waiting


def _route_progress(*, order: Order, to_status: str) -> list[Notification]:
    """The driver is working the route: everyone still waiting is told it is out for delivery,
    and the next stop (this order when en route, else the first open one) that it arrives soon."""
    stop, waiting = _route_waiting_stops(order)
    if stop is None:
        return []
    extra = {"driver_first_name": driver_first_name(stop)}
    next_stop = stop if to_status == S.EN_ROUTE else (waiting[0] if waiting else None)
    sent = []
    for other in waiting:
        if other.order_id == getattr(next_stop, "order_id", None):
            continue
        sent += notifications_create(
            order=other.order, event=Event.OUT_FOR_DELIVERY, occasion=other.order.date.isoformat(), extra=extra
        )
    if next_stop is not None and next_stop.order.status in (S.DISPATCHED, S.EN_ROUTE):
        sent += notifications_create(
            order=next_stop.order, event=Event.ARRIVING_SOON, occasion=next_stop.order.date.isoformat(), extra=extra
        )
    return sent
