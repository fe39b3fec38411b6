"""Past days played under a hidden truth (`manage.py simulate_history`): orders, a plan made with the
model the app has that day, the day driven under the truth, the learning run after it, and a report
of how good the day's ETAs were.

Each day (the N days ending yesterday, oldest first):

1. Orders at real addresses of the region, imported as a customer's CSV would be (the public import,
   no `service_minutes` of their own, so the service time the app learned applies), with windows
   laid out after the depot's shift start like the demo's (a mix of two- to four-hour windows).
2. One plan per depot, computed by the planning service (routes.plans.optimization.plan_compute) from
   a clock on that day (shift start minus the preparation time), and dispatched at that clock.
3. Every route driven under the truth: each leg is the app's route between consecutive stops
   (RoadNetwork.route), priced stretch by stretch by the truth (dispatch.demo.truth); access and
   service times drawn from it; the drivers take the plan's breaks. Positions go in as the phone
   sends them (its interval, noise and gaps) through dispatch.live.positions.driver_positions_record,
   and the arrivals, deliveries and failures through the driver app's services with their real
   `occurred_at` (and `received_at`: the phone had signal), exactly what the APIs call.
4. The learning the nightly task runs (learn_after_simulated_day).
5. The day's row of the report (SIMULATION.md): the dispatched plan's ETAs (`learned`), the OSM
   defaults with the default traffic profile (`default`) and the truth's expected times (`oracle`)
   each predict the same driven routes; errors against the arrivals the truth produced; the share
   of arrivals inside the window the customer was promised at dispatch, and the windows' median width.

The time machine: nothing here changes the clock. The services take the moment explicitly (the
plan's clock, plan_dispatch's `now`, the actions' `occurred_at`/`received_at`), days are strictly
before today, and today's orders and plans are never touched.

Reproducible: the orders of a day come from (seed, day); every truth draw of a stop comes from
(seed, day, order reference), so a different plan on a re-run changes the routes, not the doorsteps.
"""

import csv
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from customers.notifications.promises import promise_window_for
from dispatch.demo.addresses import read_addresses
from dispatch.demo.seeding import CSV_COLUMNS, FIRST_NAMES, LAST_NAMES, TODAY_WINDOWS, DemoDay
from dispatch.demo.truth import Truth
from dispatch.driver_app.services import stop_arrive, stop_deliver, stop_fail
from dispatch.live.positions import MAX_POSITIONS_PER_BATCH, driver_positions_record
from dispatch.models import Depot, Order, OrderStatusChange, Vehicle
from dispatch.orders.importing import orders_import_csv
from routes.learning.selectors import active_travel_model
from routes.learning.services import travel_model_learn
from routes.models import Plan, Route
from routes.network import ROAD_CLASSES, NetworkError, TrafficProfile
from routes.network.route_pieces import RoadPiece, route_pieces
from routes.plans.inputs import preparation_time, shift_bounds
from routes.plans.optimization import plan_compute
from routes.plans.saving import next_version
from routes.plans.services import plan_dispatch
from routes.road_network import get_road_network

REFERENCE_PREFIX = "SIM"
RECIPIENTS = ("A. Meier", "B. Frick", "C. Beck", "D. Büchel", "E. Marxer", "neighbour")
FAILURE_RATE = 0.03  # not at home and the like: the arrival still counts, the doorstep is short
FAILED_DOORSTEP_S = 90.0  # at most this long at a door nobody opens
WALK_MPS = 5 / 3.6  # the planner's access speed (routes.network profiles): the walk to the door
WINDOW_SHARE = 0.7  # share of orders with a customer window, as in the demo
IMPORTED_BEFORE = timedelta(hours=12)  # the day's orders came in the evening before the first shift
# A simulated day with orders still in these statuses was interrupted before its end.
OPEN_STATUSES = (Order.Status.PLANNED, Order.Status.DISPATCHED, Order.Status.EN_ROUTE, Order.Status.ARRIVED)


class SimulationError(Exception):
    """Something the person running the simulation must fix (no depot, no vehicle, no road network)."""


# --- the learning hook ---------------------------------------------------------------------------


