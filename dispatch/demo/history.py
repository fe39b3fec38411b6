"""Past days for the demo: orders, dispatched plans, arrivals, deliveries, failures and feedback.

So the analytics pages show something true-looking on the first `make run`. Each past day gets
~300 orders at real addresses of the demo region, spread over the depots' vehicles in sweeps
around the depot; the plan's ETAs come from straight-line distances at vehicle speeds, and the
actual arrivals drift from them (traffic, long handovers) so some windows are missed. Rows are
written with bulk inserts (no per-order service calls, no events): 90 days take seconds.
Deterministic for a given seed.
"""

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from analytics.services import order_facts_refresh
from dispatch.demo.addresses import read_addresses
from dispatch.demo.seeding import CLASSIC_SHIFTS, FIRST_NAMES, LAST_NAMES, WINDOWS
from dispatch.models import Depot, Driver, Order, OrderStatusChange, Vehicle, Zone
from routes.models import Plan, Route, Stop

REFERENCE_PREFIX = "HIST"
SPEED_MPS = {"van": 8.0, "car": 9.0, "cargo_bike": 4.5, "bike": 4.0}  # straight-line progress incl. detours
# (reason, weight) of failed attempts, roughly as couriers report them.
FAILURE_REASONS = (("not_home", 55), ("no_access", 15), ("refused", 8), ("damaged", 4), ("wrong_address", 8),
                   ("other", 10))  # fmt: skip


@dataclass
class HistorySummary:
    days: int
    orders: int
    status_changes: int
    feedback: int


def _metres(lat1, lon1, lat2, lon2) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000 * math.hypot(x, y)


def _zone_for(zones, lat, lon):
    for zone in zones:
        ring = zone.polygon["coordinates"][0]
        lons, lats = [p[0] for p in ring], [p[1] for p in ring]
        if min(lons) <= lon <= max(lons) and min(lats) <= lat <= max(lats):
            return zone
    return None


def _feedback_model():
    try:
        model = apps.get_model("customers", "Feedback")
    except LookupError:
        return None
    return model if model._meta.db_table in connection.introspection.table_names() else None


def demo_history_exists(*, before: date) -> bool:
    return Order.objects.filter(reference__startswith=f"{REFERENCE_PREFIX}-", date__lt=before).exists()


def demo_history_seed(*, days: int, end: date, orders_per_day: int = 300, seed: int = 2026) -> HistorySummary:
    """Create `days` past days ending the day before `end`, then rebuild their analytics facts."""

    rng = random.Random(seed)  # nosec B311  # demo history, reproducible from the seed on purpose
    addresses = [a for a in read_addresses(settings.DEMO_PBF) if a.postcode and a.city]
    depots = list(Depot.objects.all())
    zones = list(Zone.objects.all())
    vehicles = {d.id: list(Vehicle.objects.filter(depot=d, available=True).order_by("name")) for d in depots}
    driver_of = {d.vehicle_id: d for d in Driver.objects.filter(active=True) if d.vehicle_id}
    feedback_model = _feedback_model()
    first = end - timedelta(days=days)
    with transaction.atomic():
        summary = _seed_days(rng, first, end, orders_per_day, addresses, depots, zones, vehicles, driver_of,
                             feedback_model)  # fmt: skip
    order_facts_refresh(date_from=first, date_to=end - timedelta(days=1))
    return summary


