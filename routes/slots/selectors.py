"""Which of a day's windows the fleet can still serve for one more order, and what serving it costs.

For each window of the depot's grid (routes.slots.grid):

- available or not, with the reason (`reason_code` and a sentence in the request's language): the day
  or the window is not offered, booking for it has closed, no vehicle works then, no vehicle has the
  order's skills, the load or the stops exceed what the working vehicles carry, or the window already
  holds its maximum share of the day's stops (SlotPolicy.max_share_percent);
- the marginal cost in the company's currency. A day with a plan (the newest dispatched version, else
  the selected one): the cheapest insertion of the order into one of its routes inside the window (the
  distance and the working time it adds, at the vehicle's cost per km and per hour; travel times from
  the road network's matrices), or a vehicle the plan leaves at home (its fixed cost plus the round
  trip). A day not planned yet: an estimate from the orders already booked in that window (the detour
  from the nearest, or the round trip from the depot when the window is empty) at the fleet's average
  costs, plus another van's fixed cost for each van's worth of stops the window holds above the day's
  average (orders crowded into one window need more vans at once). `green` marks the cheapest available window (none
  when every window costs the same).

The insertion work is cached per plan version (its routes) and per order location and size; what
changes between two bookings without a new plan version (how many orders each window holds) is
counted from the database on every call, so a booking is never offered a place that has gone.
"""

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Max, Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from dispatch.geometry import haversine_m
from dispatch.models import Depot, Order, Vehicle
from routes.errors import RoadNetworkUnavailable
from routes.flights import DRONE_PROFILE
from routes.models import Plan, Route, Stop
from routes.network import NetworkError
from routes.plans.inputs import preparation_time, representative_departure, shift_bounds
from routes.plans.selectors import latest_dispatched_plan
from routes.road_network import get_road_network
from routes.slots.grid import Slot, booking_closes_at, day_grid, day_offered, local_zone, policy_for

CACHE_SECONDS = 600
# A day not planned yet: roads are this much longer than the straight line, driven at this speed.
ROAD_FACTOR = 1.3
ESTIMATE_SPEED_KMH = 30.0
# Statuses that take no place in a window: a cancelled order is not delivered.
NOT_COUNTED = (Order.Status.CANCELLED,)
CENT = Decimal("0.01")
# Stops near the address whose neighbouring places an insertion tries (routes.slots.selectors._places_near).
NEAREST_STOPS = 40


@dataclass(frozen=True)
class OrderSize:
    """What is to be delivered: it decides which vehicles can take it."""

    weight_kg: Decimal = Decimal("0")
    items: int = 1
    skills: tuple[str, ...] = ()
    service_minutes: int = 0  # 0: the company's default

    @property
    def service_s(self) -> int:
        return 60 * (self.service_minutes or settings.DEFAULT_SERVICE_MINUTES)


@dataclass
class SlotOffer:
    slot: Slot
    available: bool
    reason_code: str | None = None
    reason: str | None = None
    marginal_cost: Decimal | None = None
    green: bool = False
    booked: int = 0  # orders already in this window
    capacity: int = 0  # stops the window can take (before the share rule)


@dataclass
class DayOffer:
    day: date
    depot: Depot
    basis: str  # "plan" (insertion into plan_id) or "estimate"
    plan_id: int | None
    slots: list[SlotOffer] = field(default_factory=list)


def nearest_depot(lat: float, lon: float, depots) -> Depot | None:
    return min(depots, key=lambda depot: haversine_m(lat, lon, depot.lat, depot.lon), default=None)


def current_plan(*, day: date, depot_id: int) -> Plan | None:
    """The plan the day follows for this depot: the newest dispatched version (the depot's own, else one
    over every depot), else the selected version not dispatched yet."""
    for depot in (depot_id, None):
        plan = latest_dispatched_plan(day=day, depot_id=depot)
        if plan is not None:
            return plan
    drafts = Plan.objects.filter(
        date=day, status=Plan.Status.DONE, selected=True, state=Plan.State.ACTIVE, dispatched_at__isnull=True
    )
    for depot_filter in (Q(depot_id=depot_id), Q(depot__isnull=True)):
        plan = drafts.filter(depot_filter).order_by("-version", "-id").first()
        if plan is not None:
            return plan
    return None


