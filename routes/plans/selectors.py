"""Reads of the routes app."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import F, Prefetch, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from dispatch.models import Depot, Driver, Handoff, Order
from dispatch.roles import visible_depot_ids
from routes.models import Plan, Route, Stop, UnassignedOrder
from routes.plans.partners import partner_area, partner_takes, partners_of_day


def plans_visible_to(user, *, day=None, depot: str | None = None) -> QuerySet[Plan]:
    """Plans of depots the user sees, newest version first. A plan over several depots is
    visible to whoever sees every one of them."""
    allowed = visible_depot_ids(user)
    queryset = Plan.objects.select_related("depot")
    if day is not None:
        queryset = queryset.filter(date=day)
    if depot:
        queryset = queryset.filter(depot__code=depot)
    if allowed is not None:
        hidden = [
            plan_id
            for plan_id, depots in queryset.filter(depot__isnull=True).values_list("id", "request__depots")
            if not set(depots or []) <= allowed
        ]
        queryset = queryset.filter(Q(depot_id__in=allowed) | Q(depot__isnull=True)).exclude(id__in=hidden)
    return queryset.order_by("-date", "-version", "-id")


def _newest_dispatched(user, day) -> dict:
    dispatched = plans_visible_to(user, day=day).filter(dispatched_at__isnull=False, status=Plan.Status.DONE)
    latest: dict = {}
    for plan in dispatched.select_related("parent").order_by("-version"):
        latest.setdefault(plan.depot_id, plan)
    return latest


def night_routes_running(routes: QuerySet[Route], *, today) -> QuerySet[Route]:
    """Of yesterday's `routes`, those of a night shift still being driven: planned to end after
    today's midnight, with stops left to serve. Such a route belongs to the day it started on."""
    midnight = datetime.combine(today, time(0), tzinfo=timezone.get_current_timezone())
    return routes.filter(end__gt=midnight, stops__order__status__in=Order.ON_ROUTE_STATUSES)


def running_plans(user, *, day=None, now=None) -> list[Plan]:
    """The version drivers follow, per depot the user sees: the newest dispatched plan of the day.

    Without a day: today's, and, where a depot has none yet, yesterday's while a night shift's route
    of it still runs past midnight with stops to serve (as the driver's phone does: dispatch.driver_app.selectors).
    """
    if day is not None:
        return list(_newest_dispatched(user, day).values())
    now = now or timezone.now()
    today = timezone.localdate(now)
    latest = _newest_dispatched(user, today)
    for depot_id, plan in _newest_dispatched(user, today - timedelta(days=1)).items():
        if depot_id not in latest and night_routes_running(plan.routes.all(), today=today).exists():
            latest[depot_id] = plan
    return list(latest.values())


def running_routes(user, *, day=None) -> list[Route]:
    """The routes of running_plans with their vehicle, driver and stops (with orders), in sequence."""
    stops = Stop.objects.select_related("order").order_by("sequence")
    return list(
        Route.objects.filter(plan__in=running_plans(user, day=day))
        .select_related("plan", "vehicle", "driver")
        .prefetch_related(Prefetch("stops", queryset=stops))
        .order_by("plan_id", "vehicle__name")
    )


def plan_detail(user, plan_id: int) -> Plan:
    stops = Stop.objects.select_related("order").order_by("sequence")
    queryset = plans_visible_to(user).prefetch_related(
        Prefetch("routes", queryset=Route.objects.select_related("vehicle", "driver").order_by("vehicle__name")),
        Prefetch("routes__stops", queryset=stops),
        Prefetch("unassigned", queryset=UnassignedOrder.objects.select_related("order")),
    )
    return get_object_or_404(queryset, pk=plan_id)


def plan_changes(previous_plan_id: int | None, plan_id: int) -> dict:
    """What a new version changed against the one it replaces, for live messages and notifications.

    moved: order ids now on another vehicle; added / removed: order ids that joined or left the routes;
    eta_changes: order id -> seconds the ETA moved (only where it moved by a minute or more).
    """

    def placements(pid):
        if pid is None:
            return {}
        return {
            o: (v, eta)
            for o, v, eta in Stop.objects.filter(route__plan_id=pid).values_list("order_id", "route__vehicle_id", "eta")
        }

    before, after = placements(previous_plan_id), placements(plan_id)
    moved = sorted(o for o in before.keys() & after.keys() if before[o][0] != after[o][0])
    eta_changes = {
        o: int((after[o][1] - before[o][1]).total_seconds())
        for o in before.keys() & after.keys()
        if abs((after[o][1] - before[o][1]).total_seconds()) >= 60
    }
    return {
        "moved": moved,
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "eta_changes": eta_changes,
    }