def _nightly_learning_at() -> time:
    """When the nightly learning runs (local; CELERY_BEAT_SCHEDULE["learn-travel-model"])."""
    schedule = settings.CELERY_BEAT_SCHEDULE.get("learn-travel-model", {}).get("schedule")
    try:
        return time(min(schedule.hour), min(schedule.minute))
    except (AttributeError, TypeError, ValueError):
        return time(2, 30)


def learn_after_simulated_day(*, day: date) -> int | None:
    """The learning the nightly task runs (routes.tasks.learn_travel_model calls the same service), run
    in the night after the simulated day; returns the version of the travel model active afterwards
    (None: none yet). Synchronous: the next simulated day is planned with whatever model it leaves."""
    night = datetime.combine(day + timedelta(days=1), _nightly_learning_at(), tzinfo=timezone.get_current_timezone())
    travel_model_learn(now=min(night, timezone.now()), note=f"nightly after the simulated {day}")
    return active_travel_model_version()


def active_travel_model_version() -> int | None:
    model = active_travel_model()
    return model.version if model else None


# --- what a day produced -------------------------------------------------------------------------


@dataclass
class DrivenStop:
    arrival: datetime  # what the truth produced
    learned: datetime  # the dispatched plan's ETA
    default: datetime  # the OSM defaults' prediction of the same route
    oracle: datetime  # the truth's expected times' prediction of the same route
    promised: tuple[datetime, datetime]  # the window the customer was promised at dispatch
    detail: dict = field(default_factory=dict)  # what a leg and a doorstep took against each prediction


@dataclass
class DayOutcome:
    day: date
    model_version: int | None
    stops: list[DrivenStop] = field(default_factory=list)
    positions: int = 0
    delivered: int = 0
    failed: int = 0
    unassigned: int = 0

    def mean_lateness_s(self, kind: str) -> float | None:
        """Mean of (arrival - predicted), seconds: positive when the prediction was too early (a bias
        adds up along a route; noise only grows with its square root)."""
        values = [(s.arrival - getattr(s, kind)).total_seconds() for s in self.stops]
        return float(np.mean(values)) if values else None

    def report_row(self) -> dict:
        def errors(kind: str) -> dict:
            values = [abs((getattr(s, kind) - s.arrival).total_seconds()) for s in self.stops]
            if not values:
                return {"mean": None, "p90": None}
            return {"mean": round(float(np.mean(values)), 1), "p90": round(float(np.percentile(values, 90)), 1)}

        inside = [s.promised[0] <= s.arrival <= s.promised[1] for s in self.stops]
        widths = [(s.promised[1] - s.promised[0]).total_seconds() for s in self.stops]
        return {
            "date": self.day.isoformat(),
            "stops": len(self.stops),
            "model_version": self.model_version,
            "eta_abs_error_s": {kind: errors(kind) for kind in ("default", "learned", "oracle")},
            "window_coverage": {"learned": round(sum(inside) / len(inside), 4) if inside else None},
            "window_width_median_s": round(float(np.median(widths)), 1) if widths else None,
        }


# --- orders ----------------------------------------------------------------------------------------


def _local_hhmm(day: date, moment: datetime) -> str | None:
    local = timezone.localtime(moment)
    return f"{local:%H:%M}" if local.date() == day else None


