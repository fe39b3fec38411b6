"""Writes of the customers app: promised windows, notifications, feedback, messages (tracking links:
customers.tracking_links).

How a notification travels: an event handler (customers.handlers) enqueues a task; the task calls
one of the `notifications_for_*` services below, which decide what to say and create Notification
rows (one per channel; the unique constraint drops repeats) and, after commit, enqueue
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

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template import Context, Engine
from django.utils import timezone

from config import faults
from customers.errors import CustomersError
from customers.models import (
    Channel,
    CustomerMessage,
    Event,
    Feedback,
    Notification,
    NotificationTemplate,
    PromisedWindow,
    TrackingLink,
)
from customers.notification_texts import DEFAULT_TEMPLATES, FAILURE_REASONS
from customers.tracking_links import tracking_link_ensure, tracking_links_set_expiry, tracking_url
from dispatch.models import Alert, Order

logger = logging.getLogger(__name__)
S = Order.Status
TERMINAL = {S.DELIVERED, S.FAILED, S.CANCELLED}
# Events that lose their point once the order is completed (a held one is then skipped, not sent late).
PROGRESS_EVENTS = {Event.SCHEDULED, Event.OUT_FOR_DELIVERY, Event.DELAYED, Event.ARRIVING_SOON}


# --- Rendering ---------------------------------------------------------------------------------

_ENGINE = Engine(autoescape=False)  # plain-text messages: nothing is HTML-escaped


def _local(moment: datetime | None) -> datetime | None:
    return timezone.localtime(moment) if moment else None


def _hhmm(moment) -> str:
    return _local(moment).strftime("%H:%M") if moment else ""


def _day_label(day, language: str) -> str:
    return day.strftime("%d.%m.%Y") if language == "de" else day.strftime("%d %b %Y")


def customer_language(order: Order) -> str:
    language = order.customer.language if order.customer_id else settings.DEFAULT_CUSTOMER_LANGUAGE
    return language if language in dict(settings.LANGUAGES) else "en"


def notification_render(*, event: str, channel: str, language: str, context: dict) -> tuple[str, str]:
    """(subject, body) from the managers' template, or the shipped default when there is none."""
    template = NotificationTemplate.objects.filter(event=event, channel=channel, language=language).first()
    if template is None and channel == Channel.WEBHOOK:
        template = NotificationTemplate.objects.filter(event=event, channel=Channel.SMS, language=language).first()
    if template is not None:
        subject, body = template.subject, template.body
    else:
        fallback = Channel.SMS if channel == Channel.WEBHOOK else channel
        subject, body = DEFAULT_TEMPLATES.get((event, fallback, language)) or DEFAULT_TEMPLATES[(event, fallback, "en")]
    rendered_subject = _ENGINE.from_string(subject).render(Context(context)).strip().replace("\n", " ")
    return rendered_subject, _ENGINE.from_string(body).render(Context(context)).strip()


def _message_context(order: Order, link: TrackingLink, language: str, extra: dict) -> dict:
    promise = PromisedWindow.objects.filter(order=order).first()
    start = promise.start if promise else order.window_start
    end = promise.end if promise else order.window_end
    name = (order.customer.name if order.customer_id and order.customer.name else order.customer_name) or ""
    return {
        "name": name or ("Kundin, Kunde" if language == "de" else "there"),
        "reference": order.reference,
        "date": _day_label(order.date, language),
        "window_start": _hhmm(start),
        "window_end": _hhmm(end),
        "tracking_url": tracking_url(link),
        "driver_first_name": "",
        **extra,
    }


# --- Deciding what to send ---------------------------------------------------------------------


def _in_quiet_hours(customer, now: datetime) -> datetime | None:
    """When the customer's quiet hours end, if `now` is inside them (local wall-clock times)."""
    if customer is None or customer.quiet_hours_start is None or customer.quiet_hours_end is None:
        return None
    start, end = customer.quiet_hours_start, customer.quiet_hours_end
    local = timezone.localtime(now)
    moment = local.time()
    inside = start <= moment < end if start < end else (moment >= start or moment < end)
    if not inside:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends


def _recipients(order: Order) -> list[tuple[str, str, str]]:
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


