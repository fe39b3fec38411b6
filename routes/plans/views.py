"""HTML pages of the routes app: the day's plans, one plan, road closures.

The pages read through selectors and render on the server (tables, and the map via
dispatch.maps.drawing). Everything that changes something goes from the page's script to the JSON API
(POST /api/plans/, select, dispatch, POST/DELETE /api/closures/), so the pages and integrators
share one set of rules and one error shape. While a plan is computed the page polls
GET /api/plans/{id}/ and reloads itself once the plan is done or failed.
"""

from datetime import datetime, time, timedelta

from django import forms
from django.db.models import Q, Sum
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from dispatch.fleet import selectors as fleet_selectors
from dispatch.maps import drawing as maps
from dispatch.models import CourierPartner, Depot, Order
from dispatch.orders import selectors as dispatch_selectors
from dispatch.permissions import office_staff_required
from routes.flights import no_fly_zones_to_show
from routes.models import Plan, RoadClosure
from routes.plans import selectors
from routes.plans.apis import PlanOutput
from routes.plans.inputs import PLANNABLE_STATUSES
from routes.plans.optimization import plan_vehicles
from routes.plans.trips import route_reloads

# What the optimization is doing, in a dispatcher's words (Plan.stage, set by routes.plans.optimization).
STAGE_LABELS = {
    "queued": gettext_lazy("Waiting to start"),
    "computing travel times": gettext_lazy("Computing travel times"),
    "optimizing": gettext_lazy("Optimizing"),
    # A big day in parts (routes.plans.splitting): regions solved across the workers, then their borders.
    "solving regions": gettext_lazy("Solving regions"),
    "improving across borders": gettext_lazy("Improving across region borders"),
    "saving": gettext_lazy("Saving"),
    "done": gettext_lazy("Done"),
    "failed": gettext_lazy("Failed"),
}


def duration_label(seconds: int | None) -> str:
    """3 h 05 min, 42 min, 0 min."""
    minutes = round((seconds or 0) / 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def km_label(metres: int | None) -> str:
    return f"{(metres or 0) / 1000:.1f} km"


class DayForm(forms.Form):
    date = forms.DateField(required=False)


def _day(request):
    form = DayForm(request.GET)
    day = form.cleaned_data.get("date") if form.is_valid() else None
    return day or timezone.localdate(), form


def _local_day_bounds(day):
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


@office_staff_required
def plans(request):
    """The day's plan versions and the form that asks for a new one."""
    user = request.user
    day, form = _day(request)
    depots = list(fleet_selectors.depots_visible_to(user))
    versions = list(selectors.plans_visible_to(user, day=day).select_related("created_by", "dispatched_by"))
    for plan in versions:
        plan.stage_label = STAGE_LABELS.get(plan.stage, plan.stage)
    orders = dispatch_selectors.orders_visible_to(user, day=day)
    today = timezone.localdate()
    context = {
        "day": day,
        "today": today,
        "is_today": day == today,
        "is_past": day < today,  # over: its plans can be read, no new one made (the API refuses it too)
        "date_error": bool(form.errors),
        "previous_day": day - timedelta(days=1),
        "next_day": day + timedelta(days=1),
        "depots": depots,
        "objectives": Plan.Objective.choices,
        "versions": versions,
        "order_count": orders.count(),
        "plannable_count": orders.filter(status__in=PLANNABLE_STATUSES).count(),
        "vehicle_count": fleet_selectors.vehicles_visible_to(user).filter(available=True).count(),
    }
    return render(request, "routes/plans.html", context)


def _alternatives(user, plan: Plan) -> list[Plan]:
    if plan.alternative_group is None:
        return []
    group = selectors.plans_visible_to(user, day=plan.date).filter(alternative_group=plan.alternative_group)
    return list(group.annotate(driving_s=Sum("routes__driving_s")).order_by("version"))


def _comparison(alternatives: list[Plan]) -> list[dict]:
    """Rows of the side-by-side table: one per measure, one cell per alternative, the best marked."""
    measures = [
        (gettext_lazy("Cost"), lambda p: float(p.cost), lambda p: f"{p.cost:.2f}"),
        (gettext_lazy("Distance"), lambda p: p.distance_m, lambda p: km_label(p.distance_m)),
        (gettext_lazy("Driving time"), lambda p: p.driving_s or 0, lambda p: duration_label(p.driving_s)),
        (gettext_lazy("Vehicles used"), lambda p: p.vehicles_used, lambda p: str(p.vehicles_used)),
        (gettext_lazy("Longest route"), lambda p: p.longest_route_s, lambda p: duration_label(p.longest_route_s)),
        (gettext_lazy("Lateness"), lambda p: p.lateness_s, lambda p: duration_label(p.lateness_s)),
        (
            gettext_lazy("Not planned"),
            lambda p: p.unassigned_count,
            lambda p: ngettext("%(count)s order", "%(count)s orders", p.unassigned_count)
            % {"count": p.unassigned_count},
        ),
    ]
    done = [p for p in alternatives if p.status == Plan.Status.DONE]
    rows = []
    for label, value, text in measures:
        best = min((value(p) for p in done), default=None)
        cells = [
            {"text": text(p), "best": len(done) > 1 and value(p) == best}
            if p.status == Plan.Status.DONE
            else {"text": "—", "best": False}
            for p in alternatives
        ]
        rows.append({"label": label, "cells": cells})
    if any("own_fleet" in (p.make_or_buy or {}) for p in done):
        # Make or buy: what each option gives partners, and the same day with our own fleet only.
        for label, key in (
            (gettext_lazy("Courier partners"), "with_partners"),
            (gettext_lazy("Own fleet only"), "own_fleet"),
        ):
            rows.append(
                {"label": label, "cells": [{"text": _make_or_buy_text(p, key), "best": False} for p in alternatives]}
            )
    return rows


def _make_or_buy_text(plan: Plan, key: str) -> str:
    figures = (plan.make_or_buy or {}).get(key)
    if plan.status != Plan.Status.DONE or not figures:
        return "—"
    if key == "with_partners":
        return gettext("%(orders)s orders, %(cost)s") % {
            "orders": figures["handed_off"],
            "cost": figures["partner_cost"],
        }
    return gettext("cost %(cost)s, %(served)s served") % {"cost": figures["cost"], "served": figures["served"]}


def _plan_closures(plan: Plan):
    """Closures that touch the plan's day and were not lifted before it began."""
    start, end = _local_day_bounds(plan.date)
    return (
        RoadClosure.objects.select_related("created_by")
        .order_by("-starts_at", "-id")
        .filter(starts_at__lt=end)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=start))
        .filter(Q(lifted_at__isnull=True) | Q(lifted_at__gt=start))
    )


