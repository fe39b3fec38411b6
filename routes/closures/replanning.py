"""When a road closes, changes or reopens, the day's running routes adapt by themselves.

For one state of a closure (closure, version) — run by a Celery task, idempotent on that pair:
1. every dispatched plan of today is checked: a route whose remaining part (from where its
   vehicle is now) drives a road the closure closes is affected — or, for a lifted closure, a route
   its applied re-plans changed (the others were never planned around it, and stay as they are);
   its undecided proposals are withdrawn;
2. each affected plan is re-planned from where its vehicles are, repairing only the routes that
   drive through the closure (every other route is copied as it is): done stops stay done, a stop
   the driver reached stays first, every stop keeps its driver and only the order changes; a stop
   that no longer fits (shift over, window passed) stays on its vehicle, flagged late / overtime
   (or, where another vehicle still has time, may move there — which only a dispatcher applies);
3. the guard rails (routes.plans.proposals) decide: a new version that drops no stop, moves none
   and shifts no ETA by more than REPLAN_AUTO_APPLY_MAX_ETA_SHIFT_MIN is dispatched at once and
   pushed to dashboards, drivers and customers (events.plan_updated); any other becomes a proposal
   with its diff and an alert, applied only when a dispatcher approves it;
4. stops no vehicle can reach any more are flagged to the dispatcher as "closed road" alerts with
   the ways out (reschedule, contact the customer).
Closures on one depot and day are applied one at a time (a lock per depot and day); each re-plan
reads every active closure, so when two land together both are in effect at the end.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from config import faults
from config.locks import exclusive
from dispatch.alerts import alert_open, alerts_resolve_keys, company_text
from dispatch.models import Alert
from routes.flights import is_drone
from routes.models import ClosureApplication, Plan, RoadClosure, Stop, UnassignedOrder
from routes.plans.progress import vehicle_progress
from routes.plans.proposals import proposals_withdraw
from routes.plans.replanning import replan_compute
from routes.plans.selectors import latest_dispatched_plan
from routes.plans.services import plan_replan_request
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)

# Seconds the optimizer gets for a closure re-plan: every stop keeps its driver, so only the order
# of each route is searched — small problems, and a dispatcher is waiting.
CLOSURE_REPLAN_BUDGET_S = 1


def closure_apply(*, closure_id: int, version: int, phase: str = "change") -> ClosureApplication | None:
    """Re-plan what one closure state affects. Safe to run twice (and after a crash half-way).

    `phase`: "change" when the closure was created, edited or lifted; "start" and "end" when its
    announced times arrive (scheduled when it was saved).
    """
    closure = RoadClosure.objects.filter(pk=closure_id).first()
    if closure is None or closure.version != version:
        return None  # a newer state exists: its own task handles it
    application, created = _start(closure_id, version, phase)
    if application.status == ClosureApplication.Status.DONE:
        return application  # this state was handled already (a retried or duplicated task)
    if closure.lifted_at is None and not closure_touches_today(closure):
        ClosureApplication.objects.filter(pk=application.pk).update(
            status=ClosureApplication.Status.DONE, finished_at=timezone.now()
        )
        application.refresh_from_db()
        return application
    try:
        today = timezone.localdate()
        checked, new_plans = [], list(application.new_plans)
        for plan in _dispatched_plans(today):
            with exclusive(f"replan:{plan.date}:{plan.depot_id or 'all'}", hold_s=settings.REPLAN_LOCK_HOLD_S):
                current = latest_dispatched_plan(day=plan.date, depot_id=plan.depot_id)
                checked.append(current.pk)
                if closure_is_over(closure):
                    # Undecided re-plans around a road open again would undo nothing but good.
                    proposals_withdraw(
                        plan=current, reason_prefix=f"closure {closure.pk} ", why="the road is open again"
                    )
                vehicles = affected_vehicles(current, closure)
                if vehicles is not None and not vehicles:
                    continue
                replan = _replan_for_closure(current, closure, application, vehicles)
                new_plans.append(replan.pk)
                ClosureApplication.objects.filter(pk=application.pk).update(new_plans=new_plans)
                _flag_closed_road_stops(replan, closure)
                if closure_is_over(closure) and replan.dispatched_at is not None:
                    _resolve_back_on_a_route(previous=current, replan=replan)
        ClosureApplication.objects.filter(pk=application.pk).update(
            status=ClosureApplication.Status.DONE,
            finished_at=timezone.now(),
            checked_plans=checked,
            new_plans=new_plans,
        )
    except Exception as exc:
        ClosureApplication.objects.filter(pk=application.pk).update(error=f"{type(exc).__name__}: {exc}"[:2000])
        raise  # the task retries; the record stays "running" so the retry picks it up
    application.refresh_from_db()
    return application


def _start(closure_id: int, version: int, phase: str) -> tuple[ClosureApplication, bool]:
    try:
        with transaction.atomic():
            return ClosureApplication.objects.create(closure_id=closure_id, version=version, phase=phase), True
    except IntegrityError:
        application = ClosureApplication.objects.get(closure_id=closure_id, version=version, phase=phase)
        if application.status != ClosureApplication.Status.DONE:
            ClosureApplication.objects.filter(pk=application.pk).update(attempts=F("attempts") + 1)
        return application, False


def _dispatched_plans(day) -> list[Plan]:
    """The plan each depot's drivers follow today (one per depot, plus all-depot plans)."""
    scopes = Plan.objects.filter(date=day, dispatched_at__isnull=False).values_list("depot_id", flat=True).distinct()
    plans = [latest_dispatched_plan(day=day, depot_id=depot_id) for depot_id in set(scopes)]
    return [p for p in plans if p is not None]