def notifications_create(
    *, order: Order, event: str, occasion: str = "", extra: dict | None = None, only_channel: str | None = None
) -> list[Notification]:
    """Write this event's messages for the order (one per channel) and send them after commit.

    A repeat of the same (order, event, channel, occasion) changes nothing: the existing row stands.
    """
    from config.tasks import enqueue
    from customers.tasks import send_notification

    now = timezone.now()
    language = customer_language(order)
    link = tracking_link_ensure(order=order)
    context = _message_context(order, link, language, extra or {})
    customer = order.customer if order.customer_id else None
    quiet_until = _in_quiet_hours(customer, now)
    created = []
    for channel, recipient, skip_reason in _recipients(order):
        if only_channel and channel not in (only_channel, Channel.WEBHOOK):
            continue
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
        if status in (Notification.Status.PENDING, Notification.Status.HELD):
            # A held message is started when quiet hours end (embedded mode: a timer in this process,
            # lost on restart; `manage.py send_held_notifications` or the next event picks it up).
            transaction.on_commit(lambda pk=notification.pk, eta=send_after: enqueue(send_notification, pk, eta=eta))
    return created


def _route_stop(order: Order):
    """The order's stop in the plan the drivers follow (with its route's driver), or None."""
    from routes.models import Stop
    from routes.replanning import latest_dispatched_plan

    plan = latest_dispatched_plan(day=order.date, depot_id=order.depot_id)
    if plan is None:
        return None
    # The route's road geometry is a large JSON nobody here reads: decoding it once per stop row was
    # most of the embedded server's CPU under `make simulate` (every live ETA comes through here).
    return (
        Stop.objects.filter(route__plan=plan, order=order)
        .select_related("route__driver")
        .defer("route__geometry")
        .first()
    )


def _route_stops(order: Order):
    """The stops of the route this order is on in the plan the drivers follow (ordered), or []."""
    from routes.models import Stop

    stop = _route_stop(order)
    if stop is None:
        return None, []
    stops = list(
        Stop.objects.filter(route_id=stop.route_id)
        .select_related("order__customer", "route__driver")
        .defer("route__geometry")
        .order_by("sequence")
    )
    return stop, stops


def _driver_first_name(stop) -> str:
    return stop.route.driver.first_name if stop is not None and stop.route.driver_id else ""


