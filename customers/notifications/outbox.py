"""The outbox: writing a message's rows (one per channel) and starting them after commit.

The unique constraint on (order, event, channel, occasion) makes a repeated event a no-op; quiet
hours hold a message until they end (customers.notifications.quiet_hours); an opted-out customer's rows are
written as "skipped" so the dispatcher sees why. Sending itself is customers.notifications.sending.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.tasks import enqueue
from customers.models import Channel, Event, Notification
from customers.notifications.quiet_hours import quiet_hours_end
from customers.notifications.rendering import customer_language, message_context, notification_render
from customers.tracking_links import tracking_link_ensure
from dispatch.models import Order

S = Order.Status
TERMINAL = {S.DELIVERED, S.FAILED, S.CANCELLED}
# Events that lose their point once the order is completed (a held one is then skipped, not sent late).
PROGRESS_EVENTS = {Event.SCHEDULED, Event.OUT_FOR_DELIVERY, Event.DELAYED, Event.ARRIVING_SOON}
WAITING = [Notification.Status.PENDING, Notification.Status.HELD]


def recipients(order: Order) -> list[tuple[str, str, str]]:
    """(channel, recipient, skip reason or "") for each channel this order could be told on."""
    customer = order.customer if order.customer_id else None
    email = order.email or (customer.email if customer else "")
    phone = order.phone or (customer.phone if customer else "")
    opted_out = bool(customer and customer.opted_out)
    found = []
    if email and (customer is None or customer.notify_by_email):
        found.append((Channel.EMAIL, email, "opted out" if opted_out else ""))
    if phone and (customer is None or customer.notify_by_sms):
        found.append((Channel.SMS, phone, "opted out" if opted_out else ""))
    if settings.NOTIFICATION_WEBHOOK_URL:
        found.append((Channel.WEBHOOK, settings.NOTIFICATION_WEBHOOK_URL, ""))
    return found


def _send_after_commit(pk: int, eta=None) -> None:
    # Imported here: customers.notifications.tasks imports the services that call this (tasks -> services is the
    # direction of the layers; this is the one way back, for "send it once committed").

    transaction.on_commit(lambda: enqueue("customers.tasks.send_notification", pk, eta=eta))


def notifications_create(
    *, order: Order, event: str, occasion: str = "", extra: dict | None = None, only_channel: str | None = None
) -> list[Notification]:
    """Write this event's messages for the order (one per channel) and send them after commit.

    A repeat of the same (order, event, channel, occasion) changes nothing: the existing row stands.
    """
    found = [r for r in recipients(order) if not only_channel or r[0] in (only_channel, Channel.WEBHOOK)]
    if found:
        # Told already (the constraint's repeat): every action on a route asks again for each stop still
        # waiting, and making the link and the text only to have the insert refused was most of the work.
        # The constraint still decides between two tasks that both get past this.
        told = set(
            Notification.objects.filter(order=order, event=event, occasion=occasion).values_list("channel", flat=True)
        )
        found = [r for r in found if r[0] not in told]
    if not found:
        # Nobody to tell (no address, no webhook, or told): no message, so no link or text to make for
        # it. A route's every action asks for each waiting stop; this keeps that to a lookup per stop.
        return []
    now = timezone.now()
    language = customer_language(order)
    link = tracking_link_ensure(order=order)
    context = message_context(order, link, language, extra or {})
    customer = order.customer if order.customer_id else None
    quiet_until = quiet_hours_end(customer, now)
    created = []
    for channel, recipient, skip_reason in found:
        status, reason, send_after = Notification.Status.PENDING, skip_reason, None
        if skip_reason:
            status = Notification.Status.SKIPPED
        elif quiet_until and channel != Channel.WEBHOOK:
            if event == Event.ARRIVING_SOON:
                status, reason = Notification.Status.SKIPPED, "quiet hours (pointless later)"
            else:
                status, reason, send_after = Notification.Status.HELD, "quiet hours", quiet_until
        subject, body = notification_render(event=event, channel=channel, language=language, context=context)
        try:
            # A savepoint: a concurrent task may have written the same row first (the constraint decides).
            with transaction.atomic():
                notification = Notification.objects.create(
                    order=order, event=event, channel=channel, occasion=occasion, language=language,
                    recipient=recipient, subject=subject, body=body, status=status, status_reason=reason,
                    send_after=send_after,
                )  # fmt: skip
        except IntegrityError:
            continue
        created.append(notification)
        if status in WAITING:
            # A held message is started when quiet hours end (embedded mode: a timer in this process,
            # lost on restart; `manage.py send_held_notifications` or the next event picks it up).
            _send_after_commit(notification.pk, send_after)
    return created


def notifications_skip_waiting(*, order: Order, events, reason: str, exclude_ids=()) -> int:
    """Waiting (pending or held) messages of these events that a newer state made pointless."""
    return (
        Notification.objects.filter(order=order, event__in=list(events), status__in=WAITING)
        .exclude(pk__in=list(exclude_ids))
        .update(status=Notification.Status.SKIPPED, status_reason=reason[:255])
    )


def notifications_release_due(*, now=None) -> int:
    """Enqueue held messages whose quiet hours are over (called by each event task and a command)."""
    due = list(
        Notification.objects.filter(status=Notification.Status.HELD, send_after__lte=now or timezone.now()).values_list(
            "pk", flat=True
        )[:500]
    )
    for pk in due:
        _send_after_commit(pk)
    return len(due)
