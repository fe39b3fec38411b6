"""Re-planning a dispatched day from where every vehicle is now.

Done stops (delivered, failed) stay done; a stop the driver has reached or is heading to stays
first on that driver's route; every other open stop, plus new orders of the day, is planned again
from each vehicle's current position and time. Two modes:

- keep: every open stop stays with its driver (only the order changes); new orders go where they fit;
- moves: stops may change vehicle; each stop moved costs `move_cost` (money), and the plan that
  moves stops is kept only if it saves more than the moves cost — what a dispatcher weighs when
  phoning drivers.

A stop is never dropped because it no longer fits (shift over, window passed): it stays on its
vehicle, flagged late / overtime with the figures; only a stop no road leads to any more leaves
the routes (unassigned, with the reason). A closure re-plan repairs only the routes that drive
through the closure and copies the others as they are.

The result is a new plan version (parent = the dispatched plan), dispatched at once — unless the
system made it by itself (`guarded`) and the guard rails hold it back as a proposal for the
dispatcher (routes.plans.proposals).
"""

import logging
import math
import time
from datetime import datetime
from decimal import Decimal

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from dispatch.alerts import company_text
from dispatch.models import Order
from routes import optimizer
from routes.errors import RoutingError
from routes.flights import is_drone
from routes.models import Plan, Stop
from routes.plans.inputs import PLANNABLE_STATUSES, build_plan_inputs, shift_bounds
from routes.plans.kept_stops import keep_pinned_stops
from routes.plans.optimization import (
    plan_clock,
    plan_depot_ids,
    plan_fail,
    plan_vehicles,
    readable_reason,
    reason_code,
    set_progress,
)
from routes.plans.progress import VehicleProgress, vehicle_progress
from routes.plans.proposals import proposal_hold, proposals_supersede, replan_diff
from routes.plans.saving import (
    TimedRoute,
    TimedStop,
    announce_plan_updated,
    draft_from_solution,
    mark_orders_dispatched,
    record_planned_from,
    time_route,
    write_plan_content,
)
from routes.plans.selectors import latest_dispatched_plan
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)

DEFAULT_MOVE_COST = Decimal("5.00")
# Why a stop may leave the routes: no road leads to it (a closure cut it off). Any other reason
# (shift over, window passed, capacity) keeps it on its vehicle, flagged.
UNREACHABLE_CODES = {"closed_road", "road"}


def _copied_stop(stop, sequence: int) -> TimedStop:
    return TimedStop(
        order_id=stop.order_id, sequence=sequence, eta=stop.eta, etd=stop.etd, waiting_s=stop.waiting_s,
        service_s=stop.service_s, leg_distance_m=stop.leg_distance_m, leg_duration_s=stop.leg_duration_s,
        late_s=stop.late_s, pinned=stop.pinned, warnings=list(stop.warnings),
    )  # fmt: skip


