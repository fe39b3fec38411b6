"""A simulated world's hidden truth: how the roads and the doorsteps of a region really behave.

The truth file (format 1: docs/simulation.md, the shared SIMULATION.md with this checkout's notes)
says how much faster or slower than the planner's OSM defaults each road class drives at each hour, which areas
crawl at which hours and days, how long a doorstep takes per zone, and how a phone's GPS reports.
The fleet simulators (`simulate_history`, `simulate_fleet`) drive under it; the planner never
reads it. Every key is checked: an unknown key or a bad value is an error that names the key (as a
path, e.g. ``speed.areas[0].hours``) and the value, so that a typo never passes silently.

Where a file says nothing, the world behaves as the planner assumes: factor 1 for a road class,
an area or a day, no leg noise, the app's default service time (DEFAULT_SERVICE_MINUTES) without
spread, no access time, a position every 5 s without noise or gaps.

All random draws take a `random.Random` the caller seeds (`--seed`), so a run repeats exactly.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings

from routes.network import ROAD_CLASSES
from routes.network.route_pieces import RoadPiece

FORMAT = 1
DEFAULT_TRUTH_PATH = Path(settings.BASE_DIR) / "data" / "truth" / "liechtenstein.json"
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# OSM highway=* values a truth may name: the network's classes and the rarer ones it folds away.
KNOWN_ROAD_CLASSES = frozenset(ROAD_CLASSES) | {"steps", "bridleway", "busway", "bus_guideway", "corridor", "raceway"}
MAX_FACTOR = 10.0  # a speed ten times the default is a typo, not a road
METRES_PER_DEGREE = 111_320.0
_HOURS = re.compile(r"^(\d{2})-(\d{2})$")


class TruthError(ValueError):
    """A truth file that cannot be used: `key` is where (a path into the JSON), `value` what was there."""

    def __init__(self, key: str, value, problem: str):
        self.key, self.value, self.problem = key, value, problem
        super().__init__(f"{key}: {problem} (got {json.dumps(value, default=str)[:200]})")


# --- the parts of a truth ----------------------------------------------------------------------


@dataclass(frozen=True)
class HourRange:
    """Local hours [start, end), end exclusive; start > end runs past midnight ("22-06")."""

    start: int
    end: int

    def contains(self, hour: int) -> bool:
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end


@dataclass(frozen=True)
class ClassFactor:
    default: float
    hours: tuple[tuple[HourRange, float], ...] = ()

    def at(self, hour: int) -> float:
        for hours, factor in self.hours:
            if hours.contains(hour):
                return factor
        return self.default


@dataclass(frozen=True)
class Area:
    name: str
    ring: tuple[tuple[float, float], ...]  # (lon, lat), closed
    factor: float
    hours: HourRange | None = None
    days: frozenset[int] | None = None  # weekdays, 0 = Monday
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # min lon, min lat, max lon, max lat

    def applies(self, hour: int, weekday: int) -> bool:
        return (self.hours is None or self.hours.contains(hour)) and (self.days is None or weekday in self.days)

    def contains(self, lat: float, lon: float) -> bool:
        min_lon, min_lat, max_lon, max_lat = self.bbox
        if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
            return False
        inside = False
        ring = self.ring
        for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside


@dataclass(frozen=True)
class Doorstep:
    """A log-normal duration: `median_s` seconds, spread `sigma` (of the logarithm)."""

    median_s: float
    sigma: float

    def draw(self, rng: random.Random) -> float:
        if self.median_s <= 0:
            return 0.0
        return self.median_s * math.exp(self.sigma * rng.gauss(0.0, 1.0)) if self.sigma else self.median_s

    @property
    def mean_s(self) -> float:
        """The expected duration: a log-normal's mean lies exp(sigma^2 / 2) above its median."""
        return max(self.median_s, 0.0) * math.exp(self.sigma**2 / 2)


@dataclass(frozen=True)
class Gps:
    interval_s: float = 5.0
    noise_m: float = 0.0
    gap_probability: float = 0.0


@dataclass(frozen=True)
class Position:
    """A position as the phone sends it."""

    recorded_at: datetime
    lat: float
    lon: float
    speed_mps: float
    accuracy_m: float


