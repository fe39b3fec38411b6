"""Writes of an order's page: reschedule to another day or window, cancel, move to another route, edit
the notes.

An order that is in a plan changes through the plan edit service (routes.plans.editing.plan_edit), as a
dispatcher's drag and drop on the plan page would: a dispatched plan gets a new version, dispatched
at once, so the driver's phone follows; the customers hear of it from the notifications that follow
every new version (a moved promise, "we will reschedule"). When the dispatcher asks (the default),
the customer also gets a message saying what changed, through customers.services.customer_message_reply,
so it is kept in the order's conversation and communication log.

Like the page, this module composes the layers (orders, planning, customers): the planning and
customers apps are imported inside the functions so the order core never loads them by itself.
"""

from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers import services as customer_services
from customers.models import Notification
from dispatch.errors import DispatchError, InvalidTransition
from dispatch.models import Order
from dispatch.order_desk.selectors import order_placement, order_route_choices
from dispatch.orders.services import order_change_status, transition_allowed
from routes.plans.editing import MOVABLE_STATUSES, plan_edit
from routes.plans.rescheduling import (  # noqa: F401 - the page reads RESCHEDULABLE_STATUSES here
    RESCHEDULABLE_STATUSES,
    check_window,
    local_moment,
    order_reschedule_in_plans,
)

S = Order.Status

# RESCHEDULABLE_STATUSES (imported above, the order page reads it here): routes.plans.rescheduling.

# What the customer is told, in their language (customers.services.customer_language).
CUSTOMER_TEXTS = {
    "en": {
        "cancelled": "Your delivery {reference} is cancelled.",
        "rescheduled": "Your delivery {reference} is now planned for {day}{window}.",
        "window": " between {start} and {end}",
    },
    "de": {
        "cancelled": "Ihre Lieferung {reference} wurde storniert.",
        "rescheduled": "Ihre Lieferung {reference} ist jetzt für {day}{window} geplant.",
        "window": " zwischen {start} und {end} Uhr",
    },
}


@dataclass
class OrderChange:
    order: Order
    plan: object | None = None  # the plan version the change made (routes.models.Plan), if any
    customer_told: bool = False


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _tell_customer(*, order: Order, event: str, by) -> bool:
    language = customer_services.customer_language(order)
    texts = CUSTOMER_TEXTS.get(language, CUSTOMER_TEXTS["en"])
    if event == "cancelled":
        text = texts["cancelled"].format(reference=order.reference)
    else:
        window = ""
        if order.window_start and order.window_end:
            start, end = timezone.localtime(order.window_start, _zone()), timezone.localtime(order.window_end, _zone())
            window = texts["window"].format(start=f"{start:%H:%M}", end=f"{end:%H:%M}")
        day = order.date.strftime("%d.%m.%Y") if language == "de" else order.date.strftime("%A %d %B %Y")
        text = texts["rescheduled"].format(reference=order.reference, day=day, window=window)
    message = customer_services.customer_message_reply(order=order, text=text, by=by)
    # Told only if a message is on its way: no e-mail or phone, or an opt-out, reaches nobody (the
    # message is still kept in the conversation, and the skipped rows in the log say why).
    return (
        Notification.objects.filter(order=order, occasion=f"message:{message.pk}")
        .exclude(status=Notification.Status.SKIPPED)
        .exists()
    )


def _edit_plan(*, placement, operations: list[dict], by, reason: str):
    return plan_edit(plan=placement.plan, operations=operations, by=by, reason=reason[:255])


def order_reschedule(
    *,
    order: Order,
    day: date,
    window_start: time | None,
    window_end: time | None,
    by,
    tell_customer: bool = True,
) -> OrderChange:
    """Move the order to another day and/or window (local times of the company's zone).

    Another day takes it off its route first (a new plan version when dispatched; the customer hears
    "we will reschedule" from it) and it is `new` on that day, to be planned again. A new window on the
    same day re-times its route, where it stays. The move itself is planning's
    (routes.plans.rescheduling), shared with the customer's own choice of a slot; telling the customer,
    in the same transaction, is this page's."""

    with transaction.atomic():
        locked, made = order_reschedule_in_plans(
            order=order, day=day, window_start=window_start, window_end=window_end, by=by
        )
        told = _tell_customer(order=locked, event="rescheduled", by=by) if tell_customer else False
    order.refresh_from_db()
    return OrderChange(order=order, plan=made, customer_told=told)


