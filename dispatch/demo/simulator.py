"""A fleet simulator for demos and tests: every dispatched route of the day, driven through the real API.

Each driver of today's dispatched plans is played by a simulated phone with that driver's token: it
reads its route (GET /api/driver/route/), drives along the route's road geometry at the planned leg
times, posts positions (POST /api/driver/positions/) every few simulated seconds, marks stops
arrived, delivered (with a recipient name) or failed (with a reason), and sometimes lingers (a
delay). Simulated time runs `speed` times faster than real time; positions carry the real clock
(the server refuses positions from the future, and live ETAs are computed for now).

Under a truth (Options.truth, dispatch.demo.truth; `simulate_fleet --truth`, the shipped default
truth unless --no-truth) the drivers do not drive the planned times: each leg takes what the truth
says its roads take at that simulated hour, parking and walking (access) come before the arrival,
the doorstep takes the truth's service time, and the phone's positions carry the truth's GPS noise
and gaps.

Only loopback servers are driven: this is a tool for a laptop, not a load generator for someone
else's server. The run ends when every route is done or after `max_minutes` of real time.
"""

import ipaddress
import json
import logging
import math
import random
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.utils import timezone

from dispatch.demo.truth import METRES_PER_DEGREE, Truth
from dispatch.live.views import stop_vertices
from dispatch.models import Depot, Driver, Order, Vehicle
from routes.network import NetworkError
from routes.network.route_pieces import route_pieces
from routes.plans.selectors import latest_dispatched_plan
from routes.road_network import get_road_network

logger = logging.getLogger(__name__)

RECIPIENTS = ("A. Meier", "B. Frick", "C. Beck", "D. Büchel", "E. Marxer", "F. Vogt", "G. Hasler", "neighbour")
FAIL_REASONS = (("not_home", "nobody answered"), ("no_access", "gate closed"), ("refused", "customer refused"))
DONE = {"delivered", "failed", "cancelled"}


class SimulationError(Exception):
    """Something the person running the simulator must fix (no plan, a remote URL, a bad login)."""


