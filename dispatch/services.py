"""Writes of the dispatch app: fleet records, order status changes. The CSV import lives in
dispatch/order_import.py and ends in `orders_save_imported` here."""

from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from dispatch import events, selectors
from dispatch.audit import audit_record, field_changes
from dispatch.errors import DispatchError, InvalidTransition
from dispatch.models import Depot, Driver, Order, OrderStatusChange, Vehicle
from dispatch.roles import DRIVER, visible_depot_ids

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
) -> Order:
    """Move one order to `to_status`, recording who, when and where; refuses invalid moves."""
    # Lock the row: two drivers' phones (or a phone and a dispatcher) must not both move it.
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if not transition_allowed(locked.status, to_status):
        raise InvalidTransition(
            f"Order {locked.reference} cannot go from {locked.status} to {to_status}",
            field="status",
            value=to_status,
        )
    changed_at = at or timezone.now()
    OrderStatusChange.objects.create(
        order=locked,
        from_status=locked.status,
        to_status=to_status,
        changed_at=changed_at,
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


def depot_for_user(*, user, code_or_id) -> Depot:
    """Resolve a depot given by code (or id) that the user may see; 404-style error otherwise."""
    queryset = Depot.objects.all()
    allowed = visible_depot_ids(user)
    if allowed is not None:
        queryset = queryset.filter(id__in=allowed)
    value = str(code_or_id)
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; no code has one
        raise DispatchError(f"Unknown depot {value!r}", field="depot", value=value)
    depot = queryset.filter(code=value).first()
    if depot is None and selectors.looks_like_id(value):
        depot = queryset.filter(id=int(value)).first()
    if depot is None:
        raise DispatchError(f"Unknown depot {value!r}", field="depot", value=value)
    return depot


def _parse_time_fields(instance, *names: str) -> None:
    # Model defaults are "HH:MM" strings until saved; a str cannot be compared with a given time.
    for name in names:
        setattr(instance, name, instance._meta.get_field(name).to_python(getattr(instance, name)))


@transaction.atomic
def depot_create(*, code: str, name: str, lat: float, lon: float, opens=None, closes=None, address: str = "") -> Depot:
    depot = Depot(code=code, name=name, lat=lat, lon=lon, address=address)
    if opens is not None:
        depot.opens = opens
    if closes is not None:
        depot.closes = closes
    _parse_time_fields(depot, "opens", "closes")
    if depot.opens >= depot.closes:
        raise DispatchError("A depot must open before it closes", field="closes", value=str(closes))
    depot.save()
    return depot


@transaction.atomic
def vehicle_create(*, depot: Depot, by=None, **fields) -> Vehicle:
    vehicle = Vehicle(depot=depot, **fields)
    _parse_time_fields(vehicle, "shift_start", "shift_end")
    if vehicle.shift_start == vehicle.shift_end:
        # An end before the start is a night shift (it ends the next morning); an equal one is no shift.
        raise DispatchError(
            "A shift must end at another time than it starts (an earlier end is the next morning)",
            field="shift_end",
            value=str(vehicle.shift_end),
        )
    vehicle.save()
    audit_record(actor=by, action="vehicle.created", target=vehicle, changes=field_changes(None, vehicle))
    return vehicle


@transaction.atomic
def vehicles_set_available(*, vehicles, available: bool, by=None) -> int:
    """Take vehicles out of planning (a breakdown, a service) or put them back; each change audited."""
    changed = list(vehicles.select_for_update().exclude(available=available))
    for vehicle in changed:
        vehicle.available = available
        vehicle.save(update_fields=["available"])
        audit_record(
            actor=by,
            action="vehicle.availability_changed",
            target=vehicle,
            changes={"available": [not available, available]},
        )
    return len(changed)


@transaction.atomic
def driver_create(
    *,
    username: str,
    password: str,
    name: str,
    phone: str = "",
    vehicle: Vehicle | None = None,
    depot: Depot | None = None,
) -> Driver:
    """Create a driver's login (group `driver`) and profile; the depot is the vehicle's unless given."""
    User = get_user_model()
    if User.objects.filter(username=username).exists():
        raise DispatchError(f"Username {username!r} is taken", field="username", value=username)
    depot = depot or (vehicle.depot if vehicle else None)
    if depot is None:
        raise DispatchError("A driver needs a vehicle or a depot", field="vehicle", value=None)
    first, _, last = name.partition(" ")
    user = User.objects.create_user(username=username, password=password, first_name=first, last_name=last)
    user.groups.add(Group.objects.get_or_create(name=DRIVER)[0])
    return Driver.objects.create(user=user, name=name, phone=phone, vehicle=vehicle, depot=depot)


@transaction.atomic
def orders_bulk_transition(*, order_ids, from_status: str, to_status: str, by=None, note: str = "") -> int:
    """Move every order of `order_ids` that is in `from_status` to `to_status`, history included.

    For plans touching hundreds of orders at once (one history insert and one update, not one
    locked round trip per order). Orders in another status are left alone; returns how many moved.
    """
    if not transition_allowed(from_status, to_status):
        raise InvalidTransition(f"Orders cannot go from {from_status} to {to_status}", field="status", value=to_status)
    now = timezone.now()
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
