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
from routes.flights import DRONE_PROFILE, flight_geometry, is_drone
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
    reloads: list[dict] = field(default_factory=list)


@dataclass
class RouteDraft:
    """A route to time: which vehicle, when it leaves, its orders in order, its breaks (visit index
    the break follows -> seconds; -1 means before the first stop) and its reloads (visit index the
    reload follows -> the depot or micro-hub id it goes back to: the trip ends there)."""

    vehicle_id: int
    start: datetime
    order_ids: list[int]
    breaks_after: dict[int, int] = field(default_factory=dict)
    locked: bool = False
    reloads_after: dict[int, int] = field(default_factory=dict)


def draft_from_solution(inputs: PlanInputs, route: optimizer.Route) -> RouteDraft:
    breaks_after: dict[int, int] = {}
    reloads_after: dict[int, int] = {}
    visits = -1
    for stop in route.stops:
        if stop.kind == "job":
            visits += 1
        elif stop.kind == "reload":
            if visits >= 0 and stop.location_index in inputs.depot_at:
                reloads_after[visits] = inputs.depot_at[stop.location_index].id
        else:
            breaks_after[visits] = breaks_after.get(visits, 0) + (stop.departure_s - stop.service_start_s)
    return RouteDraft(
        vehicle_id=route.vehicle_id,
        start=inputs.moment(route.start_s),
        order_ids=list(route.job_ids),
        breaks_after=breaks_after,
        reloads_after=reloads_after,
    )


def time_route(
    network: RoadNetwork, inputs: PlanInputs, draft: RouteDraft, *, pinned: set[int] = frozenset()
) -> TimedRoute:
    """Re-time one route leg by leg with the traffic of each leg's hour and draw its geometry.

    A multi-trip route goes back to its reload point after the last stop of each trip (a leg like
    any other), waits there for the hub to open if it is early, reloads for the vehicle's reload
    time and drives on from there; the legs to and from the hub are in the geometry."""
    vehicle = inputs.vehicles[draft.vehicle_id]
    problem_vehicle = inputs.problem.vehicle_by_id()[draft.vehicle_id]
    jobs = inputs.problem.job_by_id()
    visits = [jobs[order_id] for order_id in draft.order_ids]
    breaks_after = draft.breaks_after
    reloads_after = _reload_points(inputs, draft)
    indices = [problem_vehicle.start_index]
    for number, job in enumerate(visits):
        indices.append(job.location_index)
        if number in reloads_after:
            indices.append(reloads_after[number])
    indices.append(problem_vehicle.end_index)
    points = [inputs.points[i] for i in indices]
    matrix = inputs.problem.matrices[problem_vehicle.profile]  # a drone's is its speed's flight matrix

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
    reloads: list[dict] = []
    here = 0  # position in `indices` of where the vehicle is
    for number, job in enumerate(visits):
        leg = _leg(
            network,
            vehicle.profile,
            points[here],
            points[here + 1],
            clock,
            matrix_leg(indices[here], indices[here + 1]),
        )
        here += 1
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
        if is_drone(vehicle) and job.id not in (problem_vehicle.eligible_jobs or ()):
            # Put on the drone by hand (an edit): too heavy, out of range, or behind a no-fly zone.
            stop_warnings.append(f"{vehicle.name} may not fly it (payload, range or a no-fly zone)")
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
        if number in reloads_after:
            to_hub = _leg(
                network, vehicle.profile, points[here], points[here + 1], clock,
                matrix_leg(indices[here], indices[here + 1]),
            )  # fmt: skip
            here += 1
            reload, clock = _reload(inputs, problem_vehicle, indices[here], number + 1, clock, to_hub)
            reloads.append(reload)
            distance_total += to_hub["distance_m"]
            driving_total += to_hub["duration_s"]
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
    # What is on board at most: the whole route's orders, or on a multi-trip route its heaviest trip
    # (each trip loads afresh); each reload records the load of the trip it starts.
    trips = _trip_orders(inputs, timed, reloads)
    for reload, orders in zip(reloads, trips[1:]):
        reload["load_kg"] = str(sum((o.weight_kg for o in orders), Decimal("0")))
        reload["load_items"] = sum(o.items for o in orders)
    load_kg, load_items = Decimal("0"), 0
    for trip_number, orders in enumerate(trips, start=1):
        trip_kg = sum((o.weight_kg for o in orders), Decimal("0"))
        trip_items = sum(o.items for o in orders)
        where = f"trip {trip_number}: " if reloads else ""
        if trip_kg > vehicle.capacity_kg:
            warnings.append(f"{where}load {trip_kg} kg exceeds capacity {vehicle.capacity_kg} kg")
        if vehicle.capacity_items is not None and trip_items > vehicle.capacity_items:
            warnings.append(f"{where}{trip_items} items exceed capacity {vehicle.capacity_items}")
        per_trip = problem_vehicle.max_stops_per_trip
        if per_trip is not None and len(orders) > per_trip:  # a drone carries one parcel a flight
            warnings.append(f"{where}{len(orders)} stops, more than the {per_trip} a trip may have")
        load_kg, load_items = max(load_kg, trip_kg), max(load_items, trip_items)
    if len(trips) > max(1, vehicle.max_trips):
        warnings.append(f"{len(trips)} trips, more than the {vehicle.max_trips} this vehicle may do")
    warnings.extend(draft_warnings_of(inputs, draft))
    flagged = sum(1 for t in timed if t.warnings and not (len(t.warnings) == 1 and t.late_s))
    if flagged:
        warnings.append(f"{flagged} stop(s) this vehicle should not serve (skills, zone or access)")
    hours = Decimal(driving_total) / Decimal(3600)
    kilometres = Decimal(distance_total) / Decimal(1000)
    cost = vehicle.fixed_cost + vehicle.cost_per_hour * hours + vehicle.cost_per_km * kilometres
    return TimedRoute(
        vehicle_id=vehicle.id, start=start, end=end, distance_m=int(round(distance_total)), driving_s=int(round(driving_total)),
        cost=cost.quantize(Decimal("0.01")), geometry=geometry, stops=timed, load_kg=load_kg,
        load_items=load_items, warnings=warnings, breaks=breaks, locked=draft.locked, reloads=reloads,
    )  # fmt: skip