def _editor_data(plan: Plan, routes, unassigned, partner_groups=()) -> dict:
    """What the page's script needs to edit the plan and draw it again from the edit API's answers.

    The plan as GET /api/plans/{id}/ returns it (without the road geometry, which only the map
    needs and which every edit answer brings again), the reference, customer and address of each
    order (the API does not carry them), every vehicle an order may be moved to with a stable
    colour, and the courier partners of the day with the orders each may take (and its price).
    """
    data = PlanOutput(plan).data
    for route in data["routes"]:
        route.pop("geometry", None)
    orders = [stop.order for route in routes for stop in route.stop_list] + [u.order for u in unassigned]
    orders += [order for group in partner_groups for order in group["orders"]]
    choices = selectors.plan_partner_choices(plan, [o.id for o in orders], now=timezone.now())
    # A partner holding orders of this plan is shown by name even when it is no longer of the day.
    named = {p["code"] for p in choices["partners"]}
    choices["partners"] += [{"code": g["code"], "name": g["name"]} for g in partner_groups if g["code"] not in named]
    fleet = {vehicle.id: vehicle for vehicle in plan_vehicles(plan)}  # depots loaded with them
    vehicles = {route.vehicle_id: (fleet.get(route.vehicle_id, route.vehicle), route.color) for route in routes}
    for vehicle in fleet.values():
        if vehicle.id not in vehicles:
            vehicles[vehicle.id] = (vehicle, maps.route_color(len(vehicles)))
    return {
        "plan": data,
        "orders": {
            str(o.id): {
                "reference": o.reference,
                "customer": o.customer_name,
                "address": o.address,
                "window": maps.order_window_label(o),
                "lat": o.lat,
                "lon": o.lon,
            }  # fmt: skip
            for o in orders
        },
        "vehicles": [
            {
                "id": v.id,
                "name": v.name,
                "kind": str(v.get_kind_display()),
                "color": color,
                "depot": [v.depot.lat, v.depot.lon],
            }  # fmt: skip
            for v, color in sorted(vehicles.values(), key=lambda item: item[0].name)
        ],
        "urls": {
            "edit": reverse("api_plan_edit", args=[plan.id]),
            "reoptimize": reverse("api_plan_reoptimize", args=[plan.id]),
            "detail": reverse("routes:plan_detail", args=[0]),
        },
        "dispatched": plan.is_dispatched,
        "partners": choices["partners"],
        "partner_orders": choices["eligible"],
    }


def _ready_at(plan: Plan):
    """When the vehicles at the depot could leave at the earliest (planned at + preparation time)."""
    from django.utils.dateparse import parse_datetime

    ready = ((plan.request or {}).get("planned_from") or {}).get("ready_at")
    return timezone.localtime(parse_datetime(ready)) if ready else None