def latest_dispatched_plan(*, day, depot_id, before_version: int | None = None) -> Plan | None:
    """The plan drivers follow for a day and depot: the newest dispatched version."""
    plans = Plan.objects.filter(date=day, dispatched_at__isnull=False, status=Plan.Status.DONE)
    if before_version is not None:
        plans = plans.filter(version__lt=before_version)
    plans = plans.filter(depot_id=depot_id) if depot_id else plans.filter(depot__isnull=True)
    return plans.order_by("-version").first()


def driver_routes(driver: Driver):
    mine = Q(driver=driver)
    if driver.vehicle_id:
        # A route planned for the driver's vehicle before the driver was set on it is still theirs.
        mine |= Q(driver__isnull=True, vehicle_id=driver.vehicle_id)
    return Route.objects.filter(mine)


def _plan_of_day(driver: Driver, day: date) -> Plan | None:
    for depot_id in (driver.depot_id, None):
        plan = latest_dispatched_plan(day=day, depot_id=depot_id)
        if plan is not None and driver_routes(driver).filter(plan=plan).exists():
            return plan
    return None


def current_plan(driver: Driver, *, day: date | None = None, now: datetime | None = None) -> Plan | None:
    """The newest dispatched plan that gives this driver a route: the day's, or the one still being driven.

    A plan is made for one depot, or (when requested without one) for every depot at once: both
    are looked at, the depot's own plan first. Without a day: a night shift's route belongs to the
    day it started on, so after midnight the driver keeps yesterday's route while it runs past
    midnight and has stops left; otherwise today's.
    """
    if day is not None:
        return _plan_of_day(driver, day)
    now = now or timezone.now()
    today = timezone.localdate(now)
    overnight = _plan_of_day(driver, today - timedelta(days=1))
    if (
        overnight is not None
        and night_routes_running(driver_routes(driver).filter(plan=overnight), today=today).exists()
    ):
        return overnight
    return _plan_of_day(driver, today)


def driver_route(
    driver: Driver, *, day: date | None = None, now: datetime | None = None, geometry: bool = True
) -> Route | None:
    """The driver's route (see current_plan), stops in order with their orders and proofs loaded; None if nothing is dispatched.

    geometry=False leaves the road path out (loaded if read): the live ETAs re-time the stops every few
    seconds of a route's day and never draw it."""
    plan = current_plan(driver, day=day, now=now)
    if plan is None:
        return None
    stops = Stop.objects.select_related("order").order_by("sequence")
    routes = driver_routes(driver).filter(plan=plan)
    if not geometry:
        routes = routes.defer("geometry")
    return (
        routes.select_related("plan", "vehicle", "driver")
        .prefetch_related(Prefetch("stops", queryset=stops))
        .order_by("id")
        .first()
    )


def active_routes(*, day, depot_id: int | None = None, driver_id: int | None = None) -> list[Route]:
    """Routes of today's dispatched plans that still have open stops, with driver and vehicle loaded."""
    plans = dispatched_plans_of_day(day, depot_id)
    if not plans:
        return []
    routes = Route.objects.filter(
        plan__in=plans, driver__isnull=False, stops__order__status__in=Order.ON_ROUTE_STATUSES
    ).select_related("driver", "vehicle")
    if driver_id is not None:
        routes = routes.filter(driver_id=driver_id)
    return list(routes.distinct())


def dispatched_plans_of_day(day, depot_id: int | None):
    """The plans drivers follow today: per depot, and a plan over all depots if there is one."""
    plans = []
    depot_ids = [depot_id] if depot_id is not None else None
    if depot_ids is None:
        depot_ids = list(Depot.objects.values_list("id", flat=True))
    for depot in [*depot_ids, None]:
        plan = latest_dispatched_plan(day=day, depot_id=depot)
        if plan is not None:
            plans.append(plan)
    return plans


@dataclass
class OrderPlacement:
    """The order in the plan that rules its day: the newest dispatched version holding it (as a stop or
    as left out), else the selected plan not yet dispatched; all None when no plan holds it."""

    plan: object | None = None  # routes.models.Plan
    stop: object | None = None  # routes.models.Stop, with route, vehicle and driver loaded
    left_out_reason: str = ""
    stop_count: int = 0  # stops on the order's route

    @property
    def dispatched(self) -> bool:
        return self.plan is not None and self.plan.dispatched_at is not None

    @property
    def route(self):
        return self.stop.route if self.stop is not None else None


