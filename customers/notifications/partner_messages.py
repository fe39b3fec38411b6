"""What a courier partner's acceptance (and a take-back after it) tells the customer: the same "scheduled" message, with its
window, that our own dispatch sends (customers.notifications.promises), so the customer sees one company.

The partner gives no ETA of its own: the promise is the order's window, or, for an order without one,
the partner's working hours that day. One message per hand-off: its occasion names the hand-off, so a
retried task adds none, and a second partner's acceptance (after a return) is told again.
"""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from customers.models import Event, Notification, PromisedWindow
from customers.notifications.outbox import PROGRESS_EVENTS, notifications_create, notifications_skip_waiting
from customers.notifications.promises import AWAITING, tracking_page_refresh
from dispatch.models import Handoff, Order


def handoff_promise_window(handoff: Handoff) -> tuple[datetime, datetime]:
    order, partner = handoff.order, handoff.partner
    if order.window_start and order.window_end:
        return order.window_start, order.window_end
    zone = timezone.get_default_timezone() if settings.USE_TZ else None
    start = order.window_start or timezone.make_aware(datetime.combine(order.date, partner.opens), zone)
    end = order.window_end or timezone.make_aware(datetime.combine(order.date, partner.closes), zone)
    return (start, end) if start < end else (order.window_start or end, order.window_end or start)


@transaction.atomic
def notifications_for_handoff(*, handoff_id: int) -> int:
    """The partner accepted: promise the window and tell the customer "scheduled" (idempotent)."""
    handoff = Handoff.objects.select_related("order__customer", "partner").filter(pk=handoff_id).first()
    if handoff is None or handoff.status != Handoff.Status.ACCEPTED:
        return 0
    order = Order.objects.select_related("customer").select_for_update(of=("self",)).get(pk=handoff.order_id)
    if order.status not in AWAITING:
        return 0  # at the door or done already: a "scheduled" now would be old news
    start, end = handoff_promise_window(handoff)
    if start >= end:
        return 0
    promise = PromisedWindow.objects.select_for_update().filter(order=order).first() or PromisedWindow(order=order)
    revision = (promise.revision + 1) if promise.pk else 1
    promise.day, promise.start, promise.end, promise.revision = order.date, start, end, revision
    promise.told_start, promise.told_end, promise.told_revision = start, end, revision
    promise.delay_told_at = None
    promise.save()  # first: the message says the window saved (customers.notifications.rendering reads it)
    tracking_page_refresh(order.pk)
    occasion = f"{order.date.isoformat()}/handoff-{handoff.pk}"
    # No courier's name: the partner's people are ours as far as the customer is concerned.
    created = notifications_create(
        order=order, event=Event.SCHEDULED, occasion=occasion, extra={"driver_first_name": ""}
    )
    return len(created)


@transaction.atomic
def notifications_for_handoff_withdrawn(*, order_id: int) -> int:
    """The dispatcher took the order back from its partner: a window the partner's acceptance promised
    no longer holds. As when our own plan takes a stop off its route (plan_changes.reschedule_notice), the
    promise is forgotten and the customer hears once that we will reschedule; a customer never told a
    window (the partner had not accepted) hears nothing."""
    order = Order.objects.select_related("customer").filter(pk=order_id, status=Order.Status.NEW).first()
    if order is None:
        return 0
    told = Notification.objects.filter(order=order, event=Event.SCHEDULED, occasion__contains="/handoff-")
    handoff = Handoff.objects.filter(order=order, status=Handoff.Status.WITHDRAWN).order_by("-closed_at").first()
    if handoff is None or not told.filter(occasion__endswith=f"/handoff-{handoff.pk}").exists():
        return 0
    PromisedWindow.objects.filter(order=order).delete()
    notifications_skip_waiting(order=order, events=PROGRESS_EVENTS, reason="taken back from the partner")
    tracking_page_refresh(order.pk)
    occasion = f"{order.date.isoformat()}/handoff-{handoff.pk}-withdrawn"
    return len(notifications_create(order=order, event=Event.RESCHEDULED, occasion=occasion, extra={"reason": ""}))
