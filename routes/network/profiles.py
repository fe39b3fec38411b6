"""Travel profiles: which OSM ways a vehicle may use, in which direction, how fast.

A profile turns a way's tags into a :class:`WayRule` (forward allowed, backward
allowed, free-flow speed in km/h, road class) or ``None`` when the way is not
routable for it. "Forward" is the direction of the way's node list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

# One road-class vocabulary shared by all profiles; the index is what the
# prepared arrays store (uint8) and what traffic factors are keyed by (by name).
ROAD_CLASSES: tuple[str, ...] = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
    "track",
    "cycleway",
    "path",
    "footway",
    "pedestrian",
)
ROAD_CLASS_CODE = {name: code for code, name in enumerate(ROAD_CLASSES)}

# Free-flow speeds (km/h) when a way has no usable maxspeed. Urban-ish values in
# the spirit of OSRM's car profile: a delivery van rarely holds the posted limit.
CAR_CLASS_SPEED_KMH = {
    "motorway": 100,
    "motorway_link": 50,
    "trunk": 80,
    "trunk_link": 40,
    "primary": 55,
    "primary_link": 35,
    "secondary": 45,
    "secondary_link": 30,
    "tertiary": 40,
    "tertiary_link": 30,
    "unclassified": 30,
    "residential": 25,
    "living_street": 10,
    "service": 15,
    "road": 25,
}

# Cargo bikes and bikes: about 15-18 km/h on proper surfaces, slower where they
# share space with pedestrians or ride unpaved tracks.
BIKE_CLASS_SPEED_KMH = {
    "primary": 16,
    "primary_link": 16,
    "secondary": 16,
    "secondary_link": 16,
    "tertiary": 16,
    "tertiary_link": 16,
    "unclassified": 16,
    "residential": 16,
    "living_street": 12,
    "service": 14,
    "road": 14,
    "track": 12,
    "cycleway": 18,
    "path": 12,
    "footway": 8,
    "pedestrian": 8,
}

# Share of the posted limit a van actually averages (junctions, parking, signals).
CAR_MAXSPEED_FACTOR = 0.85

# "CC:zone" maxspeed values (implicit limits). Only the zone matters for routing;
# the numbers are the common European defaults.
IMPLICIT_MAXSPEED_KMH = {
    "urban": 50,
    "rural": 90,
    "trunk": 100,
    "motorway": 120,
    "living_street": 20,
    "walk": 7,
    "zone20": 20,
    "zone30": 30,
    "zone:20": 20,
    "zone:30": 30,
    "bicycle_road": 30,
}

_NUMBER_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph|knots)?\s*$")
_DENIED = {"no", "private", "agricultural", "forestry", "emergency", "military", "discouraged"}
_BICYCLE_OK_ON_FOOTWAYS = {"yes", "designated", "permissive", "official"}


def parse_maxspeed(value: str | None) -> float | None:
    """Parse an OSM maxspeed value to km/h; None when absent or not a speed.

    Handles "50", "30 mph", "CH:urban" / "DE:zone30" style implicit limits, "walk",
    and "50;30" (first value). "none", "signals" and "variable" give None so the
    caller falls back to the road-class default.
    """
    if not value:
        return None
    value = value.split(";")[0].strip().lower()
    match = _NUMBER_RE.match(value)
    if match:
        speed = float(match.group(1))
        unit = match.group(2)
        if unit == "mph":
            speed *= 1.609344
        elif unit == "knots":
            speed *= 1.852
        return speed if speed > 0 else None
    if value == "walk":
        return IMPLICIT_MAXSPEED_KMH["walk"]
    if ":" in value:
        zone = value.split(":", 1)[1]
        if zone in IMPLICIT_MAXSPEED_KMH:
            return float(IMPLICIT_MAXSPEED_KMH[zone])
        digits = re.sub(r"\D", "", zone)
        if digits:
            return float(digits)
    return None


class WayRule(NamedTuple):
    forward: bool
    backward: bool
    speed_kmh: float
    road_class: int


def _most_specific(tags: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = tags.get(key)
        if value is not None:
            return value
    return None


def _oneway(tags: Mapping[str, str], key: str = "oneway") -> int:
    """+1 forward only, -1 backward only, 0 both ways, None if the tag is absent."""
    value = tags.get(key)
    if value in ("yes", "true", "1"):
        return 1
    if value in ("-1", "reverse"):
        return -1
    if value in ("no", "false", "0"):
        return 0
    return None


def _implied_oneway(highway: str, tags: Mapping[str, str]) -> int:
    explicit = _oneway(tags)
    if explicit is not None:
        return explicit
    if highway == "motorway" or tags.get("junction") in ("roundabout", "circular"):
        return 1
    return 0


def car_rule(tags: Mapping[str, str]) -> WayRule | None:
    """Vans and cars. access=delivery/destination stay open: that is our job."""
    highway = tags.get("highway")
    if highway not in CAR_CLASS_SPEED_KMH or tags.get("area") == "yes":
        return None
    access = _most_specific(tags, ("goods", "motorcar", "motor_vehicle", "vehicle", "access"))
    if access in _DENIED or access == "psv":
        return None
    direction = _implied_oneway(highway, tags)
    maxspeed = parse_maxspeed(tags.get("maxspeed"))
    default = CAR_CLASS_SPEED_KMH[highway]
    speed = maxspeed * CAR_MAXSPEED_FACTOR if maxspeed else default
    # A huge posted limit on a service road should not make it a shortcut.
    speed = max(5.0, min(speed, default * 1.5))
    return WayRule(direction >= 0, direction <= 0, speed, ROAD_CLASS_CODE[highway])


def bike_rule(tags: Mapping[str, str]) -> WayRule | None:
    """Cargo bikes and bikes: no motorways or trunks, footways only where signed."""
    highway = tags.get("highway")
    if highway not in BIKE_CLASS_SPEED_KMH:
        return None
    access = _most_specific(tags, ("bicycle", "vehicle", "access"))
    bicycle = tags.get("bicycle")
    if highway in ("footway", "pedestrian"):
        if bicycle not in _BICYCLE_OK_ON_FOOTWAYS:
            return None
    elif access in _DENIED or bicycle == "use_sidepath":
        return None
    direction = _implied_oneway(highway, tags)
    bike_oneway = _oneway(tags, "oneway:bicycle")
    contraflow = any(key.startswith("cycleway") and str(value).startswith("opposite") for key, value in tags.items())
    if bike_oneway is not None:
        direction = bike_oneway
    elif contraflow:
        direction = 0
    speed = float(BIKE_CLASS_SPEED_KMH[highway])
    maxspeed = parse_maxspeed(tags.get("maxspeed"))
    if maxspeed:
        speed = min(speed, maxspeed)
    return WayRule(direction >= 0, direction <= 0, speed, ROAD_CLASS_CODE[highway])


@dataclass(frozen=True)
class Profile:
    name: str
    rule: Callable[[Mapping[str, str]], WayRule | None]
    # Speed for the off-road gap between a point and its snapped road point: the
    # courier walks it (curb to door, yard, car park).
    access_speed_kmh: float = 5.0


PROFILES: dict[str, Profile] = {
    "car": Profile("car", car_rule),
    "bike": Profile("bike", bike_rule),
}