def order_cancel(*, order: Order, by, note: str = "", tell_customer: bool = True) -> OrderChange:
    """Cancel the order. On a route it is first taken off it (a new version when dispatched), so the
    driver's phone drops the stop; one the driver is already driving to stays on the route, marked
    cancelled (the phone shows it so)."""

    order.refresh_from_db()
    if not transition_allowed(order.status, S.CANCELLED):
        raise InvalidTransition(
            _("Order %(reference)s is %(status)s and cannot be cancelled")
            % {"reference": order.reference, "status": order.get_status_display().lower()},
            field="status",
            value=order.status,
        )
    placement = order_placement(order)
    made = None
    # One transaction, for the same reason as order_reschedule: the version's "we will reschedule"
    # must find the order cancelled, not merely off the route.
    with transaction.atomic():
        if placement.stop is not None and order.status in MOVABLE_STATUSES:
            made = _edit_plan(
                placement=placement, operations=[{"op": "unassign", "order": order.pk}], by=by,
                reason=f"{order.reference} cancelled",
            )  # fmt: skip
        order_change_status(order=order, to_status=S.CANCELLED, by=by, reason="cancelled", note=note.strip())
        told = _tell_customer(order=order, event="cancelled", by=by) if tell_customer else False
    order.refresh_from_db()
    return OrderChange(order=order, plan=made, customer_told=told)


def order_move_to_route(*, order: Order, vehicle_id: int, by) -> OrderChange:
    """Put the order at the end of another route of its own depot in the plan that rules its day,
    through the plan edit service (a new version of a dispatched plan)."""
    order.refresh_from_db()
    placement = order_placement(order)
    if placement.plan is None:
        raise DispatchError(
            _("Order %(reference)s is in no plan of %(day)s yet: plan the day first")
            % {"reference": order.reference, "day": f"{order.date:%d.%m.%Y}"},
            field="vehicle",
            value=vehicle_id,
        )
    choices = {choice.vehicle_id: choice for choice in order_route_choices(order, placement)}
    if vehicle_id not in choices:
        raise DispatchError(
            _("Vehicle %(vehicle)s is not one of depot %(depot)s's vehicles in plan %(plan)s")
            % {"vehicle": vehicle_id, "depot": order.depot.code, "plan": placement.plan.pk},
            field="vehicle",
            value=vehicle_id,
        )
    if choices[vehicle_id].current:
        raise DispatchError(
            _("Order %(reference)s is on this route already") % {"reference": order.reference},
            field="vehicle",
            value=vehicle_id,
        )
    made = _edit_plan(
        placement=placement, operations=[{"op": "move", "order": order.pk, "vehicle": vehicle_id}], by=by,
        reason=f"{order.reference} moved to {choices[vehicle_id].label.split(' · ')[0]}",
    )  # fmt: skip
    order.refresh_from_db()
    return OrderChange(order=order, plan=made)


def order_update_notes(*, order: Order, notes: str) -> Order:
    """The notes the driver reads at the door (the driver app shows them with the stop)."""
    Order.objects.filter(pk=order.pk).update(notes=notes.strip(), updated_at=timezone.now())
    order.refresh_from_db()
    return order


def order_edit(
    *, order: Order, notes: str, window_start: time | None, window_end: time | None, by, tell_customer: bool = True
) -> OrderChange:
    """The page's edit form: the notes, and the window on the order's own day (order_reschedule when it
    changed: its route is re-timed and the customer told)."""
    check_window(window_start, window_end)
    change = OrderChange(order=order)
    if notes.strip() != order.notes:
        order_update_notes(order=order, notes=notes)
    new_window = (local_moment(order.date, window_start), local_moment(order.date, window_end))
    if new_window != (order.window_start, order.window_end):
        change = order_reschedule(
            order=order, day=order.date, window_start=window_start, window_end=window_end, by=by,
            tell_customer=tell_customer,
        )  # fmt: skip
    return change