@office_staff_required
def plan_detail(request, plan_id: int):
    """One plan: progress while it is computed, then its map, routes, unassigned orders and totals."""
    user = request.user
    plan = selectors.plan_detail(user, plan_id)  # another depot's plan answers 404
    plan.stage_label = STAGE_LABELS.get(plan.stage, plan.stage)
    routes = list(plan.routes.all())
    unassigned = list(plan.unassigned.all())
    alternatives = _alternatives(user, plan)
    depot_ids = [plan.depot_id] if plan.depot_id else plan.request.get("depots") or []
    depots = list(fleet_selectors.depots_visible_to(user).filter(id__in=depot_ids))
    # The micro-hubs its routes reload at are on its map too (a hub is a depot of its own).
    hub_ids = {int(r["depot_id"]) for route in routes for r in route.reloads or []} - {d.id for d in depots}
    depots += list(Depot.objects.filter(id__in=hub_ids).order_by("code")) if hub_ids else []
    for index, route in enumerate(routes):
        route.color = maps.route_color(index)
        route.stop_list = list(route.stops.all())
        reloads = {r["after_sequence"]: r for r in route_reloads(route)}
        route.trip_count = len(reloads) + 1
        for stop in route.stop_list:
            stop.reload_after = reloads.get(stop.sequence)  # back to the hub to reload after this stop
        route.distance_label = km_label(route.distance_m)
        route.driving_label = duration_label(route.driving_s)
        route.duration_label = duration_label(route.duration_s)
    for stop in (stop for route in routes for stop in route.stop_list):
        stop.window_label = maps.order_window_label(stop.order)
        stop.late_label = duration_label(stop.late_s) if stop.late_s else ""
    for alternative in alternatives:
        alternative.stage_label = STAGE_LABELS.get(alternative.stage, alternative.stage)

    pending = [p for p in alternatives or [plan] if p.status in (Plan.Status.QUEUED, Plan.Status.RUNNING)]
    planned_at = timezone.localtime(plan.planned_at) if plan.planned_at else None
    is_done = plan.status == Plan.Status.DONE
    # A proposal is decided as it is (Approve/Reject): no editing, no re-optimizing (routes.plans.editing).
    editable = is_done and plan.state == Plan.State.ACTIVE
    partner_groups = _partner_groups(plan) if is_done else []
    editor_data = _editor_data(plan, routes, unassigned, partner_groups) if is_done else None  # map colours too
    editor = editor_data if editable else None
    map_html = (
        maps.plan_map_html(
            routes=routes,
            unassigned=unassigned,
            depots=depots,
            closures=_plan_closures(plan),
            editing_vehicles=editor_data["vehicles"],
            no_fly_zones=no_fly_zones_to_show(route.vehicle for route in routes),
        )  # fmt: skip
        if is_done
        else ""
    )
    context = {
        "plan": plan,
        "routes": routes,
        "unassigned": unassigned,
        "alternatives": alternatives,
        "comparison": _comparison(alternatives) if alternatives and not pending else [],
        "pending": pending,
        "map_html": map_html,
        "can_dispatch": is_done
        and not plan.is_dispatched
        and plan.state == Plan.State.ACTIVE  # a proposal goes out through Approve
        and (plan.selected or not plan.alternative_group),
        "stop_count": sum(len(route.stop_list) for route in routes),
        # The dispatch button's question says how many stops the plan already has late.
        "late_stop_count": sum(1 for route in routes for stop in route.stop_list if stop.late_s),
        "totals": {
            "distance": km_label(plan.distance_m),
            "driving": duration_label(sum(route.driving_s for route in routes)),
            "duration": duration_label(plan.duration_s),
            "longest": duration_label(plan.longest_route_s),
            "lateness": duration_label(plan.lateness_s),
        },
        "order_statuses": dict(Order.Status.choices),
        "editor": editor,
        "is_past": plan.date < timezone.localdate(),
        "editable": editable,
        # A plan made on its own day was planned from a moment: say when, so nobody wonders why no van
        # leaves at 08:00 (a plan made for a later day starts at the shifts, as always).
        "planned_from": planned_at if planned_at and planned_at.date() == plan.date else None,
        "ready_at": _ready_at(plan) if planned_at and planned_at.date() == plan.date else None,
        "vehicles_not_used": plan.vehicles_not_used,
        "partner_groups": partner_groups,
        "make_or_buy": plan.make_or_buy if "own_fleet" in (plan.make_or_buy or {}) else None,
    }
    return render(request, "routes/plan_detail.html", context)


def _partner_groups(plan: Plan) -> list[dict]:
    """The plan's orders for courier partners, per partner: its name, the orders and what they cost."""
    groups = selectors.plan_handoffs(plan.pk)
    order_ids = [order_id for group in groups for order_id in group["orders"]]
    orders = Order.objects.in_bulk(order_ids)
    names = dict(CourierPartner.objects.filter(code__in=[g["partner"] for g in groups]).values_list("code", "name"))
    return [
        {
            "code": group["partner"],
            "name": names.get(group["partner"], group["partner"]),
            "orders": [orders[o] for o in group["orders"] if o in orders],
            "cost": group["cost"],
        }
        for group in groups
    ]