def _seed_days(rng, first, end, per_day, addresses, depots, zones, vehicles, driver_of, feedback_model):
    tz = timezone.get_current_timezone()
    total_orders = total_changes = total_feedback = 0
    day = first
    while day < end:
        if day.weekday() == 6:  # no deliveries on Sundays
            day += timedelta(days=1)
            continue
        count = int(per_day * rng.uniform(0.8, 1.15) * (0.6 if day.weekday() == 5 else 1.0))
        chosen = rng.sample(addresses, min(count, len(addresses)))
        orders = []
        for number, address in enumerate(chosen, start=1):
            depot = min(depots, key=lambda d: (d.lat - address.lat) ** 2 + (d.lon - address.lon) ** 2)
            window = rng.choice(WINDOWS) if rng.random() < 0.7 else None
            zone = _zone_for(zones, address.lat, address.lon)
            orders.append(Order(
                reference=f"{REFERENCE_PREFIX}-{day:%Y%m%d}-{number:04d}", date=day, depot=depot,
                customer_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}", address=address.label,
                lat=address.lat, lon=address.lon, zone=zone, service_minutes=rng.choice([2, 3, 4, 5, 5, 8]),
                weight_kg=Decimal(f"{rng.uniform(0.2, 25):.1f}"), items=rng.randint(1, 4),
                window_start=timezone.make_aware(datetime.combine(day, time(window[0])), tz) if window else None,
                window_end=timezone.make_aware(datetime.combine(day, time(window[1])), tz) if window else None,
                status=Order.Status.DELIVERED,
            ))  # fmt: skip
        Order.objects.bulk_create(orders, batch_size=1000)
        if connection.vendor != "postgresql" or orders[0].pk is None:
            ids = dict(Order.objects.filter(date=day, reference__startswith=f"{REFERENCE_PREFIX}-").values_list(
                "reference", "id"))  # fmt: skip
            for order in orders:
                order.pk = order.id = ids[order.reference]
        changes, stops_by_route, feedback = [], [], []
        for depot in depots:
            fleet = vehicles.get(depot.id) or []
            mine = [o for o in orders if o.depot_id == depot.id]
            if not fleet or not mine:
                continue
            dispatched_at = timezone.make_aware(datetime.combine(day, time(7, 30)), tz)
            plan = Plan.objects.create(
                date=day, depot=depot, version=1, status=Plan.Status.DONE, stage="done", progress=100,
                dispatched_at=dispatched_at, started_at=dispatched_at - timedelta(hours=12),
                finished_at=dispatched_at - timedelta(hours=11, minutes=58), solver="demo history",
            )  # fmt: skip
            mine.sort(key=lambda o: math.atan2(o.lat - depot.lat, o.lon - depot.lon))
            share = math.ceil(len(mine) / len(fleet))
            plan_distance = plan_duration = 0
            plan_cost = Decimal(0)
            for index, vehicle in enumerate(fleet):
                chunk = mine[index * share : (index + 1) * share]
                if not chunk:
                    continue
                chunk.sort(key=lambda o: (o.window_start or o.window_end or dispatched_at, o.lon))
                route, route_stops, route_changes, route_feedback = _simulate_route(
                    rng, plan, vehicle, driver_of.get(vehicle.id), depot, chunk, day, tz, feedback_model
                )
                plan_distance += route.distance_m
                plan_duration += route.duration_s
                plan_cost += route.cost
                stops_by_route.append((route, route_stops))
                changes.extend(route_changes)
                feedback.extend(route_feedback)
            plan.distance_m, plan.duration_s, plan.cost = plan_distance, plan_duration, plan_cost
            plan.vehicles_used = len([1 for r, _ in stops_by_route if r.plan_id == plan.id])
            plan.save(update_fields=["distance_m", "duration_s", "cost", "vehicles_used"])
        Route.objects.bulk_create([route for route, _ in stops_by_route])
        if stops_by_route and stops_by_route[0][0].pk is None:
            raise RuntimeError("bulk_create did not return route ids")
        stops = []
        for route, route_stops in stops_by_route:
            for stop in route_stops:
                stop.route_id = route.pk
                stops.append(stop)
        Stop.objects.bulk_create(stops, batch_size=1000)
        failed_ids = {c.order_id for c in changes if c.to_status == "failed"}
        delivered_ids = {c.order_id for c in changes if c.to_status == "delivered"}
        Order.objects.filter(id__in=failed_ids - delivered_ids).update(status=Order.Status.FAILED)
        OrderStatusChange.objects.bulk_create(changes, batch_size=2000)
        if feedback_model and feedback:
            feedback_model.objects.bulk_create(feedback, batch_size=1000)
        total_orders += len(orders)
        total_changes += len(changes)
        total_feedback += len(feedback)
        day += timedelta(days=1)
    return HistorySummary(days=(end - first).days, orders=total_orders, status_changes=total_changes,
                          feedback=total_feedback)  # fmt: skip