def promise_window_for(eta: datetime, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    half = timedelta(minutes=settings.ETA_WINDOW_HALF_WIDTH_MIN)
    # Rounded to 5 minutes: "10:35–11:35" reads as a promise, "10:37:12" as a machine.
    rounded = eta.replace(second=0, microsecond=0) - timedelta(minutes=eta.minute % 5)
    start, end = rounded - half, rounded + half
    # Never promised from a moment already past: a stop due within the half hour is promised "from
    # 21:47" (now), not "from 21:20"; an ETA already behind us (a plan dispatched late, a driver
    # late) is promised from now for at least half the usual width, until live ETAs revise it.
    current = (now or timezone.now()).replace(second=0, microsecond=0)
    if start < current:
        start, end = current, max(end, current + half)
    return start, end


@transaction.atomic
def _promise_check(*, order: Order, eta: datetime, driver_first_name: str | Callable[[], str]) -> list[Notification]:
    """Schedule (first promise of the day) or, when the ETA left the promise by more than the
    threshold, move the promise and say so (delayed). `driver_first_name` may be a function: it is
    called only for a message (most live ETAs stay inside the promise and need no driver's name)."""
    # Lock the promise: a plan update and a live ETA arriving together must not both revise it.
    promise = PromisedWindow.objects.select_for_update().filter(order=order).first()
    start, end = promise_window_for(eta)

    def extra() -> dict:
        return {"driver_first_name": driver_first_name() if callable(driver_first_name) else driver_first_name}

    if promise is None or promise.day != order.date:
        if promise is None:
            promise = PromisedWindow(order=order)
        promise.day, promise.start, promise.end, promise.revision = order.date, start, end, 1
        promise.save()
        occasion = order.date.isoformat()
        # Back on a route after "we will reschedule": a new first promise, so a message of its own.
        taken_off = Notification.objects.filter(order=order, event=Event.RESCHEDULED).values("occasion").distinct()
        if taken_off.exists():
            occasion = f"{occasion}/after-{taken_off.count()}"
        return notifications_create(order=order, event=Event.SCHEDULED, occasion=occasion, extra=extra())
    threshold = timedelta(minutes=settings.ETA_DELAY_THRESHOLD_MIN)
    if promise.start - threshold <= eta <= promise.end + threshold:
        return []
    promise.start, promise.end, promise.revision = start, end, promise.revision + 1
    promise.save()
    occasion = f"{order.date.isoformat()}/r{promise.revision}"
    return notifications_create(order=order, event=Event.DELAYED, occasion=occasion, extra=extra())


def notifications_for_plan(*, plan_id: int) -> int:
    """A plan was dispatched or replaced: schedule new orders, tell those whose ETA left the promise,
    and those the new version took off every route that we will reschedule. One message per changed
    customer and version (a retried task adds none: each message's occasion names the version)."""
    from routes.models import Plan, Stop
    from routes.replanning import latest_dispatched_plan

    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None or plan.dispatched_at is None:
        return 0
    current = latest_dispatched_plan(day=plan.date, depot_id=plan.depot_id)
    if current is None or current.pk != plan.pk:
        return 0  # an older version: drivers no longer follow it
    count = 0
    stops = Stop.objects.filter(route__plan=plan).select_related("order__customer", "route__driver")
    for stop in stops:
        if stop.order.status in TERMINAL:
            continue
        eta = stop.live_eta or stop.eta
        count += len(_promise_check(order=stop.order, eta=eta, driver_first_name=_driver_first_name(stop)))
    previous = latest_dispatched_plan(day=plan.date, depot_id=plan.depot_id, before_version=plan.version)
    if previous is not None:
        on_routes = {stop.order_id for stop in stops}
        reasons = dict(plan.unassigned.values_list("order_id", "code"))
        for stop in Stop.objects.filter(route__plan=previous).exclude(order_id__in=on_routes).select_related("order"):
            if stop.order.status not in TERMINAL:
                count += len(_reschedule_notice(order=stop.order, plan=plan, code=reasons.get(stop.order_id, "")))
    return count


@transaction.atomic
def _reschedule_notice(*, order: Order, plan, code: str) -> list[Notification]:
    """The order left the routes: the promise no longer holds and nothing may still say the driver
    is coming; the customer hears once that we will reschedule."""
    from customers.notification_texts import RESCHEDULE_REASONS

    # Forgotten, so the tracking page shows no window that will not be kept, and a later version
    # that plans it again makes a new first promise.
    PromisedWindow.objects.filter(order=order).delete()
    Notification.objects.filter(
        order=order, event__in=list(PROGRESS_EVENTS), status__in=[Notification.Status.PENDING, Notification.Status.HELD]
    ).update(status=Notification.Status.SKIPPED, status_reason="no longer on a route")
    words = RESCHEDULE_REASONS[customer_language(order)].get(code, "")
    occasion = f"{order.date.isoformat()}/plan-{plan.pk}"
    return notifications_create(order=order, event=Event.RESCHEDULED, occasion=occasion, extra={"reason": words})


def notifications_for_eta(*, order_id: int, eta: datetime | None) -> int:
    """A live ETA came in: a delay beyond the promise, or arriving soon (under ARRIVING_SOON_MIN)."""
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None or eta is None or order.status in TERMINAL or order.status not in (S.DISPATCHED, S.EN_ROUTE):
        return 0
    # The driver's name (the order's stop in the plan drivers follow: two queries) only for a message:
    # most live ETAs change nothing the customer is told (and `make simulate` at 10x sends floods of them).
    driver = functools.cache(lambda: _driver_first_name(_route_stop(order)))
    sent = _promise_check(order=order, eta=eta, driver_first_name=driver)
    if eta - timezone.now() <= timedelta(minutes=settings.ARRIVING_SOON_MIN):
        sent += notifications_create(
            order=order,
            event=Event.ARRIVING_SOON,
            occasion=order.date.isoformat(),
            extra={"driver_first_name": driver()},
        )
    return len(sent)


def _proof_context(order: Order) -> dict:
    proof = order.proofs.order_by("-delivered_at").first()
    delivered_at = proof.delivered_at if proof else timezone.now()
    return {"recipient_name": proof.recipient_name if proof else "", "delivered_at": _hhmm(delivered_at)}


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
    return len(sent)


# A stop action the driver's phone sent from its offline queue this long after it happened says
# nothing about where the driver is now (the next stops may be in the same queue, already done):
# the waiting customers hear from the live ETAs instead (notifications_for_eta).
OFFLINE_ACTION_STALE_AFTER = timedelta(minutes=10)


def _sent_from_offline_queue(order: Order, to_status: str) -> bool:
    change = order.status_history.filter(to_status=to_status).order_by("-received_at", "-id").first()
    return change is not None and change.received_at - change.changed_at > OFFLINE_ACTION_STALE_AFTER


def _route_progress(*, order: Order, to_status: str) -> list[Notification]:
    """The driver is working the route: everyone still waiting is told it is out for delivery,
    and the next stop (this order when en route, else the first open one) that it arrives soon."""
    stop, stops = _route_stops(order)
    if stop is None:
        return []
    driver = _driver_first_name(stop)
    extra = {"driver_first_name": driver}
    waiting = [s for s in stops if s.order.status in (S.DISPATCHED, S.EN_ROUTE)]
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


def notifications_release_due(*, now: datetime | None = None) -> int:
    """Enqueue held messages whose quiet hours are over (called by each event task and a command)."""
    from config.tasks import enqueue
    from customers.tasks import send_notification

    due = list(
        Notification.objects.filter(status=Notification.Status.HELD, send_after__lte=now or timezone.now()).values_list(
            "pk", flat=True
        )[:500]
    )
    for pk in due:
        transaction.on_commit(lambda pk=pk: enqueue(send_notification, pk))
    return len(due)


# --- Sending -----------------------------------------------------------------------------------


@dataclass
class SendOutcome:
    status: str
    retry_in: int | None = None  # seconds: a transient failure, try again
    hold_for: int | None = None  # seconds: still inside quiet hours
    recheck_in: int | None = None  # seconds: "sending" elsewhere, or interrupted; look again when it is stale


def _alert_failed(notification: Notification) -> None:
    order = notification.order
    Alert.objects.get_or_create(
        dedup_key=f"notification:{notification.pk}",
        resolved_at=None,
        defaults={
            "depot_id": order.depot_id,
            "kind": Alert.Kind.OTHER,
            "order": order,
            "message": f"Could not send {notification.get_event_display().lower()} to {order.reference} by "
            f"{notification.get_channel_display()}: {notification.status_reason}"[:500],
            "data": {"notification": notification.pk, "channel": notification.channel, "event": notification.event},
        },
    )


def _finish(pk: int, *, status: str, reason: str = "", **fields) -> int:
    # Only from "sending": a row finished by another (duplicate) task is never overwritten.
    return Notification.objects.filter(pk=pk, status=Notification.Status.SENDING).update(
        status=status, status_reason=reason[:255], **fields
    )


def notification_send(*, notification_id: int, now: datetime | None = None) -> SendOutcome:
    """Send one outbox row at most once; returns what the task should do next."""
    from customers.backends import PermanentSendError, TransientSendError, UncertainSendError, backend_for

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
            _finish(notification.pk, status=N.FAILED, reason=reason)
            notification.status_reason = reason
            _alert_failed(notification)
            return SendOutcome(N.FAILED)
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
        _finish(notification.pk, status=N.FAILED, reason=f"gave up after {notification.attempts} attempts: {exc}")
        notification.status_reason = str(exc)
        _alert_failed(notification)
        return SendOutcome(N.FAILED)
    except UncertainSendError as exc:
        # At most once: the provider may have sent it, so it is not retried; the dispatcher is told.
        reason = f"{exc}; not re-sent (it may have reached the customer)"
        _finish(notification.pk, status=N.FAILED, reason=reason)
        notification.status_reason = reason
        _alert_failed(notification)
        return SendOutcome(N.FAILED)
    except PermanentSendError as exc:
        _finish(notification.pk, status=N.FAILED, reason=str(exc))
        notification.status_reason = str(exc)
        _alert_failed(notification)
        return SendOutcome(N.FAILED)
    _finish(notification.pk, status=N.SENT, reason="", sent_at=timezone.now(), provider_id=(provider_id or "")[:128])
    return SendOutcome(N.SENT)


# --- Feedback and messages ---------------------------------------------------------------------


def feedback_submit(*, order: Order, rating: int, comment: str = "") -> Feedback:
    if order.status != S.DELIVERED:
        raise CustomersError("Feedback is possible once the order is delivered", field="rating", value=rating)
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
        raise CustomersError("A reply needs some text", field="text", value=text)
    message = CustomerMessage.objects.create(
        order=order, direction=CustomerMessage.Direction.OUTBOUND, text=text, author=by
    )
    customer_messages_mark_read(order=order)
    channels = [channel for channel, _recipient, _skip in _recipients(order) if channel != Channel.WEBHOOK]
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


def notification_render_check(*, subject: str, body: str) -> None:
    """Refuse a template that does not parse (a manager's typo must not break every message)."""
    from django.core.exceptions import ValidationError
    from django.template import TemplateSyntaxError

    try:
        _ENGINE.from_string(subject)
        _ENGINE.from_string(body)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"Template error: {exc}") from None
