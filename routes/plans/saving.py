"""From an optimizer Solution to saved Routes and Stops, with honest ETAs.

The solver plans on one traffic slot's matrix. Before saving, every route is re-timed leg by leg
with the traffic of the hour each leg is actually driven (waiting for windows re-applied), and
its road geometry is drawn. Lateness against the window is recorded rather than hidden.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from dispatch import events
from dispatch.models import Driver, Order
from dispatch.orders.services import orders_bulk_transition
from routes import optimizer
from routes.models import Plan, Route, Stop, UnassignedOrder
from routes.network import NetworkError, RoadNetwork
from routes.plans.inputs import PlanInputs, shift_bounds
from routes.plans.selectors import plan_changes
from routes.road_network import applied_travel_model_version


@dataclass
class TimedStop:
    order_id: int
    sequence: int
    eta: datetime
    etd: datetime
    waiting_s: int
    service_s: int
    leg_distance_m: int
    leg_duration_s: int
    late_s: int
    pinned: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class TimedRoute:
    vehicle_id: int
    start: datetime
    end: datetime
    distance_m: int
    driving_s: int
    cost: Decimal
    geometry: dict
    stops: list[TimedStop]
    load_kg: Decimal
    load_items: int
    warnings: list[str] = field(default_factory=list)
    locked: bool = False
    breaks: list[dict] = field(default_factory=list)


@dataclass
class RouteDraft:
    """A route to time: which vehicle, when it leaves, its orders in order, and its breaks
    (visit index the break follows -> seconds; -1 means before the first stop)."""

    vehicle_id: int
    start: datetime
    order_ids: list[int]
    breaks_after: dict[int, int] = field(default_factory=dict)
    locked: bool = False


def draft_from_solution(inputs: PlanInputs, route: optimizer.Route) -> RouteDraft:
    breaks_after: dict[int, int] = {}
    visits = -1
    for stop in route.stops:
        if stop.kind == "job":
            visits += 1
        else:
            breaks_after[visits] = breaks_after.get(visits, 0) + (stop.departure_s - stop.service_start_s)
    return RouteDraft(
        vehicle_id=route.vehicle_id,
        start=inputs.moment(route.start_s),
        order_ids=list(route.job_ids),
        breaks_after=breaks_after,
    )


def time_route(
    network: RoadNetwork, inputs: PlanInputs, draft: RouteDraft, *, pinned: set[int] = frozenset()
) -> TimedRoute:
    """Re-time one route leg by leg with the traffic of each leg's hour and draw its geometry."""
    vehicle = inputs.vehicles[draft.vehicle_id]
    problem_vehicle = inputs.problem.vehicle_by_id()[draft.vehicle_id]
    jobs = inputs.problem.job_by_id()
    visits = [jobs[order_id] for order_id in draft.order_ids]
    breaks_after = draft.breaks_after
    indices = [problem_vehicle.start_index] + [job.location_index for job in visits] + [problem_vehicle.end_index]
    points = [inputs.points[i] for i in indices]
    matrix = inputs.problem.matrices[vehicle.profile]

    def matrix_leg(i: int, j: int) -> tuple[int, int]:
        return int(matrix.durations[i][j]), int(matrix.distances[i][j])

    start = draft.start
    clock = start + timedelta(seconds=breaks_after.get(-1, 0))
    timed: list[TimedStop] = []
    breaks = (
        [{"after_sequence": 0, "start": start.isoformat(), "duration_s": breaks_after[-1]}]
        if breaks_after.get(-1)
        else []
    )
    distance_total = 0
    driving_total = 0
    for number, job in enumerate(visits):
        leg = _leg(
            network,
            vehicle.profile,
            points[number],
            points[number + 1],
            clock,
            matrix_leg(indices[number], indices[number + 1]),
        )
        # Whole seconds, as stored and shown: a fraction past the window's end would be late by "0 s".
        arrive = clock + timedelta(seconds=round(leg["duration_s"]))
        wait = 0
        late = 0
        if job.time_windows:
            window_start, window_end = (inputs.moment(s) for s in job.time_windows[0])
            if arrive < window_start:
                wait = int((window_start - arrive).total_seconds())
            elif arrive > window_end:
                late = int((arrive - window_end).total_seconds())
        service_start = arrive + timedelta(seconds=wait)
        depart = service_start + timedelta(seconds=job.service_s)
        stop_warnings = []
        if late:
            stop_warnings.append(f"late by {late // 60} min")
        missing = sorted(s for s in job.skills - problem_vehicle.skills if not s.startswith("reach:"))
        if missing:
            stop_warnings.append(f"{vehicle.name} lacks skill {', '.join(missing)}")
        if (
            problem_vehicle.zone_ids is not None
            and job.zone_id is not None
            and job.zone_id not in problem_vehicle.zone_ids
        ):
            stop_warnings.append(f"{vehicle.name} does not serve this zone")
        if any(s.startswith("reach:") for s in job.skills - problem_vehicle.skills):
            stop_warnings.append(f"a {vehicle.get_kind_display().lower()} cannot reach this address")
        timed.append(
            TimedStop(
                order_id=job.id, sequence=number + 1, eta=arrive, etd=depart, waiting_s=wait, service_s=job.service_s,
                leg_distance_m=int(round(leg["distance_m"])), leg_duration_s=int(round(leg["duration_s"])), late_s=late,
                pinned=job.id in pinned, warnings=stop_warnings,
            )
        )  # fmt: skip
        if breaks_after.get(number):
            breaks.append(
                {"after_sequence": number + 1, "start": depart.isoformat(), "duration_s": breaks_after[number]}
            )
        distance_total += leg["distance_m"]
        driving_total += leg["duration_s"]
        clock = depart + timedelta(seconds=breaks_after.get(number, 0))
    back = _leg(network, vehicle.profile, points[-2], points[-1], clock, matrix_leg(indices[-2], indices[-1]))
    end = clock + timedelta(seconds=round(back["duration_s"]))
    distance_total += back["distance_m"]
    driving_total += back["duration_s"]
    geometry = _geometry(network, vehicle.profile, points, start)
    warnings = []
    _, shift_end = shift_bounds(inputs.day, vehicle)
    if end > shift_end:
        warnings.append(f"back at {timezone.localtime(end):%H:%M}, after the shift ends at {vehicle.shift_end:%H:%M}")
    late_stops = [t for t in timed if t.late_s > 0]
    if late_stops:
        warnings.append(
            f"{len(late_stops)} stop(s) late at today's traffic, worst {max(t.late_s for t in late_stops) // 60} min"
        )
    orders = [inputs.orders[t.order_id] for t in timed]
    load_kg = sum((o.weight_kg for o in orders), Decimal("0"))
    if load_kg > vehicle.capacity_kg:
        warnings.append(f"load {load_kg} kg exceeds capacity {vehicle.capacity_kg} kg")
    load_items = sum(o.items for o in orders)
    if vehicle.capacity_items is not None and load_items > vehicle.capacity_items:
        warnings.append(f"{load_items} items exceed capacity {vehicle.capacity_items}")
    flagged = sum(1 for t in timed if t.warnings and not (len(t.warnings) == 1 and t.late_s))
    if flagged:
        warnings.append(f"{flagged} stop(s) this vehicle should not serve (skills, zone or access)")
    hours = Decimal(driving_total) / Decimal(3600)
    kilometres = Decimal(distance_total) / Decimal(1000)
    cost = vehicle.fixed_cost + vehicle.cost_per_hour * hours + vehicle.cost_per_km * kilometres
    return TimedRoute(
        vehicle_id=vehicle.id, start=start, end=end, distance_m=int(round(distance_total)), driving_s=int(round(driving_total)),
        cost=cost.quantize(Decimal("0.01")), geometry=geometry, stops=timed, load_kg=load_kg,
        load_items=load_items, warnings=warnings, breaks=breaks, locked=draft.locked,
    )  # fmt: skip


