"""Promised windows: the arrival window a customer is told, and when a moved ETA is worth a message.

- The first promise of a day is "scheduled" (ETA ± ETA_WINDOW_HALF_WIDTH_MIN on a 5-minute grid; with
  an active learned travel model, the p10-p90 of its arrival errors for that horizon instead, between
  ETA_WINDOW_MIN_WIDTH_MIN and ETA_WINDOW_MAX_WIDTH_MIN wide: routes.learning.selectors.arrival_window).
- An ETA that leaves the promise by more than ETA_DELAY_THRESHOLD_MIN moves it (a new revision),
  and the tracking page shows the new window at once.
- "Delayed" messages are at least CUSTOMER_DELAY_MESSAGE_MIN_INTERVAL_MIN of real time apart per
  order: at 10x, each live-ETA revision used to send one. Inside the interval a revision moves the
  promise but is told only when the interval ends (a timer task, and a once-a-minute sweep for timers
  lost in a restart): the latest window then, once. Exceptions go at once: the window moved
  again by more than its own width since it was last told; the last "new time" is still held for
  quiet hours (it has reached nobody: the newer one replaces it, so the customer wakes to one
  message with the latest time); the stop left the routes (customers.notifications.plan_changes says "we will
  reschedule" whatever the interval). A revision that is void by then (the ETA came back inside
  the window told, the order completed, at the door or taken off the routes) is told nothing.
- The interval is real time (aware datetimes): 15 minutes are 15 minutes on the nights clocks
  change, and it counts from when the last message reaches the customer (the end of quiet hours
  for a held one).
"""

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.tasks import enqueue
from customers.models import Event, Notification, PromisedWindow
from customers.notifications.outbox import TERMINAL, notifications_create, notifications_skip_waiting
from dispatch.live.broadcast import broadcast, order_group
from dispatch.models import Order
from routes.learning.selectors import arrival_window
from routes.models import Stop
from routes.plans.selectors import latest_dispatched_plan

logger = logging.getLogger(__name__)
S = Order.Status
# An order still waiting for its driver: a later time is still news to it (not at the door, not done).
AWAITING = (S.DISPATCHED, S.EN_ROUTE)


def route_stop(order: Order):
    """The order's stop in the plan the drivers follow (with its route's driver), or None."""

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


def driver_first_name(stop) -> str:
    return stop.route.driver.first_name if stop is not None and stop.route.driver_id else ""


