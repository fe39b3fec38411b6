"""Fixtures: a hand-made town of nine streets, and Liechtenstein built once per session.

The town (lat 47.000-47.002, lon 9.500-9.504; 0.001 deg is ~111 m north-south,
~76 m east-west)::

    A ---->---- B ---->---- C          A-B-C Hauptstrasse: one-way east for cars,
    |           :           |                 oneway:bicycle=no
    D --------- E --------- F ===== G  B:E footway, bicycle=yes (bikes only)
    |           |           |          F=G trunk (no bikes)
    |           H           I          E-H private (nobody)
    |                       |          D-K-J Schulweg, F-I and I-J: a loop back to D
    K --------------------- J
                            |          J-M a dead end
                            M
"""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from routes.network import RoadNetwork, build_network  # noqa: E402

# The demo region shipped with the project (README: Data and credits), never a path outside the checkout.
LIECHTENSTEIN_PBF = os.path.join(ROOT, "data", "liechtenstein.osm.pbf")

NODES = {
    1: (47.002, 9.500),  # A
    2: (47.002, 9.501),  # B
    3: (47.002, 9.502),  # C
    4: (47.001, 9.500),  # D
    5: (47.001, 9.501),  # E
    6: (47.001, 9.502),  # F
    7: (47.001, 9.504),  # G
    8: (47.000, 9.502),  # I
    9: (46.999, 9.502),  # J
    10: (47.000, 9.501),  # H
    11: (46.999, 9.500),  # K
    12: (46.998, 9.502),  # M
    # a building outline with an address (way 50)
    20: (47.0015, 9.5030),
    21: (47.0015, 9.5032),
    22: (47.0016, 9.5032),
    23: (47.0016, 9.5030),
}

WAYS = [
    (11, [1, 2, 3], {"highway": "residential", "name": "Hauptstrasse", "oneway": "yes",
                     "oneway:bicycle": "no"}),
    (12, [4, 5, 6], {"highway": "residential", "name": "Bahnhofstrasse"}),
    (13, [1, 4], {"highway": "residential"}),
    (14, [3, 6], {"highway": "residential"}),
    (15, [2, 5], {"highway": "footway", "bicycle": "yes"}),
    (16, [6, 7], {"highway": "trunk", "maxspeed": "80"}),
    (17, [5, 10], {"highway": "residential", "access": "private"}),
    (18, [6, 8], {"highway": "residential"}),
    (19, [8, 9], {"highway": "residential"}),
    (20, [4, 11, 9], {"highway": "residential", "name": "Schulweg"}),
    (21, [9, 12], {"highway": "residential", "name": "Sackgasse"}),
    (50, [20, 21, 22, 23, 20], {"building": "yes", "addr:street": "Landstraße",
                                "addr:housenumber": "12a", "addr:postcode": "9495",
                                "addr:city": "Triesen"}),
]  # fmt: skip

ADDRESS_NODES = [
    (30, (47.0022, 9.5005), {"addr:street": "Städtle", "addr:housenumber": "35",
                             "addr:postcode": "9490", "addr:city": "Vaduz"}),
    (31, (47.0008, 9.5012), {"addr:street": "Bahnhofstrasse", "addr:housenumber": "7",
                             "addr:postcode": "9494", "addr:city": "Schaan"}),
]  # fmt: skip


def _tags(tags: dict) -> str:
    return "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())


def write_town_osm(path: str) -> None:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for node_id, (lat, lon) in NODES.items():
        lines.append(f'<node id="{node_id}" version="1" lat="{lat}" lon="{lon}"/>')
    for node_id, (lat, lon), tags in ADDRESS_NODES:
        lines.append(f'<node id="{node_id}" version="1" lat="{lat}" lon="{lon}">{_tags(tags)}</node>')
    for way_id, refs, tags in WAYS:
        nds = "".join(f'<nd ref="{ref}"/>' for ref in refs)
        lines.append(f'<way id="{way_id}" version="1">{nds}{_tags(tags)}</way>')
    lines.append("</osm>")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))


@pytest.fixture(scope="session")
def town_dir(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp("town")
    osm_path = str(base / "town.osm")
    write_town_osm(osm_path)
    build_network(osm_path, str(base / "prepared"))
    return str(base / "prepared")


@pytest.fixture
def town(town_dir) -> RoadNetwork:
    # A fresh network per test: closures and traffic are per-instance state.
    return RoadNetwork.load(town_dir)


@pytest.fixture(scope="session")
def liechtenstein_dir(tmp_path_factory) -> str:
    if not os.path.exists(LIECHTENSTEIN_PBF):
        pytest.skip("Liechtenstein extract not available")
    out = str(tmp_path_factory.mktemp("liechtenstein"))
    build_network(LIECHTENSTEIN_PBF, out)
    return out


@pytest.fixture(scope="session")
def liechtenstein(liechtenstein_dir) -> RoadNetwork:
    return RoadNetwork.load(liechtenstein_dir)
