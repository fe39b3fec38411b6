"""The demo company in Liechtenstein: depots, fleet, staff, zones and a day of orders at real
addresses. Deterministic for a given seed so screenshots and tests can rely on it."""

import csv
import io
import random
from dataclasses import dataclass
from datetime import date, time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from dispatch.demo_addresses import Address, read_addresses
from dispatch.models import Depot, Order, Vehicle, Zone
from dispatch.order_import import orders_import_csv
from dispatch.roles import DISPATCHER, MANAGER, ensure_role_groups
from dispatch.services import driver_create

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
FIRST_NAMES = "Anna Lukas Sophie Elias Marie Noah Lea Leon Laura Jonas Sarah Luca Nina David Lena Simon Julia Fabian Eva Matteo".split()
LAST_NAMES = "Büchel Frick Marxer Ospelt Wohlwend Beck Kaiser Hasler Meier Vogt Schädler Risch Matt Gassner Kindle Batliner Oehri Negele Sprenger Näscher".split()
WINDOWS = ((8, 10), (8, 12), (9, 12), (10, 13), (12, 15), (13, 16), (14, 17), (15, 18), (16, 19))


@dataclass
class DemoSummary:
    depots: int
    vehicles: int
    drivers: int
    orders_created: int


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
                          "cost_per_hour": per_h, "fixed_cost": fixed, "skills": skills,
                          "shift_start": time(8), "shift_end": time(18) if kind == "van" else time(17)},
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


def _nearest_depot(address: Address, depots: list[Depot]) -> Depot:
    return min(depots, key=lambda d: (d.lat - address.lat) ** 2 + (d.lon - address.lon) ** 2)


def demo_orders_csv(*, day: date, count: int, seed: int, addresses: list[Address], depots: list[Depot]) -> bytes:
    """A CSV in the public import format: the demo uses the same door as every customer."""
    rng = random.Random(seed)  # nosec B311  # demo orders, reproducible from the seed on purpose
    usable = [a for a in addresses if a.postcode and a.city]
    chosen = rng.sample(usable, min(count, len(usable)))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(
        ["reference", "date", "depot", "customer_name", "phone", "email", "address", "latitude", "longitude",
         "window_start", "window_end", "service_minutes", "weight_kg", "items", "skills", "priority", "notes"]
    )  # fmt: skip
    for number, address in enumerate(chosen, start=1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        window = rng.choice(WINDOWS) if rng.random() < 0.7 else None
        skills = "fridge" if rng.random() < 0.06 else ("two_person" if rng.random() < 0.03 else "")
        weight = round(
            rng.choice([rng.uniform(0.2, 5), rng.uniform(0.2, 5), rng.uniform(5, 25), rng.uniform(25, 60)]), 1
        )
        writer.writerow(
            [f"LI-{day:%Y%m%d}-{number:04d}", day.isoformat(), _nearest_depot(address, depots).code, f"{first} {last}",
             f"+423 {rng.randint(230, 399)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
             f"{first}.{last}{number}@example.li".lower().replace("ü", "ue").replace("ä", "ae"), address.label,
             address.lat, address.lon, f"{window[0]:02d}:00" if window else "", f"{window[1]:02d}:00" if window else "",
             rng.choice([2, 3, 4, 5, 5, 8]), weight, rng.randint(1, 4), skills,
             rng.choice([0, 0, 0, 10, 50, 90]), rng.choice(["", "", "", "Bitte beim Nachbarn abgeben", "Hund im Garten", "2. Stock"])]
        )  # fmt: skip
    return out.getvalue().encode()


def demo_seed(*, day: date, orders: int = 300, seed: int = 2026) -> DemoSummary:
    depots, vehicles = demo_seed_company()
    created = 0
    if not Order.objects.filter(date=day).exists():
        addresses = read_addresses(settings.DEMO_PBF)
        data = demo_orders_csv(day=day, count=orders, seed=seed + day.toordinal(), addresses=addresses, depots=depots)
        admin = get_user_model().objects.get(username="admin")
        created = len(orders_import_csv(data=data, user=admin).created)
    from dispatch.models import Driver

    return DemoSummary(
        depots=len(depots), vehicles=len(vehicles), drivers=Driver.objects.count(), orders_created=created
    )