# --- what the day holds already ------------------------------------------------------------------


@dataclass
class _Booked:
    window: tuple[datetime, datetime] | None
    weight_kg: Decimal
    items: int
    lat: float
    lon: float


def _day_orders(depot: Depot, day: date, exclude_order_id: int | None) -> list[_Booked]:
    orders = Order.objects.filter(depot=depot, date=day).exclude(status__in=NOT_COUNTED)
    if exclude_order_id is not None:
        orders = orders.exclude(pk=exclude_order_id)
    return [
        _Booked(window=(start, end) if start and end else None, weight_kg=weight, items=items, lat=lat, lon=lon)
        for start, end, weight, items, lat, lon in orders.values_list(
            "window_start", "window_end", "weight_kg", "items", "lat", "lon"
        )
    ]


def _in_slot(booked: _Booked, slot: Slot) -> bool:
    """An order belongs to the window holding the middle of its own window (imports bring any window)."""
    if booked.window is None:
        return False
    start, end = booked.window
    middle = start + (end - start) / 2
    return slot.start <= middle < slot.end


def _overlap_hours(shift: tuple[datetime, datetime], slot: Slot) -> float:
    start, end = max(shift[0], slot.start), min(shift[1], slot.end)
    return max(0.0, (end - start).total_seconds() / 3600)


def _fits(vehicle: Vehicle, size: OrderSize) -> bool:
    if not set(size.skills) <= set(vehicle.skills or []):
        return False
    if size.weight_kg > vehicle.capacity_kg:
        return False
    return vehicle.capacity_items is None or size.items <= vehicle.capacity_items


def _skills_label(skills) -> str:
    return ", ".join(sorted(skills))


# --- the offer -----------------------------------------------------------------------------------


