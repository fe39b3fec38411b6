"""Computing a plan: gather the day, compute road matrices, optimize, re-time and save.

Runs in a Celery task (routes.plans.tasks.optimize_plan). Progress is written to the Plan row as it
goes (queued → computing travel times → optimizing → saving → done / failed) so the dispatcher
sees it. The slow parts run outside any transaction; only the final save is atomic, and a failure
marks this plan failed while every earlier version stays as it was.
"""

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db.models import Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from config import faults, metrics
from dispatch.models import Order, Vehicle
from routes import optimizer
from routes.models import Plan, Stop
from routes.optimizer.partners import solve_make_or_buy
from routes.plans.inputs import PLANNABLE_STATUSES, build_plan_inputs
from routes.plans.kept_stops import keep_pinned_stops
from routes.plans.partners import add_partner_offers, make_or_buy_record, own_vehicle_routes
from routes.plans.progress import vehicles_out
from routes.plans.saving import draft_from_solution, record_planned_from, save_solution, time_route
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)


def set_progress(plan_id: int, *, stage: str, progress: int) -> None:
    metrics.plan_stage(plan_id, stage)  # times the stage this plan leaves (/metrics)
    # A conditional update, so a late progress report never reopens a finished plan.
    Plan.objects.filter(pk=plan_id, status__in=[Plan.Status.QUEUED, Plan.Status.RUNNING]).update(
        status=Plan.Status.RUNNING, stage=stage, progress=progress
    )


def plan_depot_ids(plan: Plan) -> list[int]:
    if plan.depot_id:
        return [plan.depot_id]
    return list(plan.request.get("depots") or [])


def plan_orders(plan: Plan) -> list[Order]:
    queryset = Order.objects.filter(date=plan.date, depot_id__in=plan_depot_ids(plan), status__in=PLANNABLE_STATUSES)
    if plan.request.get("orders"):
        queryset = queryset.filter(id__in=plan.request["orders"])
    return list(queryset.select_related("zone").order_by("id"))


def plan_vehicles(plan: Plan) -> list[Vehicle]:
    queryset = Vehicle.objects.filter(depot_id__in=plan_depot_ids(plan), available=True)
    if plan.request.get("vehicles"):
        queryset = Vehicle.objects.filter(id__in=plan.request["vehicles"], available=True)
    return list(queryset.select_related("depot").prefetch_related("allowed_zones", "reload_hubs").order_by("id"))


def _revision_hints(plan: Plan) -> tuple[dict[int, int], list[tuple[int, list[int], bool]]]:
    """Pins and locked routes carried over from the plan this one revises."""
    if plan.parent_id is None:
        return {}, []
    pinned = dict(
        Stop.objects.filter(route__plan_id=plan.parent_id, pinned=True).values_list("order_id", "route__vehicle_id")
    )
    routes = []
    for route in plan.parent.routes.prefetch_related("stops"):
        routes.append((route.vehicle_id, [s.order_id for s in route.stops.all()], route.locked))
    return pinned, routes


def reason_code(reason: str) -> str:
    checks = (
        ("skill", "skills"), ("capacity", "capacity"), ("window", "window"), ("shift", "shift"),
        ("zone", "zone"), ("pinned", "pin"), ("road", "road"), ("closed", "closed_road"),
    )  # fmt: skip
    for needle, code in checks:
        if needle in reason:
            return code
    return "no_room"


def readable_reason(reason: str) -> str:
    # Synthetic skills say which kind of vehicle can reach a stop at all.
    return (
        reason.replace("no vehicle has skill reach:bike", "only a bike can reach it and no bike is available")
        .replace("no vehicle has skill reach:car", "only a van or car can reach it and none is available")
        .replace("no vehicle has skill reach:drone", "only a drone can reach it and no drone is available")
    )


def plan_clock(plan: Plan) -> datetime:
    """The moment a plan is planned from: the clock a simulator gave (request["clock"]), else now.

    Now is when the plan is computed, not when it was asked for: a plan that waited in the queue
    cannot send the vans out before it exists, and the dispatcher who opens it expects departures
    after the moment it is done (plus the preparation time), never in the minutes it waited. The
    options of one request are compared side by side, so they share one moment: when the first of
    them started computing (they may be computed one after the other).
    """
    clock = (plan.request or {}).get("clock")
    if clock:
        return parse_datetime(clock)
    if plan.alternative_group:
        group = Plan.objects.filter(alternative_group=plan.alternative_group, started_at__isnull=False)
        first = group.aggregate(first=Min("started_at"))["first"]
        if first is not None:
            return first
    return timezone.now()


