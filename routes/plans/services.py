"""Writes of the routes app: road closures (plans arrive with the plans issue)."""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from config.tasks import enqueue
from dispatch import events
from dispatch.audit import audit_record
from dispatch.fleet.selectors import depots_visible_to, vehicles_visible_to
from dispatch.fleet.services import depot_for_user
from routes.errors import RoutingError
from routes.models import Plan, Stop
from routes.plans.replanning import DEFAULT_MOVE_COST
from routes.plans.saving import mark_orders_dispatched, mark_orders_planned, next_version
from routes.plans.selectors import latest_dispatched_plan
from routes.plans.tasks import optimize_plan, replan_plan

# --- Plans -----------------------------------------------------------------------------------

MAX_ALTERNATIVES = 3


def refuse_past_day(day, *, now=None, field: str = "date") -> None:
    """A day that is over cannot be planned any more: its vans cannot leave yesterday.

    `now`: the clock to judge by; a simulator replaying a past day gives its own (see plan_request)."""
    today = timezone.localdate(now or timezone.now())
    if day < today:
        raise RoutingError(
            gettext("%(day)s is over: plans can be made for today (%(today)s) or a later day")
            % {"day": f"{date_format(day, 'l')}, {date_format(day)}", "today": date_format(today)},
            field=field,
            value=day.isoformat(),
        )


def _plan_scope(*, user, depot_code) -> tuple:
    """(depot or None, depot ids) a plan covers: the named depot, else every depot the user sees."""

    if depot_code:
        depot = depot_for_user(user=user, code_or_id=depot_code)
        return depot, [depot.id]
    depots = list(depots_visible_to(user))
    if not depots:
        raise RoutingError(gettext("You see no depot to plan for"), field="depot", value=None, status_code=403)
    if len(depots) == 1:
        return depots[0], [depots[0].id]
    return None, [d.id for d in depots]


def plan_request(
    *,
    user,
    day,
    depot_code=None,
    vehicle_ids=None,
    objectives=("cost",),
    reason="optimized",
    parent=None,
    time_budget_s=None,
    now=None,
    partners: bool = True,
) -> list[Plan]:
    """Queue one plan per objective (up to three alternatives); the optimization runs in a task.

    A plan for today is planned from the moment it is computed (routes.plans.optimization.plan_clock): the
    vehicles leave from then on, and orders whose window has closed stay out. A day that is over
    is refused. `now`: a simulated clock (a simulator or the demo history replaying a past day);
    the plan is then planned from that moment, and the day is judged against it. `partners`: let the
    optimizer give orders to the day's courier partners (make or buy, routes.plans.partners)."""
    import uuid

    refuse_past_day(day, now=now)
    objectives = list(dict.fromkeys(objectives))
    if not 1 <= len(objectives) <= MAX_ALTERNATIVES:
        raise RoutingError(
            gettext("Ask for 1 to %(count)s objectives") % {"count": MAX_ALTERNATIVES},
            field="objectives",
            value=objectives,
        )
    depot, depot_ids = _plan_scope(user=user, depot_code=depot_code)
    if vehicle_ids:
        known = set(
            vehicles_visible_to(user).filter(id__in=vehicle_ids, depot_id__in=depot_ids).values_list("id", flat=True)
        )
        unknown = sorted(set(vehicle_ids) - known)
        if unknown:
            raise RoutingError(
                gettext("Unknown vehicle(s) for this plan: %(vehicles)s") % {"vehicles": unknown},
                field="vehicles",
                value=unknown,
            )
    group = uuid.uuid4() if len(objectives) > 1 else None
    request = {"depots": depot_ids, "vehicles": list(vehicle_ids or []), "time_budget_s": time_budget_s}
    if not partners:
        request["partners"] = False
    if now is not None:
        request["clock"] = now.isoformat()

    def create(version: int) -> list[Plan]:
        plans = [
            Plan.objects.create(
                date=day,
                depot=depot,
                version=version + offset,
                objective=objective,
                request=request,
                reason=reason,
                alternative_group=group,
                selected=group is None,
                parent=parent,
                created_by=user if getattr(user, "is_authenticated", False) else None,
            )  # fmt: skip
            for offset, objective in enumerate(objectives)
        ]
        for plan in plans:
            transaction.on_commit(lambda plan_id=plan.id: enqueue(optimize_plan, plan_id))
            audit_record(
                actor=user,
                action="plan.requested",
                target=plan,
                changes={"objective": plan.objective, "reason": reason},
            )
        return plans

    return _with_next_version(day=day, depot=depot, create=create)


def _with_next_version(*, day, depot, create):
    """Run create(next version number) atomically; retry when another request took that number."""

    for attempt in range(5):
        try:
            with transaction.atomic():
                return create(next_version(day=day, depot=depot))
        except IntegrityError:
            # Two requests took the same version number at once (plan_version_unique); take the next.
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def plan_select(*, plan: Plan, by=None) -> Plan:
    """Pick one of a request's alternatives: its orders become planned; the others are set aside."""

    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    if locked.status != Plan.Status.DONE:
        raise RoutingError(
            gettext("Plan %(plan)s is %(status)s; only a finished plan can be picked")
            % {"plan": locked.pk, "status": locked.get_status_display().lower()},
            field="id",
            value=locked.pk,
            status_code=409,
        )
    if locked.alternative_group:
        Plan.objects.filter(alternative_group=locked.alternative_group).exclude(pk=locked.pk).update(selected=False)
    locked.selected = True
    locked.save(update_fields=["selected"])
    mark_orders_planned(plan=locked, by=by)
    audit_record(actor=by, action="plan.selected", target=locked)
    return locked