def slot_offer(
    *,
    depot: Depot,
    day: date,
    lat: float,
    lon: float,
    size: OrderSize,
    now: datetime | None = None,
    exclude_order_id: int | None = None,
    for_customer: bool = False,
) -> DayOffer:
    """The windows of `day` at `depot` for one more order at (lat, lon) of `size`.

    `exclude_order_id`: the order being moved (its own place does not count against it).
    `for_customer`: asked from the tracking page, which the depot's self-service switch closes."""
    now = now or timezone.now()
    policy = policy_for(depot)
    slots = day_grid(depot, day, policy)
    vehicles = list(Vehicle.objects.filter(depot=depot, available=True))
    shifts = {vehicle.id: shift_bounds(day, vehicle) for vehicle in vehicles}
    fitting = [vehicle for vehicle in vehicles if _fits(vehicle, size)]
    booked = _day_orders(depot, day, exclude_order_id)
    plan = current_plan(day=day, depot_id=depot.id)

    slot_capacity = {
        slot: int(sum(_overlap_hours(shifts[v.id], slot) for v in vehicles) * float(policy.stops_per_vehicle_hour))
        for slot in slots
    }
    day_stops = sum(slot_capacity.values())
    share_limit = max(1, math.floor(day_stops * policy.max_share_percent / 100))
    working_today = [v for v in vehicles if any(_overlap_hours(shifts[v.id], slot) for slot in slots)]
    day_kg = sum((v.capacity_kg for v in working_today), Decimal("0"))
    unlimited_items = any(v.capacity_items is None for v in working_today)
    day_items = sum(v.capacity_items or 0 for v in working_today)
    booked_kg = sum((b.weight_kg for b in booked), Decimal("0"))
    booked_items = sum(b.items for b in booked)

    offers: list[SlotOffer] = []
    for slot in slots:
        in_slot = sum(1 for b in booked if _in_slot(b, slot))
        offer = SlotOffer(slot=slot, available=False, booked=in_slot, capacity=slot_capacity[slot])
        working = [v for v in vehicles if _overlap_hours(shifts[v.id], slot) > 0]
        closes = booking_closes_at(slot, day, policy)
        if for_customer and not policy.self_service:
            offer.reason_code, offer.reason = (
                "self_service_off",
                _("Choosing a time online is turned off for this depot; please send us a message"),
            )
        elif not day_offered(day, policy):
            offer.reason_code, offer.reason = "closed", _("The depot delivers no orders on this day")
        elif day > timezone.localdate(now) + timedelta(days=int(policy.days_ahead)):
            offer.reason_code, offer.reason = (
                "closed",
                _("Windows can be booked up to %(days)s days ahead") % {"days": policy.days_ahead},
            )
        elif now >= closes:
            offer.reason_code, offer.reason = (
                "cutoff",
                _("Booking for this window closed at %(at)s")
                % {"at": formats.date_format(timezone.localtime(closes, local_zone()), "SHORT_DATETIME_FORMAT")},
            )
        elif not working:
            offer.reason_code, offer.reason = "closed", _("Outside the depot's hours: no vehicle works in this window")
        elif size.skills and not any(set(size.skills) <= set(v.skills or []) for v in vehicles):
            offer.reason_code, offer.reason = (
                "skills",
                _("No vehicle has the skills %(skills)s") % {"skills": _skills_label(size.skills)},
            )
        elif size.skills and not any(set(size.skills) <= set(v.skills or []) for v in working):
            offer.reason_code, offer.reason = (
                "skills",
                _("No vehicle with %(skills)s works in this window") % {"skills": _skills_label(size.skills)},
            )
        elif not any(_fits(v, size) for v in working):
            offer.reason_code, offer.reason = "capacity", _("Too large for every vehicle working in this window")
        elif booked_kg + size.weight_kg > day_kg or (not unlimited_items and booked_items + size.items > day_items):
            offer.reason_code, offer.reason = "capacity", _("The vehicles are fully loaded on this day")
        elif in_slot + 1 > slot_capacity[slot]:
            offer.reason_code, offer.reason = "capacity", _("No stop left in this window: the vehicles are busy")
        elif in_slot + 1 > share_limit:
            offer.reason_code, offer.reason = (
                "full",
                _("This window is fully booked (at most %(percent)s%% of the day's stops)")
                % {"percent": policy.max_share_percent},
            )
        else:
            offer.available = True
        offers.append(offer)

    candidates = [offer for offer in offers if offer.available]
    basis = "estimate"
    if candidates and plan is not None:
        costs = _plan_costs(plan, depot, day, lat, lon, size, [o.slot for o in candidates], fitting, shifts, now)
        if costs is not None:
            basis = "plan"
            for offer in candidates:
                cost = costs.get(offer.slot.start_label)
                if cost is None and plan.is_dispatched:
                    # The vans follow this version: no route can take one more stop in this window.
                    offer.available, offer.reason_code = False, "capacity"
                    offer.reason = _("No route has room for another stop in this window")
                offer.marginal_cost = cost
    # How many vans a window keeps busy at once, against the day's average: an order in a window above
    # the average pays its excess in vans (their fixed cost), so customers following the green badge
    # spread over the day instead of crowding the window a first neighbour chose.
    per_van = {
        o.slot: (o.slot.end - o.slot.start).total_seconds() / 3600 * float(policy.stops_per_vehicle_hour)
        for o in offers
    }
    loads = [o.booked / per_van[o.slot] for o in offers if per_van[o.slot] and o.reason_code != "closed"]
    average = sum(loads) / len(loads) if loads else 0.0
    for offer in candidates:
        if offer.available and offer.marginal_cost is None:
            estimate = _estimate(depot, lat, lon, size, offer.slot, booked, fitting or vehicles)
            raised = max(0.0, (offer.booked + 1) / per_van[offer.slot] - average) if per_van[offer.slot] else 0.0
            fixed = sum(float(v.fixed_cost) for v in (fitting or vehicles)) / max(1, len(fitting or vehicles))
            offer.marginal_cost = estimate + _money(fixed * raised)
    priced = [offer for offer in offers if offer.available and offer.marginal_cost is not None]
    # Green only when it is cheaper than another choice: among equal costs (an empty day) none is.
    if priced and min(o.marginal_cost for o in priced) < max(o.marginal_cost for o in priced):
        min(priced, key=lambda offer: (offer.marginal_cost, offer.slot.start)).green = True
    return DayOffer(day=day, depot=depot, basis=basis, plan_id=plan.pk if plan else None, slots=offers)


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _estimate(depot, lat, lon, size, slot: Slot, booked: list[_Booked], vehicles: list[Vehicle]) -> Decimal:
    """A day not planned yet: the detour from the nearest order already in the window, or the round
    trip from the depot, at the fleet's average cost per km and per hour, plus the time at the door."""
    from_depot = haversine_m(lat, lon, depot.lat, depot.lon)
    neighbours = [haversine_m(lat, lon, b.lat, b.lon) for b in booked if _in_slot(b, slot)]
    metres = 2 * min([from_depot, *neighbours]) * ROAD_FACTOR
    hours = metres / 1000 / ESTIMATE_SPEED_KMH + size.service_s / 3600
    count = max(1, len(vehicles))
    per_km = sum(float(v.cost_per_km) for v in vehicles) / count
    per_hour = sum(float(v.cost_per_hour) for v in vehicles) / count
    return _money(per_km * metres / 1000 + per_hour * hours)