@dataclass(frozen=True)
class DrivenLeg:
    """A leg driven under the truth: seconds per road piece (noise included), and their sum."""

    pieces: tuple[RoadPiece, ...]
    piece_s: tuple[float, ...]
    departure: datetime

    @property
    def duration_s(self) -> float:
        return sum(self.piece_s)

    @property
    def arrival(self) -> datetime:
        return self.departure + timedelta(seconds=self.duration_s)


@dataclass(frozen=True)
class Truth:
    name: str
    zone: ZoneInfo
    classes: Mapping[str, ClassFactor] = field(default_factory=dict)
    areas: tuple[Area, ...] = ()
    days: Mapping[int, float] = field(default_factory=dict)
    leg_noise_sigma: float = 0.0
    service: Doorstep = Doorstep(300.0, 0.0)
    service_per_item_s: float = 0.0
    service_zones: Mapping[str, Doorstep] = field(default_factory=dict)
    access: Doorstep = Doorstep(0.0, 0.0)
    access_zones: Mapping[str, Doorstep] = field(default_factory=dict)
    gps: Gps = Gps()

    @property
    def zone_codes(self) -> set[str]:
        return set(self.service_zones) | set(self.access_zones)

    # -- speeds ---------------------------------------------------------------------------------
    def speed_factor(self, road_class: str, lat: float, lon: float, moment: datetime) -> float:
        """The true speed ÷ the planner's default speed of a stretch at a moment: class × area × day.

        Hours and days are local (the app's TIME_ZONE); the area factor is the smallest of the
        areas that contain the point and apply then (1 when none does)."""
        local = moment.astimezone(self.zone)
        hour, weekday = local.hour, local.weekday()
        class_factor = self.classes[road_class].at(hour) if road_class in self.classes else 1.0
        area_factor = min(
            (a.factor for a in self.areas if a.applies(hour, weekday) and a.contains(lat, lon)), default=1.0
        )
        return class_factor * area_factor * self.days.get(weekday, 1.0)

    def drive(self, pieces: Sequence[RoadPiece], departure: datetime, rng: random.Random | None) -> DrivenLeg:
        """A leg's pieces driven from `departure`: each at its true speed of the moment the van
        enters it, the whole leg then times a log-normal noise (median 1). Without `rng`, the
        expected time (no noise): the oracle's prediction. Pieces off the road (the walk to the
        door) take no driving time: the truth's access time stands for them."""
        clock = departure
        seconds = []
        for piece in pieces:
            if not piece.on_road or piece.default_s <= 0:
                seconds.append(0.0)
                continue
            factor = self.speed_factor(piece.road_class, piece.mid_lat, piece.mid_lon, clock)
            seconds.append(piece.default_s / factor)
            clock += timedelta(seconds=seconds[-1])
        noise = 1.0
        if rng is not None and self.leg_noise_sigma:
            noise = math.exp(self.leg_noise_sigma * rng.gauss(0.0, 1.0))
        return DrivenLeg(pieces=tuple(pieces), piece_s=tuple(s * noise for s in seconds), departure=departure)

    # -- doorsteps ------------------------------------------------------------------------------
    def service_s(self, *, zone_code: str | None, items: int, rng: random.Random | None) -> float:
        """Arrival to completion: drawn (or its median without `rng`) plus per_item_s × items."""
        doorstep = self.service_zones.get(zone_code or "", self.service)
        base = doorstep.draw(rng) if rng is not None else doorstep.median_s
        return base + self.service_per_item_s * max(0, items)

    def access_s(self, *, zone_code: str | None, rng: random.Random | None) -> float:
        """Parking and walking before the arrival is recorded: drawn (or its median without `rng`)."""
        doorstep = self.access_zones.get(zone_code or "", self.access)
        return doorstep.draw(rng) if rng is not None else doorstep.median_s

    # -- expectations: the oracle's predictions ---------------------------------------------------
    # An ETA sums the legs and doorsteps before it; the sum of log-normal times is centred on the sum
    # of their means, not of their medians, so the physical limit of a prediction uses the means.
    @property
    def leg_noise_mean(self) -> float:
        """The mean of a leg's noise factor (its median is 1)."""
        return math.exp(self.leg_noise_sigma**2 / 2)

    def expected_service_s(self, *, zone_code: str | None, items: int) -> float:
        doorstep = self.service_zones.get(zone_code or "", self.service)
        return doorstep.mean_s + self.service_per_item_s * max(0, items)

    def expected_access_s(self, *, zone_code: str | None) -> float:
        return self.access_zones.get(zone_code or "", self.access).mean_s

    # -- the phone --------------------------------------------------------------------------------
    def positions(self, leg: DrivenLeg, rng: random.Random) -> list[Position]:
        """What the phone reports while driving a leg: a position every interval_s seconds of
        driving (from the departure), displaced by a 2-D Gaussian of noise_m metres, and each one
        lost with gap_probability."""
        gps = self.gps
        total = leg.duration_s
        positions: list[Position] = []
        if total <= 0:
            return positions
        ends, elapsed = [], 0.0
        for seconds in leg.piece_s:
            elapsed += seconds
            ends.append(elapsed)
        index, t = 0, 0.0
        while t <= total:
            while index < len(ends) - 1 and ends[index] < t:
                index += 1
            piece, seconds = leg.pieces[index], leg.piece_s[index]
            into = 1.0 - (ends[index] - t) / seconds if seconds > 0 else 1.0
            lat = piece.start_lat + (piece.end_lat - piece.start_lat) * into
            lon = piece.start_lon + (piece.end_lon - piece.start_lon) * into
            north, east = rng.gauss(0.0, gps.noise_m), rng.gauss(0.0, gps.noise_m)
            lost = rng.random() < gps.gap_probability
            if not lost:
                positions.append(
                    Position(
                        recorded_at=leg.departure + timedelta(seconds=t),
                        lat=lat + north / METRES_PER_DEGREE,
                        lon=lon + east / (METRES_PER_DEGREE * math.cos(math.radians(lat))),
                        speed_mps=piece.length_m / seconds if seconds > 0 else 0.0,
                        accuracy_m=max(gps.noise_m, 3.0),
                    )
                )
            t += gps.interval_s
        return positions