def simulated_orders_csv(*, day: date, count: int, rng: random.Random, addresses: list, depots: list[Depot],
                         all_depots: list[Depot], shift_start: dict[int, datetime]) -> bytes:  # fmt: skip
    """The day's orders in the public import format: nearest depot, no service minutes, windows after
    the depot's shift start (the demo's mix), no contact details (nobody is sent a message)."""
    chosen_depots = {d.id for d in depots}
    usable = [
        a for a in addresses
        if min(all_depots, key=lambda d: (d.lat - a.lat) ** 2 + (d.lon - a.lon) ** 2).id in chosen_depots
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(CSV_COLUMNS)
    for number, address in enumerate(rng.sample(usable, min(count, len(usable))), start=1):
        depot = min(depots, key=lambda d: (d.lat - address.lat) ** 2 + (d.lon - address.lon) ** 2)
        window_start = window_end = ""
        if rng.random() < WINDOW_SHARE:
            layout = DemoDay.around(shift_start[depot.id])
            start, end = layout.window(*rng.choice(TODAY_WINDOWS))
            if _local_hhmm(day, start) and _local_hhmm(day, end):
                window_start, window_end = _local_hhmm(day, start), _local_hhmm(day, end)
        row = {
            "reference": f"{REFERENCE_PREFIX}-{day:%Y%m%d}-{number:04d}", "date": day.isoformat(),
            "depot": depot.code, "customer_name": f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            "phone": "", "email": "", "address": address.label, "latitude": address.lat, "longitude": address.lon,
            "window_start": window_start, "window_end": window_end,
            "service_minutes": "",  # the learned service time applies (SIMULATION.md)
            "weight_kg": round(rng.uniform(0.2, 20), 1), "items": rng.randint(1, 4), "skills": "", "priority": 0,
            "notes": "",
        }  # fmt: skip
        writer.writerow([row[name] for name in CSV_COLUMNS])
    return out.getvalue().encode()


# --- driving ---------------------------------------------------------------------------------------


def _default_leg_s(pieces: list[RoadPiece], departure: datetime, traffic: TrafficProfile) -> float:
    """What the planner's OSM defaults with the default traffic profile say a leg takes (the traffic of
    the hour it starts, as RoadNetwork.time_legs does; the walk to the door at walking speed)."""
    factors = traffic.class_factors(traffic.slot(timezone.localtime(departure)))
    seconds = 0.0
    for piece in pieces:
        if piece.on_road:
            seconds += piece.default_s / factors[ROAD_CLASSES.index(piece.road_class)]
        else:
            seconds += piece.length_m / WALK_MPS
    return seconds


def _default_service_s(order: Order) -> float:
    """The planner's doorstep before any learning: the order's minutes, else the company's default, plus
    the zone's set access time (what routes.plans.inputs counted before the learned model)."""
    minutes = order.service_minutes if order.service_minutes is not None else settings.DEFAULT_SERVICE_MINUTES
    return minutes * 60.0 + (order.zone.access_time_s if order.zone_id else 0)


def _draws(seed: int, day: date, key: str) -> random.Random:
    return random.Random(f"{seed}:{day.isoformat()}:{key}")  # nosec B311  # a simulation, reproducible by --seed


@dataclass
class _Clock:
    """One predictor's (or the truth's) progress along a route."""

    at: datetime

    def leave_stop(self, arrival: datetime, window_start: datetime | None, service_s: float) -> None:
        start = max(arrival, window_start) if window_start else arrival
        self.at = start + timedelta(seconds=service_s)


def drive_route(*, route: Route, truth: Truth, network, seed: int, day: date, dispatched_at: datetime,
                traffic: TrafficProfile, outcome: DayOutcome, failure_rate: float = FAILURE_RATE,
                log: Callable[[str], None] = print) -> None:  # fmt: skip
    """Drive one dispatched route under the truth, through the driver app's services."""
    driver, vehicle = route.driver, route.vehicle
    profile = vehicle.profile
    depot = vehicle.depot
    stops = list(route.stops.select_related("order", "order__zone").order_by("sequence"))
    breaks = {b.get("after_sequence"): float(b.get("duration_s") or 0) for b in (route.breaks or [])}
    actual, default, oracle = _Clock(route.start), _Clock(route.start), _Clock(route.start)
    here = (depot.lat, depot.lon)
    gps = _draws(seed, day, f"gps:{route.pk}")
    for stop in [*stops, None]:
        order = stop.order if stop else None
        there = (order.lat, order.lon) if order else (depot.lat, depot.lon)
        try:
            pieces = route_pieces(network, network.route([here, there], profile).geometry["coordinates"], profile)
        except NetworkError as exc:
            log(f"  {vehicle.name}: no road to {order.reference if order else 'the depot'} ({exc}); skipped")
            continue
        draws = _draws(seed, day, order.reference if order else f"return:{route.pk}")
        leg = truth.drive(pieces, actual.at, draws)
        _post_positions(driver, truth.positions(leg, gps), outcome)
        if order is None:
            break
        zone = order.zone.code if order.zone_id else None
        arrival = leg.arrival + timedelta(seconds=truth.access_s(zone_code=zone, rng=draws))
        service_s = truth.service_s(zone_code=zone, items=order.items, rng=draws)
        predicted_default = default.at + timedelta(seconds=_default_leg_s(pieces, default.at, traffic))
        expected = truth.drive(pieces, oracle.at, None)
        oracle_leg_s = expected.duration_s * truth.leg_noise_mean + truth.expected_access_s(zone_code=zone)
        predicted_oracle = oracle.at + timedelta(seconds=oracle_leg_s)
        fails = draws.random() < failure_rate
        done = (max(arrival, order.window_start) if order.window_start else arrival) + timedelta(
            seconds=min(service_s, FAILED_DOORSTEP_S) if fails else service_s
        )
        _doorstep(driver, stop, order, arrival, done, fails, draws)
        outcome.failed += fails
        outcome.delivered += not fails
        outcome.stops.append(
            DrivenStop(
                arrival=arrival, learned=stop.eta, default=predicted_default, oracle=predicted_oracle,
                promised=promise_window_for(stop.eta, now=dispatched_at),
                detail={
                    "route": route.pk, "vehicle": vehicle.name, "profile": profile, "sequence": stop.sequence,
                    "zone": zone, "items": order.items, "departed": actual.at.isoformat(),
                    "leg_actual_s": round((arrival - actual.at).total_seconds(), 1),
                    "leg_planned_s": stop.leg_duration_s,
                    "leg_oracle_s": round(oracle_leg_s, 1),
                    "service_actual_s": round((done - max(arrival, order.window_start or arrival)).total_seconds(), 1),
                    "service_planned_s": stop.service_s, "failed": fails,
                    "planned_waiting_s": stop.waiting_s,
                },
            )
        )  # fmt: skip
        pause = timedelta(seconds=breaks.get(stop.sequence, 0.0))
        actual.at = done + pause
        default.leave_stop(predicted_default, order.window_start, _default_service_s(order))
        default.at += pause
        # the oracle expects the doorsteps nobody opens, too (it knows the failure rate)
        expected_service = truth.expected_service_s(zone_code=zone, items=order.items)
        expected_service = (1 - failure_rate) * expected_service + failure_rate * min(expected_service,
                                                                                      FAILED_DOORSTEP_S)  # fmt: skip
        oracle.leave_stop(predicted_oracle, order.window_start, expected_service)
        oracle.at += pause
        here = there


def _post_positions(driver, positions, outcome: DayOutcome) -> None:
    """As the phone posts them: in batches (it buffers up to MAX_POSITIONS_PER_BATCH), each received
    when its newest position was taken (the live ETAs it sets off are as of then)."""
    for first in range(0, len(positions), MAX_POSITIONS_PER_BATCH):
        batch = positions[first : first + MAX_POSITIONS_PER_BATCH]
        driver_positions_record(
            driver=driver,
            received_at=max(p.recorded_at for p in batch),
            positions=[
                {"lat": p.lat, "lon": p.lon, "recorded_at": p.recorded_at, "accuracy_m": p.accuracy_m,
                 "speed_mps": round(p.speed_mps, 2)}
                for p in batch
            ],
        )  # fmt: skip
        outcome.positions += len(batch)


def _doorstep(driver, stop, order, arrival: datetime, done: datetime, fails: bool, draws: random.Random) -> None:
    """The driver's taps, each sent when it happened (the phone had signal: received_at = occurred_at)."""
    user = driver.user
    stop_arrive(driver=driver, stop=stop, by=user, lat=order.lat, lon=order.lon, occurred_at=arrival,
                received_at=arrival)  # fmt: skip
    if fails:
        stop_fail(driver=driver, stop=stop, by=user, reason="not_home", note="", lat=order.lat, lon=order.lon,
                  occurred_at=done, received_at=done)  # fmt: skip
    else:
        stop_deliver(driver=driver, stop=stop, by=user, recipient_name=draws.choice(RECIPIENTS), lat=order.lat,
                     lon=order.lon, occurred_at=done, received_at=done)  # fmt: skip


# --- a day -----------------------------------------------------------------------------------------


def _depot_fleet(depot: Depot) -> list[Vehicle]:
    # The truth drives roads: a drone's flights are not played, so the simulated days plan without drones.
    vehicles = Vehicle.objects.filter(depot=depot, available=True, drivers__active=True).exclude(kind="drone")
    return list(vehicles.distinct())


def simulate_day(*, day: date, truth: Truth, seed: int, depots: list[Depot], all_depots: list[Depot],
                 orders_per_day: int, time_budget_s: float, addresses: list, failure_rate: float = FAILURE_RATE,
                 log: Callable[[str], None] = print) -> DayOutcome:  # fmt: skip
    """Generate, plan, dispatch and drive one past day; return what it produced."""
    if day >= timezone.localdate():
        raise SimulationError(f"{day} is not in the past: simulate_history plays days that are over")
    fleets = {d.id: _depot_fleet(d) for d in depots}
    depots = [d for d in depots if fleets[d.id]]
    if not depots:
        raise SimulationError("no depot has an available vehicle with an active driver")
    shift_start = {d.id: min(shift_bounds(day, v)[0] for v in fleets[d.id]) for d in depots}
    rng = _draws(seed, day, "orders")
    count = max(1, round(orders_per_day * rng.uniform(0.9, 1.1)))
    data = simulated_orders_csv(day=day, count=count, rng=rng, addresses=addresses, depots=depots,
                                all_depots=all_depots, shift_start=shift_start)  # fmt: skip
    admin = get_user_model().objects.filter(is_superuser=True).order_by("id").first()
    imported = orders_import_csv(data=data, user=admin).created
    # The time machine's one write behind the services' back: the import records "now" as the moment
    # the orders came in; in the simulated world they came in the evening before (their history must
    # not start after the day's own actions).
    imported_at = min(shift_start.values()) - IMPORTED_BEFORE
    ids = [order.pk for order in imported]
    OrderStatusChange.objects.filter(order_id__in=ids, reason="imported").update(
        changed_at=imported_at, received_at=imported_at
    )
    Order.objects.filter(id__in=ids).update(created_at=imported_at)
    outcome = DayOutcome(day=day, model_version=active_travel_model_version())
    network = get_road_network()
    traffic = TrafficProfile.default_car()
    for depot in depots:
        # Planned and dispatched just in time for the first van: what a dispatcher does that morning.
        clock = (shift_start[depot.id] - preparation_time() - timedelta(minutes=5)).replace(second=0, microsecond=0)
        plan = Plan.objects.create(
            date=day, depot=depot, version=next_version(day=day, depot=depot), reason="optimized",
            request={"depots": [depot.id], "vehicles": [v.id for v in fleets[depot.id]], "time_budget_s": time_budget_s,
                     "clock": clock.isoformat()},
        )  # fmt: skip
        plan = plan_compute(plan_id=plan.pk)
        if plan.status != Plan.Status.DONE:
            log(f"  {depot.code}: plan {plan.pk} {plan.status}: {plan.error}")
            continue
        plan = plan_dispatch(plan=plan, by=None, now=clock)
        outcome.unassigned += plan.unassigned.count()
        if plan.travel_model_version is not None:
            outcome.model_version = plan.travel_model_version
        for route in plan.routes.select_related("driver__user", "vehicle__depot").order_by("vehicle__name"):
            if route.driver is None or route.start is None:
                continue
            drive_route(route=route, truth=truth, network=network, seed=seed, day=day, dispatched_at=clock,
                        traffic=traffic, outcome=outcome, failure_rate=failure_rate, log=log)  # fmt: skip
    return outcome


def simulate_history(*, days: int, truth: Truth, seed: int = 1, depot_codes: list[str] | None = None,
                     orders_per_day: int = 300, time_budget_s: float = 10.0, end: date | None = None,
                     failure_rate: float = FAILURE_RATE, log: Callable[[str], None] = print,
                     stops_out: list | None = None) -> dict:  # fmt: skip
    """Play the `days` days before `end` (default today), oldest first; the report (SIMULATION.md).

    A day that already has simulated orders is not played again (it is left out of the report)."""
    end = end or timezone.localdate()
    if end > timezone.localdate():
        raise SimulationError(f"the simulated days must end before today ({timezone.localdate()}), not {end}")
    # Micro-hubs are where vehicles reload, not where orders are booked: no address is theirs.
    all_depots = list(Depot.objects.filter(is_micro_hub=False).order_by("code"))
    if depot_codes:
        known = {d.code: d for d in all_depots}
        unknown = [code for code in depot_codes if code not in known]
        if unknown:
            raise SimulationError(f"unknown depot {', '.join(unknown)}; the depots are {', '.join(known) or 'none'}")
        depots = [known[code] for code in depot_codes]
    else:
        depots = all_depots
    if not depots:
        raise SimulationError("there is no depot: run `manage.py seed_demo` first")
    addresses = [a for a in read_addresses(settings.DEMO_PBF) if a.postcode and a.city]
    rows = []
    for offset in range(days, 0, -1):
        day = end - timedelta(days=offset)
        played = Order.objects.filter(date=day, reference__startswith=f"{REFERENCE_PREFIX}-{day:%Y%m%d}-")
        if played.exists():
            if (
                played.filter(status__in=OPEN_STATUSES).exists()
                or not Plan.objects.filter(
                    date=day, dispatched_at__isnull=False, routes__stops__order__in=played
                ).exists()
            ):
                raise SimulationError(
                    f"{day} was left half played by an interrupted run (orders {REFERENCE_PREFIX}-{day:%Y%m%d}-…): "
                    "delete that day's simulated orders and plans, or play other days"
                )
            log(f"{day}: simulated already; not played again")
            continue
        outcome = simulate_day(day=day, truth=truth, seed=seed, depots=depots, all_depots=all_depots,
                               orders_per_day=orders_per_day, time_budget_s=time_budget_s, addresses=addresses,
                               failure_rate=failure_rate, log=log)  # fmt: skip
        row = outcome.report_row()
        rows.append(row)
        if stops_out is not None:  # the benchmark's per-stop detail (--stops)
            stops_out.extend(
                {"date": day.isoformat(), "model": outcome.model_version, "arrival": s.arrival.isoformat(),
                 "learned": s.learned.isoformat(), "oracle": s.oracle.isoformat(), "default": s.default.isoformat(),
                 "promised": [s.promised[0].isoformat(), s.promised[1].isoformat()], **s.detail}
                for s in outcome.stops
            )  # fmt: skip
        lateness = ", ".join(
            f"{kind} {outcome.mean_lateness_s(kind):+.0f} s"
            for kind in ("default", "learned", "oracle")
            if outcome.stops
        )
        log(f"{day}: {row['stops']} stops driven ({outcome.delivered} delivered, {outcome.failed} failed, "
            f"{outcome.unassigned} left out), {outcome.positions} positions; mean lateness {lateness}")  # fmt: skip
        learn_after_simulated_day(day=day)
    return {"truth": truth.name, "seed": seed, "days": rows}


def report_table(report: dict) -> str:
    """The report as a table for a terminal."""
    header = (f"{'date':<10}  {'stops':>5}  {'model':>5}  {'default mean/p90':>17}  {'learned mean/p90':>17}  "
              f"{'oracle mean/p90':>17}  {'coverage':>8}  {'width':>6}")  # fmt: skip
    lines = [f"truth: {report['truth']}  seed: {report['seed']}", header, "-" * len(header)]
    for row in report["days"]:
        cells = []
        for kind in ("default", "learned", "oracle"):
            error = row["eta_abs_error_s"][kind]
            cells.append("—" if error["mean"] is None else f"{error['mean']:.0f} / {error['p90']:.0f} s")
        coverage = row["window_coverage"]["learned"]
        width = row["window_width_median_s"]
        lines.append(
            f"{row['date']:<10}  {row['stops']:>5}  {row['model_version'] if row['model_version'] is not None else '—':>5}  "
            f"{cells[0]:>17}  {cells[1]:>17}  {cells[2]:>17}  "
            f"{'—' if coverage is None else f'{coverage:.1%}':>8}  {'—' if width is None else f'{width / 60:.0f} min':>6}"
        )  # fmt: skip
    return "\n".join(lines)