# --- insertion into the plan ---------------------------------------------------------------------


def _plan_fingerprint(plan: Plan) -> str:
    """A plan not yet dispatched is edited in place: its key changes with every edit."""
    changes = plan.changes.aggregate(last=Max("id"))["last"] or 0
    return f"{plan.pk}:{plan.version}:{plan.cost}:{plan.distance_m}:{plan.duration_s}:{changes}"


def _plan_routes(plan: Plan, depot: Depot, fingerprint: str) -> list[dict]:
    """The routes of the depot's vehicles in the plan, as numbers insertion needs (cached per version).

    Times are epoch seconds. `allow[k]`: how much later the vehicle may arrive at stop k without
    making it or any later stop late, or returning after the shift (the waiting before later stops
    absorbs part of a delay); `allow[n]` is the return's. `wait_after[k]`: waiting from stop k on.
    `advance[k]`: how much earlier the stops before k may be served without serving one before its
    window opens (none across a stop that waited: it is served when its window opens anyway); with the
    vehicle leaving earlier (no earlier than its shift start), a new stop before k may take that time."""
    key = f"slots:plan-routes:{fingerprint}:{depot.pk}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    routes = list(Route.objects.filter(plan=plan, vehicle__depot=depot).select_related("vehicle").defer("geometry"))
    stops_by_route: dict[int, list] = {route.id: [] for route in routes}
    for stop in (
        Stop.objects.filter(route__in=routes)
        .select_related("order")
        .only(
            "route_id",
            "sequence",
            "eta",
            "etd",
            "waiting_s",
            "order__lat",
            "order__lon",
            "order__window_start",
            "order__window_end",
        )
        .order_by("route_id", "sequence")
    ):
        stops_by_route[stop.route_id].append(stop)
    result = []
    for route in routes:
        vehicle = route.vehicle
        stops = stops_by_route[route.id]
        shift_start, shift_end = shift_bounds(plan.date, vehicle)
        end = route.end or route.start
        allow = [0.0] * (len(stops) + 1)
        allow[-1] = (shift_end - end).total_seconds() if end else 0.0
        wait_after = [0.0] * (len(stops) + 1)
        for k in range(len(stops) - 1, -1, -1):
            stop = stops[k]
            late_allow = (stop.order.window_end - stop.eta).total_seconds() if stop.order.window_end else math.inf
            allow[k] = min(late_allow, stop.waiting_s + allow[k + 1])
            wait_after[k] = stop.waiting_s + wait_after[k + 1]
        advance = [math.inf] * (len(stops) + 1)
        for k, stop in enumerate(stops):
            if stop.waiting_s:
                advance[k + 1] = 0.0
            else:
                early_allow = (
                    (stop.eta - stop.order.window_start).total_seconds() if stop.order.window_start else math.inf
                )
                advance[k + 1] = min(advance[k], max(0.0, early_allow))
        result.append(
            {
                "vehicle": vehicle.id,
                "profile": vehicle.profile,
                "per_km": float(vehicle.cost_per_km),
                "per_hour": float(vehicle.cost_per_hour),
                "start": route.start.timestamp() if route.start else None,
                "end": end.timestamp() if end else None,
                "load_kg": float(route.load_kg),
                "load_items": route.load_items,
                "stops": [
                    {"lat": s.order.lat, "lon": s.order.lon, "eta": s.eta.timestamp(), "etd": s.etd.timestamp()}
                    for s in stops
                ],
                "allow": allow,
                "wait_after": wait_after,
                "advance": advance,
                "shift_start": shift_start.timestamp(),
            }
        )
    cache.set(key, result, CACHE_SECONDS)
    return result