def order_placement(order: Order) -> OrderPlacement:
    on_routes = Stop.objects.filter(order=order, route__plan__date=order.date).values("route__plan_id")
    left_out = UnassignedOrder.objects.filter(order=order, plan__date=order.date).values("plan_id")
    plan = (
        Plan.objects.filter(Q(id__in=on_routes) | Q(id__in=left_out), status=Plan.Status.DONE)
        .filter(Q(dispatched_at__isnull=False) | Q(selected=True))
        # Dispatched versions first (the drivers follow the newest), then the newest selected draft.
        .order_by(F("dispatched_at").desc(nulls_last=True), "-version", "-id")
        .first()
    )
    if plan is None:
        return OrderPlacement()
    stop = (
        Stop.objects.filter(route__plan=plan, order=order)
        .select_related("route__vehicle__depot", "route__driver")
        .defer("route__geometry")  # a large JSON nobody here reads
        .first()
    )
    if stop is None:
        reason = UnassignedOrder.objects.filter(plan=plan, order=order).values_list("reason", flat=True).first()
        return OrderPlacement(plan=plan, left_out_reason=reason or "")
    return OrderPlacement(plan=plan, stop=stop, stop_count=Stop.objects.filter(route_id=stop.route_id).count())


# Hand-offs a plan made to courier partners, open or done; a rejected or expired one is back in planning.
PLAN_HANDOFF_STATUSES = (
    Handoff.Status.OFFERED,
    Handoff.Status.ACCEPTED,
    Handoff.Status.DELIVERED,
    Handoff.Status.FAILED,
)


def plan_handoffs(plan_id: int) -> list[dict]:
    """A plan's hand-offs per partner (API.md Plans: handoffs): {"partner", "orders": [ids], "cost"}.

    The hand-offs made (dispatch.Handoff), and, for orders not handed over yet, those the optimizer
    gave partners (Plan.make_or_buy: handed over when the plan is dispatched)."""
    grouped: dict[str, dict] = {}
    handoffs = Handoff.objects.filter(plan_id=plan_id, status__in=PLAN_HANDOFF_STATUSES).select_related("partner")
    made = set()
    for handoff in handoffs.order_by("partner__code", "order_id"):
        entry = grouped.setdefault(handoff.partner.code, {"partner": handoff.partner.code, "orders": [], "cost": 0})
        entry["orders"].append(handoff.order_id)
        entry["cost"] += handoff.cost
        made.add(handoff.order_id)
    proposed = Plan.objects.filter(pk=plan_id).values_list("make_or_buy", flat=True).first() or {}
    # An order the partner could not take at dispatch (full, cut-off) is the plan's "not planned" now.
    done = made | set(UnassignedOrder.objects.filter(plan_id=plan_id).values_list("order_id", flat=True))
    for group in proposed.get("handoffs", []):
        if set(group["orders"]) <= done:
            continue
        entry = grouped.setdefault(group["partner"], {"partner": group["partner"], "orders": [], "cost": 0})
        for order_id, cost in zip(group["orders"], group["order_costs"]):
            if order_id not in done:  # not handed over by hand meanwhile, nor left out at dispatch
                entry["orders"].append(order_id)
                entry["cost"] += Decimal(cost)
    for entry in grouped.values():
        entry["orders"].sort()
    return sorted(grouped.values(), key=lambda entry: entry["partner"])


def plan_partner_choices(plan: Plan, order_ids, *, now: datetime) -> dict:
    """The courier partners a dispatcher may hand each of a plan's orders to by hand (the plan page).

    The partners of the plan's day (active, working that weekday, cut-off still ahead of `now`:
    routes.plans.partners.partners_of_day) whose area, skills and hours take the order, each with
    what it would charge for it. Capacity is not checked here: the dispatcher may know better, and
    the hand-off at dispatch says when a partner is full.
    {"partners": [{"code", "name"}], "eligible": {"<order id>": [{"code", "price"}]}}"""
    partners = partners_of_day(plan.date, now=now)
    areas = {partner.code: partner_area(partner) for partner in partners}
    eligible: dict[str, list[dict]] = {}
    for order in Order.objects.filter(id__in=list(order_ids)).select_related("zone").order_by("id"):
        eligible[str(order.id)] = [
            {"code": partner.code, "price": str(sum(partner.price_parts(order).values(), Decimal("0.00")))}
            for partner in partners
            if partner_takes(partner, order, areas[partner.code])
        ]
    return {"partners": [{"code": p.code, "name": p.name} for p in partners], "eligible": eligible}