def require_loopback(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or urlsplit(url).scheme not in ("http", "https"):
        raise SimulationError(f"the simulator only drives a server on this machine (127.0.0.1), not {url}")
    return url.rstrip("/")


# --- HTTP ----------------------------------------------------------------------------------------


class Api:
    """A tiny JSON client (stdlib only) that counts what it sends."""

    def __init__(self, base_url: str, timeout_s: float = 15.0):
        self.base_url = require_loopback(base_url)
        self.timeout_s = timeout_s
        self.requests = 0
        self.errors = 0

    def call(self, method: str, path: str, *, token: str | None = None, body=None, idempotency_key=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Token {token}")
        if idempotency_key:
            request.add_header("Idempotency-Key", idempotency_key)
        self.requests += 1
        try:
            # base_url passed require_loopback: http(s) to this machine only (bandit B310).
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # nosec B310
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            self.errors += 1
            raw = exc.read()
            try:
                return exc.code, json.loads(raw) if raw else None
            except ValueError:
                return exc.code, {"detail": raw[:200].decode(errors="replace")}
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            self.errors += 1
            raise SimulationError(f"cannot reach {self.base_url}: {exc}") from None


# --- geometry ------------------------------------------------------------------------------------


def _metres(lat1, lon1, lat2, lon2) -> float:
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return 6_371_000 * math.hypot(x, math.radians(lat2 - lat1))


def _bearing(lat1, lon1, lat2, lon2) -> float:
    y = math.sin(math.radians(lon2 - lon1)) * math.cos(math.radians(lat2))
    x = math.cos(math.radians(lat1)) * math.sin(math.radians(lat2)) - math.sin(math.radians(lat1)) * math.cos(
        math.radians(lat2)
    ) * math.cos(math.radians(lon2 - lon1))
    return (math.degrees(math.atan2(y, x)) + 360) % 360


@dataclass
class Path:
    """A stretch of the route's polyline, walked by distance."""

    points: list  # [(lat, lon)]
    cumulative: list = field(default_factory=list)

    def __post_init__(self):
        total, self.cumulative = 0.0, [0.0]
        for (a_lat, a_lon), (b_lat, b_lon) in zip(self.points, self.points[1:], strict=False):
            total += _metres(a_lat, a_lon, b_lat, b_lon)
            self.cumulative.append(total)

    @property
    def length_m(self) -> float:
        return self.cumulative[-1]

    def at(self, fraction: float) -> tuple[float, float, float | None]:
        """(lat, lon, heading) at a fraction 0..1 of the length."""
        if len(self.points) == 1 or self.length_m == 0:
            lat, lon = self.points[-1]
            return lat, lon, None
        target = max(0.0, min(1.0, fraction)) * self.length_m
        for i in range(1, len(self.cumulative)):
            if self.cumulative[i] >= target:
                span = self.cumulative[i] - self.cumulative[i - 1] or 1.0
                t = (target - self.cumulative[i - 1]) / span
                (a_lat, a_lon), (b_lat, b_lon) = self.points[i - 1], self.points[i]
                return a_lat + (b_lat - a_lat) * t, a_lon + (b_lon - a_lon) * t, _bearing(a_lat, a_lon, b_lat, b_lon)
        lat, lon = self.points[-1]
        return lat, lon, None


# --- one driver ------------------------------------------------------------------------------------


@dataclass
class Leg:
    stop: dict | None  # None: the drive back to the depot
    path: Path
    duration_s: float
    timed_by_truth: bool = False


@dataclass
class SimulatedDriver:
    name: str
    token: str
    vehicle: str
    legs: list
    profile: str = "car"
    leg_index: int = 0
    phase: str = "drive"  # drive -> (access, under a truth) -> serve -> drive ... -> done
    access_s: float = 0.0
    elapsed_s: float = 0.0  # in the current phase
    serve_s: float = 0.0
    outcome: tuple = ()  # ("deliver", name) or ("fail", reason, note) for the stop being served
    lat: float = 0.0
    lon: float = 0.0
    heading: float | None = None
    speed_mps: float = 0.0
    delivered: int = 0
    failed: int = 0

    @property
    def done(self) -> bool:
        return self.phase == "done"


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment) if moment else None


def legs_from_route(route: dict) -> list[Leg]:
    """Split the route's geometry at its open stops; each leg lasts as long as the plan says it drives."""

    coordinates = [(lat, lon) for lon, lat in (route.get("geometry") or {}).get("coordinates", [])]
    stops = sorted(route["stops"], key=lambda s: s["sequence"])
    if len(coordinates) < 2:
        coordinates = [(s["lat"], s["lon"]) for s in stops] or coordinates
    vertices = stop_vertices([[lon, lat] for lat, lon in coordinates], [(s["lat"], s["lon"]) for s in stops])
    legs, previous_vertex = [], 0
    previous_departure = _parse(route.get("start"))
    for stop, vertex in zip(stops, vertices, strict=True):
        arrival, departure = _parse(stop["eta"]), _parse(stop["etd"])
        planned = (arrival - previous_departure).total_seconds() if arrival and previous_departure else None
        previous_departure = departure
        if stop["status"] in DONE:
            previous_vertex = vertex  # resume after the stops already done
            continue
        path = Path(coordinates[previous_vertex : vertex + 1] or [coordinates[vertex]])
        legs.append(Leg(stop=stop, path=path, duration_s=_drive_seconds(path, planned)))
        previous_vertex = vertex
    if legs:
        back = Path(coordinates[previous_vertex:] or [coordinates[-1]])
        end = _parse(route.get("end"))
        planned = (end - previous_departure).total_seconds() if end and previous_departure else None
        legs.append(Leg(stop=None, path=back, duration_s=_drive_seconds(back, planned)))
    return legs


def _drive_seconds(path: Path, planned_s: float | None) -> float:
    # The planned leg time includes waiting for a window; never drive slower than 15 km/h because of it.
    by_speed = path.length_m / 8.0  # about 30 km/h in town
    if planned_s is None or planned_s <= 0:
        return max(by_speed, 1.0)
    return max(1.0, min(planned_s, path.length_m / 4.2))


@dataclass
class Options:
    speed: float = 10.0
    position_every_s: float = 10.0  # simulated seconds between positions
    failure_rate: float = 0.05
    delay_rate: float = 0.1
    max_minutes: float = 60.0
    seed: int = 1
    truth: Truth | None = None  # drive under this truth instead of the planned times


@dataclass
class Summary:
    drivers: int = 0
    positions: int = 0
    delivered: int = 0
    failed: int = 0
    requests: int = 0
    errors: int = 0
    real_seconds: float = 0.0
    finished: bool = False


class FleetSimulation:
    def __init__(self, api: Api, drivers: list[SimulatedDriver], options: Options, log=print):
        self.api = api
        self.drivers = drivers
        self.options = options
        self.random = random.Random(options.seed)  # nosec B311  # simulated drivers, reproducible by --seed
        self.log = log
        self.sim_seconds = 0.0
        self.summary = Summary(drivers=len(drivers))
        self.started_at = timezone.now()
        self.network = get_road_network() if options.truth is not None else None
        self._zones: dict[str, str | None] = {}

    # -- under a truth --
    def _simulated_now(self) -> datetime:
        return self.started_at + timedelta(seconds=self.sim_seconds)

    def _time_by_truth(self, driver: SimulatedDriver, leg: Leg) -> None:
        """The leg as the truth drives it from the simulated moment it starts (its hour, its area)."""
        leg.timed_by_truth = True
        coordinates = [[lon, lat] for lat, lon in leg.path.points]
        try:
            pieces = route_pieces(self.network, coordinates, driver.profile)
        except NetworkError:
            return  # keep the planned time
        seconds = self.options.truth.drive(pieces, self._simulated_now(), self.random).duration_s
        if seconds > 0:
            leg.duration_s = seconds

    def _zone_of(self, reference: str) -> str | None:
        if reference not in self._zones:
            self._zones[reference] = (
                Order.objects.filter(reference=reference).values_list("zone__code", flat=True).first()
            )
        return self._zones[reference]

    # -- one step of simulated time for one driver --
    def _advance(self, driver: SimulatedDriver, step_s: float) -> None:
        remaining = step_s
        while remaining > 0 and not driver.done:
            leg = driver.legs[driver.leg_index]
            if driver.phase == "drive" and self.options.truth is not None and not leg.timed_by_truth:
                self._time_by_truth(driver, leg)
            if driver.phase == "drive":
                left = leg.duration_s - driver.elapsed_s
                used = min(left, remaining)
                driver.elapsed_s += used
                remaining -= used
                driver.lat, driver.lon, heading = leg.path.at(driver.elapsed_s / leg.duration_s)
                driver.heading = heading if heading is not None else driver.heading
                driver.speed_mps = leg.path.length_m / leg.duration_s
                if driver.elapsed_s >= leg.duration_s - 1e-6:
                    if self.options.truth is not None and leg.stop is not None:
                        # Parking and walking to the door before the arrival is tapped.
                        zone = self._zone_of(leg.stop["reference"])
                        driver.access_s = self.options.truth.access_s(zone_code=zone, rng=self.random)
                        driver.phase, driver.elapsed_s = "access", 0.0
                    else:
                        self._reach(driver, leg)
            elif driver.phase == "access":
                used = min(driver.access_s - driver.elapsed_s, remaining)
                driver.elapsed_s += used
                remaining -= used
                driver.speed_mps = 0.0
                if driver.elapsed_s >= driver.access_s - 1e-6:
                    self._reach(driver, leg)
            else:  # serving a stop
                used = min(driver.serve_s - driver.elapsed_s, remaining)
                driver.elapsed_s += used
                remaining -= used
                driver.speed_mps = 0.0
                if driver.elapsed_s >= driver.serve_s - 1e-6:
                    self._finish_stop(driver, leg)

    def _reach(self, driver: SimulatedDriver, leg: Leg) -> None:
        if leg.stop is None:
            driver.phase = "done"
            self.log(f"[{self._clock()}] {driver.vehicle} ({driver.name}) is back at the depot: route done")
            return
        stop = leg.stop
        if stop["status"] != "arrived":  # a run stopped at this stop already marked it
            self._action(driver, stop, "arrive", {"lat": driver.lat, "lon": driver.lon})
        driver.phase, driver.elapsed_s = "serve", 0.0
        driver.serve_s = float(stop.get("service_s") or 300)
        if self.options.truth is not None:
            driver.serve_s = self.options.truth.service_s(
                zone_code=self._zone_of(stop["reference"]), items=int(stop.get("items") or 1), rng=self.random
            )
        if self.random.random() < self.options.delay_rate:
            linger = self.random.uniform(5, 15) * 60
            driver.serve_s += linger
            self.log(
                f"[{self._clock()}] {driver.vehicle} ({driver.name}) lingers {linger / 60:.0f} min at {stop['reference']}"
            )
        if self.random.random() < self.options.failure_rate:
            reason, note = self.random.choice(FAIL_REASONS)
            driver.outcome = ("fail", reason, note)
        else:
            driver.outcome = ("deliver", self.random.choice(RECIPIENTS))

    def _finish_stop(self, driver: SimulatedDriver, leg: Leg) -> None:
        stop = leg.stop
        position = {"lat": driver.lat, "lon": driver.lon}
        if driver.outcome[0] == "deliver":
            if self._action(driver, stop, "deliver", {**position, "recipient_name": driver.outcome[1]}):
                driver.delivered += 1
                self.summary.delivered += 1
                self.log(f"[{self._clock()}] {driver.vehicle} delivered {stop['reference']} to {driver.outcome[1]}")
        else:
            _, reason, note = driver.outcome
            if self._action(driver, stop, "fail", {**position, "reason": reason, "note": note}):
                driver.failed += 1
                self.summary.failed += 1
                self.log(f"[{self._clock()}] {driver.vehicle} could not deliver {stop['reference']}: {reason}")
        driver.leg_index += 1
        driver.phase, driver.elapsed_s = "drive", 0.0

    def _action(self, driver: SimulatedDriver, stop: dict, action: str, body: dict) -> bool:
        status, answer = self.api.call(
            "POST", f"/api/driver/stops/{stop['id']}/{action}/", token=driver.token, body=body,
            idempotency_key=str(uuid.uuid4()),
        )  # fmt: skip
        if status != 200:
            # e.g. the dispatcher cancelled the order meanwhile: the driver moves on
            self.log(f"[{self._clock()}] {driver.vehicle}: {action} {stop['reference']} refused ({status}): {answer}")
            return False
        return True

    def _post_position(self, driver: SimulatedDriver) -> None:
        lat, lon, accuracy_m = driver.lat, driver.lon, 5.0
        gps = self.options.truth.gps if self.options.truth is not None else None
        if gps is not None:
            if self.random.random() < gps.gap_probability:
                return  # the phone lost its signal
            lat += self.random.gauss(0.0, gps.noise_m) / METRES_PER_DEGREE
            lon += self.random.gauss(0.0, gps.noise_m) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
            accuracy_m = max(gps.noise_m, 3.0)
        position = {
            "lat": round(lat, 7), "lon": round(lon, 7), "recorded_at": timezone.now().isoformat(),
            "accuracy_m": accuracy_m, "speed_mps": round(driver.speed_mps, 2),
        }  # fmt: skip
        if driver.heading is not None:
            position["heading"] = round(driver.heading, 1)
        status, answer = self.api.call(
            "POST", "/api/driver/positions/", token=driver.token, body={"positions": [position]}
        )
        if status == 202:
            self.summary.positions += 1
        else:
            self.log(f"[{self._clock()}] {driver.vehicle}: position refused ({status}): {answer}")

    def _clock(self) -> str:
        return f"+{int(self.sim_seconds // 3600)}:{int(self.sim_seconds % 3600 // 60):02d}"

    def run(self) -> Summary:
        started = time.monotonic()
        deadline = started + self.options.max_minutes * 60
        step = self.options.position_every_s
        for driver in self.drivers:  # the first position: where each one starts
            driver.lat, driver.lon, driver.heading = driver.legs[0].path.at(0.0)
            self._post_position(driver)
        while not all(d.done for d in self.drivers):
            if time.monotonic() >= deadline:
                self.log(f"Stopping after {self.options.max_minutes:g} minutes (--max-minutes).")
                break
            tick_started = time.monotonic()
            self.sim_seconds += step
            for driver in self.drivers:
                if driver.done:
                    continue
                self._advance(driver, step)
                self._post_position(driver)
            # Keep simulated time at `speed` x real time; when requests are slower, the simulation slows too.
            time.sleep(max(0.0, step / self.options.speed - (time.monotonic() - tick_started)))
        self.summary.finished = all(d.done for d in self.drivers)
        self.summary.requests, self.summary.errors = self.api.requests, self.api.errors
        self.summary.real_seconds = time.monotonic() - started
        return self.summary


# --- setting it up -------------------------------------------------------------------------------


def dispatched_drivers(day) -> list:
    """Drivers with a route in the newest dispatched plan of the day (per depot, or over all depots)."""

    plans = [latest_dispatched_plan(day=day, depot_id=d) for d in [*Depot.objects.values_list("id", flat=True), None]]
    plans = [p for p in plans if p is not None]
    return list(Driver.objects.filter(routes__plan__in=plans, active=True).select_related("user", "vehicle").distinct())


def driver_tokens(drivers) -> dict[int, str]:
    """Each driver's API token, created when missing (what the phone app gets at login)."""
    from rest_framework.authtoken.models import Token

    return {driver.pk: Token.objects.get_or_create(user=driver.user)[0].key for driver in drivers}


def simulated_drivers(api: Api, drivers, tokens: dict[int, str], log=print) -> list[SimulatedDriver]:
    fleet = []
    for driver in drivers:
        status, answer = api.call("GET", "/api/driver/route/", token=tokens[driver.pk])
        if status != 200:
            raise SimulationError(f"GET /api/driver/route/ as {driver.user.username} answered {status}: {answer}")
        route = answer.get("route")
        if not route:
            continue
        legs = legs_from_route(route)
        if not legs:
            log(f"{route['vehicle_name']} ({driver.name}): every stop is done already")
            continue
        vehicle = Vehicle.objects.filter(name=route["vehicle_name"]).first()
        fleet.append(
            SimulatedDriver(
                name=driver.name, token=tokens[driver.pk], vehicle=route["vehicle_name"], legs=legs,
                profile=vehicle.profile if vehicle else "car",
            )
        )  # fmt: skip
    return fleet


def request_and_dispatch_plans(api: Api, *, day, username: str, password: str, log=print, timeout_s: float = 600):
    """Plan the day for each depot with orders waiting and dispatch it, as a dispatcher would in the API."""

    status, answer = api.call("POST", "/api/auth/token/", body={"username": username, "password": password})
    if status != 200:
        raise SimulationError(f"cannot log in as {username}: {answer}")
    token = answer["token"]
    depots = Depot.objects.filter(orders__date=day, orders__status__in=[Order.Status.NEW, Order.Status.PLANNED])
    for code in sorted(set(depots.values_list("code", flat=True))):
        status, answer = api.call("POST", "/api/plans/", token=token, body={"date": str(day), "depot": code})
        if status != 202:
            raise SimulationError(f"plan for {code} refused ({status}): {answer}")
        plan_id = answer["id"]
        log(f"Planning {day} for depot {code} (plan {plan_id})…")
        waited = time.monotonic()
        while True:
            status, plan = api.call("GET", f"/api/plans/{plan_id}/", token=token)
            if status != 200:
                raise SimulationError(f"reading plan {plan_id} answered {status}: {plan}")
            if plan.get("status") in ("done", "failed"):
                break
            if time.monotonic() - waited > timeout_s:
                raise SimulationError(f"plan {plan_id} still {plan.get('status')} after {timeout_s:.0f} s")
            time.sleep(1)
        if plan["status"] == "failed":
            raise SimulationError(f"plan {plan_id} failed: {plan.get('error')}")
        status, answer = api.call("POST", f"/api/plans/{plan_id}/dispatch/", token=token)
        if status != 200:
            raise SimulationError(f"dispatching plan {plan_id} refused ({status}): {answer}")
        log(f"Dispatched plan {plan_id}: {len(plan['routes'])} routes, {plan['totals']['unassigned']} unassigned")
