"""Writes of delivery slots: booking an order into a window, and moving one into another.

Two customers must not both take a window's last place. Each booking or move of a depot's day locks
that day's SlotBookingDay row first (slot_hold), then counts what the windows hold and writes the
order, all in one transaction: the second customer waits for the first to commit and then counts the
first one's order (on PostgreSQL a row lock, SELECT ... FOR UPDATE, whose later statements see what
committed meanwhile; on SQLite, the embedded mode, the transaction takes the database's write lock
when it begins, so writers run one at a time anyway).
"""

import csv
import io
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from dispatch.audit import audit_record
from dispatch.models import Depot, Order
from dispatch.orders.importing import orders_import_csv
from routes.errors import RoutingError
from routes.models import SlotBookingDay, SlotPolicy
from routes.plans.rescheduling import order_reschedule_in_plans
from routes.slots.grid import Slot, day_grid, find_slot, policy_for
from routes.slots.selectors import OrderSize, SlotOffer, slot_offer


class SlotUnavailable(RoutingError):
    """The window was available when offered and is not any more (or never was)."""

    status_code = 409


# The import's columns a booking may carry besides reference, date, window and place.
ORDER_COLUMNS = (
    "customer_name", "phone", "email", "language", "address", "service_minutes", "weight_kg", "volume_l",
    "items", "skills", "priority", "notes",
)  # fmt: skip


@dataclass
class SlotMove:
    order: Order
    slot: Slot
    plan: object | None  # the plan version the move made (routes.models.Plan), if any


def slot_for(*, depot: Depot, day: date, start: str, end: str) -> Slot:
    """The grid's window start-end of that day, or an error naming the field."""
    slot = find_slot(day_grid(depot, day, policy_for(depot)), start, end)
    if slot is None:
        raise RoutingError(
            _("%(start)s–%(end)s is not one of depot %(depot)s's windows on %(day)s")
            % {"start": start, "end": end, "depot": depot.code, "day": f"{day:%d.%m.%Y}"},
            field="start",
            value=start,
        )
    return slot


def slot_hold(*, depot: Depot, day: date) -> SlotBookingDay:
    """Lock the depot's day for the rest of the transaction (see the module docstring)."""
    # get_or_create: two first bookings of a day may insert at once; the unique constraint lets one in
    # and the other reads it.
    SlotBookingDay.objects.get_or_create(depot=depot, date=day)
    return SlotBookingDay.objects.select_for_update().get(depot=depot, date=day)


def _check_still_free(offer_slots: list[SlotOffer], slot: Slot) -> None:
    offer = next((o for o in offer_slots if o.slot == slot), None)
    if offer is None or not offer.available:
        reason = offer.reason if offer is not None else _("This window is not offered")
        raise SlotUnavailable(
            _("The window %(start)s–%(end)s is no longer available: %(reason)s")
            % {"start": slot.start_label, "end": slot.end_label, "reason": reason},
            field="start",
            value=slot.start_label,
        )


def _counted(day_row: SlotBookingDay) -> None:
    SlotBookingDay.objects.filter(pk=day_row.pk).update(bookings=F("bookings") + 1)