def _reload_points(inputs: PlanInputs, draft: RouteDraft) -> dict[int, int]:
    """Visit index -> matrix index of the reload after it. A reload after the last stop is no reload
    (the vehicle goes home anyway), nor one at a depot the plan's matrices do not hold (no longer a
    hub of this vehicle: draft_warnings_of says so)."""
    index_of = {depot.id: index for index, depot in inputs.depot_at.items()}
    return {
        number: index_of[depot_id]
        for number, depot_id in sorted(draft.reloads_after.items())
        if 0 <= number < len(draft.order_ids) - 1 and depot_id in index_of
    }


def draft_warnings_of(inputs: PlanInputs, draft: RouteDraft) -> list[str]:
    known = {depot.id for depot in inputs.depot_at.values()}
    lost = sorted(d for n, d in draft.reloads_after.items() if d not in known and 0 <= n < len(draft.order_ids) - 1)
    return [
        f"a reload at depot {depot_id} was dropped: it is no longer a reload point of this vehicle" for depot_id in lost
    ]


def _reload(inputs: PlanInputs, vehicle: optimizer.Vehicle, index: int, after_sequence: int, clock, leg: dict):
    """The reload at matrix point `index` after stop `after_sequence`: arrive, wait for the hub to open
    if early, reload. Returns the Route.reloads entry and when the vehicle drives on."""
    arrival = clock + timedelta(seconds=round(leg["duration_s"]))
    begins = arrival
    if index in vehicle.reload_windows:
        begins = max(arrival, inputs.moment(vehicle.reload_windows[index][0]))
    # The vehicle's own reload time, also for a reload an edit kept where the solver offers none now.
    departure = begins + timedelta(seconds=inputs.vehicles[vehicle.id].reload_minutes * 60)
    entry = {
        "after_sequence": after_sequence,
        "depot_id": inputs.depot_at[index].id,
        "arrival": arrival.isoformat(),
        "departure": departure.isoformat(),
        "leg_duration_s": int(round(leg["duration_s"])),
        "leg_distance_m": int(round(leg["distance_m"])),
    }
    return entry, departure


def _trip_orders(inputs: PlanInputs, timed: list[TimedStop], reloads: list[dict]) -> list[list]:
    """The orders of each trip, in order (one trip when the route has no reloads)."""
    trips: list[list] = [[]]
    ends = {reload["after_sequence"] for reload in reloads}
    for stop in timed:
        trips[-1].append(inputs.orders[stop.order_id])
        if stop.sequence in ends:
            trips.append([])
    return [trip for trip in trips if trip] or [[]]


def _leg(network: RoadNetwork, profile: str, a, b, departure: datetime, fallback: tuple[int, int]) -> dict:
    if a == b:
        return {"duration_s": 0.0, "distance_m": 0.0}
    if profile == DRONE_PROFILE:
        # A flight is the same at every hour: the flight matrix's figures are the leg.
        return {"duration_s": float(fallback[0]), "distance_m": float(fallback[1])}
    try:
        return network.time_legs([a, b], profile, timezone.localtime(departure))[0]
    except NetworkError:
        # Cut off since the matrix was computed: keep the solver's figures rather than lose the plan.
        return {"duration_s": float(fallback[0]), "distance_m": float(fallback[1])}


def _geometry(network: RoadNetwork, profile: str, points, departure: datetime) -> dict:
    if profile == DRONE_PROFILE:
        return flight_geometry(points)
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
            breaks=timed.breaks, reloads=timed.reloads,
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