def _leg(network: RoadNetwork, profile: str, a, b, departure: datetime, fallback: tuple[int, int]) -> dict:
    if a == b:
        return {"duration_s": 0.0, "distance_m": 0.0}
    try:
        return network.time_legs([a, b], profile, timezone.localtime(departure))[0]
    except NetworkError:
        # Cut off since the matrix was computed: keep the solver's figures rather than lose the plan.
        return {"duration_s": float(fallback[0]), "distance_m": float(fallback[1])}


def _geometry(network: RoadNetwork, profile: str, points, departure: datetime) -> dict:
    try:
        return network.route(points, profile, timezone.localtime(departure)).geometry
    except (NetworkError, ValueError):
        return {"type": "LineString", "coordinates": [[lon, lat] for lat, lon in points]}


def record_planned_from(*, plan_id: int, inputs: PlanInputs, routes: list[TimedRoute]) -> None:
    """Keep on the plan the moment it was planned from and the vehicles it could not use, for the
    API and the plan page (Plan.planned_at, Plan.vehicles_not_used). Written before the plan is
    saved: the save re-reads the row."""
    if inputs.now is None:
        return
    plan = Plan.objects.get(pk=plan_id)
    plan.request = {
        **(plan.request or {}),
        "planned_from": {
            "now": inputs.now.isoformat(),
            "ready_at": inputs.ready_at.isoformat() if inputs.ready_at else None,
            "vehicles_not_used": inputs.vehicles_not_used(routed=[r.vehicle_id for r in routes if r.stops]),
        },
    }
    Plan.objects.filter(pk=plan_id).exclude(status=Plan.Status.DONE).update(request=plan.request)