# --- reading a truth file --------------------------------------------------------------------------


def load_truth(path: str | Path, *, zone: ZoneInfo | None = None) -> Truth:
    """Read and check a truth file; TruthError names what is wrong (the file itself when it is no JSON)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TruthError(str(path), str(path), f"cannot read the truth file ({exc.strerror})") from None
    except ValueError as exc:
        raise TruthError(str(path), str(path), f"not JSON ({exc})") from None
    return parse_truth(data, zone=zone)


def parse_truth(data, *, zone: ZoneInfo | None = None) -> Truth:
    """A truth from the parsed JSON of a file in format 1 (SIMULATION.md)."""
    top = _object(data, "(truth)", allowed={"format", "name", "speed", "service", "access", "gps"})
    if "format" not in top:
        raise TruthError("format", None, "required: the truth file's format (1)")
    if top["format"] != FORMAT or isinstance(top["format"], bool):
        raise TruthError("format", top["format"], f"unknown format; this simulator reads format {FORMAT}")
    name = top.get("name", "unnamed truth")
    if not isinstance(name, str) or not name.strip():
        raise TruthError("name", name, "must be a non-empty text")
    speed = _object(top.get("speed", {}), "speed", allowed={"classes", "areas", "days", "leg_noise_sigma"})
    service = _object(top.get("service", {}), "service", allowed={"default", "per_item_s", "zones"})
    access = _object(top.get("access", {}), "access", allowed={"default", "zones"})
    gps = _object(top.get("gps", {}), "gps", allowed={"interval_s", "noise_m", "gap_probability"})
    default_service = Doorstep(settings.DEFAULT_SERVICE_MINUTES * 60.0, 0.0)
    return Truth(
        name=name.strip(),
        zone=zone or ZoneInfo(settings.TIME_ZONE),
        classes=_classes(speed.get("classes", {})),
        areas=tuple(_area(a, f"speed.areas[{i}]") for i, a in enumerate(_list(speed.get("areas", []), "speed.areas"))),
        days=_days(speed.get("days", {})),
        leg_noise_sigma=_number(speed.get("leg_noise_sigma", 0.0), "speed.leg_noise_sigma", low=0, high=2),
        service=_doorstep(service["default"], "service.default") if "default" in service else default_service,
        service_per_item_s=_number(service.get("per_item_s", 0.0), "service.per_item_s", low=0, high=3600),
        service_zones=_zones(service.get("zones", {}), "service.zones"),
        access=_doorstep(access["default"], "access.default") if "default" in access else Doorstep(0.0, 0.0),
        access_zones=_zones(access.get("zones", {}), "access.zones"),
        gps=Gps(
            interval_s=_number(gps.get("interval_s", 5.0), "gps.interval_s", low=0, high=3600, low_open=True),
            noise_m=_number(gps.get("noise_m", 0.0), "gps.noise_m", low=0, high=1000),
            gap_probability=_number(gps.get("gap_probability", 0.0), "gps.gap_probability", low=0, high=1,
                                    high_open=True),
        ),
    )  # fmt: skip


def _object(value, key: str, *, allowed: set[str], required: Iterable[str] = ()) -> dict:
    if not isinstance(value, dict):
        raise TruthError(key, value, "must be an object")
    for name in value:
        if name not in allowed:
            where = name if key == "(truth)" else f"{key}.{name}"
            raise TruthError(where, value[name], f"unknown key; expected one of {', '.join(sorted(allowed))}")
    for name in required:
        if name not in value:
            raise TruthError(f"{key}.{name}", None, "required")
    return value


def _list(value, key: str) -> list:
    if not isinstance(value, list):
        raise TruthError(key, value, "must be a list")
    return value


def _number(value, key: str, *, low: float, high: float, low_open=False, high_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TruthError(key, value, "must be a number")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        brackets = ("(" if low_open else "[") + f"{low:g}, {high:g}" + (")" if high_open else "]")
        raise TruthError(key, value, f"must lie in {brackets}")
    return float(value)


def _factor(value, key: str) -> float:
    return _number(value, key, low=0, high=MAX_FACTOR, low_open=True)


def parse_hours(value, key: str) -> HourRange:
    """ "HH-HH", local hours, end exclusive ("07-09" is 07:00 to 08:59); "22-06" runs past midnight."""
    match = _HOURS.match(value) if isinstance(value, str) else None
    if match is None:
        raise TruthError(key, value, 'hours must read "HH-HH", e.g. "07-09" (07:00 to 08:59)')
    start, end = int(match.group(1)), int(match.group(2))
    if start > 23 or not 1 <= end <= 24 or start == end:
        raise TruthError(key, value, "hours run from 00 to 24, and the end must differ from the start")
    return HourRange(start, end)


def parse_days(value, key: str) -> frozenset[int]:
    """ "mon-fri", "sat-sun", "fri", or several joined with commas ("mon,wed-thu")."""
    if not isinstance(value, str) or not value.strip():
        raise TruthError(key, value, 'days must read like "mon-fri", "sat-sun" or "fri"')
    days: set[int] = set()
    for part in value.lower().split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise TruthError(key, value, f"day names are {', '.join(DAY_NAMES)}, ranges with '-'")
        start, end = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update((start + offset) % 7 for offset in range((end - start) % 7 + 1))
    return frozenset(days)


def _classes(value) -> dict[str, ClassFactor]:
    classes = {}
    for name, spec in _object(value, "speed.classes", allowed=set(value) if isinstance(value, dict) else set()).items():
        key = f"speed.classes.{name}"
        if name not in KNOWN_ROAD_CLASSES:
            raise TruthError(key, spec, f"unknown road class {name!r}; expected an OSM highway value such as "
                                        "motorway, primary, residential or service")  # fmt: skip
        if isinstance(spec, dict):
            spec = _object(spec, key, allowed={"default", "hours"})
            hours = _object(spec.get("hours", {}), f"{key}.hours", allowed=set(spec.get("hours") or {}))
            ranges = tuple(
                (parse_hours(h, f"{key}.hours.{h}"), _factor(f, f"{key}.hours.{h}")) for h, f in hours.items()
            )
            _no_overlap([r for r, _ in ranges], [f"{key}.hours.{h}" for h in hours], list(hours))
            classes[name] = ClassFactor(default=_factor(spec.get("default", 1.0), f"{key}.default"), hours=ranges)
        else:
            classes[name] = ClassFactor(default=_factor(spec, key))
    return classes


def _no_overlap(ranges: list[HourRange], keys: list[str], values: list[str]) -> None:
    seen: dict[int, int] = {}
    for index, hours in enumerate(ranges):
        for hour in range(24):
            if hours.contains(hour):
                if hour in seen:
                    raise TruthError(keys[index], values[index], f"overlaps {values[seen[hour]]} at {hour:02d} h")
                seen[hour] = index


def _days(value) -> dict[int, float]:
    factors: dict[int, float] = {}
    origin: dict[int, str] = {}
    items = _object(value, "speed.days", allowed=set(value) if isinstance(value, dict) else set()).items()
    for spec, factor in items:
        key = f"speed.days.{spec}"
        weekdays = parse_days(spec, key)
        number = _factor(factor, key)
        for weekday in weekdays:
            if weekday in factors:
                raise TruthError(key, spec, f"{DAY_NAMES[weekday]} is named twice (also in {origin[weekday]!r})")
            factors[weekday], origin[weekday] = number, spec
    return factors


def _area(value, key: str) -> Area:
    spec = _object(value, key, allowed={"name", "polygon", "factor", "hours", "days"}, required=("polygon", "factor"))
    name = spec.get("name", key)
    if not isinstance(name, str):
        raise TruthError(f"{key}.name", name, "must be a text")
    ring = _polygon(spec["polygon"], f"{key}.polygon")
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return Area(
        name=name,
        ring=ring,
        factor=_factor(spec["factor"], f"{key}.factor"),
        hours=parse_hours(spec["hours"], f"{key}.hours") if "hours" in spec else None,
        days=parse_days(spec["days"], f"{key}.days") if "days" in spec else None,
        bbox=(min(lons), min(lats), max(lons), max(lats)),
    )


def _polygon(value, key: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or len(value) < 4:
        raise TruthError(key, value, "a polygon is a closed ring of at least 4 [lon, lat] positions")
    ring = []
    for index, position in enumerate(value):
        where = f"{key}[{index}]"
        if not (isinstance(position, list) and len(position) == 2):
            raise TruthError(where, position, "a position is [lon, lat]")
        lon = _number(position[0], f"{where}[0]", low=-180, high=180)
        lat = _number(position[1], f"{where}[1]", low=-90, high=90)
        ring.append((lon, lat))
    if ring[0] != ring[-1]:
        raise TruthError(key, value, "the ring must be closed: its last position repeats the first")
    if len(set(ring)) < 3:
        raise TruthError(key, value, "a polygon needs at least 3 different positions")
    area2 = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False))
    if area2 == 0:
        raise TruthError(key, value, "the polygon encloses no area")
    return tuple(ring)


def _doorstep(value, key: str) -> Doorstep:
    spec = _object(value, key, allowed={"median_s", "sigma"}, required=("median_s",))
    return Doorstep(
        median_s=_number(spec["median_s"], f"{key}.median_s", low=0, high=4 * 3600),
        sigma=_number(spec.get("sigma", 0.0), f"{key}.sigma", low=0, high=3),
    )


def _zones(value, key: str) -> dict[str, Doorstep]:
    zones = _object(value, key, allowed=set(value) if isinstance(value, dict) else set())
    return {code: _doorstep(spec, f"{key}.{code}") for code, spec in zones.items()}


def check_zone_codes(truth: Truth, known: Iterable[str]) -> None:
    """Zones are the app's zone codes: one the app does not know is a typo (TruthError)."""
    known = set(known)
    for section, zones in (("service", truth.service_zones), ("access", truth.access_zones)):
        for code in zones:
            if code not in known:
                raise TruthError(
                    f"{section}.zones.{code}", code, f"no such zone; the zones are {', '.join(sorted(known))}"
                )