def replan_compute(*, plan_id: int, now: datetime | None = None) -> Plan:
    """Fill a queued re-plan (a Plan whose parent is the dispatched plan) and dispatch it.

    Options come from plan.request["replan"]: mode, move_cost, include_new, time_budget_s.
    Idempotent like plan_compute: a done or failed re-plan is returned as it is.
    """

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
            only_vehicles=set(options["vehicles"]) if options.get("vehicles") is not None else None,
            guarded=bool(options.get("guarded")),
        )  # fmt: skip
    except Exception as exc:
        logger.exception("re-plan %s failed", plan_id)
        plan_fail(plan_id=plan_id, reason=f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"[:2000])
        raise


def _replan(
    *, target: Plan, plan: Plan, mode: str, move_cost: Decimal, include_new: bool, now, time_budget_s,
    only_vehicles: set[int] | None = None, guarded: bool = False,
) -> Plan:  # fmt: skip
    """Re-plan `plan` from now. `only_vehicles`: the routes to repair (a closure's); every other
    route is copied as it is. `guarded`: the system re-plans by itself, so the guard rails decide
    whether the result applies or waits for a dispatcher (routes.plans.proposals)."""

    if plan is None or plan.dispatched_at is None:
        raise RoutingError(
            gettext("Only a dispatched plan is re-planned mid-day; optimize it again instead"),
            field="parent",
            value=None,
            status_code=409,
        )
    if mode not in ("keep", "moves"):
        raise RoutingError(gettext('mode must be "keep" or "moves"'), field="mode", value=mode)
    now = now or plan_clock(target)  # when it is computed, or the simulated clock it was asked with
    network = get_road_network()
    progress = vehicle_progress(plan, now)
    repaired = {v for v in progress if only_vehicles is None or v in only_vehicles}
    owner = {order_id: v for v, p in progress.items() for order_id in p.remaining}
    remaining_ids = [o for v in repaired for o in progress[v].remaining]
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
            .exclude(id__in=list(owner))
            .values_list("id", flat=True)
        )
    orders = list(Order.objects.filter(id__in=remaining_ids + new_ids).select_related("zone").order_by("id"))
    vehicles = {v.id: v for v in plan_vehicles(plan)}
    for route in plan.routes.select_related("vehicle__depot"):
        vehicles.setdefault(route.vehicle_id, route.vehicle)
    # Vehicles without a route start at their depot once their shift and the preparation time allow
    # (build_plan_inputs, from now); those with one start where they stand.
    start_points = {v: p.start for v, p in progress.items()}

    set_progress(target.pk, stage="optimizing", progress=30)
    started = time.monotonic()

    def solve(*, fleet: list, jobs: list, initial: list, budget_orders: int):
        inputs = build_plan_inputs(
            network=network, day=plan.date, orders=jobs, vehicles=fleet, objective=plan.objective,
            start_points={v: s for v, s in start_points.items() if any(x.id == v for x in fleet)},
            initial_routes=initial, now=now, keep_passed=owner,
        )  # fmt: skip
        settings = optimizer.SolverSettings(
            time_budget_s=time_budget_s or optimizer.default_time_budget(budget_orders) / 2
        )
        return inputs, optimizer.solve(inputs.problem, settings)

    # Only the routes being repaired are solved (and new orders may go to any vehicle of a manual re-plan).
    fleet = [v for v in vehicles.values() if only_vehicles is None or v.id in repaired]
    kept_initial = [(v, progress[v].remaining, True) for v in repaired if progress[v].remaining]
    inputs, solution = solve(fleet=fleet, jobs=orders, initial=kept_initial, budget_orders=len(orders))
    chosen_mode = "keep"
    if guarded:
        solution, kept_order = _in_drivers_order(inputs, solution, progress, repaired)
        chosen_mode = "keep (drivers' order, detoured)" if kept_order else chosen_mode
    if mode == "moves":
        free_initial = [(v, progress[v].remaining, False) for v in repaired if progress[v].remaining]
        _, free_solution = solve(fleet=fleet, jobs=orders, initial=free_initial, budget_orders=len(orders))
        moved = _moved_stops(progress, free_solution)
        extra = Decimal(moved) * move_cost * 100  # solution costs are in cents
        # [:4]: as feasible, as few pinned stops dropped, as much priority and as many orders served
        if optimizer.objective_key(inputs.problem, free_solution)[:4] <= optimizer.objective_key(
            inputs.problem, solution
        )[:4] and (Decimal(str(free_solution.cost)) + extra < Decimal(str(solution.cost))):
            solution, chosen_mode = free_solution, f"moves ({moved} stop(s) moved)"
    unassigned = _unassigned_of(inputs, solution)

    # Guard rail: a stop its own vehicle cannot fit any more (shift over, window passed) is never
    # dropped silently. First another vehicle with time left may take it (a move: the dispatcher
    # decides), with every other open stop kept where it is; what nobody can take stays on its own
    # vehicle, flagged late / overtime with the figures.
    # A stop its own vehicle can no longer reach (a closure cut its roads off) may still be reached by
    # a vehicle of another kind (a cargo bike by its paths): offered to it too, before calling it
    # unreachable.
    profiles = {v.profile for v in vehicles.values()}
    leftovers = {
        o for o, (code, _) in unassigned.items() if o in owner and (code not in UNREACHABLE_CODES or len(profiles) > 1)
    }
    if leftovers and guarded and django_settings.REPLAN_RESCUE_BY_MOVES and len(vehicles) > 1:
        everyone = sorted(set(owner) | {o.id for o in orders})
        rescue_orders = list(Order.objects.filter(id__in=everyone).select_related("zone").order_by("id"))
        rescue_initial = [
            (v, [o for o in p.remaining if o not in leftovers], True) for v, p in progress.items() if p.remaining
        ]
        rescue_inputs, rescue = solve(
            fleet=list(vehicles.values()), jobs=rescue_orders, initial=rescue_initial, budget_orders=len(leftovers)
        )
        takers = {r.vehicle_id for r in rescue.routes for o in r.job_ids if o in leftovers and owner[o] != r.vehicle_id}
        if takers:
            repaired |= takers
            inputs, solution, chosen_mode = rescue_inputs, rescue, f"rescue ({len(takers)} vehicle(s) take stops)"
            unassigned = _unassigned_of(inputs, solution)
    copied_orders = {o for v, p in progress.items() if v not in repaired for o in p.remaining}
    unassigned = {o: reason for o, reason in unassigned.items() if o not in copied_orders}
    for order_id, (code, _) in list(unassigned.items()):
        # Never kept on a vehicle that has no road to it (it was, with made-up legs across the closure).
        if order_id in owner and code not in UNREACHABLE_CODES and _owner_cannot_reach(inputs, order_id, owner):
            unassigned[order_id] = (
                "closed_road",
                f"unreachable for {vehicles[owner[order_id]].name}: the roads to it are closed, and no vehicle "
                "that can still reach it has room",
            )
    solve_seconds = time.monotonic() - started

    drafts = {
        route.vehicle_id: draft_from_solution(inputs, route)
        for route in solution.routes
        if route.job_ids and route.vehicle_id in repaired
    }
    stay = {o: owner[o] for o, (code, _) in unassigned.items() if o in owner and code not in UNREACHABLE_CODES}
    keep_pinned_stops(inputs, drafts, stay, unassigned)
    timed = [time_route(network, inputs, draft) for draft in drafts.values()]
    for route in timed:
        _flag_overtime(route, vehicles[route.vehicle_id], plan.date)
    by_vehicle = {t.vehicle_id: t for t in timed}
    for vehicle_id, item in progress.items():
        if vehicle_id not in repaired:
            timed.append(_copied_route(plan, vehicle_id))  # the closure does not touch it: as it was
            continue
        # Keep what was done and what the driver is busy with at the head of the route.
        kept = item.done + item.fixed
        if not kept:
            continue
        route = by_vehicle.get(vehicle_id)
        if route is None:
            route = by_vehicle[vehicle_id] = _route_of_kept_stops(plan, vehicle_id)
            route.end = max(s.etd for s in kept)  # nothing planned after them
            timed.append(route)
        head = [_copied_stop(stop, n) for n, stop in enumerate(kept, start=1)]
        after_order = {s.sequence: s.order_id for s in route.stops}
        route.stops = head + [s for s in route.stops if s.order_id not in {h.order_id for h in head}]
        for sequence, stop in enumerate(route.stops, start=1):
            stop.sequence = sequence
        route.reloads = _reloads_with_head(plan, vehicle_id, kept, route, after_order)
        route.start = min(route.start, kept[0].eta)
        _add_head_figures(route, kept, vehicles[vehicle_id])
    record_planned_from(plan_id=target.pk, inputs=inputs, routes=timed)
    return _save_replan(
        target=target, timed=timed, unassigned=unassigned, progress=progress, mode=chosen_mode,
        solver=solution.solver, solve_seconds=solve_seconds, guarded=guarded,
    )  # fmt: skip


