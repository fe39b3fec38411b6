"""Sending one outbox row at most once: claim it (pending -> sending, a conditional UPDATE), call the
channel backend outside any transaction, record the outcome.

A message interrupted mid-send (worker killed) is never re-sent, since at most one message per
(order, event, channel) beats at least one: it is marked failed and shown to the dispatcher.
A held message whose order has meanwhile been completed is skipped as outdated instead of sent late.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config import faults
from customers.models import Notification
from customers.notifications.backends import PermanentSendError, TransientSendError, UncertainSendError, backend_for
from customers.notifications.outbox import PROGRESS_EVENTS, TERMINAL
from dispatch.alerts import alert_open
from dispatch.models import Alert


@dataclass
class SendOutcome:
    status: str
    retry_in: int | None = None  # seconds: a transient failure, try again
    hold_for: int | None = None  # seconds: still inside quiet hours
    recheck_in: int | None = None  # seconds: "sending" elsewhere, or interrupted; look again when it is stale


def _alert_failed(notification: Notification) -> None:
    # alert_open, not a bare insert: the dispatchers' live pages are told of it as it opens.
    order = notification.order
    alert_open(
        depot_id=order.depot_id,
        kind=Alert.Kind.OTHER,
        dedup_key=f"notification:{notification.pk}",
        order_id=order.pk,
        message=f"Could not send {notification.get_event_display().lower()} to {order.reference} by "
        f"{notification.get_channel_display()}: {notification.status_reason}",
        data={"notification": notification.pk, "channel": notification.channel, "event": notification.event},
    )


def _fail(notification: Notification, reason: str) -> SendOutcome:
    # The failed status and its alert are one write: a reader who sees "failed" sees the alert too,
    # and a worker killed in between leaves neither (the row stays "sending" and is failed, with its
    # alert, once stale). Only the task that moved the row out of "sending" raises the alert.
    with transaction.atomic():
        if _finish(notification.pk, status=Notification.Status.FAILED, reason=reason):
            notification.status_reason = reason[:255]
            _alert_failed(notification)
    return SendOutcome(Notification.Status.FAILED)


def _finish(pk: int, *, status: str, reason: str = "", **fields) -> int:
    # Only from "sending": a row finished by another (duplicate) task is never overwritten.
    return Notification.objects.filter(pk=pk, status=Notification.Status.SENDING).update(
        status=status, status_reason=reason[:255], **fields
    )


def notification_send(*, notification_id: int, now: datetime | None = None) -> SendOutcome:
    """Send one outbox row at most once; returns what the task should do next."""

    now = now or timezone.now()
    notification = Notification.objects.select_related("order").filter(pk=notification_id).first()
    if notification is None:
        return SendOutcome("missing")
    N = Notification.Status
    if notification.status == N.HELD:
        if notification.send_after and notification.send_after > now:
            return SendOutcome(N.HELD, hold_for=int((notification.send_after - now).total_seconds()) + 1)
        if notification.event in PROGRESS_EVENTS and notification.order.status in TERMINAL:
            Notification.objects.filter(pk=notification.pk, status=N.HELD).update(
                status=N.SKIPPED, status_reason="outdated after quiet hours"
            )
            return SendOutcome(N.SKIPPED)
        Notification.objects.filter(pk=notification.pk, status=N.HELD).update(status=N.PENDING)
    elif notification.status == N.SENDING:
        # A "sending" row older than this was interrupted (worker killed mid-send).
        stale_after = timedelta(seconds=settings.NOTIFICATION_STALE_SENDING_S)
        if notification.claimed_at is None or now - notification.claimed_at > stale_after:
            reason = "interrupted while sending; not re-sent (it may have reached the customer)"
            return _fail(notification, reason)
        # Another worker has it right now, or had it and died (this is the redelivered task): come
        # back once it is stale, so an interrupted row does not stay "sending" for ever.
        return SendOutcome(N.SENDING, recheck_in=int((notification.claimed_at + stale_after - now).total_seconds()) + 1)
    elif notification.status != N.PENDING:
        return SendOutcome(notification.status)  # sent, failed or skipped: done

    faults.pause("notification.before_claim")  # tests kill the worker here
    # The claim: of two workers holding the same task (a retry, a redelivery), one updates the row.
    claimed = Notification.objects.filter(pk=notification.pk, status=N.PENDING).update(
        status=N.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return SendOutcome("claimed elsewhere")
    notification.refresh_from_db()
    try:
        provider_id = backend_for(notification.channel).send(notification)
    except TransientSendError as exc:
        delays = settings.NOTIFICATION_RETRY_DELAYS_S
        if notification.attempts <= len(delays):
            Notification.objects.filter(pk=notification.pk, status=N.SENDING).update(
                status=N.PENDING, status_reason=f"retrying: {exc}"[:255]
            )
            return SendOutcome(N.PENDING, retry_in=delays[notification.attempts - 1])
        return _fail(notification, f"gave up after {notification.attempts} attempts: {exc}")
    except UncertainSendError as exc:
        # At most once: the provider may have sent it, so it is not retried; the dispatcher is told.
        reason = f"{exc}; not re-sent (it may have reached the customer)"
        return _fail(notification, reason)
    except PermanentSendError as exc:
        return _fail(notification, str(exc))
    _finish(notification.pk, status=N.SENT, reason="", sent_at=timezone.now(), provider_id=(provider_id or "")[:128])
    return SendOutcome(N.SENT)