def _plan_costs(
    plan: Plan, depot, day, lat, lon, size: OrderSize, slots: list[Slot], fitting, shifts, now: datetime
) -> dict[str, Decimal | None] | None:
    """Slot start label -> cheapest insertion cost (None: no route or spare vehicle can take it then).
    None when the road network is not loaded (the caller estimates instead)."""
    fingerprint = _plan_fingerprint(plan)
    # Today the vans move on: what is insertable changes with the clock (5-minute steps).
    clock = int(now.timestamp() // 300) if day <= timezone.localdate(now) else 0
    wanted = "|".join(f"{slot.start_label}-{slot.end_label}" for slot in slots)
    raw = f"{fingerprint}:{depot.pk}:{lat:.5f}:{lon:.5f}:{size}:{clock}:{wanted}"
    key = "slots:costs:" + hashlib.sha256(raw.encode()).hexdigest()[:40]
    cached = cache.get(key)
    if cached is not None:
        return {label: (Decimal(cost) if cost is not None else None) for label, cost in cached.items()}
    try:
        network = get_road_network()
    except RoadNetworkUnavailable:
        return None
    # Read once, not inside the comprehensions, whose conditions run per vehicle (a cache round trip each).
    plan_routes = _plan_routes(plan, depot, fingerprint)
    fitting_ids = {v.id for v in fitting}
    routed_ids = {r["vehicle"] for r in plan_routes}
    routes = [r for r in plan_routes if r["vehicle"] in fitting_ids]
    spare = [v for v in fitting if v.id not in routed_ids]
    # The cheapest place is next to a stop near the address: only the places beside the nearest stops
    # (and each route's first and last place, from and back to the depot) are tried, so the matrix has
    # tens of points, not the day's hundreds.
    positions = _places_near(routes, lat, lon)
    points: list[tuple[float, float]] = [(lat, lon), (depot.lat, depot.lon)]
    index: dict[tuple[float, float], int] = {}
    for route, places in zip(routes, positions):
        for k in places:
            for stop in route["stops"][max(0, k - 1) : k + 1]:
                if (stop["lat"], stop["lon"]) not in index:
                    index[(stop["lat"], stop["lon"])] = len(points)
                    points.append((stop["lat"], stop["lon"]))
    departure = representative_departure(day, [shifts[v.id] for v in fitting])
    matrices = {}
    for profile in sorted({r["profile"] for r in routes} | {v.profile for v in spare}):
        if profile == DRONE_PROFILE:
            continue  # a drone carries one parcel a flight: no slot is priced by inserting into its trips
        try:
            matrices[profile] = network.matrix(points, profile, departure)
        except NetworkError:
            continue
    now_s = now.timestamp()
    ready_s = (now + preparation_time()).timestamp()
    costs: dict[str, Decimal | None] = {}
    for slot in slots:
        best = math.inf
        window = (slot.start.timestamp(), slot.end.timestamp())
        for route, places in zip(routes, positions):
            if route["load_kg"] + float(size.weight_kg) > float(_vehicle(fitting, route["vehicle"]).capacity_kg):
                continue
            capacity_items = _vehicle(fitting, route["vehicle"]).capacity_items
            if capacity_items is not None and route["load_items"] + size.items > capacity_items:
                continue
            matrix = matrices.get(route["profile"])
            if matrix is not None and route["start"] is not None:
                best = min(best, _route_insertion(route, places, matrix, index, window, size.service_s, now_s, ready_s))
        for vehicle in spare:
            matrix = matrices.get(vehicle.profile)
            if matrix is not None:
                best = min(best, _spare_vehicle(vehicle, shifts[vehicle.id], matrix, window, size.service_s, ready_s))
        costs[slot.start_label] = None if math.isinf(best) else _money(best)
    cache.set(key, {label: (str(cost) if cost is not None else None) for label, cost in costs.items()}, CACHE_SECONDS)
    return costs


def _vehicle(vehicles, vehicle_id) -> Vehicle:
    return next(v for v in vehicles if v.id == vehicle_id)


def _leg(matrix, a: int, b: int) -> tuple[float, float] | None:
    duration, distance = matrix.durations_s[a, b], matrix.distances_m[a, b]
    if np.isnan(duration) or np.isnan(distance):
        return None
    return float(duration), float(distance)


def _places_near(routes: list[dict], lat: float, lon: float) -> list[list[int]]:
    """Per route, the places (k: before its k-th stop; len(stops): last) worth trying: beside one of
    the NEAREST_STOPS stops nearest the address (straight line), and the first and the last place."""
    near: set[tuple[int, int]] = set()
    located = [
        (r, k, stop["lat"], stop["lon"]) for r, route in enumerate(routes) for k, stop in enumerate(route["stops"])
    ]
    if located:
        lats = np.radians([item[2] for item in located])
        lons = np.radians([item[3] for item in located])
        # Equirectangular distance: only the order matters, over a few kilometres.
        x = (lons - math.radians(lon)) * math.cos(math.radians(lat))
        y = lats - math.radians(lat)
        for i in np.argsort(x * x + y * y)[:NEAREST_STOPS]:
            near.add((located[i][0], located[i][1]))
    places = []
    for r, route in enumerate(routes):
        count = len(route["stops"])
        wanted = {0, count} | {k for k in range(count + 1) if (r, k) in near or (r, k - 1) in near}
        places.append(sorted(wanted))
    return places


def _route_insertion(
    route: dict, places: list[int], matrix, index, window, service_s: int, now_s: float, ready_s: float
) -> float:
    """The cheapest place for the new stop (point 0) in this route inside the window: the distance and
    the working time it adds (the return to the depot moves later by the part of the delay that the
    waiting before later stops does not absorb; a vehicle that leaves earlier to make room works that
    much longer too). Inf when no place keeps every stop on time and inside the shift."""
    stops = route["stops"]
    best = math.inf
    depot = 1
    # The stops before a place may move earlier only as far as the vehicle can leave earlier.
    may_leave_earlier = max(0.0, route["start"] - max(route["shift_start"], ready_s))
    for k in places:
        before = depot if k == 0 else index[(stops[k - 1]["lat"], stops[k - 1]["lon"])]
        after = depot if k == len(stops) else index[(stops[k]["lat"], stops[k]["lon"])]
        leaves = route["start"] if k == 0 else stops[k - 1]["etd"]
        if leaves < now_s:
            continue  # the vehicle has passed there
        there, onward, direct = _leg(matrix, before, 0), _leg(matrix, 0, after), _leg(matrix, before, after)
        if there is None or onward is None or direct is None:
            continue
        was = route["end"] if k == len(stops) else stops[k]["eta"]
        allow = max(route["allow"][k], 0.0)
        arrives = leaves + there[0]
        push = max(arrives, window[0]) + service_s + onward[0] - was
        earlier = max(0.0, push - allow, arrives - window[1])
        if earlier > min(route["advance"][k], may_leave_earlier):
            continue
        if earlier:
            arrives -= earlier
            push = max(arrives, window[0]) + service_s + onward[0] - was
            if push > allow or arrives > window[1]:
                continue
        later = earlier + max(0.0, push - route["wait_after"][k])
        cost = route["per_km"] * (there[1] + onward[1] - direct[1]) / 1000 + route["per_hour"] * later / 3600
        best = min(best, cost)
    return best


def _spare_vehicle(vehicle: Vehicle, shift, matrix, window, service_s: int, ready_s: float) -> float:
    """A vehicle the plan leaves at home, sent out for this one stop: its fixed cost and the round trip."""
    out, back = _leg(matrix, 1, 0), _leg(matrix, 0, 1)
    if out is None or back is None:
        return math.inf
    leaves = max(shift[0].timestamp(), ready_s, window[0] - out[0])
    arrives = leaves + out[0]
    if arrives > window[1] or max(arrives, window[0]) + service_s + back[0] > shift[1].timestamp():
        return math.inf
    hours = (out[0] + back[0] + service_s) / 3600
    return (
        float(vehicle.fixed_cost)
        + float(vehicle.cost_per_km) * (out[1] + back[1]) / 1000
        + float(vehicle.cost_per_hour) * hours
    )
