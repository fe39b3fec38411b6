"""The demo company in Liechtenstein: depots, fleet, staff, zones and a day of orders at real
addresses. Deterministic for a given seed so screenshots and tests can rely on it.

Today's demo is laid out around the moment it is seeded (DemoDay), so that `make run` followed by
`make simulate` shows a plausible day at 07:00, 14:00 or 22:30: shifts start now, windows open from
half an hour later. A later `make run` lays out a new day's orders the same way, once.
"""

import csv
import io
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from dispatch.demo.addresses import Address, read_addresses
from dispatch.fleet.services import driver_create
from dispatch.models import Depot, Driver, NoFlyZone, Order, Vehicle, Zone
from dispatch.orders.importing import orders_import_csv
from dispatch.roles import DISPATCHER, MANAGER, ensure_role_groups

DEMO_LOGINS = (
    # username, password, role, what they see
    ("admin", "admin-demo-2026", "superuser", "everything, including the admin site"),
    ("manager", "manager-demo-2026", MANAGER, "all depots, admin site, analytics"),
    ("dispatcher", "dispatcher-demo-2026", DISPATCHER, "both depots' dashboard"),
    ("dispatcher.vaduz", "dispatcher-demo-2026", DISPATCHER, "depot VDZ only"),
    ("driver01", "driver-demo-2026", "driver", "the driver app (route of vehicle VDZ-Van-1)"),
)
DRIVER_PASSWORD = "driver-demo-2026"  # nosec B105  # the demo login printed by `make run` (README)

DEPOTS = (
    ("VDZ", "Vaduz Depot", "Industriestrasse, 9490 Vaduz", 47.1307, 9.5162),
    ("ESN", "Eschen Depot", "Industriestrasse, 9492 Eschen", 47.2060, 9.5268),
)
# (code, name, depot, access seconds, polygon ring as (lon, lat)) — rough real areas.
ZONES = (
    (
        "vaduz-centre",
        "Vaduz Zentrum",
        "VDZ",
        180,
        [(9.515, 47.133), (9.530, 47.133), (9.530, 47.146), (9.515, 47.146), (9.515, 47.133)],
    ),
    ("oberland", "Oberland", "VDZ", 60, [(9.46, 47.04), (9.64, 47.04), (9.64, 47.165), (9.46, 47.165), (9.46, 47.04)]),
    (
        "unterland",
        "Unterland",
        "ESN",
        60,
        [(9.46, 47.165), (9.64, 47.165), (9.64, 47.28), (9.46, 47.28), (9.46, 47.165)],
    ),
)
# name suffix, kind, kg, items, cost/km, cost/h, fixed, skills
FLEET = (
    ("Van-1", "van", 800, 120, 0.35, 32, 45, ["fridge"]),
    ("Van-2", "van", 800, 120, 0.35, 32, 45, []),
    ("Van-3", "van", 1000, 150, 0.40, 34, 50, ["two_person", "heavy", "tail_lift"]),
    ("Van-4", "van", 600, 100, 0.30, 32, 40, []),
    ("CargoBike-1", "cargo_bike", 150, 40, 0.05, 26, 15, []),
    ("CargoBike-2", "cargo_bike", 150, 40, 0.05, 26, 15, ["fridge"]),
)
# A micro-hub in Vaduz's centre and a drone that reloads there, with one no-fly zone: the hospital's
# helipad (Liechtensteinisches Landesspital, OSM way 486420157) lies between the hub and the south.
# (code, name, address, lat, lon)
MICRO_HUB = ("VDZ-HUB", "Mikro-Hub Vaduz Zentrum", "Äulestrasse, 9490 Vaduz", 47.1405, 9.5210)
# name, depot, payload kg, km/h, range km (out and back), trips, reload minutes, cost/km, cost/h, fixed. No
# fixed cost: the drone is bought either way and its pilot is at the hub all day (a vehicle's fixed cost is
# what using it at all costs on the day).
DRONE = ("VDZ-Drone-1", "VDZ", 3, 60, 16, 15, 5, 0.02, 8, 0)
NO_FLY_ZONES = (
    (
        "Landesspital Vaduz",
        "Hospital helipad (rescue helicopters)",
        [(9.5193, 47.1325), (9.5259, 47.1325), (9.5259, 47.1370), (9.5193, 47.1370), (9.5193, 47.1325)],
    ),
)
DRONE_PILOT = "pilot01"
FIRST_NAMES = "Anna Lukas Sophie Elias Marie Noah Lea Leon Laura Jonas Sarah Luca Nina David Lena Simon Julia Fabian Eva Matteo".split()
LAST_NAMES = "Büchel Frick Marxer Ospelt Wohlwend Beck Kaiser Hasler Meier Vogt Schädler Risch Matt Gassner Kindle Batliner Oehri Negele Sprenger Näscher".split()
# Windows of a classic day (hours): the history's days, and a demo seeded for another day than today.
WINDOWS = ((8, 10), (8, 12), (9, 12), (10, 13), (12, 15), (13, 16), (14, 17), (15, 18), (16, 19))
CLASSIC_SHIFTS = {"van": (time(8), time(18)), "cargo_bike": (time(8), time(17))}
# Today's windows as (minutes after the first window opens, minutes long): the same mix of two- to
# four-hour windows, fitted into the 7.5 hours after the first one so that a 9-hour shift covers them.
TODAY_WINDOWS = ((0, 120), (0, 240), (60, 180), (120, 180), (180, 180), (240, 180), (300, 150), (330, 120))
SLOT = timedelta(minutes=15)  # windows and shifts start on the quarter hour, as dispatchers promise them
# The first window opens at least this long after seeding: time to plan, dispatch and load the vans.
FIRST_WINDOW_LEAD = timedelta(minutes=30)
SHIFT_LENGTH = timedelta(hours=9)
DEMO_REFERENCE = "LI-{day:%Y%m%d}-"


