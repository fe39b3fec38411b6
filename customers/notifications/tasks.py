"""Celery tasks of the customers app: thin, idempotent, retries only (the work is in services)."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.utils import timezone

from config import metrics
from config.tasks import enqueue
from customers.models import Notification
from customers.notifications.outbox import notifications_release_due
from customers.notifications.partner_messages import notifications_for_handoff
from customers.notifications.plan_changes import notifications_for_plan
from customers.notifications.promises import delay_message_send, delay_messages_send_due, notifications_for_eta
from customers.notifications.sending import notification_send
from customers.notifications.status_messages import notifications_for_status


@shared_task(name="customers.tasks.send_notification", bind=True, max_retries=None, acks_late=True)
def send_notification(self, notification_id: int) -> str:
    outcome = notification_send(notification_id=notification_id)
    # Embedded mode (no broker, tasks run in-process): retry at once rather than hold the
    # notifications queue's thread for minutes; the attempt counter on the row still bounds it.
    while outcome.retry_in is not None and self.request.is_eager:
        outcome = notification_send(notification_id=notification_id)
    if outcome.retry_in is not None:
        # A transient failure: the row is "pending" again; how many times is counted on the row
        # (Notification.attempts), so a redelivered task cannot retry forever.
        raise self.retry(countdown=outcome.retry_in)
    if outcome.recheck_in is not None and not self.request.is_eager:
        raise self.retry(countdown=outcome.recheck_in)
    if outcome.hold_for is not None:
        # Quiet hours: come back when they end, in steps under the broker's visibility timeout
        # (a longer countdown could be redelivered early; the claim would make that harmless anyway).
        enqueue(send_notification, notification_id, eta=timezone.now() + timedelta(seconds=min(outcome.hold_for, 3000)))
    return outcome.status


@shared_task(name="customers.tasks.notify_plan", acks_late=True)
def notify_plan(plan_id: int, at: str | None = None) -> int:
    """`at`: the moment a simulated day's plan was dispatched (the promises are made then); None: now."""
    notifications_release_due()
    delay_messages_send_due()  # the embedded mode has no beat: events pick up timers lost in a restart
    return notifications_for_plan(plan_id=plan_id, now=datetime.fromisoformat(at) if at else None)


# latest_only: only an order's newest ETA is worth telling; while one waits, a newer ETA for the same
# order replaces it (config.tasks.run_latest), so a flood of live ETAs makes one job per order.
@shared_task(name="customers.tasks.notify_eta", acks_late=True, latest_only=True)
def notify_eta(order_id: int, eta: str | None, at: str | None = None) -> int:
    """`at`: the moment a simulated day's live ETA was computed at; None: now."""
    notifications_release_due()
    return notifications_for_eta(
        order_id=order_id,
        eta=datetime.fromisoformat(eta) if eta else None,
        now=datetime.fromisoformat(at) if at else None,
    )


@shared_task(name="customers.tasks.notify_status", acks_late=True)
def notify_status(order_id: int, to_status: str, reason: str = "") -> int:
    notifications_release_due()
    delay_messages_send_due()
    return notifications_for_status(order_id=order_id, to_status=to_status, reason=reason)


@shared_task(name="customers.tasks.notify_handoff", acks_late=True)
def notify_handoff(handoff_id: int) -> int:
    """A courier partner accepted an order: the customer's "scheduled" message, as after our dispatch."""
    notifications_release_due()
    return notifications_for_handoff(handoff_id=handoff_id)


@shared_task(name="customers.tasks.send_delay_message", acks_late=True)
def send_delay_message(order_id: int) -> int:
    """The interval after an order's last "delayed" message is over: its newest window, once."""
    return len(delay_message_send(order_id=order_id))


@shared_task(name="customers.tasks.send_due_delay_messages", acks_late=True)
def send_due_delay_messages() -> int:
    """Beat, once a minute: the same for timers lost in a restart (and held messages now due)."""
    notifications_release_due()
    return delay_messages_send_due()


@metrics.safely
def count_notification_outcome(args, outcome) -> None:
    """After send_notification (config.metrics.TASK_OUTCOME_COUNTERS): its outcome, by channel."""
    if not args or not isinstance(outcome, str):
        return
    notification_id = args[0]
    channel = Notification.objects.filter(pk=notification_id).values_list("channel", flat=True).first()
    metrics.NOTIFICATIONS.labels(channel=channel or "?", outcome=outcome).inc()