@transaction.atomic
def plan_dispatch(*, plan: Plan, by=None, now=None) -> Plan:
    """Publish a finished plan's routes to their drivers; its orders become dispatched.

    Dispatching twice is harmless (the first stands). After this the plan never changes: edits
    and re-planning create a new version. `now`: a simulated clock (a simulator replaying a past
    day dispatches at that day's moment, so the drivers' actions that follow are not before it).
    """

    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    if locked.dispatched_at is not None:
        return locked
    if locked.state != Plan.State.ACTIVE:
        # A re-plan the guard rails held back goes out only through approval (routes.plans.proposals).
        raise RoutingError(
            gettext("Plan %(plan)s is %(state)s; approve a proposal instead of dispatching it")
            % {"plan": locked.pk, "state": locked.get_state_display().lower()},
            field="state",
            value=locked.state,
            status_code=409,
        )
    if locked.status != Plan.Status.DONE:
        raise RoutingError(
            gettext("Plan %(plan)s is %(status)s; only a finished plan can be dispatched")
            % {"plan": locked.pk, "status": locked.get_status_display().lower()},
            field="id",
            value=locked.pk,
            status_code=409,
        )
    if locked.alternative_group and not locked.selected:
        plan_select(plan=locked, by=by)
    missing = [r.vehicle.name for r in locked.routes.select_related("vehicle") if r.driver_id is None]
    if missing:
        raise RoutingError(
            gettext("No driver for %(vehicles)s; give these vehicles a driver first")
            % {"vehicles": ", ".join(missing)},
            field="routes",
            value=missing,
            status_code=409,
        )
    order_ids = list(Stop.objects.filter(route__plan=locked).values_list("order_id", flat=True))
    note = f"plan {locked.pk} v{locked.version} dispatched"
    mark_orders_dispatched(routed=order_ids, left_out=[], by=by, note=note, at=now)
    locked.dispatched_at = now or timezone.now()
    locked.dispatched_by = by if getattr(by, "is_authenticated", False) else None
    locked.save(update_fields=["dispatched_at", "dispatched_by"])
    audit_record(
        actor=by, action="plan.dispatched", target=locked, changes={"orders": len(order_ids), "version": locked.version}
    )

    previous = latest_dispatched_plan(day=locked.date, depot_id=locked.depot_id, before_version=locked.version)
    # `at`: the simulated clock, so that what the dispatch sets off (the customers' first promise) is
    # made at that moment too; None (now) for a real dispatch.
    payload = {
        "plan_id": locked.pk, "previous_plan_id": previous.pk if previous else None, "reason": locked.reason, "at": now,
    }  # fmt: skip
    transaction.on_commit(lambda: events.plan_dispatched(**payload))
    return locked


def plan_replan_request(
    *, plan: Plan, user=None, mode: str = "keep", move_cost=None, include_new: bool = True, reason: str = "mid-day re-plan",
    time_budget_s=None, enqueue_task: bool = True, guard_rails: dict | None = None, now=None,
) -> Plan:  # fmt: skip
    """Queue a re-plan of a dispatched plan from where the vehicles are now (a new version).

    `enqueue_task=False` leaves the computing to the caller (a task that re-plans in place).
    `guard_rails` (a re-plan the system makes by itself): {"guarded": True, "vehicles": [ids of the
    routes to repair, the rest copied as they are]} (routes.plans.replanning, routes.plans.proposals).
    A day that is over is refused; `now`: a simulated clock, as for plan_request."""

    if plan.dispatched_at is None:
        raise RoutingError(
            gettext("Only a dispatched plan is re-planned; optimize it again instead"),
            field="id",
            value=plan.pk,
            status_code=409,
        )
    refuse_past_day(plan.date, now=now)
    if mode not in ("keep", "moves"):
        raise RoutingError(gettext('mode must be "keep" or "moves"'), field="mode", value=mode)
    # The dispatched plan's own clock and record are not this re-plan's.
    request = {k: v for k, v in plan.request.items() if k not in ("clock", "planned_from")}
    if now is not None:
        request["clock"] = now.isoformat()
    options = {"mode": mode, "move_cost": str(move_cost if move_cost is not None else DEFAULT_MOVE_COST),
               "include_new": include_new, "time_budget_s": time_budget_s, **(guard_rails or {})}  # fmt: skip

    def create(version: int) -> Plan:
        replan = Plan.objects.create(
            date=plan.date, depot=plan.depot, version=version, parent=plan, objective=plan.objective,
            request={**request, "replan": options}, reason=reason[:200],
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )  # fmt: skip
        if enqueue_task:
            transaction.on_commit(lambda: enqueue(replan_plan, replan.pk))
        audit_record(
            actor=user,
            action="plan.replan_requested",
            target=replan,
            changes={"parent": plan.pk, "reason": reason, "mode": mode},
        )
        return replan

    return _with_next_version(day=plan.date, depot=plan.depot, create=create)
