"""Travel profiles: which OSM ways a vehicle may use, in which direction, how fast.

A profile turns a way's tags into a :class:`WayRule` (forward allowed, backward
allowed, free-flow speed in km/h, road class, local-access-only) or ``None`` when
the way is not routable for it. "Forward" is the direction of the way's node list.

A profile also says what a junction costs (:class:`TurnCosts`), which barrier
nodes block or slow it, and which turn-restriction relations bind it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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

# Share of the posted limit a van actually averages between junctions (OSRM's car
# profile uses the same 0.8; junction time itself is charged by TurnCosts). 0.85
# made Heidelberg, where most streets carry a maxspeed, 3.3 % faster than OSRM.
CAR_MAXSPEED_FACTOR = 0.8

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
_DENIED = {"no", "agricultural", "forestry", "emergency", "military", "discouraged"}
# Open only to reach or leave a stop on the road itself, never as a shortcut
# (see profile_state: entering such a road from any other costs RESTRICTED_PENALTY_S).
LOCAL_ACCESS = {"destination", "customers", "private", "permit"}
# A delivery van (and a courier's bike) is exactly what access=delivery admits.
DELIVERY_ACCESS = {"delivery"}

# Speed caps (km/h) by road surface: a van does not hold 40 on setts or gravel.
CAR_SURFACE_CAP_KMH = {
    "paving_stones": 60,
    "cobblestone:flattened": 45,
    "unhewn_cobblestone": 25,
    "sett": 40,
    "cobblestone": 30,
    "compacted": 45,
    "fine_gravel": 35,
    "unpaved": 30,
    "gravel": 30,
    "pebblestone": 25,
    "ground": 20,
    "dirt": 20,
    "earth": 20,
    "grass": 10,
    "grass_paver": 10,
    "mud": 10,
    "sand": 10,
}
CAR_TRACKTYPE_CAP_KMH = {"grade1": 60, "grade2": 40, "grade3": 30, "grade4": 20, "grade5": 15}
CAR_SMOOTHNESS_CAP_KMH = {"bad": 40, "very_bad": 20, "horrible": 10, "very_horrible": 5}
BIKE_SURFACE_CAP_KMH = {
    "sett": 13,
    "cobblestone": 10,
    "unhewn_cobblestone": 8,
    "compacted": 15,
    "fine_gravel": 14,
    "unpaved": 12,
    "gravel": 12,
    "pebblestone": 10,
    "ground": 10,
    "dirt": 10,
    "earth": 10,
    "grass": 6,
    "mud": 6,
    "sand": 6,
}
BIKE_TRACKTYPE_CAP_KMH = {"grade2": 14, "grade3": 12, "grade4": 10, "grade5": 8}
BIKE_SMOOTHNESS_CAP_KMH = {"bad": 12, "very_bad": 9, "horrible": 6, "very_horrible": 4}
# smoothness=impassable: nobody drives it.
_IMPASSABLE = {"impassable"}
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
    # access=destination/private/customers/permit: only to reach or leave a stop on it
    local_only: bool = False


def _surface_cap(tags: Mapping[str, str], surface, tracktype, smoothness) -> float:
    caps = [
        surface.get(tags.get("surface", ""), math.inf),
        tracktype.get(tags.get("tracktype", ""), math.inf),
        smoothness.get(tags.get("smoothness", ""), math.inf),
    ]
    return min(caps)


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
    """Vans and cars. access=delivery is open (that is our job); destination,
    private, customers and permit only to reach a stop on the road."""
    highway = tags.get("highway")
    if highway not in CAR_CLASS_SPEED_KMH or tags.get("area") == "yes":
        return None
    if tags.get("smoothness") in _IMPASSABLE:
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
    speed = min(speed, _surface_cap(tags, CAR_SURFACE_CAP_KMH, CAR_TRACKTYPE_CAP_KMH, CAR_SMOOTHNESS_CAP_KMH))
    return WayRule(direction >= 0, direction <= 0, speed, ROAD_CLASS_CODE[highway], access in LOCAL_ACCESS)


def bike_rule(tags: Mapping[str, str]) -> WayRule | None:
    """Cargo bikes and bikes: no motorways or trunks, footways only where signed."""
    highway = tags.get("highway")
    if highway not in BIKE_CLASS_SPEED_KMH or tags.get("smoothness") in _IMPASSABLE:
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
    speed = min(speed, _surface_cap(tags, BIKE_SURFACE_CAP_KMH, BIKE_TRACKTYPE_CAP_KMH, BIKE_SMOOTHNESS_CAP_KMH))
    speed = max(speed, 3.0)
    local_only = access in LOCAL_ACCESS and highway not in ("footway", "pedestrian")
    return WayRule(direction >= 0, direction <= 0, speed, ROAD_CLASS_CODE[highway], local_only)


# -- junctions: turns, signs, barriers, restrictions ----------------------------


@dataclass(frozen=True)
class TurnCosts:
    """Seconds a junction costs, editable per profile.

    A turn costs up to ``turn_max_s``, growing with its angle along a logistic
    curve (straight on ~0, a right angle about half, a hairpin nearly all);
    turning across oncoming traffic (left where traffic keeps right) adds
    ``across_traffic_s``. Turn costs only apply where more than two road
    sections meet: following a bending road costs nothing. Turning back onto
    the section one came along costs ``u_turn_s`` on top, anywhere (a dead end,
    a junction, or leaving a stop the way one arrived). Signals, stop and
    give-way signs and gates cost every passage through their node.
    Defaults for the car follow what OSRM's car profile charges.
    """

    u_turn_s: float = 20.0
    turn_max_s: float = 7.5
    across_traffic_s: float = 2.0
    traffic_signals_s: float = 2.0
    stop_s: float = 2.0
    give_way_s: float = 1.0
    gate_s: float = 60.0
    right_hand_traffic: bool = True


CAR_TURN_COSTS = TurnCosts()
BIKE_TURN_COSTS = TurnCosts(
    u_turn_s=5.0,
    turn_max_s=3.0,
    across_traffic_s=1.0,
    traffic_signals_s=2.0,
    stop_s=1.0,
    give_way_s=0.5,
    gate_s=10.0,
)

BLOCKED = math.inf  # a barrier cost meaning "cannot pass"
_GATES = {"gate", "lift_gate", "swing_gate", "sliding_gate", "hampshire_gate", "wicket_gate"}
_CAR_PASSABLE_BARRIERS = _GATES | {
    "no",
    "entrance",
    "border_control",
    "toll_booth",
    "cattle_grid",
    "height_restrictor",
    "arch",
    "sally_port",
    "kerb",
}
_OPEN_NODE_ACCESS = {"yes", "designated", "permissive", "official"} | DELIVERY_ACCESS | LOCAL_ACCESS - {"private"}
_BIKE_BLOCKING_BARRIERS = {
    "stile",
    "full-height_turnstile",
    "fence",
    "wall",
    "ditch",
    "log",
    "debris",
    "jersey_barrier",
}
_BIKE_SLOW_BARRIERS_S = {"cycle_barrier": 5.0, "kissing_gate": 15.0, "turnstile": 15.0, "motorcycle_barrier": 5.0}


def car_barrier(tags: Mapping[str, str], costs: TurnCosts = CAR_TURN_COSTS) -> float:
    """Seconds a van loses passing a barrier node (0 = free), or BLOCKED.

    Bollards, cycle barriers, blocks and the like stop a van unless the node
    says motor vehicles may pass; gates cost ``gate_s`` unless their access
    tags shut vans out.
    """
    barrier = tags.get("barrier")
    access = _most_specific(tags, ("goods", "motorcar", "motor_vehicle", "vehicle", "access"))
    if access in _DENIED or access in ("private", "psv"):
        return BLOCKED
    gate = costs.gate_s if barrier in _GATES else 0.0
    if access in _OPEN_NODE_ACCESS or barrier in _CAR_PASSABLE_BARRIERS or not barrier:
        return gate
    return BLOCKED


def bike_barrier(tags: Mapping[str, str], costs: TurnCosts = BIKE_TURN_COSTS) -> float:
    """Seconds a bike loses at a barrier node (0 = free), or BLOCKED."""
    barrier = tags.get("barrier")
    access = _most_specific(tags, ("bicycle", "vehicle", "access"))
    if access in _DENIED or access == "private":
        return BLOCKED
    if barrier in _GATES:
        return costs.gate_s
    if access in _OPEN_NODE_ACCESS:
        return 0.0
    if barrier in _BIKE_BLOCKING_BARRIERS:
        return BLOCKED
    return _BIKE_SLOW_BARRIERS_S.get(barrier, 0.0)


@dataclass(frozen=True)
class RestrictionScope:
    """Which turn-restriction relations bind a profile.

    ``keys``: tags naming the restriction, most specific first (the first one
    present wins). ``exempt``: values of ``except=`` that free this vehicle.
    ``restriction:conditional`` (time- or weight-dependent) is ignored: a
    restriction that applies only at some hours does not forbid the turn.
    """

    keys: tuple[str, ...]
    exempt: frozenset[str]

    def kind(self, tags: Mapping[str, str]) -> str | None:
        """'no_left_turn', 'only_straight_on'... or None when it does not bind."""
        if tags.get("type") not in ("restriction", *(f"restriction:{k.split(':')[1]}" for k in self.keys if ":" in k)):
            return None
        exempt = {value.strip() for value in tags.get("except", "").split(";")}
        if exempt & self.exempt:
            return None
        value = _most_specific(tags, self.keys)
        if not value or not value.startswith(("no_", "only_")):
            return None
        return value.split(";")[0].strip()


CAR_RESTRICTIONS = RestrictionScope(
    keys=(
        "restriction:motorcar",
        "restriction:goods",
        "restriction:motor_vehicle",
        "restriction:vehicle",
        "restriction",
    ),
    exempt=frozenset({"motorcar", "motor_vehicle", "goods", "delivery", "vehicle"}),
)
BIKE_RESTRICTIONS = RestrictionScope(
    keys=("restriction:bicycle", "restriction:vehicle", "restriction"),
    exempt=frozenset({"bicycle", "vehicle"}),
)


@dataclass(frozen=True)
class Profile:
    name: str
    rule: Callable[[Mapping[str, str]], WayRule | None]
    # Speed for the off-road gap between a point and its snapped road point: the
    # courier walks it (curb to door, yard, car park).
    access_speed_kmh: float = 5.0
    turn_costs: TurnCosts = field(default_factory=TurnCosts)
    barrier: Callable[[Mapping[str, str]], float] = car_barrier
    restrictions: RestrictionScope = CAR_RESTRICTIONS


PROFILES: dict[str, Profile] = {
    "car": Profile("car", car_rule, turn_costs=CAR_TURN_COSTS, barrier=car_barrier, restrictions=CAR_RESTRICTIONS),
    "bike": Profile(
        "bike", bike_rule, turn_costs=BIKE_TURN_COSTS, barrier=bike_barrier, restrictions=BIKE_RESTRICTIONS
    ),
}