@dataclass
class DemoSummary:
    depots: int
    vehicles: int
    drivers: int
    orders_created: int
    orders_relaid: int = 0  # today's untouched orders moved to windows after now (a restart later that day)
    day_layout: "DemoDay | None" = None  # set when today's orders were laid out (created or re-laid)


def _floor_to_slot(moment: datetime) -> datetime:
    # In UTC: Europe/Vaduz's offsets are whole hours, so UTC quarter hours are local ones, and adding
    # durations in UTC stays right across a clock change (aware local arithmetic adds wall-clock time).
    utc = moment.astimezone(UTC).replace(second=0, microsecond=0)
    return utc - timedelta(minutes=utc.minute % 15)


@dataclass(frozen=True)
class DemoDay:
    """Where today's demo sits on the clock: shifts start when it is seeded (rounded down to the quarter
    hour) and last SHIFT_LENGTH; the first window opens FIRST_WINDOW_LEAD later (rounded up) and the
    others follow over the next hours (TODAY_WINDOWS). Late in the evening the demo day runs on past
    midnight (seeded at 22:30: shifts until 07:30, windows until about 06:00), while the orders keep
    today's date, as a night shift's orders do."""

    seeded_at: datetime
    shift_start: datetime
    first_window: datetime

    @classmethod
    def around(cls, moment: datetime) -> "DemoDay":
        lead = moment + FIRST_WINDOW_LEAD
        first = _floor_to_slot(lead)
        if first < lead:
            first += SLOT
        return cls(seeded_at=moment, shift_start=_floor_to_slot(moment), first_window=first)

    @property
    def shift_end(self) -> datetime:
        return self.shift_start + SHIFT_LENGTH

    def window(self, offset_min: int, length_min: int) -> tuple[datetime, datetime]:
        start = self.first_window + timedelta(minutes=offset_min)
        return start, start + timedelta(minutes=length_min)

    @property
    def last_window_end(self) -> datetime:
        return max(self.window(*w)[1] for w in TODAY_WINDOWS)

    def local_shift(self) -> tuple[time, time]:
        """The shift as a vehicle stores it (local times of day); an end before the start is the next morning."""
        return timezone.localtime(self.shift_start).time(), timezone.localtime(self.shift_end).time()


def _user(username: str, password: str, role: str, depots: list[Depot]):
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username, defaults={"email": f"{username}@demo.invalid"})
    user.set_password(password)
    user.is_staff = role in ("superuser", MANAGER)
    user.is_superuser = role == "superuser"
    user.save()
    if role in (MANAGER, DISPATCHER):
        user.groups.add(Group.objects.get(name=role))
    if role == DISPATCHER:
        for depot in depots:
            depot.dispatchers.add(user)
    return user