def plan_is_affected(plan: Plan, closure: RoadClosure) -> bool:
    """Does the rest of this plan drive a road the closure closes (or, lifted, did it avoid one)?"""
    vehicles = affected_vehicles(plan, closure)
    return vehicles is None or bool(vehicles)


def affected_vehicles(plan: Plan, closure: RoadClosure) -> set[int] | None:
    """The vehicles whose remaining route the closure touches (None would mean all of them).

    A closed or changed closure: the remaining part of a route (from where its vehicle is now)
    passes two consecutive road points the closure covers (geometry already computed, so a day of
    hundreds of stops is checked in milliseconds). A lifted or ended one: the routes its applied
    re-plans changed (vehicles_the_closure_changed).
    """
    if closure_is_over(closure):
        return vehicles_the_closure_changed(plan, closure)
    affected = set()
    network = get_road_network()
    progress = vehicle_progress(plan, timezone.now())
    routes = plan.routes.select_related("vehicle").only("id", "vehicle__kind", "vehicle_id", "geometry")
    covered_by_profile: dict[str, set] = {}
    for route in routes:
        item = progress.get(route.vehicle_id)
        if item is None or not item.remaining or is_drone(route.vehicle):
            continue  # done, or a drone: closures never touch a flight
        profile = route.vehicle.profile
        if profile not in covered_by_profile:
            covered_by_profile[profile] = network.covered_points([closure.geometry], profile)
        covered = covered_by_profile[profile]
        if not covered:
            continue
        coordinates = [(round(lat, 6), round(lon, 6)) for lon, lat, *_ in route.geometry.get("coordinates", [])]
        start = _index_nearest(coordinates, (item.start.lat, item.start.lon)) if item.start else 0
        remaining = coordinates[start:]
        if any(a in covered and b in covered for a, b in zip(remaining, remaining[1:])):
            affected.add(route.vehicle_id)
    return affected


def closure_is_over(closure: RoadClosure) -> bool:
    return closure.lifted_at is not None or bool(closure.ends_at and closure.ends_at <= timezone.now())


def vehicles_the_closure_changed(plan: Plan, closure: RoadClosure) -> set[int]:
    """The routes to repair when a closure lifts: those its applied re-plans changed (re-ordered around
    it, stops taken off or moved on), which may now go back through the reopened road, and whose
    stops it cut off get their chance again. A route the closure never touched stays exactly as it is:
    it was never planned around the closure, so the reopened road cannot make it shorter, and its
    driver and customers are not disturbed. A re-plan only proposed and never approved changed
    nothing drivers follow."""
    changed: set[int] = set()
    applied = (
        Plan.objects.filter(
            date=plan.date, depot=plan.depot, reason__startswith=f"closure {closure.pk} ", dispatched_at__isnull=False
        )
        .exclude(parent__isnull=True)
        .exclude(reason__contains=": road lifted (")
    )
    for revision in applied.only("pk", "parent_id"):
        before, after = _route_orders(revision.parent_id), _route_orders(revision.pk)
        changed |= {vehicle for vehicle in before.keys() | after.keys() if before.get(vehicle) != after.get(vehicle)}
    return changed & set(plan.routes.values_list("vehicle_id", flat=True))


