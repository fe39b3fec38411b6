"""Make or buy in planning: which courier partners can take which orders of the day, at what price,
and the orders a plan gives them.

A plan request includes the active partners of its day unless it says `"partners": false`. A partner
is offered to the optimizer (routes.optimizer.partners) when it is active, works that weekday, its
cut-off for the day has not passed at the moment the day is planned from, and it has room left
(its stops and kilograms per day minus the hand-offs it already has that day). It may take an order
of its area (its zones, or its polygon), whose skills it has and whose window meets its hours; the
price is its price model (CourierPartner.price_parts, the same as a hand-off by hand).

The plan keeps the orders it gives partners in `Plan.make_or_buy`; they become hand-offs
(dispatch.Handoff, with their webhooks) when the plan is dispatched: dispatch.partners, above this
layer, listens to `plan_dispatched` and `plan_updated` (dispatch.partners.planned).
"""

from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Sum

from dispatch.geometry import ZoneLocator
from dispatch.models import CourierPartner, Handoff, Order
from routes.optimizer.partners import PartnerOffer, partner_routes, with_partners
from routes.plans.inputs import PlanInputs

# A partner's hand-offs that use its capacity of the day (a rejected or expired one gave it back).
CAPACITY_STATUSES = (
    Handoff.Status.OFFERED,
    Handoff.Status.ACCEPTED,
    Handoff.Status.DELIVERED,
    Handoff.Status.FAILED,
)
PARTNER_VEHICLE_PREFIX = "partner:"


def partner_vehicle_id(partner: CourierPartner) -> str:
    return f"{PARTNER_VEHICLE_PREFIX}{partner.code}"


def partners_of_day(day: date, *, now: datetime | None) -> list[CourierPartner]:
    """Active partners working that weekday whose cut-off for the day is still ahead of `now`."""
    partners = []
    for partner in CourierPartner.objects.filter(active=True).prefetch_related("zones").order_by("code"):
        if partner.days and day.isoweekday() not in partner.days:
            continue
        if now is not None and partner.cutoff_at(day) <= now:
            continue
        partners.append(partner)
    return partners


def partner_room(partner: CourierPartner, day: date) -> tuple[int | None, Decimal | None]:
    """Stops and kilograms it can still take that day (None: no limit)."""
    taken = Handoff.objects.filter(partner=partner, order__date=day, status__in=CAPACITY_STATUSES).aggregate(
        stops=Count("id"), kg=Sum("order__weight_kg")
    )
    stops = max(0, partner.capacity_stops - taken["stops"]) if partner.capacity_stops else None
    kg = max(Decimal(0), partner.capacity_kg - (taken["kg"] or 0)) if partner.capacity_kg is not None else None
    return stops, kg


def partner_takes(partner: CourierPartner, order: Order, area: ZoneLocator | None) -> bool:
    """Its area, skills and hours allow this order (not its capacity, which the solver counts)."""
    if set(order.skills or []) - set(partner.skills or []):
        return False
    if area is not None:
        zone_ids = {zone.id for zone in partner.zones.all()}
        if order.zone_id not in zone_ids and area.locate(order.lat, order.lon) is None:
            return False
    if order.window_start and order.window_end:
        zone = ZoneInfo(settings.TIME_ZONE)
        opens = datetime.combine(order.date, partner.opens, tzinfo=zone)
        closes = datetime.combine(order.date, partner.closes, tzinfo=zone)
        if order.window_end <= opens or order.window_start >= closes:
            return False
    return True


def price_cents(partner: CourierPartner, order: Order) -> int:
    return int((sum(partner.price_parts(order).values(), Decimal(0)) * 100).to_integral_value())