@transaction.atomic
def demo_seed_company() -> tuple[list[Depot], list[Vehicle]]:
    ensure_role_groups()
    depots = [
        Depot.objects.update_or_create(code=code, defaults={"name": name, "address": address, "lat": lat, "lon": lon})[
            0
        ]
        for code, name, address, lat, lon in DEPOTS
    ]
    by_code = {d.code: d for d in depots}
    for code, name, depot_code, access_s, ring in ZONES:
        Zone.objects.update_or_create(
            code=code,
            defaults={"name": name, "depot": by_code[depot_code], "access_time_s": access_s,
                      "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}},
        )  # fmt: skip
    vehicles = []
    for depot in depots:
        for suffix, kind, kg, items, per_km, per_h, fixed, skills in FLEET:
            vehicle, _ = Vehicle.objects.update_or_create(
                name=f"{depot.code}-{suffix}",
                defaults={"depot": depot, "kind": kind, "capacity_kg": kg, "capacity_items": items, "cost_per_km": per_km,
                          "cost_per_hour": per_h, "fixed_cost": fixed, "skills": skills},
                # Shifts are set once here; today's demo lays them out around now (demo_seed), and a
                # re-run the same day must not move them away from the orders already laid out.
                create_defaults={"depot": depot, "kind": kind, "capacity_kg": kg, "capacity_items": items,
                                 "cost_per_km": per_km, "cost_per_hour": per_h, "fixed_cost": fixed, "skills": skills,
                                 "shift_start": CLASSIC_SHIFTS[kind][0], "shift_end": CLASSIC_SHIFTS[kind][1]},
            )  # fmt: skip
            vehicles.append(vehicle)
    for username, password, role, _ in DEMO_LOGINS:
        if role != "driver":
            _user(username, password, role, depots if username == "dispatcher" else depots[:1])
    User = get_user_model()
    for index, vehicle in enumerate(vehicles, start=1):
        username = f"driver{index:02d}"
        if User.objects.filter(username=username).exists():
            continue
        rng = random.Random(index)  # nosec B311  # made-up demo names, reproducible on purpose
        driver_create(
            username=username,
            password=DRIVER_PASSWORD,
            name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            phone=f"+423 {rng.randint(600, 799)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            vehicle=vehicle,
        )
    return depots, vehicles


@transaction.atomic
def demo_seed_drone() -> Vehicle:
    """The micro-hub, the drone that reloads there (with its pilot, who dispatches it like a driver) and
    the no-fly zones. Not part of demo_seed_company: the simulations and benchmarks built on that keep
    their fleet of vans and bikes."""
    code, name, address, lat, lon = MICRO_HUB
    hub, _ = Depot.objects.update_or_create(
        code=code, defaults={"name": name, "address": address, "lat": lat, "lon": lon, "is_micro_hub": True}
    )
    for zone_name, reason, ring in NO_FLY_ZONES:
        NoFlyZone.objects.update_or_create(
            name=zone_name,
            defaults={"reason": reason, "polygon": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}},
        )
    drone_name, depot_code, payload, speed, range_km, trips, reload_min, per_km, per_h, fixed = DRONE
    fields = {"depot": Depot.objects.get(code=depot_code), "kind": Vehicle.Kind.DRONE, "capacity_kg": payload,
              "flight_speed_kmh": speed, "range_km": range_km, "max_trips": trips, "reload_minutes": reload_min,
              "cost_per_km": per_km, "cost_per_hour": per_h, "fixed_cost": fixed}  # fmt: skip
    start, end = CLASSIC_SHIFTS["cargo_bike"]
    drone, _ = Vehicle.objects.update_or_create(
        name=drone_name, defaults=fields, create_defaults={**fields, "shift_start": start, "shift_end": end}
    )
    drone.reload_hubs.set([hub])
    if not get_user_model().objects.filter(username=DRONE_PILOT).exists():
        driver_create(username=DRONE_PILOT, password=DRIVER_PASSWORD, name="Nina Kaiser", phone="+423 650 12 34",
                      vehicle=drone)  # fmt: skip
    return drone


# The Vaduz cargo bikes work from the micro-hub: up to HUB_BIKE_TRIPS trips a day, reloading there
# (or at their depot) in HUB_BIKE_RELOAD_MINUTES, so the demo's plans show trips.
HUB_BIKE_TRIPS = 3
HUB_BIKE_RELOAD_MINUTES = 10
HUB_BIKES_DEPOT = "VDZ"


@transaction.atomic
def demo_seed_hub_bikes() -> list[Vehicle]:
    """The cargo bikes of the micro-hub's depot become multi-trip bikes that reload at the hub."""
    hub = Depot.objects.get(code=MICRO_HUB[0])
    names = [f"{HUB_BIKES_DEPOT}-{suffix}" for suffix, kind, *_ in FLEET if kind == "cargo_bike"]
    bikes = list(Vehicle.objects.filter(name__in=names))
    for bike in bikes:
        bike.max_trips, bike.reload_minutes = HUB_BIKE_TRIPS, HUB_BIKE_RELOAD_MINUTES
        bike.save(update_fields=["max_trips", "reload_minutes"])
        bike.reload_hubs.add(hub)
    return bikes


