"""Order import from CSV: one service behind the API, the dashboard upload and `import_orders`.

The whole file is parsed and checked first; every bad row is reported with its row number (the
spreadsheet row: the header is row 1), field, value and message. Only a clean file is written, in
one transaction, so an import either lands whole or not at all. A reference seen before updates
that order instead of creating a second one.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from dispatch import events
from dispatch.audit import audit_record
from dispatch.bulk import bulk_update_rows
from dispatch.errors import OrderImportError
from dispatch.fleet.selectors import hub_parents
from dispatch.geometry import ZoneLocator
from dispatch.models import Customer, Depot, Order, OrderStatusChange, Vehicle, Zone
from dispatch.orders.import_files import check_import_size, decode_csv_bytes, read_order_rows
from dispatch.roles import visible_depot_ids
from routes.road_network import snap_distances_m

# Orders past these states are on the road or done: an import must not rewrite them.
UPDATABLE_STATUSES = {Order.Status.NEW, Order.Status.PLANNED}
PHONE_PATTERN = re.compile(r"^\+?[0-9 ()/.\-]{4,31}$")
TIME_PATTERN = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
MAX_TEXT = {"reference": 64, "customer_name": 160, "phone": 32, "email": 254, "address": 255, "notes": 4000}

Geocode = Callable[[str], tuple[float, float] | None]


@dataclass
class ImportResult:
    created: list[Order] = field(default_factory=list)
    updated: list[Order] = field(default_factory=list)  # existing references whose fields changed
    unchanged: list[Order] = field(default_factory=list)  # existing references sent again as they were
    warnings: list[dict] = field(default_factory=list)

    @property
    def order_ids(self) -> list[int]:
        return [order.id for order in self.created + self.updated + self.unchanged]


class _RowErrors:
    def __init__(self):
        self.items: list[dict] = []

    def add(self, row: int, field_name: str, value, message: str):
        """`message` is said in the request's language (gettext when the error is found); the
        machine keys (row, field, value) stay as they are."""
        self.items.append({"row": row, "field": field_name, "value": value, "message": message})


def _parse_decimal(raw: str) -> Decimal:
    value = Decimal(raw.replace(",", ".").strip())
    if not value.is_finite():
        raise InvalidOperation
    return value


def _parse_float(raw: str) -> float:
    value = float(raw.replace(",", ".").strip())
    if math.isnan(value) or math.isinf(value):
        raise ValueError("not a finite number")
    return value


def _parse_time(raw: str) -> time | None:
    """HH:MM (or HH:MM:SS); 24:00 means the end of the day and comes back as None."""
    match = TIME_PATTERN.match(raw.strip())
    if not match:
        raise ValueError("expected HH:MM")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if (hours, minutes, seconds) == (24, 0, 0):
        return None
    return time(hours, minutes, seconds)  # raises ValueError when out of range


def _local_datetime(day: date, at: time | None, zone: ZoneInfo) -> datetime:
    if at is None:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, at, tzinfo=zone)


def _skipped_by_clock_change(moment: datetime) -> bool:
    """True for a wall-clock time that never happens (spring forward: 02:30 on the last Sunday of
    March in Europe/Vaduz). zoneinfo would silently read it as an hour later."""
    round_trip = moment.astimezone(UTC).astimezone(moment.tzinfo)
    return round_trip.replace(tzinfo=None) != moment.replace(tzinfo=None)


def known_skills() -> set[str]:
    skills = set(getattr(settings, "ORDER_SKILLS", []))
    for vehicle_skills in Vehicle.objects.values_list("skills", flat=True):
        skills.update(vehicle_skills or [])
    return skills


class _Parser:
    """Turns raw CSV rows into validated field dicts, collecting every error."""

    def __init__(self, *, depots: dict[str, Depot], skills: set[str], geocode: Geocode | None):
        self.depots = depots
        self.skills = skills
        self.geocode = geocode
        self.zone = ZoneInfo(settings.TIME_ZONE)
        self.errors = _RowErrors()

    def parse(self, number: int, raw: dict[str, str]) -> dict | None:
        before = len(self.errors.items)
        values: dict = {}
        get = lambda name: (raw.get(name) or "").strip()  # noqa: E731

        for name, limit in MAX_TEXT.items():
            if len(get(name)) > limit:
                self.errors.add(number, name, get(name)[:80], _("longer than %(limit)s characters") % {"limit": limit})
        values["reference"] = get("reference")
        if not values["reference"]:
            self.errors.add(number, "reference", "", _("reference is required"))

        day = None
        if not get("date"):
            self.errors.add(number, "date", "", _("date is required (YYYY-MM-DD)"))
        else:
            try:
                day = date.fromisoformat(get("date"))
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", get("date")):
                    raise ValueError
            except ValueError:
                self.errors.add(number, "date", get("date"), _("not a real date in YYYY-MM-DD form"))
        values["date"] = day

        depot_code = get("depot")
        if depot_code:
            values["depot"] = self.depots.get(depot_code.lower())
            if values["depot"] is None:
                self.errors.add(number, "depot", depot_code, _("unknown depot code"))
        elif len(self.depots) == 1:
            values["depot"] = next(iter(self.depots.values()))
        else:
            self.errors.add(number, "depot", "", _("depot is required when there is more than one depot"))

        for name in ("customer_name", "address", "notes"):
            values[name] = get(name)
        values["phone"] = get("phone")
        if values["phone"] and not PHONE_PATTERN.match(values["phone"]):
            self.errors.add(number, "phone", values["phone"], _("not a phone number (digits, spaces, + - ( ) / .)"))
        values["email"] = get("email")
        if values["email"]:
            try:
                validate_email(values["email"])
            except ValidationError:
                self.errors.add(number, "email", values["email"], _("not a valid e-mail address"))
        language = get("language").lower()
        if language and language not in dict(Customer.Language.choices):
            self.errors.add(number, "language", get("language"), _("language must be one of: en, de"))
        values["language"] = language or settings.DEFAULT_CUSTOMER_LANGUAGE

        self._parse_location(number, get, values)
        self._parse_window(number, get, values, day)
        self._parse_loads(number, get, values)

        skills = [s.strip() for s in re.split(r"[;|]", get("skills")) if s.strip()]
        for skill in skills:
            if skill not in self.skills:
                known = ", ".join(sorted(self.skills)) or _("none")
                self.errors.add(number, "skills", skill, _("unknown skill (known: %(known)s)") % {"known": known})
        values["skills"] = sorted(set(skills))
        return values if len(self.errors.items) == before else None

    def _parse_location(self, number, get, values):
        lat_raw, lon_raw = get("latitude"), get("longitude")
        values["geocoded"] = False
        if lat_raw or lon_raw:
            if not (lat_raw and lon_raw):
                missing = "longitude" if lat_raw else "latitude"
                self.errors.add(number, missing, "", _("latitude and longitude must be given together"))
                return
            for name, raw, limit in (("latitude", lat_raw, 90), ("longitude", lon_raw, 180)):
                try:
                    value = _parse_float(raw)
                except ValueError:
                    self.errors.add(number, name, raw, _("not a number"))
                    continue
                if not -limit <= value <= limit:
                    self.errors.add(number, name, raw, _("out of range (-%(limit)s to %(limit)s)") % {"limit": limit})
                    continue
                values["lat" if name == "latitude" else "lon"] = value
            return
        if not values["address"]:
            self.errors.add(number, "address", "", _("an address or a latitude/longitude pair is required"))
            return
        if self.geocode is None:
            self.errors.add(
                number, "address", values["address"],
                _(
                    "address-only rows need the road network's geocoder, which is not loaded; "
                    "give latitude and longitude"
                ),
            )  # fmt: skip
            return
        hit = self.geocode(values["address"])
        if hit is None:
            self.errors.add(number, "address", values["address"], _("address not found in the region's address data"))
            return
        values["lat"], values["lon"] = hit
        values["geocoded"] = True

    def _parse_window(self, number, get, values, day):
        parsed = {}
        for name in ("window_start", "window_end"):
            raw = get(name)
            if not raw:
                continue
            try:
                parsed[name] = _parse_time(raw)
            except ValueError:
                self.errors.add(number, name, raw, _("not a time of day in HH:MM form"))
        values["window_start"] = values["window_end"] = None
        if day is None:
            start, end = parsed.get("window_start"), parsed.get("window_end")
            if start and end and start >= end:
                self.errors.add(number, "window_end", get("window_end"), self._window_backwards(get))
            return
        if "window_start" in parsed:
            start = parsed["window_start"]
            values["window_start"] = _local_datetime(day, start, self.zone) if start else None
            if start is None:
                self.errors.add(number, "window_start", get("window_start"), _("a window cannot start at 24:00"))
        if "window_end" in parsed:
            values["window_end"] = _local_datetime(day, parsed["window_end"], self.zone)
        for name in ("window_start", "window_end"):
            if values[name] is not None and _skipped_by_clock_change(values[name]):
                self.errors.add(
                    number, name, get(name),
                    _("%(time)s does not exist on %(day)s in %(zone)s: the clocks skip it")
                    % {"time": get(name), "day": day.isoformat(), "zone": self.zone.key},
                )  # fmt: skip
                values[name] = None
        if values["window_start"] and values["window_end"] and values["window_start"] >= values["window_end"]:
            self.errors.add(number, "window_end", get("window_end"), self._window_backwards(get))

    @staticmethod
    def _window_backwards(get) -> str:
        return _("the window ends before it starts (%(start)s)") % {"start": get("window_start")}

    def _parse_loads(self, number, get, values):
        specs = (
            # field, parser, default, minimum, maximum
            # blank: the time at the door learned for this address, customer and zone applies
            ("service_minutes", int, None, 0, 480),
            ("weight_kg", _parse_decimal, Decimal("0"), 0, 100000),
            ("volume_l", _parse_decimal, Decimal("0"), 0, 100000),
            ("items", int, 1, 0, 100000),
            ("priority", int, 0, 0, 100),
        )
        for name, parser, default, minimum, maximum in specs:
            raw = get(name)
            if not raw:
                values[name] = default
                continue
            try:
                value = parser(raw)
            except (ValueError, InvalidOperation):
                self.errors.add(number, name, raw, _("not a whole number") if parser is int else _("not a number"))
                continue
            if value < minimum:
                self.errors.add(
                    number, name, raw,
                    _("must not be negative") if minimum == 0 else _("must be at least %(minimum)s") % {"minimum": minimum},
                )  # fmt: skip
            elif value > maximum:
                self.errors.add(number, name, raw, _("must be at most %(maximum)s") % {"maximum": maximum})
            else:
                values[name] = value


def _customer_key(values: dict) -> tuple:
    if values["email"]:
        return ("email", values["email"].lower())
    if values["phone"]:
        return ("phone", re.sub(r"[^0-9+]", "", values["phone"]))
    return ("name", values["customer_name"].lower(), values["address"].lower(), values["reference"])


def orders_import_csv(*, data: bytes, user=None, geocode: Geocode | None = None) -> ImportResult:
    """Validate every row of a CSV file, then create or update its orders atomically."""
    check_import_size(len(data))
    rows, warnings = read_order_rows(decode_csv_bytes(data))

    # user=None is the operator at the command line, who may import into every depot.
    allowed = None if user is None else visible_depot_ids(user)
    depots_qs = Depot.objects.all() if allowed is None else Depot.objects.filter(id__in=allowed)
    depots = {d.code.lower(): d for d in depots_qs}
    parser = _Parser(depots=depots, skills=known_skills(), geocode=geocode)

    parsed: list[tuple[int, dict]] = []
    first_row_of_reference: dict[str, int] = {}
    for row in rows:
        values = parser.parse(row.number, row.values)
        reference = (row.values.get("reference") or "").strip()
        if reference:
            if reference in first_row_of_reference:
                parser.errors.add(
                    row.number,
                    "reference",
                    reference,
                    _("duplicate reference (also on row %(row)s)") % {"row": first_row_of_reference[reference]},
                )
                continue
            first_row_of_reference[reference] = row.number
        if values is not None:
            values["row"] = row.number
            parsed.append((row.number, values))

    existing = {}
    references = list(first_row_of_reference)
    for start in range(0, len(references), 2000):
        for order in Order.objects.filter(reference__in=references[start : start + 2000]):
            existing[order.reference] = order
    for number, values in parsed:
        order = existing.get(values["reference"])
        if order is not None and allowed is not None and order.depot_id not in allowed:
            # References are unique company-wide: without this, a file could take over another depot's order.
            parser.errors.add(
                number, "reference", values["reference"], _("this reference belongs to an order of another depot")
            )
        elif order is not None and order.status not in UPDATABLE_STATUSES:
            parser.errors.add(
                number,
                "reference",
                values["reference"],
                _("order is already %(status)s; an import can no longer change it")
                % {"status": order.get_status_display().lower()},
            )
    if parser.errors.items:
        raise OrderImportError(sorted(parser.errors.items, key=lambda e: (e["row"], e["field"])))

    rows_to_save = [values for _row, values in parsed]
    warnings += _hub_orders_to_parent(rows_to_save, allowed)
    warnings += _flag_far_from_road(rows_to_save)
    result = _save_orders(parsed=rows_to_save, existing=existing, user=user)
    result.warnings = warnings
    audit_record(
        actor=user,
        action="orders.imported",
        target=f"orders:{len(result.order_ids)}",
        changes={"created": [o.id for o in result.created], "updated": [o.id for o in result.updated]},
    )
    return result


def _hub_orders_to_parent(parsed: list[dict], allowed) -> list[dict]:
    """An order naming a micro-hub that has no vehicles of its own is planned from the depot whose
    cargo bikes reload there (dispatch.fleet.selectors.hub_parents): booked on that depot, with a
    warning saying so. Left on the hub when the user may not import into that depot."""
    if not any(values["depot"].is_micro_hub for values in parsed):
        return []
    parents = hub_parents()
    warnings = []
    for values in parsed:
        hub = values["depot"]
        parent = parents.get(hub.id)
        if parent is None or (allowed is not None and parent.id not in allowed):
            continue
        values["depot"] = parent
        warnings.append(
            {"row": values["row"], "field": "depot", "value": hub.code,
             "message": _("%(hub)s is a micro-hub without vehicles of its own: the order is planned from "
                          "depot %(depot)s, whose vehicles reload there") % {"hub": hub.code, "depot": parent.code}}
        )  # fmt: skip
    return warnings


def _flag_far_from_road(parsed: list[dict]) -> list[dict]:
    """Store each order's distance to the road network and warn about those beyond the limit."""

    distances = snap_distances_m([(v["lat"], v["lon"]) for v in parsed]) or [None] * len(parsed)
    warnings = []
    for values, distance in zip(parsed, distances):
        values["snap_distance_m"] = None if distance is None else round(distance, 1)
        if distance is not None and distance > settings.SNAP_LIMIT_M:
            warnings.append(
                {"row": values["row"], "field": "latitude", "value": f"{values['lat']}, {values['lon']}",
                 "message": _("the address is %(distance)s m from the nearest road; it is flagged and not planned "
                              "until corrected") % {"distance": f"{distance:.0f}"}}
            )  # fmt: skip
    return warnings