def next_version(*, day, depot) -> int:
    plans = Plan.objects.filter(date=day, depot=depot)
    return (plans.aggregate(latest=Max("version"))["latest"] or 0) + 1


@transaction.atomic
def save_solution(
    *,
    plan: Plan,
    inputs: PlanInputs,
    routes: list[TimedRoute],
    unassigned: dict[int, tuple[str, str]],
    solver: str,
    solve_seconds: float,
    make_or_buy: dict | None = None,
) -> Plan:
    """Write routes, stops and unassigned orders of a computed plan in one transaction.

    Idempotent: a plan that is already done is left as it is (a retried task finds it so).
    `make_or_buy`: the orders it gives courier partners and the own-fleet comparison
    (routes.plans.partners.make_or_buy_record); they are handed over when the plan is dispatched.
    """
    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    if locked.status == Plan.Status.DONE:
        return locked
    write_plan_content(plan=locked, routes=routes, unassigned=unassigned, drivers=None)
    locked.status = Plan.Status.DONE
    locked.stage = "done"
    locked.progress = 100
    locked.finished_at = timezone.now()
    locked.solver = solver
    locked.solve_seconds = round(solve_seconds, 3)
    locked.make_or_buy = make_or_buy or {}
    locked.save()
    if locked.selected:
        mark_orders_planned(plan=locked, by=locked.created_by)
    return locked


