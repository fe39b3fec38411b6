"""Re-planning a dispatched day from where every vehicle is now.

Done stops (delivered, failed) stay done; a stop the driver has reached or is heading to stays
first on that driver's route; every other open stop, plus new orders of the day, is planned again
from each vehicle's current position and time. Two modes:

- keep: every open stop stays with its driver (only the order changes); new orders go where they fit;
- moves: stops may change vehicle; each stop moved costs `move_cost` (money), and the plan that
  moves stops is kept only if it saves more than the moves cost — what a dispatcher weighs when
  phoning drivers.

The result is a new plan version (parent = the dispatched plan), dispatched at once.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from dispatch.models import Driver, Order
from routes import optimizer
from routes.errors import RoutingError
from routes.models import Plan
from routes.plan_inputs import PLANNABLE_STATUSES, StartPoint, build_plan_inputs
from routes.plan_saving import (
    TimedRoute,
    TimedStop,
    draft_from_solution,
    mark_orders_dispatched,
    time_route,
    write_plan_content,
)
from routes.planning import plan_depot_ids, plan_vehicles, readable_reason, reason_code
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)

DONE_STATUSES = {Order.Status.DELIVERED, Order.Status.FAILED, Order.Status.CANCELLED}
FIXED_STATUSES = {Order.Status.ARRIVED, Order.Status.EN_ROUTE}
# A phone position older than this says little about where the vehicle is now.
POSITION_FRESH_FOR = timedelta(minutes=15)
DEFAULT_MOVE_COST = Decimal("5.00")


@dataclass
class VehicleProgress:
    vehicle_id: int
    driver_id: int | None
    done: list = field(default_factory=list)  # Stop rows, in sequence
    fixed: list = field(default_factory=list)  # Stop rows the driver reached or heads to
    remaining: list[int] = field(default_factory=list)  # order ids still to plan
    start: StartPoint | None = None


def latest_dispatched_plan(*, day, depot_id, before_version: int | None = None) -> Plan | None:
    """The plan drivers follow for a day and depot: the newest dispatched version."""
    plans = Plan.objects.filter(date=day, dispatched_at__isnull=False, status=Plan.Status.DONE)
    if before_version is not None:
        plans = plans.filter(version__lt=before_version)
    plans = plans.filter(depot_id=depot_id) if depot_id else plans.filter(depot__isnull=True)
    return plans.order_by("-version").first()


def _copied_stop(stop, sequence: int) -> TimedStop:
    return TimedStop(
        order_id=stop.order_id, sequence=sequence, eta=stop.eta, etd=stop.etd, waiting_s=stop.waiting_s,
        service_s=stop.service_s, leg_distance_m=stop.leg_distance_m, leg_duration_s=stop.leg_duration_s,
        late_s=stop.late_s, pinned=stop.pinned, warnings=list(stop.warnings),
    )  # fmt: skip


def announce_plan_updated(revision: Plan) -> None:
    """After commit: tell dashboards, drivers and customers what a new version changed."""
    from dispatch import events
    from routes.selectors import plan_changes

    payload = {"plan_id": revision.pk, "previous_plan_id": revision.parent_id, "reason": revision.reason}
    transaction.on_commit(lambda: events.plan_updated(**payload, changes=plan_changes(revision.parent_id, revision.pk)))


def vehicle_progress(plan: Plan, now: datetime) -> dict[int, VehicleProgress]:
    """Where each route of a dispatched plan stands now."""
    progress = {}
    drivers = {d.id: d for d in Driver.objects.filter(routes__plan=plan)}
    # The geometry (a large JSON) is not needed to know where each route stands.
    for route in plan.routes.select_related("vehicle__depot").prefetch_related("stops__order").defer("geometry"):
        item = VehicleProgress(vehicle_id=route.vehicle_id, driver_id=route.driver_id)
        for stop in sorted(route.stops.all(), key=lambda s: s.sequence):
            status = stop.order.status
            if status in DONE_STATUSES:
                item.done.append(stop)
            elif status in FIXED_STATUSES:
                item.fixed.append(stop)
            else:
                item.remaining.append(stop.order_id)
        item.start = _start_point(route, item, drivers.get(route.driver_id), now)
        progress[route.vehicle_id] = item
    return progress


def _start_point(route, item: VehicleProgress, driver, now: datetime) -> StartPoint:
    if item.fixed:
        last = item.fixed[-1]
        # Free again once the stop it is at (or heading to) is served.
        return StartPoint(
            lat=last.order.lat, lon=last.order.lon, at=max(now, last.eta) + timedelta(seconds=last.service_s)
        )
    if driver is not None and driver.last_position_at and now - driver.last_position_at <= POSITION_FRESH_FOR:
        return StartPoint(lat=driver.last_lat, lon=driver.last_lon, at=now)
    if item.done:
        last = item.done[-1]
        return StartPoint(lat=last.order.lat, lon=last.order.lon, at=max(now, last.etd))
    depot = route.vehicle.depot
    return StartPoint(lat=depot.lat, lon=depot.lon, at=max(now, route.start or now))


def replan_compute(*, plan_id: int, now: datetime | None = None) -> Plan:
    """Fill a queued re-plan (a Plan whose parent is the dispatched plan) and dispatch it.

    Options come from plan.request["replan"]: mode, move_cost, include_new, time_budget_s.
    Idempotent like plan_compute: a done or failed re-plan is returned as it is.
    """
    from routes.planning import plan_fail, set_progress

    target = Plan.objects.select_related("parent").get(pk=plan_id)
    if target.status in (Plan.Status.DONE, Plan.Status.FAILED):
        return target
    options = target.request.get("replan", {})
    try:
        set_progress(plan_id, stage="computing travel times", progress=10)
        return _replan(
            target=target, plan=target.parent, mode=options.get("mode", "keep"),
            move_cost=Decimal(str(options.get("move_cost", DEFAULT_MOVE_COST))),
            include_new=options.get("include_new", True), now=now, time_budget_s=options.get("time_budget_s"),
        )  # fmt: skip
    except Exception as exc:
        logger.exception("re-plan %s failed", plan_id)
        plan_fail(plan_id=plan_id, reason=f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"[:2000])
        raise


def _replan(*, target: Plan, plan: Plan, mode: str, move_cost: Decimal, include_new: bool, now, time_budget_s) -> Plan:
    from routes.planning import set_progress

    if plan is None or plan.dispatched_at is None:
        raise RoutingError(
            "Only a dispatched plan is re-planned mid-day; optimize it again instead",
            field="parent",
            value=None,
            status_code=409,
        )
    if mode not in ("keep", "moves"):
        raise RoutingError('mode must be "keep" or "moves"', field="mode", value=mode)
    now = now or timezone.now()
    network = get_road_network()
    progress = vehicle_progress(plan, now)
    remaining_ids = [o for p in progress.values() for o in p.remaining]
    # Orders this plan could not serve get another chance (a lifted closure may open the way).
    remaining_ids += list(
        Order.objects.filter(id__in=plan.unassigned.values_list("order_id", flat=True), status__in=PLANNABLE_STATUSES)
        .exclude(id__in=remaining_ids)
        .values_list("id", flat=True)
    )
    new_ids = []
    if include_new:
        new_ids = list(
            Order.objects.filter(date=plan.date, depot_id__in=plan_depot_ids(plan), status__in=PLANNABLE_STATUSES)
            .exclude(id__in=remaining_ids)
            .values_list("id", flat=True)
        )
    orders = list(Order.objects.filter(id__in=remaining_ids + new_ids).select_related("zone").order_by("id"))
    vehicles = {v.id: v for v in plan_vehicles(plan)}
    for route in plan.routes.select_related("vehicle__depot"):
        vehicles.setdefault(route.vehicle_id, route.vehicle)
    start_points = {v: p.start for v, p in progress.items()}
    for vehicle in vehicles.values():
        if vehicle.id not in start_points and now.time() > vehicle.shift_start:
            start_points[vehicle.id] = StartPoint(lat=vehicle.depot.lat, lon=vehicle.depot.lon, at=now)

    set_progress(target.pk, stage="optimizing", progress=30)
    started = time.monotonic()

    def solve(locked: bool):
        initial = [(v, p.remaining, locked) for v, p in progress.items() if p.remaining]
        inputs = build_plan_inputs(
            network=network, day=plan.date, orders=orders, vehicles=list(vehicles.values()), objective=plan.objective,
            start_points=start_points, initial_routes=initial,
        )  # fmt: skip
        settings = optimizer.SolverSettings(
            time_budget_s=time_budget_s or optimizer.default_time_budget(len(orders)) / 2
        )
        return inputs, optimizer.solve(inputs.problem, settings)

    inputs, solution = solve(locked=True)
    chosen_mode = "keep"
    if mode == "moves":
        _, free_solution = solve(locked=False)
        moved = _moved_stops(progress, free_solution)
        extra = Decimal(moved) * move_cost * 100  # solution costs are in cents
        if optimizer.objective_key(inputs.problem, free_solution)[:3] <= optimizer.objective_key(
            inputs.problem, solution
        )[:3] and (Decimal(str(free_solution.cost)) + extra < Decimal(str(solution.cost))):
            solution, chosen_mode = free_solution, f"moves ({moved} stop(s) moved)"
    solve_seconds = time.monotonic() - started

    reasons = optimizer.explain_unassigned(inputs.problem, solution)
    unassigned = dict(inputs.dropped)
    unassigned.update({order_id: (reason_code(r), readable_reason(r)) for order_id, r in reasons.items()})
    timed = []
    for route in solution.routes:
        if not route.job_ids:
            continue
        draft = draft_from_solution(inputs, route)
        timed.append(time_route(network, inputs, draft))
    by_vehicle = {t.vehicle_id: t for t in timed}
    for vehicle_id, item in progress.items():
        # Keep what was done and what the driver is busy with at the head of the route.
        kept = item.done + item.fixed
        if not kept:
            continue
        route = by_vehicle.get(vehicle_id)
        if route is None:
            route = by_vehicle[vehicle_id] = _route_of_kept_stops(plan, vehicle_id)
            timed.append(route)
        head = [_copied_stop(stop, n) for n, stop in enumerate(kept, start=1)]
        route.stops = head + [s for s in route.stops if s.order_id not in {h.order_id for h in head}]
        for sequence, stop in enumerate(route.stops, start=1):
            stop.sequence = sequence
        route.start = min(route.start, kept[0].eta)
        route.distance_m += sum(s.leg_distance_m for s in kept)
    return _save_replan(
        target=target, timed=timed, unassigned=unassigned, progress=progress, mode=chosen_mode,
        solver=solution.solver, solve_seconds=solve_seconds,
    )  # fmt: skip


def _route_of_kept_stops(plan: Plan, vehicle_id: int) -> TimedRoute:
    old = plan.routes.get(vehicle_id=vehicle_id)
    return TimedRoute(
        vehicle_id=vehicle_id, start=old.start, end=old.end, distance_m=0, driving_s=0, cost=Decimal("0"),
        geometry=old.geometry, stops=[], load_kg=Decimal("0"), load_items=0,
    )  # fmt: skip


def _moved_stops(progress: dict[int, VehicleProgress], solution) -> int:
    owner = {order_id: v for v, p in progress.items() for order_id in p.remaining}
    return sum(
        1
        for route in solution.routes
        for order_id in route.job_ids
        if order_id in owner and owner[order_id] != route.vehicle_id
    )


@transaction.atomic
def _save_replan(*, target: Plan, timed, unassigned, progress, mode, solver, solve_seconds) -> Plan:
    revision = Plan.objects.select_for_update().get(pk=target.pk)
    if revision.status == Plan.Status.DONE:
        return revision
    by = revision.created_by
    now = timezone.now()
    revision.status, revision.stage, revision.progress = Plan.Status.DONE, "done", 100
    revision.finished_at = revision.dispatched_at = now
    revision.dispatched_by = by
    revision.reason = f"{revision.reason}: {mode}"[:255]
    revision.solver, revision.solve_seconds = solver, round(solve_seconds, 3)
    drivers = {v: p.driver_id for v, p in progress.items()}
    write_plan_content(plan=revision, routes=timed, unassigned=unassigned, drivers=drivers)
    revision.save()
    routed = [s.order_id for r in timed for s in r.stops]
    note = f"plan {revision.pk} v{revision.version}: {revision.reason}"
    mark_orders_dispatched(routed=routed, left_out=list(unassigned), by=by, note=note)
    announce_plan_updated(revision)
    return revision
