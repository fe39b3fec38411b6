"""What follows a change on the road: live updates to dashboards and phones, customer notifications.

Services call these functions after their transaction commits (transaction.on_commit), so a
rolled-back change tells nobody. Each event calls the handlers listed for it, in order; a handler
must be quick (a group_send, or enqueueing a Celery task) and must not raise for one bad listener.
Handlers are named by dotted path and imported on first use, so the apps that provide them
(live operations, customer notifications) stay independent of the services that trigger them.
"""

import logging

from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# event name -> dotted paths of handler functions (each takes the event's keyword arguments)
HANDLERS: dict[str, tuple[str, ...]] = {
    # order_id, reference, depot_id, from_status, to_status, at (datetime), by_id, reason, note
    "order_status_changed": (
        "dispatch.live.broadcast.order_status_changed",
        "dispatch.live.alerts.on_order_status_changed",
        "analytics.handlers.on_order_status_changed",
        "customers.handlers.on_order_status_changed",
        "dispatch.live.eta.on_order_status_changed",  # the ETA error of completed stops
    ),
    # plan_id, previous_plan_id (None for a first dispatch), reason, at (the simulated clock it was
    # dispatched at; None: now)
    "plan_dispatched": (
        "dispatch.live.broadcast.plan_dispatched",
        "analytics.handlers.on_plan_dispatched",
        "customers.handlers.on_plan_dispatched",
        "dispatch.partners.handlers.on_plan_dispatched",  # the plan's hand-offs, by signed webhook
    ),
    # plan_id (the new version), previous_plan_id, reason, changes (dict: moved, added, removed, eta_changes),
    # at (the simulated clock it was re-planned on; None: now)
    "plan_updated": (
        "dispatch.live.broadcast.plan_updated",
        "customers.handlers.on_plan_updated",
        "dispatch.partners.handlers.on_plan_updated",  # orders an edit gave partners are handed over
    ),
    # driver_id, vehicle_id, depot_id, lat, lon, recorded_at, heading, speed_mps (+ received_at: the
    # replayed moment the server got the position, a simulated day's; absent: now)
    "driver_moved": (
        "dispatch.live.broadcast.driver_moved",
        "dispatch.live.eta.on_driver_moved",
        "dispatch.live.alerts.on_driver_moved",
        "customers.handlers.on_driver_moved",
    ),
    # order_id, depot_id, eta, previous_eta, window_start, window_end (datetimes; None when unknown),
    # at (the replayed moment the ETA was computed at, a simulated day's; None: now)
    "eta_changed": ("customers.handlers.on_eta_changed",),
    # closure_id: a road closure was drawn, changed or lifted (the live map draws it)
    "closure_changed": ("dispatch.live.broadcast.closure_changed",),
    # order_id, handoff_id, partner_id: a courier partner accepted an order handed to it
    "handoff_accepted": ("customers.handlers.on_handoff_accepted",),
    # depot_id, message (dispatch.alerts.alert_message): an alert was opened, changed or resolved
    "alert_changed": ("dispatch.live.broadcast.publish_to_depot",),
}


# Handlers that commit or roll back with the change that announces them: called inside its transaction,
# and an error rolls the change back (an import never leaves orders without their tracking links).
IN_TRANSACTION_HANDLERS: dict[str, tuple[str, ...]] = {
    # orders: the Order rows an import just created
    "orders_created": ("customers.handlers.on_orders_created",),
}


def emit(event: str, *, skip: tuple[str, ...] = (), **payload) -> None:
    for path in HANDLERS[event]:
        if path in skip:
            continue
        try:
            import_string(path)(**payload)
        except Exception:  # noqa: BLE001 - one failing listener must not stop the others or the caller
            logger.exception("handler %s of %s failed", path, event)


def order_status_changed(**payload) -> None:
    emit("order_status_changed", **payload)


def plan_dispatched(**payload) -> None:
    emit("plan_dispatched", **payload)


def plan_updated(**payload) -> None:
    emit("plan_updated", **payload)


def driver_moved(**payload) -> None:
    emit("driver_moved", **payload)


def driver_moved_followups(**payload) -> None:
    """driver_moved for every listener but the dashboards' broadcast, which the lean position intake
    has already done (dispatch.live.position_fanout)."""
    emit("driver_moved", skip=("dispatch.live.broadcast.driver_moved",), **payload)


def eta_changed(**payload) -> None:
    emit("eta_changed", **payload)


def closure_changed(**payload) -> None:
    emit("closure_changed", **payload)


def handoff_accepted(**payload) -> None:
    emit("handoff_accepted", **payload)


def alert_changed(**payload) -> None:
    emit("alert_changed", **payload)


def orders_created(*, orders) -> None:
    for path in IN_TRANSACTION_HANDLERS["orders_created"]:
        import_string(path)(orders=orders)