ORDER_FIELDS = (
    "date", "depot", "customer_name", "phone", "email", "address", "lat", "lon", "geocoded", "window_start",
    "window_end", "service_minutes", "weight_kg", "volume_l", "items", "skills", "priority", "notes", "snap_distance_m",
)  # fmt: skip


@transaction.atomic
def _save_orders(*, parsed: list[dict], existing: dict[str, Order], user) -> ImportResult:
    zone_locator = ZoneLocator(Zone.objects.all())
    customers = _customers_for(parsed)
    now = timezone.now()
    to_create, to_update = [], []
    unchanged = []
    for values in parsed:
        order = existing.get(values["reference"]) or Order(reference=values["reference"])
        before = _comparable(order) if order.pk else None
        for name in ORDER_FIELDS:
            setattr(order, name, values[name])
        order.customer = customers[_customer_key(values)]
        order.zone = zone_locator.locate(order.lat, order.lon)
        if before is not None and before == _comparable(order):
            unchanged.append(order)  # a re-sent file: nothing to write for this order
            continue
        order.updated_at = now
        (to_update if order.pk else to_create).append(order)

    Order.objects.bulk_create(to_create, batch_size=1000)
    if to_update:
        bulk_update_rows(Order, to_update, [*ORDER_FIELDS, "customer", "zone", "updated_at"])
    if not to_create[:1] or to_create[0].pk is None:
        # Backends that do not return ids from bulk inserts: read them back by reference.
        ids = dict(Order.objects.filter(reference__in=[o.reference for o in to_create]).values_list("reference", "id"))
        for order in to_create:
            order.pk = order.id = ids[order.reference]
    OrderStatusChange.objects.bulk_create(
        [
            OrderStatusChange(
                order=o,
                from_status="",
                to_status=Order.Status.NEW,
                changed_at=now,
                changed_by=_user_or_none(user),
                reason="imported",
            )
            for o in to_create
        ],
        batch_size=1000,
    )
    events.orders_created(orders=to_create)  # their tracking links, in this transaction
    return ImportResult(created=to_create, updated=to_update, unchanged=unchanged)