def _in_drivers_order(inputs, solution, progress: dict[int, VehicleProgress], repaired: set[int]):
    """The repair with each driver's remaining stops in the order they had, detoured around the
    closure, when that serves the same stops without breaking a rule; else the solver's own.

    A re-plan the system makes by itself should change no more than the closure forces: a driver
    who knows the round is not handed a reshuffled one (the solver, free to re-sequence, often
    reverses it to save a few minutes, which moves every customer's ETA by an hour and turns the
    re-plan into a proposal). Breaks stay after as many stops as the solver put before them."""
    if any(stop.kind == "reload" for route in solution.routes for stop in route.stops):
        # Keeping a driver's order would move stops across trips, which the capacity of each trip
        # may not allow: a multi-trip day keeps the solver's trips.
        return solution, False
    sequences = {}
    for route in solution.routes:
        before = [s.job_id for s in route.stops if s.kind == "job"]
        on_route = set(before)
        remaining = progress[route.vehicle_id].remaining if route.vehicle_id in progress else []
        own = [o for o in remaining if o in on_route] if route.vehicle_id in repaired else []
        ordered = own + [o for o in before if o not in set(own)]  # orders new to the route go last
        next_job = iter(ordered)
        sequences[route.vehicle_id] = [
            next(next_job) if stop.kind == "job" else optimizer.BreakVisit(stop.break_index) for stop in route.stops
        ]
    driven = optimizer.evaluate(inputs.problem, sequences, solver=solution.solver)
    if [r.job_ids for r in driven.routes] == [r.job_ids for r in solution.routes]:
        return solution, False  # the solver kept the order already
    # [:5]: everything but the cost (feasible, pinned stops, priority, orders, vehicles)
    if optimizer.objective_key(inputs.problem, driven)[:5] <= optimizer.objective_key(inputs.problem, solution)[:5]:
        return driven, True
    return solution, False


