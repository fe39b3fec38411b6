"""Writes of the dispatch app: fleet records, order status changes. The CSV import lives in
dispatch/orders/importing.py and ends in `orders_save_imported` here."""

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch import events
from dispatch.audit import audit_record
from dispatch.errors import InvalidTransition
from dispatch.models import Order, OrderStatusChange

S = Order.Status

# The order lifecycle. Any change of status goes through order_change_status, which checks here.
ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    S.NEW: {S.PLANNED, S.CANCELLED},
    S.PLANNED: {S.NEW, S.DISPATCHED, S.CANCELLED},
    S.DISPATCHED: {S.PLANNED, S.EN_ROUTE, S.ARRIVED, S.FAILED, S.CANCELLED},
    S.EN_ROUTE: {S.DISPATCHED, S.ARRIVED, S.FAILED, S.CANCELLED},
    S.ARRIVED: {S.DELIVERED, S.FAILED},
    S.FAILED: {S.NEW, S.CANCELLED},
    S.DELIVERED: set(),
    S.CANCELLED: {S.NEW},
}


def transition_allowed(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, set())


def status_word(status: str) -> str:
    """A status as a word in a sentence of the request's language ("delivered", "zugestellt");
    a value that is no status stays as it was sent."""
    label = dict(Order.Status.choices).get(status)
    return str(label).lower() if label is not None else str(status)


@transaction.atomic
def order_change_status(
    *,
    order: Order,
    to_status: str,
    by=None,
    lat: float | None = None,
    lon: float | None = None,
    reason: str = "",
    note: str = "",
    at=None,
    received_at=None,
) -> Order:
    """Move one order to `to_status`, recording who, when and where; refuses invalid moves.

    `received_at`: when the server got it (default now; a simulator replaying a past day gives its own)."""
    # Lock the row: two drivers' phones (or a phone and a dispatcher) must not both move it.
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if not transition_allowed(locked.status, to_status):
        raise InvalidTransition(
            _("Order %(reference)s cannot go from %(from)s to %(to)s")
            % {"reference": locked.reference, "from": status_word(locked.status), "to": status_word(to_status)},
            field="status",
            value=to_status,
        )
    changed_at = at or timezone.now()
    OrderStatusChange.objects.create(
        order=locked,
        from_status=locked.status,
        to_status=to_status,
        changed_at=changed_at,
        received_at=received_at or timezone.now(),
        changed_by=by if getattr(by, "is_authenticated", False) else None,
        lat=lat,
        lon=lon,
        reason=reason,
        note=note,
    )
    from_status = locked.status
    locked.status = to_status
    locked.save(update_fields=["status", "updated_at"])
    order.status = to_status
    _announce_status_change(locked, from_status, to_status, changed_at, by, reason, note)
    audit_record(
        actor=by,
        action="order.status_changed",
        target=locked,
        changes={"status": [from_status, to_status], "reason": reason},
    )
    return locked


def _announce_status_change(order, from_status, to_status, at, by, reason="", note="") -> None:
    payload = {
        "order_id": order.pk, "reference": order.reference, "depot_id": order.depot_id, "from_status": from_status,
        "to_status": to_status, "at": at, "by_id": getattr(by, "pk", None), "reason": reason, "note": note,
    }  # fmt: skip
    transaction.on_commit(lambda: events.order_status_changed(**payload))


@dataclass
class BulkStatusResult:
    changed: list[Order]
    skipped: list[tuple[Order, str]]


@transaction.atomic
def orders_bulk_change_status(*, orders, to_status: str, by=None, reason: str = "") -> BulkStatusResult:
    """Change many orders at once (admin actions); orders that may not move are reported, not forced."""
    changed, skipped = [], []
    for order in orders:
        try:
            changed.append(order_change_status(order=order, to_status=to_status, by=by, reason=reason))
        except InvalidTransition as exc:
            skipped.append((order, exc.message))
    return BulkStatusResult(changed=changed, skipped=skipped)


@transaction.atomic
def orders_move_to_date(*, orders, new_date: date, by=None) -> BulkStatusResult:
    """Move orders that are not yet out on the road to another day; planned ones go back to new."""
    moved, skipped = [], []
    for order in orders:
        if order.status not in (S.NEW, S.PLANNED, S.FAILED, S.CANCELLED):
            skipped.append((order, f"{order.reference} is {order.status}; only orders not yet dispatched move"))
            continue
        if order.status != S.NEW:
            order_change_status(order=order, to_status=S.NEW, by=by, reason="moved", note=f"moved to {new_date}")
        shift = new_date - order.date
        order.date = new_date
        # Shift the local wall-clock time, not the UTC instant: 09:00 stays 09:00 across a DST change.
        local_zone = ZoneInfo(settings.TIME_ZONE)
        if order.window_start:
            order.window_start = timezone.localtime(order.window_start, local_zone) + shift
        if order.window_end:
            order.window_end = timezone.localtime(order.window_end, local_zone) + shift
        order.save(update_fields=["date", "window_start", "window_end", "updated_at"])
        audit_record(actor=by, action="order.moved", target=order, changes={"date": [new_date - shift, new_date]})
        moved.append(order)
    return BulkStatusResult(changed=moved, skipped=skipped)


@transaction.atomic
def orders_bulk_transition(*, order_ids, from_status: str, to_status: str, by=None, note: str = "", at=None) -> int:
    """Move every order of `order_ids` that is in `from_status` to `to_status`, history included.

    For plans touching hundreds of orders at once (one history insert and one update, not one
    locked round trip per order). Orders in another status are left alone; returns how many moved.
    """
    if not transition_allowed(from_status, to_status):
        raise InvalidTransition(
            _("Orders cannot go from %(from)s to %(to)s")
            % {"from": status_word(from_status), "to": status_word(to_status)},
            field="status",
            value=to_status,
        )
    now = at or timezone.now()  # `at`: a simulator replaying a past day gives its own moment
    moving = list(
        Order.objects.select_for_update()
        .filter(id__in=list(order_ids), status=from_status)
        .values_list("id", flat=True)
    )
    OrderStatusChange.objects.bulk_create(
        [
            OrderStatusChange(
                order_id=order_id,
                from_status=from_status,
                to_status=to_status,
                changed_at=now,
                received_at=now,
                changed_by=by if getattr(by, "is_authenticated", False) else None,
                note=note,
            )  # fmt: skip
            for order_id in moving
        ],
        batch_size=1000,
    )
    Order.objects.filter(id__in=moving).update(status=to_status, updated_at=now)
    for order in Order.objects.filter(id__in=moving).only("id", "reference", "depot_id"):
        _announce_status_change(order, from_status, to_status, now, by, note=note)
    if moving:  # one entry for a plan's hundreds of orders
        audit_record(
            actor=by,
            action="orders.status_changed",
            target=f"orders:{len(moving)}",
            changes={"orders": moving, "status": [from_status, to_status], "why": note},
        )
    return len(moving)
