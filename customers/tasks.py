"""Celery tasks of the customers app: thin, idempotent, retries only (the work is in services)."""

from datetime import datetime, timedelta

from celery import shared_task
from django.utils import timezone

from config.tasks import enqueue
from customers import services


@shared_task(bind=True, max_retries=None, acks_late=True)
def send_notification(self, notification_id: int) -> str:
    outcome = services.notification_send(notification_id=notification_id)
    # Embedded mode (no broker, tasks run in-process): retry at once rather than hold the
    # notifications queue's thread for minutes; the attempt counter on the row still bounds it.
    while outcome.retry_in is not None and self.request.is_eager:
        outcome = services.notification_send(notification_id=notification_id)
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


@shared_task(acks_late=True)
def notify_plan(plan_id: int) -> int:
    services.notifications_release_due()
    return services.notifications_for_plan(plan_id=plan_id)


# latest_only: only an order's newest ETA is worth telling; while one waits, a newer ETA for the same
# order replaces it (config.tasks.run_latest), so a flood of live ETAs makes one job per order.
@shared_task(acks_late=True, latest_only=True)
def notify_eta(order_id: int, eta: str | None) -> int:
    services.notifications_release_due()
    return services.notifications_for_eta(order_id=order_id, eta=datetime.fromisoformat(eta) if eta else None)


@shared_task(acks_late=True)
def notify_status(order_id: int, to_status: str, reason: str = "") -> int:
    services.notifications_release_due()
    return services.notifications_for_status(order_id=order_id, to_status=to_status, reason=reason)
