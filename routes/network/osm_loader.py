"""Read an OSM extract (.osm.pbf or .osm XML) once: road ways per profile and addresses.

Everything downstream works on the numpy arrays of :class:`OsmExtract`; the
file is never read again after :func:`read_osm`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import osmium

from .profiles import PROFILES


@dataclass
class WayAttributes:
    """Per-way routing attributes for one profile (arrays aligned with the ways)."""

    allowed: np.ndarray  # bool
    forward: np.ndarray  # bool
    backward: np.ndarray  # bool
    speed_kmh: np.ndarray  # float32
    road_class: np.ndarray  # uint8
    local_only: np.ndarray  # bool: only to reach or leave a stop on it (access=destination...)


@dataclass
class Restriction:
    """A type=restriction relation, as read (profiles decide whether it binds them)."""

    osm_id: int
    tags: dict
    from_ways: list[int]
    via_nodes: list[int]
    via_ways: list[int]
    to_ways: list[int]


@dataclass
class OsmExtract:
    node_osm_id: np.ndarray  # int64, every node used by a routable way
    node_lat: np.ndarray  # float64 degrees
    node_lon: np.ndarray  # float64 degrees
    way_osm_id: np.ndarray  # int64
    way_offsets: np.ndarray  # int64, way i's nodes are way_nodes[off[i]:off[i+1]]
    way_nodes: np.ndarray  # int32 indices into the node arrays
    attributes: dict[str, WayAttributes] = field(default_factory=dict)
    addresses: list[dict] = field(default_factory=list)
    # OSM node id -> tags, for barriers, signals, stop and give-way signs only
    junction_tags: dict[int, dict] = field(default_factory=dict)
    restrictions: list[Restriction] = field(default_factory=list)


JUNCTION_HIGHWAY = {"traffic_signals", "stop", "give_way"}


def _address_of(tags) -> dict | None:
    housenumber = tags.get("addr:housenumber")
    street = tags.get("addr:street") or tags.get("addr:place")
    if not housenumber or not street:
        return None
    return {
        "street": street,
        "housenumber": housenumber,
        "postcode": tags.get("addr:postcode", ""),
        "city": tags.get("addr:city") or tags.get("addr:place") or "",
    }


def read_osm(path: str) -> OsmExtract:
    """Parse road ways (for every profile in PROFILES) and addresses from ``path``."""
    rules = {name: profile.rule for name, profile in PROFILES.items()}
    way_ids: list[int] = []
    way_lengths: list[int] = []
    refs: list[int] = []
    lats: list[float] = []
    lons: list[float] = []
    way_rules: dict[str, list] = {name: [] for name in rules}
    addresses: list[dict] = []
    junction_tags: dict[int, dict] = {}
    restrictions: list[Restriction] = []

    processor = (
        osmium.FileProcessor(path)
        .with_locations()
        .with_filter(osmium.filter.KeyFilter("highway", "addr:housenumber", "barrier", "type"))
    )
    for obj in processor:
        if obj.is_relation():
            tags = dict(obj.tags)
            if tags.get("type", "").startswith("restriction"):
                members = {"from": [], "to": [], "via_n": [], "via_w": []}
                for member in obj.members:
                    if member.role in ("from", "to") and member.type == "w":
                        members[member.role].append(member.ref)
                    elif member.role == "via" and member.type in ("n", "w"):
                        members[f"via_{member.type}"].append(member.ref)
                restrictions.append(
                    Restriction(obj.id, tags, members["from"], members["via_n"], members["via_w"], members["to"])
                )
            continue
        if obj.is_node():
            if "barrier" in obj.tags or obj.tags.get("highway") in JUNCTION_HIGHWAY:
                junction_tags[obj.id] = dict(obj.tags)
            address = _address_of(obj.tags)
            if address and obj.location.valid():
                address["lat"], address["lon"] = obj.location.lat, obj.location.lon
                addresses.append(address)
            continue
        if not obj.is_way():
            continue
        tags = dict(obj.tags)
        if "addr:housenumber" in tags:
            address = _address_of(tags)
            points = [(n.location.lat, n.location.lon) for n in obj.nodes if n.location.valid()]
            if address and points:
                # Closed ways (buildings) repeat their first node: count it once.
                if len(points) > 1 and points[0] == points[-1]:
                    points = points[:-1]
                address["lat"] = sum(p[0] for p in points) / len(points)
                address["lon"] = sum(p[1] for p in points) / len(points)
                addresses.append(address)
        if "highway" not in tags:
            continue
        decided = {name: rule(tags) for name, rule in rules.items()}
        if not any(decided.values()):
            continue
        # Nodes missing from a clipped extract are dropped: the way then runs
        # straight over the gap, which beats losing the whole way.
        nodes = [n for n in obj.nodes if n.location.valid()]
        if len(nodes) < 2:
            continue
        way_ids.append(obj.id)
        way_lengths.append(len(nodes))
        for node in nodes:
            refs.append(node.ref)
            lats.append(node.location.lat)
            lons.append(node.location.lon)
        for name, rule in decided.items():
            way_rules[name].append(rule)

    ref_array = np.asarray(refs, dtype=np.int64)
    node_osm_id, first_index, way_nodes = np.unique(ref_array, return_index=True, return_inverse=True)
    offsets = np.zeros(len(way_lengths) + 1, dtype=np.int64)
    np.cumsum(way_lengths, out=offsets[1:])
    extract = OsmExtract(
        node_osm_id=node_osm_id,
        node_lat=np.asarray(lats, dtype=np.float64)[first_index],
        node_lon=np.asarray(lons, dtype=np.float64)[first_index],
        way_osm_id=np.asarray(way_ids, dtype=np.int64),
        way_offsets=offsets,
        way_nodes=way_nodes.astype(np.int32),
        addresses=addresses,
        junction_tags=junction_tags,
        restrictions=restrictions,
    )
    for name, decided_rules in way_rules.items():
        allowed = np.array([r is not None for r in decided_rules], dtype=bool)
        extract.attributes[name] = WayAttributes(
            allowed=allowed,
            forward=np.array([bool(r and r.forward) for r in decided_rules], dtype=bool),
            backward=np.array([bool(r and r.backward) for r in decided_rules], dtype=bool),
            speed_kmh=np.array([r.speed_kmh if r else 0.0 for r in decided_rules], np.float32),
            road_class=np.array([r.road_class if r else 0 for r in decided_rules], np.uint8),
            local_only=np.array([bool(r and r.local_only) for r in decided_rules], dtype=bool),
        )
    return extract