def _comparable(order: Order) -> tuple:
    # attnames (depot_id, not depot) so that comparing never loads a related row
    return tuple(getattr(order, Order._meta.get_field(name).attname) for name in ORDER_FIELDS) + (
        order.customer_id,
        order.zone_id,
    )


def _user_or_none(user):
    return user if getattr(user, "is_authenticated", False) else None


def _customers_for(parsed: list[dict]) -> dict[tuple, Customer]:
    """Find or create one customer per e-mail (else phone) so repeat buyers keep one record."""
    by_key: dict[tuple, Customer] = {}
    emails = {v["email"].lower() for v in parsed if v["email"]}
    phones = {_customer_key(v)[1] for v in parsed if not v["email"] and v["phone"]}
    email_list, phone_list = list(emails), list(phones)
    for start in range(0, len(email_list), 2000):
        # Case-insensitive: "Anna@Example.com" stored earlier is the same customer as "anna@example.com".
        batch = email_list[start : start + 2000]
        for customer in Customer.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=batch):
            by_key.setdefault(("email", customer.email.lower()), customer)
    for start in range(0, len(phone_list), 2000):
        for customer in Customer.objects.filter(phone__in=phone_list[start : start + 2000], email=""):
            by_key.setdefault(("phone", customer.phone), customer)
    new_customers, named = {}, {}
    for values in parsed:
        key = _customer_key(values)
        customer = by_key.get(key) or new_customers.get(key)
        if customer is None:
            phone = key[1] if key[0] == "phone" else values["phone"]
            customer = Customer(
                name=values["customer_name"], email=values["email"], phone=phone, language=values["language"]
            )
            new_customers[key] = customer
        elif customer.pk and values["customer_name"] and not customer.name:
            customer.name = values["customer_name"]
            named[customer.pk] = customer
    Customer.objects.bulk_create(list(new_customers.values()), batch_size=1000)
    Customer.objects.bulk_update(list(named.values()), ["name"], batch_size=1000)
    by_key.update(new_customers)
    return by_key
