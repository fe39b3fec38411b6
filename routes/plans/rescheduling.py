"""Moving an order to another day or window through the plans: the core of a reschedule.

The dispatcher's order page (dispatch.order_desk.services.order_reschedule) and the customer's own
choice of a slot (routes.slots.services, from the tracking page) both come here, so an order moves
the same way whoever moves it. What the customer is then told is the caller's (the customers layer
sits above this one).

An order that is in a plan changes through the plan edit service (routes.plans.editing.plan_edit),
as a dispatcher's drag and drop on the plan page would: a dispatched plan gets a new version,
dispatched at once, so the driver's phone follows; the customers hear of it from the notifications
that follow every new version.
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch.errors import DispatchError, InvalidTransition
from dispatch.models import Order
from dispatch.orders.services import order_change_status, orders_move_to_date
from routes.plans.editing import MOVABLE_STATUSES, plan_edit
from routes.plans.selectors import order_placement

S = Order.Status

# Reschedulable: not yet out of the door, or back at the office (failed, cancelled). An order the driver
# is driving to or standing at is settled at the door (delivered or failed), then rescheduled.
RESCHEDULABLE_STATUSES = (S.NEW, S.PLANNED, S.DISPATCHED, S.FAILED, S.CANCELLED)


def local_moment(day: date, at: time | None) -> datetime | None:
    return datetime.combine(day, at, tzinfo=ZoneInfo(settings.TIME_ZONE)) if at is not None else None


def check_window(window_start: time | None, window_end: time | None) -> None:
    if (window_start is None) != (window_end is None):
        missing = "window_end" if window_end is None else "window_start"
        raise DispatchError(_("Give both ends of the window, or neither for any time"), field=missing, value=None)
    if window_start is not None and window_end <= window_start:
        raise DispatchError(
            _("The window must end after it starts (%(start)s–%(end)s)")
            % {"start": f"{window_start:%H:%M}", "end": f"{window_end:%H:%M}"},
            field="window_end",
            value=f"{window_end:%H:%M}",
        )


def _edit_plan(*, placement, operations: list[dict], by, reason: str):
    return plan_edit(plan=placement.plan, operations=operations, by=by, reason=reason[:255])


@transaction.atomic
def order_reschedule_in_plans(
    *, order: Order, day: date, window_start: time | None, window_end: time | None, by
) -> tuple[Order, object | None]:
    """Move the order to another day and/or window (local times of the company's zone); returns the
    order (as saved) and the plan version the change made, if any.

    Another day takes it off its route first (a new plan version when dispatched; the customer hears
    "we will reschedule" from it) and it is `new` on that day, to be planned again. A new window on the
    same day re-times its route, where it stays.

    One transaction: the new plan version and the order's new day commit together, so the messages that
    follow a version (run after commit) see the order already moved, never half of the change. The slow
    part of a plan edit (re-timing routes) takes no row lock before its final save."""
    order.refresh_from_db()
    if order.status not in RESCHEDULABLE_STATUSES:
        raise InvalidTransition(
            _(
                "Order %(reference)s is %(status)s: the driver settles it at the door (delivered or failed) "
                "before it can be rescheduled"
            )
            % {"reference": order.reference, "status": order.get_status_display().lower()},
            field="status",
            value=order.status,
        )
    today = timezone.localdate()
    if day < today:
        raise DispatchError(
            _("%(day)s is over: reschedule to today (%(today)s) or a later day")
            % {"day": f"{day:%d.%m.%Y}", "today": f"{today:%d.%m.%Y}"},
            field="date",
            value=day.isoformat(),
        )
    check_window(window_start, window_end)
    new_start, new_end = local_moment(day, window_start), local_moment(day, window_end)
    if day == order.date and (new_start, new_end) == (order.window_start, order.window_end):
        if order.status not in (S.FAILED, S.CANCELLED):
            raise DispatchError(
                _("Order %(reference)s is already on %(day)s in this window")
                % {"reference": order.reference, "day": f"{day:%d.%m.%Y}"},
                field="date",
                value=str(day),
            )
    placement = order_placement(order)
    made = None
    if day != order.date:
        # A failed or cancelled stop stays on the old day's route: it is that day's history.
        if placement.stop is not None and order.status in MOVABLE_STATUSES:
            made = _edit_plan(
                placement=placement, operations=[{"op": "unassign", "order": order.pk}], by=by,
                reason=f"{order.reference} rescheduled to {day:%d.%m.%Y}",
            )  # fmt: skip
        locked = Order.objects.select_for_update().get(pk=order.pk)
        orders_move_to_date(orders=[locked], new_date=day, by=by)
    elif order.status in (S.FAILED, S.CANCELLED):
        order_change_status(order=order, to_status=S.NEW, by=by, reason="rescheduled", note=f"to {day}")
    locked = Order.objects.select_for_update().get(pk=order.pk)
    locked.window_start, locked.window_end = new_start, new_end
    locked.save(update_fields=["window_start", "window_end", "updated_at"])
    if day == order.date and placement.stop is not None and locked.status in (S.PLANNED, S.DISPATCHED):
        # Same place on the same route: the edit re-times the route with the new window.
        made = _edit_plan(
            placement=placement,
            operations=[{"op": "move", "order": order.pk, "vehicle": placement.route.vehicle_id,
                         "position": placement.stop.sequence}],
            by=by, reason=f"window of {order.reference} changed",
        )  # fmt: skip
    return locked, made
