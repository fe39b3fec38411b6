"""Writes of the customers app: the entry other apps call. Each concern has its own module:

- customers.notifications.promises: promised windows, "scheduled" and "delayed" (with the minimum interval
  between "delayed" messages), what a live ETA tells the customer;
- customers.notifications.plan_changes: what a new plan version tells its customers ("we will reschedule" for an
  order taken off the routes);
- customers.notifications.status_messages: delivered, failed, out for delivery, arriving soon;
- customers.notifications.outbox and customers.notifications.sending: writing a message's rows, then sending each at most once;
- customers.notifications.quiet_hours, customers.notifications.rendering: when a message may go, what it says;
- customers.tracking_links: the tracking pages' links;
- here: feedback and the conversation with the dispatchers.

How a notification travels: an event handler (customers.handlers) enqueues a task; the task calls
one of the `notifications_for_*` services, which decide what to say and create Notification rows
(one per channel; the unique constraint drops repeats) and, after commit, enqueue
`send_notification` per row. `notification_send` then claims the row with a conditional UPDATE
(pending → sending), calls the channel backend outside any transaction and records the outcome.

Decisions:
- Quiet hours (the customer's local times): messages are held and sent when they end, except
  "arriving soon", which is skipped (it is pointless an hour later). A held message whose order
  has meanwhile been completed is skipped as outdated instead of sent late.
- Opt-out: nothing is sent to the customer; the rows are still written as "skipped" so the
  dispatcher sees why. The webhook goes to the company's own system, not the customer, and is
  sent whatever the customer's preferences.
- A message interrupted mid-send (worker killed) is never re-sent, since at most one message per
  (order, event, channel) beats at least one: it is marked failed and shown to the dispatcher.
- Feedback is one per order and can be updated while the tracking link is valid (the latest counts).
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from customers.errors import CustomersError
from customers.models import Channel, CustomerMessage, Event, Feedback
from customers.notifications.outbox import notifications_create, notifications_release_due, recipients
from customers.notifications.plan_changes import notifications_for_plan
from customers.notifications.promises import (
    delay_message_send,
    delay_messages_send_due,
    notifications_for_eta,
    promise_window_for,
)
from customers.notifications.rendering import customer_language, notification_render, notification_render_check
from customers.notifications.sending import SendOutcome, notification_send
from customers.notifications.status_messages import notifications_for_status
from dispatch.models import Order

__all__ = [
    "SendOutcome",
    "customer_language",
    "customer_message_receive",
    "customer_message_reply",
    "customer_messages_mark_read",
    "delay_message_send",
    "delay_messages_send_due",
    "feedback_submit",
    "notification_render",
    "notification_render_check",
    "notification_send",
    "notifications_create",
    "notifications_for_eta",
    "notifications_for_plan",
    "notifications_for_status",
    "notifications_release_due",
    "promise_window_for",
]

S = Order.Status


def feedback_submit(*, order: Order, rating: int, comment: str = "") -> Feedback:
    if order.status != S.DELIVERED:
        raise CustomersError(gettext("Feedback is possible once the order is delivered"), field="rating", value=rating)
    feedback, _created = Feedback.objects.update_or_create(
        order=order, defaults={"rating": rating, "comment": comment.strip()}
    )
    return feedback


@transaction.atomic
def customer_message_receive(*, order: Order, text: str) -> CustomerMessage:
    return CustomerMessage.objects.create(order=order, direction=CustomerMessage.Direction.INBOUND, text=text.strip())


@transaction.atomic
def customer_message_reply(*, order: Order, text: str, by) -> CustomerMessage:
    """A dispatcher answers: the reply is kept in the conversation and goes out on the customer's
    preferred channel (SMS when they take SMS, else e-mail); their messages count as read."""
    text = text.strip()
    if not text:
        raise CustomersError(gettext("A reply needs some text"), field="text", value=text)
    message = CustomerMessage.objects.create(
        order=order, direction=CustomerMessage.Direction.OUTBOUND, text=text, author=by
    )
    customer_messages_mark_read(order=order)
    channels = [channel for channel, _recipient, _skip in recipients(order) if channel != Channel.WEBHOOK]
    if channels:
        preferred = Channel.SMS if Channel.SMS in channels else channels[0]
        notifications_create(
            order=order, event=Event.REPLY, occasion=f"message:{message.pk}", extra={"text": text},
            only_channel=preferred,
        )  # fmt: skip
    return message


def customer_messages_mark_read(*, order: Order) -> int:
    return CustomerMessage.objects.filter(
        order=order, direction=CustomerMessage.Direction.INBOUND, read_at__isnull=True
    ).update(read_at=timezone.now())