def _owner_cannot_reach(inputs, order_id: int, owner: dict[int, int]) -> bool:
    """The stop's own vehicle has no road to it any more: left out as unreachable, or reachable only
    by vehicles of another profile (plan_inputs gives such a job a `reach:<profile>` skill)."""
    job = inputs.problem.job_by_id().get(order_id)
    if job is None:
        return inputs.dropped.get(order_id, ("", ""))[0] in UNREACHABLE_CODES
    reach = {skill for skill in job.skills if skill.startswith("reach:")}
    vehicle = inputs.vehicles.get(owner[order_id])
    if is_drone(vehicle):
        return False  # it flies: closures never cut a drone off from a stop it was given
    return bool(reach) and vehicle is not None and f"reach:{vehicle.profile}" not in reach


def _unassigned_of(inputs, solution) -> dict[int, tuple[str, str]]:
    reasons = optimizer.explain_unassigned(inputs.problem, solution)
    unassigned = dict(inputs.dropped)
    unassigned.update({order_id: (reason_code(r), readable_reason(r)) for order_id, r in reasons.items()})
    return unassigned


def _flag_overtime(route: TimedRoute, vehicle, day) -> None:
    """Say on each stop served after its vehicle's shift ends by how much (the dispatcher decides)."""
    _, shift_end = shift_bounds(day, vehicle)  # a night shift ends the next morning
    for stop in route.stops:
        over = int((stop.etd - shift_end).total_seconds())
        if over > 0:
            stop.warnings.append(
                f"overtime: {math.ceil(over / 60)} min after the shift ends at {vehicle.shift_end:%H:%M}"
            )


def _add_head_figures(route: TimedRoute, kept: list, vehicle) -> None:
    """The stops kept at the head of a re-planned route count in its distance, driving and cost.

    (Left out, a route of done stops only read "0 min, 0.00" and so did the plan's totals.)"""
    kept_distance = sum(s.leg_distance_m for s in kept)
    kept_driving = sum(s.leg_duration_s for s in kept)
    route.distance_m += kept_distance
    route.driving_s += kept_driving
    route.cost = _route_cost(vehicle, route.distance_m, route.driving_s, has_stops=bool(route.stops))


def _route_cost(vehicle, distance_m: int, driving_s: int, *, has_stops: bool) -> Decimal:
    hours = Decimal(driving_s) / Decimal(3600)
    kilometres = Decimal(distance_m) / Decimal(1000)
    fixed = vehicle.fixed_cost if has_stops else Decimal("0")
    return (fixed + vehicle.cost_per_hour * hours + vehicle.cost_per_km * kilometres).quantize(Decimal("0.01"))


def _copied_route(plan: Plan, vehicle_id: int) -> TimedRoute:
    old = plan.routes.prefetch_related("stops").get(vehicle_id=vehicle_id)
    stops = sorted(old.stops.all(), key=lambda s: s.sequence)
    return TimedRoute(
        vehicle_id=vehicle_id, start=old.start, end=old.end, distance_m=old.distance_m, driving_s=old.driving_s,
        cost=old.cost, geometry=old.geometry, stops=[_copied_stop(s, n) for n, s in enumerate(stops, start=1)],
        load_kg=old.load_kg, load_items=old.load_items, warnings=list(old.warnings), locked=old.locked,
        breaks=list(old.breaks), reloads=list(old.reloads or []),
    )  # fmt: skip