def add_partner_offers(inputs: PlanInputs, *, now: datetime | None) -> dict[str, CourierPartner]:
    """Put the day's partners into `inputs.problem` (and its points); returns vehicle id -> partner.

    Nothing changes when no partner can take any of the day's orders.
    """
    problem = inputs.problem
    job_ids = {job.id for job in problem.jobs}
    reach = {skill for job in problem.jobs for skill in job.skills if skill.startswith("reach:")}
    offers, partners = [], {}
    for partner in partners_of_day(inputs.day, now=now):
        area = partner_area(partner)
        prices = {
            order_id: price_cents(partner, order)
            for order_id, order in inputs.orders.items()
            if order_id in job_ids and partner_takes(partner, order, area)
        }
        stops, kg = partner_room(partner, inputs.day)
        if not prices or stops == 0:
            continue
        vehicle_id = partner_vehicle_id(partner)
        offers.append(
            PartnerOffer(
                id=vehicle_id,
                prices=prices,
                capacity_stops=stops,
                # Orders' kilograms are rounded up for the solver (inputs._delivery): so is nothing here.
                capacity_kg=None if kg is None else int(kg),
                # A partner knows the terrain: it reaches what our vans or bikes reach.
                skills=frozenset(partner.skills or []) | reach,
            )
        )
        partners[vehicle_id] = partner
    if not offers:
        return {}
    extended = with_partners(problem, offers)
    points = list(inputs.points) + [inputs.points[0]] * (_size(extended) - len(inputs.points))
    snaps = list(inputs.snap_distances_m) + [None] * (_size(extended) - len(inputs.snap_distances_m))
    original = problem.job_by_id()
    for job in extended.jobs:
        # A job moved to a point of its own (see with_partners) is still at its address.
        points[job.location_index] = inputs.points[original[job.id].location_index]
        snaps[job.location_index] = inputs.snap_distances_m[original[job.id].location_index]
    inputs.problem = extended
    inputs.points = points
    inputs.snap_distances_m = snaps
    return partners


def _size(problem) -> int:
    return next(iter(problem.matrices.values())).durations.shape[0]


def make_or_buy_record(inputs: PlanInputs, both, partners: dict[str, CourierPartner]) -> dict:
    """What a plan keeps of make or buy (Plan.make_or_buy): the orders per partner, and the day solved
    both ways, as the optimizer priced it (money, served orders), to compare "own fleet only" with
    "with partners". `both`: routes.optimizer.partners.MakeOrBuy."""
    problem = inputs.problem
    handoffs = [
        partner_group(partners[vehicle_id], sorted(order_ids), inputs.orders)
        for vehicle_id, order_ids in sorted(partner_routes(problem, both.best).items(), key=lambda i: str(i[0]))
    ]

    def summary(solution) -> dict:
        bought = sum(r.cost for r in solution.routes if r.vehicle_id in partners)
        return {
            "cost": f"{solution.cost / 100:.2f}",
            "partner_cost": f"{bought / 100:.2f}",
            "served": len(problem.jobs) - len(solution.unassigned),
            "handed_off": sum(len(r.job_ids) for r in solution.routes if r.vehicle_id in partners),
        }

    return {
        "handoffs": handoffs,
        "own_fleet": summary(both.own_fleet),
        "with_partners": summary(both.best),
        "partners": sorted(partner.code for partner in partners.values()),
    }


def partner_group(partner: CourierPartner, order_ids: list[int], orders: dict[int, Order]) -> dict:
    """{"partner": code, "orders": [ids], "cost": "12.30", "order_costs": ["4.10", ...]} (costs in order)."""
    costs = [sum(partner.price_parts(orders[o]).values(), Decimal("0.00")) for o in order_ids]
    return {
        "partner": partner.code,
        "orders": list(order_ids),
        "cost": str(sum(costs, Decimal("0.00"))),
        "order_costs": [str(cost) for cost in costs],
    }


def partner_order_ids(plan) -> set[int]:
    """The orders a plan gives partners (not yet handed over while it is not dispatched)."""
    return {order_id for group in (plan.make_or_buy or {}).get("handoffs", []) for order_id in group["orders"]}


def own_vehicle_routes(inputs: PlanInputs, solution):
    """The solution's routes on our own vehicles (a partner's share is no route of ours)."""
    return [route for route in solution.routes if route.vehicle_id in inputs.vehicles]


def partner_area(partner: CourierPartner) -> ZoneLocator | None:
    shapes = list(partner.zones.all()) + ([SimpleNamespace(polygon=partner.area)] if partner.area else [])
    return ZoneLocator(shapes) if shapes else None


def make_or_buy_after_edit(previous: dict, partner_of: dict[int, str]) -> dict:
    """Plan.make_or_buy after a dispatcher's edit: the hand-offs as they now are (priced by the partner's
    model), the optimizer's comparison kept as it was computed. Empty when nothing goes to a partner
    and the plan was made without partners."""
    if not partner_of and not previous:
        return {}
    partners = {p.code: p for p in CourierPartner.objects.filter(code__in=set(partner_of.values()))}
    orders = Order.objects.select_related("zone").in_bulk(list(partner_of))
    by_partner: dict[str, list[int]] = {}
    for order_id, code in partner_of.items():
        by_partner.setdefault(code, []).append(order_id)
    record = dict(previous or {})
    record["handoffs"] = [
        partner_group(partners[code], sorted(order_ids), orders) for code, order_ids in sorted(by_partner.items())
    ]
    return record
