"""Where each route of a dispatched plan stands now (done, fixed, remaining stops) and which vehicles are
already out: the start of a re-plan and of a same-day plan."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from dispatch.models import Driver, Order
from routes.models import Plan
from routes.plans.inputs import StartPoint
from routes.plans.selectors import latest_dispatched_plan

FIXED_STATUSES = {Order.Status.ARRIVED, Order.Status.EN_ROUTE}
# A phone position older than this says little about where the vehicle is now.
POSITION_FRESH_FOR = timedelta(minutes=15)


@dataclass
class VehicleProgress:
    vehicle_id: int
    driver_id: int | None
    done: list = field(default_factory=list)  # Stop rows, in sequence
    fixed: list = field(default_factory=list)  # Stop rows the driver reached or heads to
    remaining: list[int] = field(default_factory=list)  # order ids still to plan
    start: StartPoint | None = None
    out: bool = False  # on the road now: at or heading to a stop, or its phone gave a fresh position


def vehicle_progress(plan: Plan, now: datetime) -> dict[int, VehicleProgress]:
    """Where each route of a dispatched plan stands now."""
    progress = {}
    # Phones tell where the vehicles are today; a plan of another day starts from its depots.
    on_the_day = plan.date == timezone.localdate(now)
    drivers = {d.id: d for d in Driver.objects.filter(routes__plan=plan)} if on_the_day else {}
    # The geometry (a large JSON) is not needed to know where each route stands.
    for route in plan.routes.select_related("vehicle__depot").prefetch_related("stops__order").defer("geometry"):
        item = VehicleProgress(vehicle_id=route.vehicle_id, driver_id=route.driver_id)
        for stop in sorted(route.stops.all(), key=lambda s: s.sequence):
            status = stop.order.status
            if status in Order.DONE_STATUSES:
                item.done.append(stop)
            elif status in FIXED_STATUSES:
                item.fixed.append(stop)
            else:
                item.remaining.append(stop.order_id)
        item.start = _start_point(route, item, drivers.get(route.driver_id), now)
        item.out = bool(item.fixed) or _position_is_fresh(drivers.get(route.driver_id), now)
        progress[route.vehicle_id] = item
    return progress


def _position_is_fresh(driver, now: datetime) -> bool:
    return (
        driver is not None
        and driver.last_position_at is not None
        and now - driver.last_position_at <= POSITION_FRESH_FOR
    )


def vehicles_out(*, day, vehicles, now: datetime) -> dict[int, StartPoint]:
    """Vehicles already on the road on `day` (today): those with a route in the newest dispatched
    plan of their depot whose driver is at or heading to a stop, or whose phone gave a fresh
    position. A new plan starts them from there (see _start_point), not from the depot."""
    if day != timezone.localdate(now):
        return {}
    wanted = {v.id for v in vehicles}
    plans = {latest_dispatched_plan(day=day, depot_id=depot_id) for depot_id in {v.depot_id for v in vehicles}}
    plans.add(latest_dispatched_plan(day=day, depot_id=None))
    out = {}
    for plan in sorted(filter(None, plans), key=lambda p: p.dispatched_at):  # the newest dispatch wins
        for vehicle_id, item in vehicle_progress(plan, now).items():
            if vehicle_id in wanted and item.out:
                out[vehicle_id] = item.start
    return out


def _start_point(route, item: VehicleProgress, driver, now: datetime) -> StartPoint:
    if item.fixed:
        last = item.fixed[-1]
        # Free again once the stop it is at (or heading to) is served: when the live ETA (from where the
        # driver is) says, not the plan's, which a driver ahead of or behind the plan left long ago.
        return StartPoint(
            lat=last.order.lat,
            lon=last.order.lon,
            at=max(now, last.live_eta or last.eta) + timedelta(seconds=last.service_s),
        )
    if _position_is_fresh(driver, now):
        return StartPoint(lat=driver.last_lat, lon=driver.last_lon, at=now)
    if item.done:
        last = item.done[-1]
        # Served already, however far ahead of the plan: the vehicle is free now.
        return StartPoint(lat=last.order.lat, lon=last.order.lon, at=now)
    depot = route.vehicle.depot
    return StartPoint(lat=depot.lat, lon=depot.lon, at=max(now, route.start or now))