def plan_compute(*, plan_id: int) -> Plan:
    """Compute and save one plan; idempotent (a done or failed plan is returned as it is)."""

    plan = Plan.objects.select_related("depot", "parent").get(pk=plan_id)
    if plan.status in (Plan.Status.DONE, Plan.Status.FAILED):
        return plan
    Plan.objects.filter(pk=plan_id).update(started_at=timezone.now())
    try:
        set_progress(plan_id, stage="computing travel times", progress=10)
        network = get_road_network()
        now = plan_clock(plan)
        inputs, pinned, initial_routes = plan_inputs(plan, network=network, now=now)
        # Make or buy: the day's courier partners, unless the request said "partners": false.
        partners = add_partner_offers(inputs, now=now) if plan.request.get("partners", True) else {}
        set_progress(plan_id, stage="optimizing", progress=30)
        started = time.monotonic()
        solver_settings = optimizer.SolverSettings(
            time_budget_s=plan.request.get("time_budget_s") or settings.PLAN_TIME_BUDGET_S
        )
        make_or_buy = None
        if partners:
            # Solved twice with the same budget, own fleet alone and with partners; the better is kept.
            both = solve_make_or_buy(inputs.problem, solver_settings)
            solution = both.best
            make_or_buy = make_or_buy_record(inputs, both, partners)
        else:
            solution = optimizer.solve(inputs.problem, solver_settings)
        solve_seconds = time.monotonic() - started
        set_progress(plan_id, stage="saving", progress=85)
        return plan_save_solution(
            plan, network=network, inputs=inputs, solution=solution, pinned=pinned,
            initial_routes=initial_routes, solve_seconds=solve_seconds, make_or_buy=make_or_buy,
        )  # fmt: skip
    except Exception as exc:
        logger.exception("plan %s failed", plan_id)
        plan_fail(plan_id=plan_id, reason=failure_text(exc))
        raise


def plan_inputs(plan: Plan, *, network, now: datetime):
    """The plan's day as optimizer inputs, planned from `now`: (inputs, pinned stops, routes of the
    plan it revises). A big day planned in parts builds them again to merge, from the same moment."""
    orders, vehicles = plan_orders(plan), plan_vehicles(plan)
    if not vehicles:
        raise optimizer.ProblemError("no available vehicle for this plan")
    pinned, initial_routes = _revision_hints(plan)
    inputs = build_plan_inputs(
        network=network, day=plan.date, orders=orders, vehicles=vehicles, objective=plan.objective,
        pinned=pinned, initial_routes=initial_routes, now=now,
        start_points=vehicles_out(day=plan.date, vehicles=vehicles, now=now),
    )  # fmt: skip
    return inputs, pinned, initial_routes


def plan_save_solution(
    plan: Plan,
    *,
    network,
    inputs,
    solution: optimizer.Solution,
    pinned,
    initial_routes,
    solve_seconds: float,
    make_or_buy: dict | None = None,
) -> Plan:
    """Explain what was left out, re-time the routes on the roads and save the plan (atomic).
    `make_or_buy`: what the plan gives courier partners (routes.plans.partners.make_or_buy_record);
    a partner's share is no route of ours."""
    reasons = optimizer.explain_unassigned(inputs.problem, solution)
    unassigned = {order_id: (code, reason) for order_id, (code, reason) in inputs.dropped.items()}
    for order_id, reason in reasons.items():
        unassigned[order_id] = (reason_code(reason), readable_reason(reason))
    locked_vehicles = {v for v, _, locked in initial_routes if locked}
    drafts = {
        route.vehicle_id: draft_from_solution(inputs, route)
        for route in own_vehicle_routes(inputs, solution)
        if route.job_ids
    }
    keep_pinned_stops(inputs, drafts, pinned, unassigned)
    timed = []
    for draft in drafts.values():
        draft.locked = draft.vehicle_id in locked_vehicles
        timed.append(time_route(network, inputs, draft, pinned=set(pinned)))
    faults.pause("plan.before_save")  # tests kill the worker here
    record_planned_from(plan_id=plan.pk, inputs=inputs, routes=timed)
    return save_solution(
        plan=plan,
        inputs=inputs,
        routes=timed,
        unassigned=unassigned,
        solver=solution.solver,
        solve_seconds=solve_seconds,
        make_or_buy=make_or_buy,
    )


def failure_text(exc: Exception) -> str:
    """What a failed plan says, for the plan page: the error's kind and message, cut to fit Plan.error."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:2000]


def plan_fail(*, plan_id: int, reason: str) -> None:
    Plan.objects.filter(pk=plan_id).exclude(status=Plan.Status.DONE).update(
        status=Plan.Status.FAILED, stage="failed", error=reason, finished_at=timezone.now()
    )
