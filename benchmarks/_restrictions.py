"""The judge of route_realism.py: does a route, as a sequence of OSM node ids, take a forbidden turn
or pass a barrier a car may not pass?

It reads the extract itself (osmium, the project's venv), independently of the engine under test, so
it judges the app and OSRM alike. The rules are those of OSRM's car profile (car.lua of the wheel
scripts/install_osrm_bench.sh installs), the reference the app is compared with:

- turn restrictions: relations ``type=restriction`` with ``restriction`` or a car-specific
  ``restriction:motorcar|motor_vehicle|vehicle`` (that one wins); ``no_*`` forbid the turn from the
  ``from`` way onto the ``to`` way, ``only_*`` forbid every other way out; ``via`` a node or one or more
  ways; a relation whose ``except`` names a car class (motorcar, motor_vehicle, vehicle) does not apply
  to cars. ``except=delivery`` is counted as applying (OSRM's car is no delivery van) and reported.
- barriers: a node whose access (motorcar > motor_vehicle > vehicle > access) is ``no`` or another
  value car.lua blacklists outright blocks; with no access tag, a ``barrier`` outside car.lua's
  whitelist blocks (bollard, cycle_barrier, block, ...; a rising bollard, a lowered kerb do not);
  ``gate`` and ``lift_gate`` pass (OSRM charges them 60 s) and are counted apart.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CAR_RESTRICTION_KEYS = ("restriction:motorcar", "restriction:motor_vehicle", "restriction:vehicle", "restriction")
CAR_EXCEPTIONS = {"motorcar", "motor_vehicle", "vehicle"}
TURN_KINDS = {
    "no_left_turn", "no_right_turn", "no_straight_on", "no_u_turn", "no_entry", "no_exit",
    "only_left_turn", "only_right_turn", "only_straight_on", "only_u_turn",
}  # fmt: skip

# car.lua (osrm-bindings 26.10): what a node's access or barrier tag means for a car
ACCESS_HIERARCHY = ("motorcar", "motor_vehicle", "vehicle", "access")
ACCESS_WHITELIST = {"yes", "motorcar", "motor_vehicle", "vehicle", "permissive", "designated", "hov"}
ACCESS_RESTRICTED = {"private", "delivery", "destination", "customers", "permit", "residents", "unknown"}
ACCESS_BLACKLIST = {
    "no", "agricultural", "forestry", "emergency", "psv", "taxi", "share_taxi", "minibus", "bus", "foot",
    "emergency_vehicle", "restricted", "military", "official",
} | ACCESS_RESTRICTED  # fmt: skip
BARRIER_WHITELIST = {"cattle_grid", "border_control", "toll_booth", "sally_port", "no", "entrance",
                     "height_restrictor", "arch"}  # fmt: skip
GATES = {"gate", "lift_gate"}  # passable, 60 s in car.lua


@dataclass(frozen=True)
class Restriction:
    relation_id: int
    kind: str  # e.g. "no_left_turn"
    from_ways: frozenset[int]
    to_ways: frozenset[int]
    via_node: int | None = None
    via_ways: tuple[int, ...] = ()
    exempts_delivery: bool = False

    @property
    def forbids_listed_turn(self) -> bool:
        """no_*: the listed turn is the forbidden one; only_*: every other is."""
        return self.kind.startswith("no_")


def restriction_for_car(relation_id: int, tags: dict[str, str], members: Iterable[tuple[str, int, str]]):
    """A Restriction from a relation's tags and (type 'n'|'w', ref, role) members, or None when it
    is no turn restriction for a car (another vehicle's, an exception for cars, incomplete)."""
    if tags.get("type") != "restriction":
        return None
    kind = next((tags[key] for key in CAR_RESTRICTION_KEYS if key in tags), None)
    if kind not in TURN_KINDS:
        return None
    exceptions = {value.strip() for value in tags.get("except", "").split(";") if value.strip()}
    if exceptions & CAR_EXCEPTIONS:
        return None
    from_ways, to_ways, via_ways, via_nodes = set(), set(), [], []
    for member_type, ref, role in members:
        if role == "from" and member_type == "w":
            from_ways.add(ref)
        elif role == "to" and member_type == "w":
            to_ways.add(ref)
        elif role == "via" and member_type == "n":
            via_nodes.append(ref)
        elif role == "via" and member_type == "w":
            via_ways.append(ref)
    if not from_ways or not to_ways or (len(via_nodes) != 1) == (not via_ways) or (via_nodes and via_ways):
        return None
    return Restriction(
        relation_id=relation_id,
        kind=kind,
        from_ways=frozenset(from_ways),
        to_ways=frozenset(to_ways),
        via_node=via_nodes[0] if via_nodes else None,
        via_ways=tuple(via_ways),
        exempts_delivery="delivery" in exceptions,
    )


def barrier_for_car(tags: dict[str, str]) -> str | None:
    """Why a car may not pass this node ('barrier=bollard', 'access=no'), 'gate' for a passable gate,
    None when it passes freely."""
    access = next((tags[key] for key in ACCESS_HIERARCHY if key in tags), None)
    if access is not None:
        access = _resolve_access(access)
        if access in ACCESS_BLACKLIST and access not in ACCESS_RESTRICTED:
            return f"access={access}"
        return None
    barrier = tags.get("barrier")
    if barrier is None:
        return None
    if barrier in GATES:
        return "gate"
    exempt = (
        barrier in BARRIER_WHITELIST
        or tags.get("bollard") == "rising"
        or tags.get("kerb") in ("lowered", "flush")
        or (barrier == "kerb" and tags.get("highway") == "crossing")
        or (barrier == "fence" and tags.get("sensory") in ("audible", "audio"))
    )
    return None if exempt else f"barrier={barrier}"


def _resolve_access(value: str) -> str:
    """car.lua's reading of 'a;b': the most permissive part wins."""
    if ";" not in value:
        return value

    def rank(part):
        return (
            3 if part in ACCESS_WHITELIST else 2 if part in ACCESS_RESTRICTED else 1 if part in ACCESS_BLACKLIST else 0
        )

    return max((part.strip() for part in value.split(";")), key=rank)


@dataclass
class Violation:
    restriction: Restriction
    at_node: int  # the via node, or where the route leaves the via ways


@dataclass
class TurnJudge:
    """Checks node sequences against restrictions, on the ways' node lists."""

    way_nodes: dict[int, Sequence[int]]
    restrictions: list[Restriction]
    _segment_ways: dict[tuple[int, int], set[int]] = field(init=False, repr=False)
    _by_via_node: dict[int, list[Restriction]] = field(init=False, repr=False)
    _by_from_way: dict[int, list[Restriction]] = field(init=False, repr=False)
    _neighbours: dict[int, set[int]] = field(init=False, repr=False)

    def __post_init__(self):
        self._segment_ways = defaultdict(set)
        self._neighbours = defaultdict(set)
        for way, nodes in self.way_nodes.items():
            for a, b in zip(nodes, nodes[1:]):
                self._segment_ways[(a, b)].add(way)
                self._segment_ways[(b, a)].add(way)
                self._neighbours[a].add(b)
                self._neighbours[b].add(a)
        self._by_via_node = defaultdict(list)
        self._by_from_way = defaultdict(list)
        for restriction in self.restrictions:
            if restriction.via_node is not None:
                self._by_via_node[restriction.via_node].append(restriction)
            else:
                for way in restriction.from_ways:
                    self._by_from_way[way].append(restriction)

    def ways_of(self, a: int, b: int) -> set[int]:
        """The ways the segment a-b belongs to (empty: no such road segment)."""
        return self._segment_ways.get((a, b), set())

    def neighbours(self, node: int) -> set[int]:
        return self._neighbours.get(node, set())

    def violations(self, nodes: Sequence[int]) -> list[Violation]:
        """Forbidden turns the route ``nodes`` (consecutive OSM node ids) takes."""
        found = []
        for i in range(1, len(nodes) - 1):
            via = nodes[i]
            for restriction in self._by_via_node.get(via, ()):
                ways_in = self.ways_of(nodes[i - 1], via)
                ways_out = self.ways_of(via, nodes[i + 1])
                if not (ways_in & restriction.from_ways) or not ways_out:
                    continue
                onto_listed = bool(ways_out & restriction.to_ways)
                if onto_listed == restriction.forbids_listed_turn:
                    found.append(Violation(restriction, via))
        for i in range(1, len(nodes) - 1):
            ways_in = self.ways_of(nodes[i - 1], nodes[i])
            for way in ways_in:
                for restriction in self._by_from_way.get(way, ()):
                    at = self._via_way_exit(restriction, nodes, i)
                    if at is None:
                        continue
                    ways_out = self.ways_of(nodes[at], nodes[at + 1])
                    onto_listed = bool(ways_out & restriction.to_ways)
                    if onto_listed == restriction.forbids_listed_turn:
                        found.append(Violation(restriction, nodes[at]))
        return found

    def _via_way_exit(self, restriction: Restriction, nodes: Sequence[int], i: int) -> int | None:
        """Position where the route, having come off the from way at nodes[i] onto the via ways,
        leaves them at their junction with the to way; None when it does not go that way."""
        via = set(restriction.via_ways)
        first_via = self.way_nodes.get(restriction.via_ways[0], ())
        if nodes[i] not in (first_via[:1] + first_via[-1:] if first_via else ()):
            return None
        j = i
        while j + 1 < len(nodes) and self.ways_of(nodes[j], nodes[j + 1]) & via:
            j += 1
        if j == i or j + 1 >= len(nodes):
            return None  # never entered the via ways, or ended on them
        last_via = self.way_nodes.get(restriction.via_ways[-1], ())
        to_nodes = {n for way in restriction.to_ways for n in self.way_nodes.get(way, ())}
        if nodes[j] not in to_nodes or nodes[j] not in (last_via[:1] + last_via[-1:] if last_via else ()):
            return None  # left the via ways before the junction with the to way
        return j


def barriers_passed(nodes: Sequence[int], barriers: dict[int, str]) -> list[tuple[int, str]]:
    """(node, reason) of each blocking barrier strictly inside ``nodes`` (gates not included): the
    first and last node are where the route joins and leaves the road, not passed through."""
    return [(n, barriers[n]) for n in nodes[1:-1] if n in barriers and barriers[n] != "gate"]


def gates_passed(nodes: Sequence[int], barriers: dict[int, str]) -> int:
    return sum(1 for n in nodes[1:-1] if barriers.get(n) == "gate")


# Where route_realism.py puts its random trip ends: streets a delivery address is on (no motorways,
# links, service roads), open to cars.
STOP_STREETS = {"primary", "secondary", "tertiary", "unclassified", "residential", "living_street"}


@dataclass
class ExtractFacts:
    way_nodes: dict[int, list[int]]  # every highway way
    restrictions: list[Restriction]  # car turn restrictions
    barriers: dict[int, str]  # node -> barrier_for_car reason, nodes on highway ways
    by_coordinate: dict[tuple[int, int], list[int]]  # (lon, lat) in 1e-7 degrees -> node ids
    location: dict[int, tuple[int, int]]  # node -> (lon, lat) in 1e-7 degrees
    stop_ways: list[int]  # ways of STOP_STREETS open to cars
    skipped_relations: int = 0  # type=restriction relations that are not a car turn restriction


def read_extract(pbf: str) -> ExtractFacts:
    """What the judge needs of an OSM file, read with osmium (the project venv's)."""
    import osmium  # imported here so the judge's logic can be tested without an extract

    way_nodes: dict[int, list[int]] = {}
    restrictions: list[Restriction] = []
    barriers: dict[int, str] = {}
    stop_ways: list[int] = []
    skipped = 0
    for obj in osmium.FileProcessor(pbf):
        if obj.is_node():
            if len(obj.tags):
                reason = barrier_for_car(dict(obj.tags))
                if reason:
                    barriers[obj.id] = reason
        elif obj.is_way():
            if "highway" in obj.tags:
                tags = dict(obj.tags)
                way_nodes[obj.id] = [n.ref for n in obj.nodes]
                access = next((tags[key] for key in ACCESS_HIERARCHY if key in tags), "yes")
                if tags["highway"] in STOP_STREETS and access not in ACCESS_BLACKLIST and tags.get("area") != "yes":
                    stop_ways.append(obj.id)
        elif obj.is_relation() and obj.tags.get("type") == "restriction":
            restriction = restriction_for_car(obj.id, dict(obj.tags), [(m.type, m.ref, m.role) for m in obj.members])
            if restriction is None:
                skipped += 1
            else:
                restrictions.append(restriction)
    highway_nodes = {n for nodes in way_nodes.values() for n in nodes}
    by_coordinate: dict[tuple[int, int], list[int]] = defaultdict(list)
    location: dict[int, tuple[int, int]] = {}
    for obj in osmium.FileProcessor(pbf, osmium.osm.NODE):
        if obj.id in highway_nodes and obj.location.valid():
            key = (obj.location.x, obj.location.y)
            by_coordinate[key].append(obj.id)
            location[obj.id] = key
    return ExtractFacts(
        way_nodes=way_nodes,
        restrictions=restrictions,
        barriers={n: r for n, r in barriers.items() if n in highway_nodes},
        by_coordinate=dict(by_coordinate),
        location=location,
        stop_ways=stop_ways,
        skipped_relations=skipped,
    )


def route_nodes(
    coordinates: Sequence[Sequence[float]],
    by_coordinate: dict[tuple[int, int], list[int]],
    judge: TurnJudge,
    location: dict[int, tuple[int, int]],
) -> list[int]:
    """OSM node ids of a route given as [lon, lat] positions (the app's route geometry).

    Positions that are OSM nodes map to their ids (exact coordinates, 1e-7 degrees as in the PBF;
    where two nodes share a position, the one joined by a road segment to the node before). A route
    starts and ends mid-segment at its road points: the node behind the first (ahead of the last)
    road point is added, so a turn at the first node is judged too, as OSRM's annotation does.
    """
    keys = [(round(lon * 1e7), round(lat * 1e7)) for lon, lat in coordinates]
    nodes: list[int] = []
    first_known = last_known = None
    for index, key in enumerate(keys):
        candidates = by_coordinate.get(key)
        if not candidates:
            continue
        if len(candidates) > 1 and nodes:
            joined = [c for c in candidates if judge.ways_of(nodes[-1], c)]
            node = joined[0] if joined else candidates[0]
        else:
            node = candidates[0]
        if not nodes or nodes[-1] != node:
            nodes.append(node)
        first_known = index if first_known is None else first_known
        last_known = index
    if not nodes:
        return nodes
    # (a U-turn on the first or last segment gives the same node on both sides of one: kept)
    if first_known > 0:
        behind = _segment_end(keys[first_known - 1], nodes[0], judge, location)
        if behind is not None:
            nodes.insert(0, behind)
    if last_known < len(keys) - 1:
        ahead = _segment_end(keys[last_known + 1], nodes[-1], judge, location)
        if ahead is not None:
            nodes.append(ahead)
    return nodes


def _segment_end(point: tuple[int, int], node: int, judge: TurnJudge, location, tolerance_m: float = 0.5):
    """The neighbour m of ``node`` such that ``point`` (1e-7 degrees) lies on the segment node-m."""
    best, best_m = None, tolerance_m
    x0, y0 = location[node]
    scale_x = 0.0111 * _cos_deg(y0 * 1e-7)  # metres per 1e-7 degree of longitude here
    for other in judge.neighbours(node):
        if other not in location:
            continue
        x1, y1 = location[other]
        ax, ay = (x1 - x0) * scale_x, (y1 - y0) * 0.0111
        px, py = (point[0] - x0) * scale_x, (point[1] - y0) * 0.0111
        length2 = ax * ax + ay * ay
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, (px * ax + py * ay) / length2))
        gap = ((px - t * ax) ** 2 + (py - t * ay) ** 2) ** 0.5
        if gap < best_m and t > 0:
            best, best_m = other, gap
    return best


def _cos_deg(degrees: float) -> float:
    return math.cos(math.radians(degrees))