def slot_book(
    *, depot: Depot, day: date, start: str, end: str, reference: str, lat: float, lon: float, columns: dict, user
) -> Order:
    """Create (or update, while it is not yet on the road) the order `reference` with the window
    start-end of `day`, if the window can still take it; SlotUnavailable (409) otherwise.

    The order goes through the CSV import's checks and writes (dispatch.orders.importing), one row, so a
    booked order is exactly what an imported one would be: its customer, zone, tracking link."""
    slot = slot_for(depot=depot, day=day, start=start, end=end)
    size = OrderSize(
        weight_kg=columns.get("weight_kg") or 0,
        items=columns["items"] if columns.get("items") is not None else 1,
        skills=tuple(sorted(columns.get("skills") or ())),
        service_minutes=columns.get("service_minutes") or 0,  # 0: the learned (or default) time at the door
    )
    row = {
        "reference": reference, "date": day.isoformat(), "depot": depot.code, "latitude": repr(lat),
        "longitude": repr(lon), "window_start": slot.start_label, "window_end": slot.end_label,
        **{name: _csv_value(columns.get(name)) for name in ORDER_COLUMNS if columns.get(name) not in (None, "")},
    }  # fmt: skip
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)
    with transaction.atomic():
        day_row = slot_hold(depot=depot, day=day)
        existing = Order.objects.filter(reference=reference).values_list("pk", flat=True).first()
        offer = slot_offer(depot=depot, day=day, lat=lat, lon=lon, size=size, exclude_order_id=existing)
        _check_still_free(offer.slots, slot)
        result = orders_import_csv(data=buffer.getvalue().encode(), user=user)
        _counted(day_row)
    return Order.objects.select_related("depot", "zone").get(pk=result.order_ids[0])


def _csv_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(str(item) for item in value)
    return str(value)


def order_size(order: Order) -> OrderSize:
    return OrderSize(
        weight_kg=order.weight_kg,
        items=order.items,
        skills=tuple(sorted(order.skills or ())),
        service_minutes=order.service_minutes,
    )


def slot_move_order(*, order: Order, day: date, start: str, end: str, by=None, for_customer: bool = False) -> SlotMove:
    """Move an existing order into the window start-end of `day`, if it can still take it: the same
    reschedule as the dispatcher's (routes.plans.rescheduling), under the day's slot lock.
    `for_customer`: the customer's own choice (the depot's self-service switch applies)."""
    slot = slot_for(depot=order.depot, day=day, start=start, end=end)
    with transaction.atomic():
        day_row = slot_hold(depot=order.depot, day=day)
        offer = slot_offer(
            depot=order.depot, day=day, lat=order.lat, lon=order.lon, size=order_size(order),
            exclude_order_id=order.pk, for_customer=for_customer,
        )  # fmt: skip
        _check_still_free(offer.slots, slot)
        moved, plan = order_reschedule_in_plans(
            order=order, day=day, window_start=slot.start.time(), window_end=slot.end.time(), by=by
        )
        _counted(day_row)
    return SlotMove(order=moved, slot=slot, plan=plan)


# What the depot's dispatchers (and managers) may set (API: /api/depots/{depot}/slot-policy/).
SLOT_POLICY_FIELDS = (
    "slot_minutes", "first_slot_start", "last_slot_end", "weekdays", "hidden_slots", "days_ahead",
    "lead_minutes", "day_before_cutoff", "max_share_percent", "stops_per_vehicle_hour", "self_service",
)  # fmt: skip


@transaction.atomic
def slot_policy_update(*, depot: Depot, by=None, **changes) -> SlotPolicy:
    """Set what the depot offers customers choosing their own window; the first change saves the
    defaults with it. Checked as the admin checks it; audited."""
    unknown = set(changes) - set(SLOT_POLICY_FIELDS)
    if unknown:
        name = sorted(unknown)[0]
        raise RoutingError(_("%(field)s cannot be set here") % {"field": name}, field=name, value=changes[name])
    # Locked: two dispatchers saving at once each write a whole, checked policy, one after the other.
    policy = SlotPolicy.objects.select_for_update().filter(depot=depot).first() or SlotPolicy(depot=depot)
    before = {name: getattr(policy, name) for name in changes}
    for name, value in changes.items():
        setattr(policy, name, value)
    try:
        policy.full_clean()
    except ValidationError as error:
        name, messages = next(iter(error.message_dict.items()))
        raise RoutingError(" ".join(messages), field=name, value=changes.get(name)) from None
    policy.save()
    changed = {
        name: [_audited(before[name]), _audited(getattr(policy, name))]
        for name in changes
        if before[name] != getattr(policy, name)
    }
    audit_record(actor=by, action="slot_policy.update", target=depot, changes=changed)
    return policy


def _audited(value):
    """A policy value as the audit log's JSON keeps it."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value) if isinstance(value, Decimal) else value