def _simulate_route(rng, plan, vehicle, driver, depot, orders, day, tz, feedback_model):
    speed = SPEED_MPS.get(vehicle.kind, 8.0)
    # Past days were classic days (WINDOWS); the vehicle's shift today follows the hour the demo was seeded.
    start = timezone.make_aware(datetime.combine(day, CLASSIC_SHIFTS.get(vehicle.kind, CLASSIC_SHIFTS["van"])[0]), tz)
    planned = actual = start
    drift = 0.0  # how far the driver is behind the plan, seconds
    lat, lon = depot.lat, depot.lon
    distance = 0
    stops, changes, feedback = [], [], []
    bad_day = rng.random() < 0.12  # a jam, a breakdown: the whole route runs late
    for sequence, order in enumerate(orders, start=1):
        leg_m = _metres(lat, lon, order.lat, order.lon) * 1.35
        leg_s = leg_m / speed + 60
        distance += leg_m
        planned = planned + timedelta(seconds=leg_s)
        waiting = 0
        if order.window_start and planned < order.window_start:
            waiting = (order.window_start - planned).total_seconds()
            planned = order.window_start
        service_s = (order.service_minutes or settings.DEFAULT_SERVICE_MINUTES) * 60
        drift = max(-300.0, drift + rng.gauss(25 if bad_day else 6, 90))
        actual_arrival = planned + timedelta(seconds=max(-waiting, drift) + (1200 if bad_day and sequence > 8 else 0))
        stops.append(Stop(
            order=order, sequence=sequence, eta=planned, etd=planned + timedelta(seconds=service_s),
            waiting_s=int(waiting), service_s=service_s, leg_distance_m=int(leg_m), leg_duration_s=int(leg_s),
        ))  # fmt: skip
        changes.append(_change(order, "planned", "dispatched", plan.dispatched_at, driver))
        changes.append(_change(order, "dispatched", "arrived", actual_arrival, driver))
        outcome_at = actual_arrival + timedelta(seconds=service_s * rng.uniform(0.6, 1.6))
        delivered = rng.random() > 0.06
        if not delivered:
            reason = rng.choices([r for r, _ in FAILURE_REASONS], [w for _, w in FAILURE_REASONS])[0]
            changes.append(_change(order, "arrived", "failed", outcome_at, driver, reason=reason))
            if rng.random() < 0.35:  # re-attempted the same afternoon and handed over
                again = outcome_at + timedelta(hours=rng.uniform(1.5, 3))
                changes.append(_change(order, "failed", "new", outcome_at + timedelta(minutes=10), None))
                changes.append(_change(order, "new", "dispatched", outcome_at + timedelta(minutes=20), None))
                changes.append(_change(order, "dispatched", "arrived", again, driver))
                changes.append(_change(order, "arrived", "delivered", again + timedelta(minutes=3), driver))
                delivered = True
        else:
            changes.append(_change(order, "arrived", "delivered", outcome_at, driver))
        if delivered and feedback_model and rng.random() < 0.22:
            late_min = ((actual_arrival - order.window_end).total_seconds() / 60) if order.window_end else 0
            base = 4.6 - (0.8 if late_min > 0 else 0) - (0.9 if late_min > 30 else 0)
            rating = min(5, max(1, round(rng.gauss(base, 0.8))))
            feedback.append(feedback_model(order=order, rating=rating, comment=""))
        actual = outcome_at
        planned = planned + timedelta(seconds=service_s)
        lat, lon = order.lat, order.lon
    back_m = _metres(lat, lon, depot.lat, depot.lon) * 1.35
    distance += back_m
    end = planned + timedelta(seconds=back_m / speed + 60)
    duration = (end - start).total_seconds()
    cost = (vehicle.fixed_cost + vehicle.cost_per_km * Decimal(distance / 1000).quantize(Decimal("0.001"))
            + vehicle.cost_per_hour * Decimal(duration / 3600).quantize(Decimal("0.0001")))  # fmt: skip
    del actual
    route = Route(
        plan=plan, vehicle=vehicle, driver=driver, distance_m=int(distance), duration_s=int(duration),
        driving_s=int(distance / speed), cost=cost.quantize(Decimal("0.01")), start=start, end=end,
        load_items=sum(o.items for o in orders),
    )  # fmt: skip
    return route, stops, changes, feedback


def _change(order, from_status, to_status, at, driver, reason=""):
    return OrderStatusChange(
        order_id=order.pk, from_status=from_status, to_status=to_status, changed_at=at,
        received_at=at,  # the demo's past days were recorded as they happened, none sent late
        changed_by_id=driver.user_id if driver else None, reason=reason,
    )  # fmt: skip