def write_plan_content(
    *,
    plan: Plan,
    routes: list[TimedRoute],
    unassigned: dict[int, tuple[str, str]],
    drivers: dict[int, int | None] | None,
) -> None:
    """Replace a plan's routes, stops and unassigned orders and set its totals (caller saves the plan).

    `drivers`: vehicle id -> driver id to keep (a revised plan keeps who drives what); vehicles not
    named get their default driver.
    """
    plan.routes.all().delete()
    plan.unassigned.all().delete()
    # the learned travel model this process's network timed the routes with (None: default speeds)
    plan.travel_model_version = applied_travel_model_version()
    drivers = dict(drivers or {})
    for driver in Driver.objects.filter(vehicle_id__in=[r.vehicle_id for r in routes], active=True):
        drivers.setdefault(driver.vehicle_id, driver.id)
    for timed in routes:
        route = Route.objects.create(
            plan=plan, vehicle_id=timed.vehicle_id, driver_id=drivers.get(timed.vehicle_id),
            distance_m=timed.distance_m, duration_s=int((timed.end - timed.start).total_seconds()),
            driving_s=timed.driving_s, cost=timed.cost, start=timed.start, end=timed.end, geometry=timed.geometry,
            load_kg=timed.load_kg, load_items=timed.load_items, warnings=timed.warnings, locked=timed.locked,
            breaks=timed.breaks,
        )  # fmt: skip
        Stop.objects.bulk_create(
            [
                Stop(
                    route=route,
                    order_id=s.order_id,
                    sequence=s.sequence,
                    eta=s.eta,
                    etd=s.etd,
                    waiting_s=s.waiting_s,
                    service_s=s.service_s,
                    leg_distance_m=s.leg_distance_m,
                    leg_duration_s=s.leg_duration_s,
                    late_s=s.late_s,
                    pinned=s.pinned,
                    warnings=s.warnings,
                )  # fmt: skip
                for s in timed.stops
            ]
        )
    UnassignedOrder.objects.bulk_create(
        [
            UnassignedOrder(plan=plan, order_id=order_id, code=code, reason=reason)
            for order_id, (code, reason) in unassigned.items()
        ]
    )
    plan.distance_m = sum(r.distance_m for r in routes)
    plan.duration_s = sum(int((r.end - r.start).total_seconds()) for r in routes)
    plan.cost = sum((r.cost for r in routes), Decimal("0"))
    plan.vehicles_used = len(routes)
    plan.unassigned_count = len(unassigned)
    plan.lateness_s = sum(s.late_s for r in routes for s in r.stops)
    plan.longest_route_s = max((int((r.end - r.start).total_seconds()) for r in routes), default=0)


def mark_orders_dispatched(*, routed, left_out, by=None, note: str = "", at=None) -> None:
    """A dispatched version's orders: those on its routes become dispatched (from new or planned),
    those it leaves out go back to new. The lifecycle has no shortcuts, so each takes two steps.
    `at`: when (default now; a simulator replaying a past day gives its own moment)."""
    S = Order.Status
    for from_status, to_status in ((S.NEW, S.PLANNED), (S.PLANNED, S.DISPATCHED)):
        orders_bulk_transition(order_ids=routed, from_status=from_status, to_status=to_status, by=by, note=note, at=at)
    for from_status, to_status in ((S.DISPATCHED, S.PLANNED), (S.PLANNED, S.NEW)):
        orders_bulk_transition(
            order_ids=left_out, from_status=from_status, to_status=to_status, by=by, note=note, at=at
        )


def mark_orders_planned(*, plan: Plan, by=None) -> None:
    """Orders of a selected plan become `planned`; orders it leaves out go back to `new`.

    A plan made on a simulated clock in the past (request["clock"]: a simulator replaying a past day)
    records the change at that moment, so the day's later actions do not come before it."""
    planned_ids = Stop.objects.filter(route__plan=plan).values_list("order_id", flat=True)
    left_out = plan.unassigned.values_list("order_id", flat=True)
    note = f"plan {plan.pk} v{plan.version}"
    clock = (plan.request or {}).get("clock")
    at = min(datetime.fromisoformat(clock), timezone.now()) if clock else None
    orders_bulk_transition(
        order_ids=planned_ids, from_status=Order.Status.NEW, to_status=Order.Status.PLANNED, by=by, note=note, at=at
    )
    orders_bulk_transition(
        order_ids=left_out, from_status=Order.Status.PLANNED, to_status=Order.Status.NEW, by=by, note=note, at=at
    )


def announce_plan_updated(revision: Plan) -> None:
    """After commit: tell dashboards, drivers and customers what a new version changed."""

    # A version re-planned on a simulated clock (request["clock"]) goes out at that moment: the
    # customers' promises it moves are made then (None: now).
    clock = (revision.request or {}).get("clock")
    at = min(datetime.fromisoformat(clock), timezone.now()) if clock else None
    payload = {"plan_id": revision.pk, "previous_plan_id": revision.parent_id, "reason": revision.reason, "at": at}
    transaction.on_commit(lambda: events.plan_updated(**payload, changes=plan_changes(revision.parent_id, revision.pk)))
