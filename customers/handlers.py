"""Handlers of dispatch.events (registered in dispatch.events.HANDLERS): each only enqueues a task, but
on_orders_created, which makes the new orders' tracking links inside the import's transaction.

They run after the triggering transaction committed; on_commit is still used so that a handler
called inside some later transaction starts nothing if that one rolls back.
"""

from django.core.cache import cache
from django.db import transaction

from config.tasks import enqueue
from customers.notifications.tasks import notify_eta, notify_handoff, notify_plan, notify_status
from customers.selectors import next_stop_order_id_for_driver
from customers.tracking_links import tracking_links_create
from dispatch.live.broadcast import broadcast, order_group

NEXT_STOP_CACHE_S = 20
POSITION_EVERY_S = 2


def on_orders_created(*, orders) -> None:
    """In the import's transaction (dispatch.events.IN_TRANSACTION_HANDLERS): every new order gets its
    tracking link with it, or the import rolls back."""
    tracking_links_create(orders=orders)


def _moment(at) -> dict:
    """The triggering action's replayed moment (a simulated day's) for the task, or nothing: now."""
    return {"at": at.isoformat()} if at is not None else {}


def on_plan_dispatched(*, plan_id, at=None, **_payload) -> None:
    transaction.on_commit(lambda: enqueue(notify_plan, plan_id, **_moment(at)))


def on_plan_updated(*, plan_id, at=None, **_payload) -> None:
    transaction.on_commit(lambda: enqueue(notify_plan, plan_id, **_moment(at)))


def on_handoff_accepted(*, handoff_id, **_payload) -> None:
    transaction.on_commit(lambda: enqueue(notify_handoff, handoff_id))


def on_eta_changed(*, order_id, eta=None, at=None, **_payload) -> None:
    transaction.on_commit(lambda: enqueue(notify_eta, order_id, eta.isoformat() if eta else None, **_moment(at)))


# Statuses that tell the customer something or change their link (dispatched is told by plan_dispatched,
# with its window): a plan's hundreds of planned → dispatched moves start no task.
STATUSES_OF_INTEREST = {"en_route", "arrived", "delivered", "failed", "cancelled", "new"}


def on_order_status_changed(*, order_id, to_status, reason="", **_payload) -> None:
    if to_status not in STATUSES_OF_INTEREST:
        return

    transaction.on_commit(lambda: enqueue(notify_status, order_id, to_status, reason or ""))


def on_driver_moved(*, driver_id, lat, lon, recorded_at=None, **_payload) -> None:
    """Pass the driver's position to the tracking socket of the driver's next stop only.

    One small query per driver every NEXT_STOP_CACHE_S (the next stop is cached), and at most one
    message per driver per POSITION_EVERY_S: quick enough for the handler contract.
    """
    if not cache.add(f"customers:driver-position:{driver_id}", 1, timeout=POSITION_EVERY_S):
        return
    key = f"customers:next-stop:{driver_id}"
    order_id = cache.get(key)
    if order_id is None:
        order_id = next_stop_order_id_for_driver(driver_id) or 0
        cache.set(key, order_id, timeout=NEXT_STOP_CACHE_S)
    if order_id:
        at = recorded_at.isoformat() if hasattr(recorded_at, "isoformat") else recorded_at
        broadcast(
            [order_group(order_id)], "driver.position", {"driver": driver_id, "lat": lat, "lon": lon, "recorded_at": at}
        )
