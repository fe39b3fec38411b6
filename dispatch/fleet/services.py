"""Writes of the fleet: depots, vehicles (and their availability) and drivers, audited."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from dispatch.audit import audit_record, field_changes
from dispatch.errors import DispatchError
from dispatch.fleet.selectors import looks_like_id
from dispatch.models import Depot, Driver, Vehicle
from dispatch.roles import DRIVER, visible_depot_ids


def depot_for_user(*, user, code_or_id) -> Depot:
    """Resolve a depot given by code (or id) that the user may see; 404-style error otherwise."""
    queryset = Depot.objects.all()
    allowed = visible_depot_ids(user)
    if allowed is not None:
        queryset = queryset.filter(id__in=allowed)
    value = str(code_or_id)
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; no code has one
        raise DispatchError(gettext("Unknown depot %(depot)s") % {"depot": repr(value)}, field="depot", value=value)
    depot = queryset.filter(code=value).first()
    if depot is None and looks_like_id(value):
        depot = queryset.filter(id=int(value)).first()
    if depot is None:
        raise DispatchError(gettext("Unknown depot %(depot)s") % {"depot": repr(value)}, field="depot", value=value)
    return depot


def _parse_time_fields(instance, *names: str) -> None:
    # Model defaults are "HH:MM" strings until saved; a str cannot be compared with a given time.
    for name in names:
        setattr(instance, name, instance._meta.get_field(name).to_python(getattr(instance, name)))


@transaction.atomic
def depot_create(
    *, code: str, name: str, lat: float, lon: float, opens=None, closes=None, address: str = "", is_micro_hub=False
) -> Depot:
    depot = Depot(code=code, name=name, lat=lat, lon=lon, address=address, is_micro_hub=is_micro_hub)
    if opens is not None:
        depot.opens = opens
    if closes is not None:
        depot.closes = closes
    _parse_time_fields(depot, "opens", "closes")
    if depot.opens >= depot.closes:
        raise DispatchError(gettext("A depot must open before it closes"), field="closes", value=str(closes))
    depot.save()
    return depot


def reload_hubs_problem(hubs) -> str | None:
    """Why these depots cannot be a vehicle's reload hubs (None: they can): each must be a micro-hub."""
    not_hubs = sorted(hub.code for hub in hubs if not hub.is_micro_hub)
    if not_hubs:
        return gettext("Reload hubs must be micro-hubs; not a micro-hub: %(depots)s") % {"depots": ", ".join(not_hubs)}
    return None


@transaction.atomic
def vehicle_create(*, depot: Depot, by=None, reload_hubs=(), **fields) -> Vehicle:
    problem = reload_hubs_problem(reload_hubs)
    if problem:
        raise DispatchError(problem, field="reload_hubs", value=[hub.code for hub in reload_hubs])
    vehicle = Vehicle(depot=depot, **fields)
    _parse_time_fields(vehicle, "shift_start", "shift_end")
    try:
        vehicle.clean()  # a drone needs its flight speed and range
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise DispatchError(messages[0], field=field, value=getattr(vehicle, field, None)) from None
    if vehicle.shift_start == vehicle.shift_end:
        # An end before the start is a night shift (it ends the next morning); an equal one is no shift.
        raise DispatchError(
            gettext("A shift must end at another time than it starts (an earlier end is the next morning)"),
            field="shift_end",
            value=str(vehicle.shift_end),
        )
    vehicle.save()
    vehicle.reload_hubs.set(reload_hubs)
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
        raise DispatchError(
            gettext("Username %(username)s is taken") % {"username": repr(username)}, field="username", value=username
        )
    depot = depot or (vehicle.depot if vehicle else None)
    if depot is None:
        raise DispatchError(gettext("A driver needs a vehicle or a depot"), field="vehicle", value=None)
    first, _, last = name.partition(" ")
    user = User.objects.create_user(username=username, password=password, first_name=first, last_name=last)
    user.groups.add(Group.objects.get_or_create(name=DRIVER)[0])
    return Driver.objects.create(user=user, name=name, phone=phone, vehicle=vehicle, depot=depot)
