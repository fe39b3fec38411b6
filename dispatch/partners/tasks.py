"""Celery tasks of courier partners: the signed webhook (with retries) and the cut-off."""

from celery import shared_task

from dispatch.partners.services import handoff_expire, handoffs_expire_due
from dispatch.partners.webhooks import handoff_webhook_send, withdrawal_webhook_send


@shared_task(name="dispatch.partners.tasks.send_handoff_webhook", bind=True, max_retries=None, acks_late=True)
def send_handoff_webhook(self, handoff_id: int) -> bool:
    outcome = handoff_webhook_send(handoff_id=handoff_id)
    # Embedded mode and tests (no broker): retry at once rather than hold the queue's thread; the
    # attempt counter on the hand-off bounds it (WEBHOOK_MAX_ATTEMPTS) either way.
    while outcome.retry_in is not None and self.request.is_eager:
        outcome = handoff_webhook_send(handoff_id=handoff_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.sent


@shared_task(name="dispatch.partners.tasks.send_withdrawal_webhook", bind=True, max_retries=None, acks_late=True)
def send_withdrawal_webhook(self, handoff_id: int) -> bool:
    """The partner is told a hand-off was taken back (same retries and bound as the offer's)."""
    outcome = withdrawal_webhook_send(handoff_id=handoff_id)
    while outcome.retry_in is not None and self.request.is_eager:
        outcome = withdrawal_webhook_send(handoff_id=handoff_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.sent


@shared_task(name="dispatch.partners.tasks.expire_handoff", acks_late=True)
def expire_handoff(handoff_id: int) -> bool:
    """At the hand-off's cut-off (scheduled when it was offered)."""
    return handoff_expire(handoff_id=handoff_id)


@shared_task(name="dispatch.partners.tasks.expire_due_handoffs", acks_late=True)
def expire_due_handoffs() -> int:
    """Beat, each minute: cut-offs whose scheduled run was lost (a restart in embedded mode)."""
    return handoffs_expire_due()
