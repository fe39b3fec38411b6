"""A dispatcher's manual changes to a plan: move, unassign, pin and lock stops and routes.

Every edit re-times the routes it touches (legs by the hour's traffic) and reports what became
wrong: late stops, overloads, shifts overrun, a vehicle lacking a skill. Nothing is refused for
being infeasible — the dispatcher may know better — but it is said plainly.

A plan not yet dispatched is changed in place, with a PlanChange record. A dispatched plan never
changes: the edit becomes a new version (parent = the edited plan, who, when and why recorded),
dispatched at once so the drivers see it.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from dispatch.models import CourierPartner, Handoff, Order
from routes.errors import RoutingError
from routes.models import Plan, PlanChange, Route, UnassignedOrder
from routes.plans.inputs import build_plan_inputs, earliest_departure
from routes.plans.optimization import plan_depot_ids, plan_vehicles
from routes.plans.partners import make_or_buy_after_edit, partner_area, partner_takes
from routes.plans.saving import (
    RouteDraft,
    announce_plan_updated,
    mark_orders_dispatched,
    mark_orders_planned,
    next_version,
    time_route,
    write_plan_content,
)
from routes.plans.services import refuse_past_day
from routes.road_network import get_road_network

# Orders the driver has reached or finished stay where they are.
MOVABLE_STATUSES = {Order.Status.NEW, Order.Status.PLANNED, Order.Status.DISPATCHED}


@dataclass
class PlanState:
    routes: dict[int, RouteDraft]
    unassigned: dict[int, tuple[str, str]]
    pinned: set[int] = field(default_factory=set)
    drivers: dict[int, int | None] = field(default_factory=dict)
    touched: set[int] = field(default_factory=set)
    partners: dict[int, str] = field(default_factory=dict)  # order id -> the courier partner's code it goes to


def load_plan_state(plan: Plan) -> PlanState:
    routes, pinned, drivers = {}, set(), {}
    for route in plan.routes.prefetch_related("stops").select_related("vehicle"):
        stops = sorted(route.stops.all(), key=lambda s: s.sequence)
        breaks_after = {int(b["after_sequence"]) - 1: int(b["duration_s"]) for b in route.breaks or []}
        reloads_after = {int(r["after_sequence"]) - 1: int(r["depot_id"]) for r in route.reloads or []}
        routes[route.vehicle_id] = RouteDraft(
            vehicle_id=route.vehicle_id, start=route.start, order_ids=[s.order_id for s in stops],
            breaks_after=breaks_after, locked=route.locked, reloads_after=reloads_after,
        )  # fmt: skip
        pinned.update(s.order_id for s in stops if s.pinned)
        drivers[route.vehicle_id] = route.driver_id
    unassigned = {u.order_id: (u.code, u.reason) for u in plan.unassigned.all()}
    partners = {o: group["partner"] for group in (plan.make_or_buy or {}).get("handoffs", []) for o in group["orders"]}
    return PlanState(routes=routes, unassigned=unassigned, pinned=pinned, drivers=drivers, partners=partners)


def _where(state: PlanState, order_id: int) -> int | None:
    for vehicle_id, draft in state.routes.items():
        if order_id in draft.order_ids:
            return vehicle_id
    return None


def apply_operations(
    *, state: PlanState, operations: list[dict], vehicles: dict, orders: dict, partners: dict | None = None
) -> None:
    """Apply edits to the state, raising a RoutingError that names the operation on bad input.

    A move names a `vehicle` of ours or a courier `partner` (its code, one of `partners`: the
    active ones); an order moved to a partner leaves our routes and is handed over when the plan
    goes out (routes.plans.partners)."""
    partners = partners or {}
    for number, op in enumerate(operations):
        where = f"operations[{number}]"
        kind = op.get("op")
        order_id = op.get("order")
        if kind in ("move", "unassign", "pin"):
            if order_id not in orders:
                raise RoutingError(gettext("this order is not in the plan"), field=f"{where}.order", value=order_id)
            if orders[order_id].status not in MOVABLE_STATUSES and kind != "pin":
                raise RoutingError(
                    gettext("order %(reference)s is %(status)s and stays where it is")
                    % {"reference": orders[order_id].reference, "status": orders[order_id].get_status_display().lower()},
                    field=f"{where}.order", value=order_id, status_code=409,
                )  # fmt: skip
        current = _where(state, order_id) if order_id is not None else None
        if kind == "move" and op.get("partner") is not None:
            _move_to_partner(state, op, where, current, partners, orders)
            continue
        if kind in ("move", "unassign"):
            state.partners.pop(order_id, None)  # back from a partner, to a route or out of the plan
        if kind == "move":
            vehicle_id = op.get("vehicle")
            if vehicle_id not in vehicles:
                raise RoutingError(gettext("unknown vehicle for this plan"), field=f"{where}.vehicle", value=vehicle_id)
            if current is not None:
                state.routes[current].order_ids.remove(order_id)
                state.touched.add(current)
            state.unassigned.pop(order_id, None)
            draft = state.routes.get(vehicle_id)
            if draft is None:
                # A vehicle that had no route: it leaves at its shift start (start=None).
                draft = state.routes[vehicle_id] = RouteDraft(vehicle_id=vehicle_id, start=None, order_ids=[])
            position = op.get("position") or len(draft.order_ids) + 1
            if not isinstance(position, int) or position < 1:
                raise RoutingError(gettext("position counts from 1"), field=f"{where}.position", value=position)
            draft.order_ids.insert(min(position, len(draft.order_ids) + 1) - 1, order_id)
            state.touched.add(vehicle_id)
            if current != vehicle_id:
                state.pinned.discard(order_id)
        elif kind == "unassign":
            if current is not None:
                state.routes[current].order_ids.remove(order_id)
                state.touched.add(current)
            state.pinned.discard(order_id)
            state.unassigned[order_id] = ("dispatcher", "taken out of the routes by the dispatcher")
        elif kind == "pin":
            if current is None:
                raise RoutingError(
                    gettext("only a stop on a route can be pinned"), field=f"{where}.order", value=order_id
                )
            (state.pinned.add if op.get("pinned", True) else state.pinned.discard)(order_id)
        elif kind == "lock":
            vehicle_id = op.get("vehicle")
            if vehicle_id not in state.routes:
                raise RoutingError(
                    gettext("this vehicle has no route in the plan"), field=f"{where}.vehicle", value=vehicle_id
                )
            state.routes[vehicle_id].locked = bool(op.get("locked", True))
        else:
            raise RoutingError(
                gettext('op must be "move", "unassign", "pin" or "lock"'), field=f"{where}.op", value=kind
            )


def _move_to_partner(state: PlanState, op: dict, where: str, current, partners: dict, orders: dict) -> None:
    order_id, code = op["order"], op["partner"]
    partner = partners.get(code)
    if partner is None:
        raise RoutingError(gettext("unknown or inactive courier partner"), field=f"{where}.partner", value=code)
    if not partner_takes(partner, orders[order_id], partner_area(partner)):
        raise RoutingError(
            gettext("partner %(partner)s does not serve this order (its area, skills or hours)") % {"partner": code},
            field=f"{where}.partner",
            value=code,
        )
    if current is not None:
        state.routes[current].order_ids.remove(order_id)
        state.touched.add(current)
    state.unassigned.pop(order_id, None)
    state.pinned.discard(order_id)
    state.partners[order_id] = code


def reloads_after_edit(order_ids: list[int], reloads_after: dict[int, int], draft: RouteDraft) -> dict[int, int]:
    """A multi-trip route's reloads after an edit: each stays after the stop it followed; when that stop
    was moved away, after the nearest stop before it still on the route (none left: the reload goes).
    A stop moved into a trip rides in that trip; the re-timing says if the trip is then overloaded.
    Reloads are not added or moved to other hubs by an edit: re-optimize the route for that."""
    position = {order_id: number for number, order_id in enumerate(draft.order_ids)}
    kept: dict[int, int] = {}
    for number, depot_id in sorted(reloads_after.items()):
        for order_id in reversed(order_ids[: number + 1]):
            if order_id in position:
                kept.setdefault(position[order_id], depot_id)
                break
    return kept


def _start_for(draft: RouteDraft, vehicle, day) -> datetime:
    """A route keeps its start; a vehicle given its first stops leaves at its shift start, and
    today no earlier than now plus the preparation time."""
    now = timezone.now()
    return draft.start or earliest_departure(day, vehicle, now=now if day == timezone.localdate(now) else None)


def plan_edit(*, plan: Plan, operations: list[dict], by=None, reason: str = "manual edit") -> Plan:
    """Apply a dispatcher's edits and re-time the plan. Returns the plan shown afterwards: the same
    plan when it was not dispatched, else its new version."""
    if plan.status != Plan.Status.DONE:
        raise RoutingError(
            gettext("Plan %(plan)s is %(status)s; only a finished plan can be edited")
            % {"plan": plan.pk, "status": plan.get_status_display().lower()},
            field="id",
            value=plan.pk,
            status_code=409,
        )
    if plan.state != Plan.State.ACTIVE:
        # A proposal is approved or rejected as the dispatcher saw it (its diff was computed once);
        # an edit would change what Approve applies. Edit the running version instead.
        raise RoutingError(
            gettext("Plan %(plan)s is %(state)s; only an active version can be edited")
            % {"plan": plan.pk, "state": plan.get_state_display().lower()},
            field="state",
            value=plan.state,
            status_code=409,
        )
    if not operations:
        raise RoutingError(gettext("no operations given"), field="operations", value=[])
    if plan.dispatched_at is not None:
        refuse_past_day(plan.date)  # the edit would be a new version of a day that is over
    state = load_plan_state(plan)
    order_ids = {o for d in state.routes.values() for o in d.order_ids} | set(state.unassigned) | set(state.partners)
    # Besides the plan's own orders, a move may bring in another open order of the same day and depots.
    requested = {op.get("order") for op in operations if op.get("op") == "move"} - order_ids
    newcomers = Order.objects.filter(
        id__in=[o for o in requested if isinstance(o, int)], date=plan.date, depot_id__in=plan_depot_ids(plan),
        status__in=[Order.Status.NEW, Order.Status.PLANNED],
    ).values_list("id", flat=True)  # fmt: skip
    orders = {o.id: o for o in Order.objects.filter(id__in=order_ids | set(newcomers)).select_related("zone")}
    vehicles = {v.id: v for v in plan_vehicles(plan)}
    for route in Route.objects.filter(plan=plan).select_related("vehicle__depot"):
        vehicles.setdefault(route.vehicle_id, route.vehicle)
    moved = {op.get("order") for op in operations if op.get("op") in ("move", "unassign")}
    with_partner = Handoff.objects.filter(order_id__in=moved, status__in=Handoff.OPEN_STATUSES)
    for handoff in with_partner.select_related("order", "partner")[:1]:
        # Handed over already: the partner must hear it is off (the order page's "take back") first.
        raise RoutingError(
            gettext("order %(reference)s is with partner %(partner)s; take it back from the partner first")
            % {"reference": handoff.order.reference, "partner": handoff.partner.code},
            field="operations", value=handoff.order_id, status_code=409,
        )  # fmt: skip
    partners = {p.code: p for p in CourierPartner.objects.filter(active=True).prefetch_related("zones")}
    trips_before = {v: (list(d.order_ids), dict(d.reloads_after)) for v, d in state.routes.items()}
    apply_operations(state=state, operations=operations, vehicles=vehicles, orders=orders, partners=partners)
    for vehicle_id, (order_ids, reloads_after) in trips_before.items():
        state.routes[vehicle_id].reloads_after = reloads_after_edit(order_ids, reloads_after, state.routes[vehicle_id])

    # Slow part (matrices, routes) outside any transaction.
    network = get_road_network()
    inputs = build_plan_inputs(
        network=network, day=plan.date, orders=list(orders.values()), vehicles=list(vehicles.values()), drop_unroutable=False
    )  # fmt: skip
    timed = []
    for vehicle_id, draft in state.routes.items():
        if not draft.order_ids:
            continue
        vehicle = vehicles[vehicle_id]
        draft.start = _start_for(draft, vehicle, plan.date)
        draft.breaks_after = {k: v for k, v in draft.breaks_after.items() if k < len(draft.order_ids)}
        route = time_route(network, inputs, draft, pinned=state.pinned)
        if vehicle_id in state.touched and route.stops and route.stops[0].waiting_s > 0:
            # Leave later rather than wait at the first door.
            draft.start = draft.start + timedelta(seconds=route.stops[0].waiting_s)
            route = time_route(network, inputs, draft, pinned=state.pinned)
        timed.append(route)
    return _save_edit(plan=plan, state=state, timed=timed, operations=operations, by=by, reason=reason)


@transaction.atomic
def _save_edit(*, plan: Plan, state: PlanState, timed, operations, by, reason) -> Plan:
    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    by_user = by if getattr(by, "is_authenticated", False) else None
    make_or_buy = make_or_buy_after_edit(locked.make_or_buy, state.partners)
    if locked.dispatched_at is None:
        write_plan_content(plan=locked, routes=timed, unassigned=state.unassigned, drivers=state.drivers)
        locked.make_or_buy = make_or_buy
        locked.save()
        PlanChange.objects.create(plan=locked, changed_by=by_user, reason=reason, operations=operations)
        if locked.selected:
            mark_orders_planned(plan=locked, by=by)
        return locked
    revision = Plan.objects.create(
        date=locked.date, depot=locked.depot, version=next_version(day=locked.date, depot=locked.depot), parent=locked,
        status=Plan.Status.DONE, stage="done", progress=100, objective=locked.objective, request=locked.request,
        reason=reason, selected=True, created_by=by_user, started_at=timezone.now(), finished_at=timezone.now(),
        dispatched_at=timezone.now(), dispatched_by=by_user, solver="manual", make_or_buy=make_or_buy,
    )  # fmt: skip
    write_plan_content(plan=revision, routes=timed, unassigned=state.unassigned, drivers=state.drivers)
    revision.save()
    PlanChange.objects.create(plan=revision, changed_by=by_user, reason=reason, operations=operations)
    routed = [s.order_id for r in timed for s in r.stops]
    note = f"plan {revision.pk} v{revision.version}: {reason}"
    removed = list(UnassignedOrder.objects.filter(plan=revision).values_list("order_id", flat=True))
    mark_orders_dispatched(routed=routed, left_out=removed, by=by, note=note)
    announce_plan_updated(revision)
    return revision