def promise_window_for(eta: datetime, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    half = timedelta(minutes=settings.ETA_WINDOW_HALF_WIDTH_MIN)
    # Rounded to 5 minutes: "10:35–11:35" reads as a promise, "10:37:12" as a machine.
    rounded = eta.replace(second=0, microsecond=0) - timedelta(minutes=eta.minute % 5)
    start, end = rounded - half, rounded + half
    learned = arrival_window(max(0.0, (eta - (now or timezone.now())).total_seconds()))
    if learned is not None:
        start, end = _learned_window(eta, *learned)
        half = (end - start) / 2
    # Never promised from a moment already past: a stop due within the half hour is promised "from
    # 21:47" (now), not "from 21:20"; an ETA already behind us (a plan dispatched late, a driver
    # late) is promised from now for at least half the usual width, until live ETAs revise it.
    current = (now or timezone.now()).replace(second=0, microsecond=0)
    if start < current:
        start, end = current, max(end, current + half)
    return start, end


def _learned_window(eta: datetime, low_s: float, high_s: float) -> tuple[datetime, datetime]:
    """The p10-p90 of the active travel model's arrival errors around the ETA, on the 5-minute grid
    (outwards), at least ETA_WINDOW_MIN_WIDTH_MIN and at most ETA_WINDOW_MAX_WIDTH_MIN wide (cut
    evenly around its middle): an honest window, but never a useless one."""
    start, end = eta + timedelta(seconds=low_s), eta + timedelta(seconds=high_s)
    shortest = timedelta(minutes=settings.ETA_WINDOW_MIN_WIDTH_MIN)
    widest = timedelta(minutes=settings.ETA_WINDOW_MAX_WIDTH_MIN)
    middle = start + (end - start) / 2
    width = min(max(end - start, shortest), widest)
    start, end = middle - width / 2, middle + width / 2
    start = start.replace(second=0, microsecond=0) - timedelta(minutes=start.minute % 5)
    end_floor = end.replace(second=0, microsecond=0) - timedelta(minutes=end.minute % 5)
    end = end_floor if end_floor == end else end_floor + timedelta(minutes=5)
    if end - start > widest:
        end -= timedelta(minutes=5)
    return start, end


def delay_message_interval() -> timedelta:
    return timedelta(minutes=settings.CUSTOMER_DELAY_MESSAGE_MIN_INTERVAL_MIN)


def _next_delay_message_at(promise: PromisedWindow) -> datetime | None:
    """The earliest moment another "delayed" message may go out, or None for at once."""
    if promise.delay_told_at is None:
        return None
    return promise.delay_told_at + delay_message_interval()


def _moved_beyond_its_width(promise: PromisedWindow) -> bool:
    """The window moved again, since it was last told, by more than that window's own width."""
    if promise.told_start is None or promise.told_end is None:
        return True
    width = promise.told_end - promise.told_start
    told_middle = promise.told_start + width / 2
    middle = promise.start + (promise.end - promise.start) / 2
    return abs(middle - told_middle) > width


def tracking_page_refresh(order_id: int) -> None:
    """The tracking page re-reads its state (the socket's consumer refreshes on this message)."""

    def send():
        try:
            broadcast([order_group(order_id)], "tracking.refresh", {})
        except Exception:  # noqa: BLE001 - the page polls too; a lost refresh costs 30 s, not the change
            logger.exception("could not refresh the tracking page of order %s", order_id)

    transaction.on_commit(send)


def _tell(
    promise: PromisedWindow, *, order: Order, event: str, occasion: str, extra: dict, now: datetime | None = None
) -> list[Notification]:
    """Send the promise as it stands and remember it as told (caller's transaction, promise locked)."""
    now = now or timezone.now()
    promise.told_start, promise.told_end, promise.told_revision = promise.start, promise.end, promise.revision
    promise.save()  # first: the message says the window saved (customers.notifications.rendering reads it)
    created = notifications_create(order=order, event=event, occasion=occasion, extra=extra)
    if event == Event.DELAYED:
        # A "new time" still held for quiet hours names a time that no longer holds: this one replaces it.
        notifications_skip_waiting(
            order=order,
            events=[Event.DELAYED],
            reason="superseded by a newer time",
            exclude_ids=[n.pk for n in created],
        )
        # The interval counts from when the customer gets it: held for quiet hours, from their end.
        promise.delay_told_at = max([now, *(n.send_after for n in created if n.send_after)])
        promise.save(update_fields=["delay_told_at", "updated_at"])
    return created


def _schedule_delay_message(order_id: int, at: datetime) -> None:
    # Imported here: customers.notifications.tasks imports this module (tasks -> services is the direction of the layers).

    transaction.on_commit(lambda: enqueue("customers.tasks.send_delay_message", order_id, eta=at))


@transaction.atomic
def promise_check(
    *, order: Order, eta: datetime, driver_first_name: str | Callable[[], str], now: datetime | None = None
) -> list[Notification]:
    """Schedule (first promise of the day) or, when the ETA left the promise by more than the
    threshold, move the promise and say so (delayed), at most once per interval (module docstring).
    `driver_first_name` may be a function: it is called only for a message (most live ETAs stay
    inside the promise and need no driver's name). `now`: the moment of the dispatch or live ETA that
    set this off when a simulator replays a past day (the promise is made as of then); None: now."""
    now = now or timezone.now()
    # Lock the promise: a plan update and a live ETA arriving together must not both revise it.
    promise = PromisedWindow.objects.select_for_update().filter(order=order).first()
    if promise is None:
        # No promise yet, so nothing was locked: lock the order instead, then look again. Two processes
        # making the first promise together would otherwise both insert it (a duplicate-key error on
        # the order); the second waits here for the first to commit and then revises its promise.
        list(Order.objects.select_for_update().filter(pk=order.pk).values_list("pk", flat=True))
        promise = PromisedWindow.objects.select_for_update().filter(order=order).first()
    start, end = promise_window_for(eta, now=now)

    def extra() -> dict:
        return {"driver_first_name": driver_first_name() if callable(driver_first_name) else driver_first_name}

    if promise is None or promise.day != order.date:
        if promise is None:
            promise = PromisedWindow(order=order)
        promise.day, promise.start, promise.end, promise.revision = order.date, start, end, 1
        promise.delay_told_at = None
        occasion = order.date.isoformat()
        # Back on a route after "we will reschedule": a new first promise, so a message of its own.
        taken_off = Notification.objects.filter(order=order, event=Event.RESCHEDULED).values("occasion").distinct()
        if taken_off.exists():
            occasion = f"{occasion}/after-{taken_off.count()}"
        tracking_page_refresh(order.pk)
        return _tell(promise, order=order, event=Event.SCHEDULED, occasion=occasion, extra=extra(), now=now)
    threshold = timedelta(minutes=settings.ETA_DELAY_THRESHOLD_MIN)
    if (
        promise.revision > promise.told_revision
        and promise.told_start - threshold <= eta <= promise.told_end + threshold
    ):
        # Back inside the window the customer was told: the change not yet told is void.
        promise.start, promise.end, promise.told_revision = promise.told_start, promise.told_end, promise.revision
        promise.save()
        tracking_page_refresh(order.pk)
        return []
    if promise.start - threshold <= eta <= promise.end + threshold:
        return []
    already_waiting = promise.revision > promise.told_revision  # its timer is set
    promise.start, promise.end, promise.revision = start, end, promise.revision + 1
    tracking_page_refresh(order.pk)
    due = _next_delay_message_at(promise)
    # The last "new time" still held for quiet hours has reached nobody yet: this one replaces it.
    still_held = promise.delay_told_at is not None and promise.delay_told_at > now
    if due is not None and now < due and not still_held and not _moved_beyond_its_width(promise):
        promise.save()
        if not already_waiting:
            _schedule_delay_message(order.pk, due)
        return []
    occasion = f"{order.date.isoformat()}/r{promise.revision}"
    return _tell(promise, order=order, event=Event.DELAYED, occasion=occasion, extra=extra(), now=now)


def delay_message_send(*, order_id: int, now: datetime | None = None) -> list[Notification]:
    """The interval after the last "delayed" message is over: tell the promise's latest revision
    once, if it is still news (idempotent: a repeated call, early or late, sends nothing more)."""
    now = now or timezone.now()
    with transaction.atomic():
        promise = PromisedWindow.objects.select_for_update().filter(order_id=order_id).first()
        if promise is None or promise.revision <= promise.told_revision:
            return []  # told already, or superseded (taken off the routes: the promise is gone)
        due = _next_delay_message_at(promise)
        if due is not None and now < due:
            return []  # a redelivered timer or the sweep came early: the timer for `due` still comes
        order = Order.objects.select_related("customer").get(pk=order_id)
        if order.status not in AWAITING or promise.day != order.date:
            # At the door, done, or on another day: the new time is no news any more.
            promise.told_revision = promise.revision
            promise.save(update_fields=["told_revision", "updated_at"])
            return []
        name = driver_first_name(route_stop(order))
        occasion = f"{order.date.isoformat()}/r{promise.revision}"
        return _tell(promise, order=order, event=Event.DELAYED, occasion=occasion, extra={"driver_first_name": name})


def delay_messages_send_due(*, now: datetime | None = None) -> int:
    """Tell every promise whose untold revision has waited out its interval (a once-a-minute sweep,
    for timers lost in a restart of the embedded mode or a broker's outage)."""
    now = now or timezone.now()
    due = PromisedWindow.objects.filter(
        revision__gt=F("told_revision"), delay_told_at__lte=now - delay_message_interval()
    ).values_list("order_id", flat=True)[:500]
    return sum(len(delay_message_send(order_id=order_id, now=now)) for order_id in list(due))


def notifications_for_eta(*, order_id: int, eta: datetime | None, now: datetime | None = None) -> int:
    """A live ETA came in: a delay beyond the promise, or arriving soon (under ARRIVING_SOON_MIN).
    `now`: the moment a simulated day's live ETA was computed at; None: now."""
    now = now or timezone.now()
    order = Order.objects.select_related("customer").filter(pk=order_id).first()
    if order is None or eta is None or order.status in TERMINAL or order.status not in AWAITING:
        return 0
    # The driver's name (the order's stop in the plan drivers follow: two queries) only for a message:
    # most live ETAs change nothing the customer is told (and `make simulate` at 10x sends floods of them).
    driver = functools.cache(lambda: driver_first_name(route_stop(order)))
    sent = promise_check(order=order, eta=eta, driver_first_name=driver, now=now)
    if eta - now <= timedelta(minutes=settings.ARRIVING_SOON_MIN):
        sent += notifications_create(
            order=order,
            event=Event.ARRIVING_SOON,
            occasion=order.date.isoformat(),
            extra={"driver_first_name": driver()},
        )
    return len(sent)