def _reloads_with_head(plan: Plan, vehicle_id: int, kept: list, route: TimedRoute, after_order: dict) -> list[dict]:
    """A re-planned multi-trip route's reloads: those the driver made among the stops kept at its
    head (as they were), then the new part's, renumbered like its stops (sequences run on)."""
    old = plan.routes.filter(vehicle_id=vehicle_id).values_list("reloads", flat=True).first() or []
    head_sequence = {stop.sequence: number for number, stop in enumerate(kept[:-1], start=1)}
    reloads = [
        {**r, "after_sequence": head_sequence[int(r["after_sequence"])]}
        for r in old
        if int(r["after_sequence"]) in head_sequence
    ]
    sequence_of = {stop.order_id: stop.sequence for stop in route.stops}
    for reload in route.reloads:
        order_id = after_order.get(int(reload["after_sequence"]))
        if order_id in sequence_of:
            reloads.append({**reload, "after_sequence": sequence_of[order_id]})
    return reloads


def _route_of_kept_stops(plan: Plan, vehicle_id: int) -> TimedRoute:
    """A route left with only its done and current stops (their figures are added by the caller)."""
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


def _keep_live_etas(revision: Plan) -> None:
    """A stop the new version leaves as it was (same vehicle, same planned ETA: a route the closure
    does not touch, or the head of a repaired one) keeps its live ETA. Without it, the dashboards,
    the driver's phone and the customer messages (customers read the live ETA first) fell back to the
    morning's plan, which a fleet ahead of or behind it left long ago, until the next live refresh."""
    live = {
        (order_id, vehicle_id, eta): (live_eta, updated_at)
        for order_id, vehicle_id, eta, live_eta, updated_at in Stop.objects.filter(
            route__plan_id=revision.parent_id, live_eta__isnull=False
        ).values_list("order_id", "route__vehicle_id", "eta", "live_eta", "live_eta_updated_at")
    }
    if not live:
        return
    kept = []
    for stop in (
        Stop.objects.filter(route__plan=revision)
        .select_related("route")
        .only("id", "order_id", "eta", "route__vehicle_id")
    ):
        found = live.get((stop.order_id, stop.route.vehicle_id, stop.eta))
        if found:
            stop.live_eta, stop.live_eta_updated_at = found
            kept.append(stop)
    Stop.objects.bulk_update(kept, ["live_eta", "live_eta_updated_at"], batch_size=500)


@transaction.atomic
def _save_replan(*, target: Plan, timed, unassigned, progress, mode, solver, solve_seconds, guarded=False) -> Plan:
    """Save the re-plan; dispatch it at once, or — a guarded re-plan the guard rails hold back —
    keep it as a proposal for the dispatcher (nothing changes for drivers and customers until then)."""

    revision = Plan.objects.select_for_update().get(pk=target.pk)
    if revision.status == Plan.Status.DONE:
        return revision
    by = revision.created_by
    now = timezone.now()
    revision.status, revision.stage, revision.progress = Plan.Status.DONE, "done", 100
    revision.finished_at = now
    revision.reason = f"{revision.reason}: {mode}"[:255]
    revision.solver, revision.solve_seconds = solver, round(solve_seconds, 3)
    drivers = {v: p.driver_id for v, p in progress.items()}
    write_plan_content(plan=revision, routes=timed, unassigned=unassigned, drivers=drivers)
    _keep_live_etas(revision)
    if guarded:
        revision.proposal = replan_diff(parent=revision.parent, revision=revision)
        running = latest_dispatched_plan(day=revision.date, depot_id=revision.depot_id)
        if running is not None and running.pk != revision.parent_id:
            # Another version went out while this one was computed: never undo it by itself.
            revision.proposal["held_because"].append(
                company_text(gettext_noop("v%(version)s was applied while it was computed"), version=running.version)
            )
        if revision.proposal["held_because"]:
            revision.save()
            return proposal_hold(revision=revision)
    proposals_supersede(revision=revision)
    revision.dispatched_at = now
    revision.dispatched_by = by
    revision.save()
    routed = [s.order_id for r in timed for s in r.stops]
    note = f"plan {revision.pk} v{revision.version}: {revision.reason}"
    mark_orders_dispatched(routed=routed, left_out=list(unassigned), by=by, note=note)
    announce_plan_updated(revision)
    return revision