def _nearest_depot(address: Address, depots: list[Depot]) -> Depot:
    return min(depots, key=lambda d: (d.lat - address.lat) ** 2 + (d.lon - address.lon) ** 2)


def _csv_time(day: date, moment: datetime) -> str | None:
    """HH:MM that the import reads back as exactly this moment on `day`, or None (after midnight, or the
    second 02:30 of the autumn clock change: the import's times of day cannot say those)."""
    local = timezone.localtime(moment)
    if local.date() == day + timedelta(days=1) and local.time() == time(0):
        return "24:00"
    back = datetime.combine(day, local.time(), tzinfo=local.tzinfo)
    if local.date() != day or back.astimezone(UTC) != moment.astimezone(UTC):
        return None
    return f"{local:%H:%M}"


def _demo_rows(*, day, count, seed, addresses, depots, layout):
    rng = random.Random(seed)  # nosec B311  # demo orders, reproducible from the seed on purpose
    usable = [a for a in addresses if a.postcode and a.city]
    chosen = rng.sample(usable, min(count, len(usable)))
    tz = timezone.get_current_timezone()
    for number, address in enumerate(chosen, start=1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        # One draw for either layout, so that today's demo and a classic day pick the same addresses and people.
        pick = rng.randrange(len(TODAY_WINDOWS) if layout else len(WINDOWS)) if rng.random() < 0.7 else None
        if pick is None:
            window = None
        elif layout:
            window = layout.window(*TODAY_WINDOWS[pick])
        else:
            start_h, end_h = WINDOWS[pick]
            window = (datetime.combine(day, time(start_h), tzinfo=tz), datetime.combine(day, time(end_h), tzinfo=tz))
        skills = "fridge" if rng.random() < 0.06 else ("two_person" if rng.random() < 0.03 else "")
        weight = round(
            rng.choice([rng.uniform(0.2, 5), rng.uniform(0.2, 5), rng.uniform(5, 25), rng.uniform(25, 60)]), 1
        )
        yield {
            "reference": f"{DEMO_REFERENCE.format(day=day)}{number:04d}", "date": day.isoformat(),
            "depot": _nearest_depot(address, depots).code, "customer_name": f"{first} {last}",
            "phone": f"+423 {rng.randint(230, 399)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
            "email": f"{first}.{last}{number}@example.li".lower().replace("ü", "ue").replace("ä", "ae"),
            "address": address.label, "latitude": address.lat, "longitude": address.lon, "window": window,
            "service_minutes": rng.choice([2, 3, 4, 5, 5, 8]), "weight_kg": weight, "items": rng.randint(1, 4),
            "skills": skills, "priority": rng.choice([0, 0, 0, 10, 50, 90]),
            "notes": rng.choice(["", "", "", "Bitte beim Nachbarn abgeben", "Hund im Garten", "2. Stock"]),
        }  # fmt: skip


CSV_COLUMNS = ("reference", "date", "depot", "customer_name", "phone", "email", "address", "latitude", "longitude",
               "window_start", "window_end", "service_minutes", "weight_kg", "items", "skills", "priority", "notes")  # fmt: skip


def _csv(day: date, rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        start, end = row["window"] or (None, None)
        cells = {**row, "window_start": "", "window_end": ""}
        if start is not None and _csv_time(day, start) and _csv_time(day, end):
            cells["window_start"], cells["window_end"] = _csv_time(day, start), _csv_time(day, end)
        writer.writerow([cells[name] for name in CSV_COLUMNS])
    return out.getvalue().encode()


def demo_orders_csv(
    *, day: date, count: int, seed: int, addresses: list[Address], depots: list[Depot], layout: DemoDay | None = None
) -> bytes:
    """A CSV in the public import format: the demo uses the same door as every customer. With a layout,
    windows it cannot say in HH:MM of `day` (after midnight) are left empty: _demo_day_save sets them."""
    return _csv(day, list(_demo_rows(day=day, count=count, seed=seed, addresses=addresses, depots=depots,
                                     layout=layout)))  # fmt: skip


def demo_orders_of(day: date):
    return Order.objects.filter(date=day, reference__startswith=DEMO_REFERENCE.format(day=day))


def _stale(orders, now: datetime) -> bool:
    """Today's demo orders laid out earlier and left alone (none planned, dispatched or done) while their
    first window closed: a `make run` at 20:00 after one at 07:00 lays them out again around now."""
    if orders.exclude(status=Order.Status.NEW).exists():
        return False
    first = orders.filter(window_end__isnull=False).order_by("window_end").first()
    return first is not None and first.window_end <= now


def demo_day_lay_out(*, day: date, orders: int, seed: int, now: datetime, depots: list[Depot]) -> DemoSummary:
    """Create today's demo orders around `now` (or re-lay untouched stale ones), and fit the demo fleet's
    shifts to them. Idempotent: the references are fixed by the day, and an import of a known reference
    updates that order (two `make run` at once write the same rows); other days and the history are
    never touched."""
    existing = demo_orders_of(day)
    if existing.exists() and not _stale(existing, now):
        return DemoSummary(depots=len(depots), vehicles=0, drivers=0, orders_created=0)
    layout = DemoDay.around(now)
    rows = list(_demo_rows(day=day, count=orders, seed=seed + day.toordinal(),
                           addresses=read_addresses(settings.DEMO_PBF), depots=depots, layout=layout))  # fmt: skip
    return _demo_day_save(day=day, rows=rows, layout=layout, depots=depots)


@transaction.atomic
def _demo_day_save(*, day: date, rows: list[dict], layout: DemoDay, depots: list[Depot]) -> DemoSummary:
    admin = get_user_model().objects.get(username="admin")
    result = orders_import_csv(data=_csv(day, rows), user=admin)
    # Windows past midnight (or in the repeated autumn hour) do not fit the import's HH:MM; set them exactly.
    exact = {row["reference"]: row["window"] for row in rows if row["window"]}
    fixed = [o for o in result.created + result.updated + result.unchanged if o.reference in exact
             and (o.window_start, o.window_end) != exact[o.reference]]  # fmt: skip
    for order in fixed:
        order.window_start, order.window_end = exact[order.reference]
    Order.objects.bulk_update(fixed, ["window_start", "window_end"], batch_size=1000)
    # The demo's vehicles are shared rows: their shifts follow the demo day that was laid out last (a
    # plan for another day uses them too). That is the price of one fleet for a demo alive at any hour.
    shift_start, shift_end = layout.local_shift()
    Vehicle.objects.filter(name__in=[f"{d.code}-{suffix}" for d in depots for suffix, *_ in FLEET] + [DRONE[0]]).update(
        shift_start=shift_start, shift_end=shift_end
    )
    return DemoSummary(depots=len(depots), vehicles=0, drivers=0, orders_created=len(result.created),
                       orders_relaid=len(result.updated) + len(result.unchanged), day_layout=layout)  # fmt: skip


def demo_seed(*, day: date, orders: int = 300, seed: int = 2026, now: datetime | None = None) -> DemoSummary:
    """The company once, and the day's demo orders if it has none: today's around now (DemoDay), another
    day's at the classic hours (WINDOWS) without touching the shifts."""

    now = now or timezone.now()
    depots, vehicles = demo_seed_company()
    vehicles.append(demo_seed_drone())
    demo_seed_hub_bikes()
    if day == timezone.localdate(now):
        summary = demo_day_lay_out(day=day, orders=orders, seed=seed, now=now, depots=depots)
    else:
        summary = DemoSummary(depots=len(depots), vehicles=0, drivers=0, orders_created=0)
        if not demo_orders_of(day).exists():
            data = demo_orders_csv(day=day, count=orders, seed=seed + day.toordinal(),
                                   addresses=read_addresses(settings.DEMO_PBF), depots=depots)  # fmt: skip
            admin = get_user_model().objects.get(username="admin")
            summary.orders_created = len(orders_import_csv(data=data, user=admin).created)
    summary.vehicles, summary.drivers = len(vehicles), Driver.objects.count()
    return summary


def demo_day_description(day: date) -> str | None:
    """One line for the banner: where today's demo sits on the clock."""
    orders = demo_orders_of(day)
    windows = orders.filter(window_start__isnull=False).order_by("window_start")
    if not orders.exists():
        return None
    vehicle = Vehicle.objects.filter(name__in=[f"{code}-Van-1" for code, *_ in DEPOTS]).first()
    text = f"Today's demo ({day}): {orders.count()} orders"
    if windows.exists():
        first = timezone.localtime(windows.first().window_start)
        last = timezone.localtime(windows.order_by("-window_end").first().window_end)
        text += f", windows {first:%H:%M} to {last:%H:%M}" + (" (next morning)" if last.date() > day else "")
    if vehicle:
        text += f", vans' shift {vehicle.shift_start:%H:%M} to {vehicle.shift_end:%H:%M}"
    return text