def _route_orders(plan_id: int) -> dict[int, list[tuple]]:
    """Per vehicle, its stops in order with their ETAs: a detour around the closure changes no order,
    only the times."""
    routes: dict[int, list[tuple]] = {}
    stops = Stop.objects.filter(route__plan_id=plan_id).order_by("route__vehicle_id", "sequence")
    for vehicle_id, order_id, eta in stops.values_list("route__vehicle_id", "order_id", "eta"):
        routes.setdefault(vehicle_id, []).append((order_id, eta))
    return routes


def _index_nearest(coordinates: list[tuple[float, float]], point: tuple[float, float]) -> int:
    if not coordinates:
        return 0
    return min(
        range(len(coordinates)), key=lambda i: (coordinates[i][0] - point[0]) ** 2 + (coordinates[i][1] - point[1]) ** 2
    )


def _replan_for_closure(
    plan: Plan, closure: RoadClosure, application: ClosureApplication, vehicles: set[int] | None
) -> Plan:
    """A re-plan placeholder per (application, plan), reused by a retry; computed here, in this task.

    Guarded: the guard rails decide whether it applies by itself (routes.plans.proposals)."""

    marker = f"closure {closure.pk} v{application.version} {application.phase}"
    existing = Plan.objects.filter(parent=plan, reason__startswith=marker).order_by("-pk").first()
    if existing is None:
        state = "lifted" if closure.lifted_at else "closed"
        guard_rails = {"guarded": True, "vehicles": sorted(vehicles) if vehicles is not None else None}
        existing = plan_replan_request(
            plan=plan, user=None, mode="keep", include_new=False, reason=f"{marker}: road {state} ({closure.reason})"[:200],
            time_budget_s=CLOSURE_REPLAN_BUDGET_S, enqueue_task=False, guard_rails=guard_rails,
        )  # fmt: skip
    faults.pause("closure.after_placeholder")  # tests kill the worker here
    return replan_compute(plan_id=existing.pk)


def _flag_closed_road_stops(replan: Plan, closure: RoadClosure) -> None:
    for unassigned in UnassignedOrder.objects.filter(plan=replan, code__in=["closed_road", "road"]).select_related(
        "order"
    ):
        order = unassigned.order
        message = company_text(
            gettext_noop(
                "%(order)s (%(where)s) cannot be reached: closed road — %(closure)s. "
                "Reschedule it or contact the customer."
            ),
            order=order.reference,
            where=order.address or f"{order.lat:.5f}, {order.lon:.5f}",
            closure=closure.reason,
        )
        alert_open(
            depot_id=order.depot_id, kind=Alert.Kind.CLOSED_ROAD, dedup_key=f"closed_road:{order.pk}", message=message,
            order_id=order.pk, data={"closure": closure.pk, "plan": replan.pk, "actions": ["reschedule", "contact_customer"]},
        )  # fmt: skip


def _resolve_back_on_a_route(*, previous: Plan, replan: Plan) -> None:
    """Stops a closure had cut off that the applied version serves again: their alerts are done."""
    cut_off = previous.unassigned.filter(code="closed_road").values_list("order_id", flat=True)
    back = Stop.objects.filter(route__plan=replan, order_id__in=list(cut_off)).values_list("order_id", flat=True)
    alerts_resolve_keys([f"closed_road:{order_id}" for order_id in back])


def closure_touches_today(closure: RoadClosure) -> bool:
    """Active now (or ending now): the network has it applied, so today's routes may change."""
    now = timezone.now()
    return closure.starts_at <= now + timedelta(seconds=5) and (
        closure.ends_at is None or closure.ends_at > now - timedelta(minutes=5)
    )
