"""Build the prepared network from an OSM file and read it back.

Directory layout (``out_dir``)::

    manifest.json        format version, source file, counts, build timings
    nodes.npz            lat, lon (float64 degrees), osm_id (int64) of every road node
    <profile>.npz        ProfileGraph arrays (see graph.py)
    <profile>.cch/       CCH topology over the turn-aware graph (turn nodes = directed
                         chains, arcs = allowed turns; RoutingKit binary format)
    addresses.json       address records for the local geocoder

Saving the CCH topology keeps the nested-dissection order, the expensive part of
a CCH: loading it rebuilds the contraction from that order in ~0.03 s instead of
the ~1.4 s the ordering takes on Porto. The matrices' own contraction (sweep.py)
reads the same order.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pyroutingkit

from .graph import DEFAULT_MAX_CHAIN_M, ProfileGraph, build_profile_graph
from .osm_loader import read_osm
from .profiles import PROFILES
from .sweep import read_order

FORMAT_VERSION = 3  # 2: turn-aware graph (turn nodes, turns, junction costs); 3: car maxspeed x 0.8


class PreparedNetworkError(RuntimeError):
    """The prepared directory is missing, incomplete or of another format version."""


@dataclass
class PreparedProfile:
    graph: ProfileGraph
    topology: pyroutingkit.CCHTopology
    order: np.ndarray  # the turn node of each CCH rank


def build_topology(graph: ProfileGraph, node_lat: np.ndarray, node_lon: np.ndarray):
    """CCH over the turn-aware graph; a turn node sits midway along its arc (the
    nested dissection only needs a plausible position)."""
    arc = graph.enode_arc
    tail = graph.node_global[graph.arc_tail[arc]]
    head = graph.node_global[graph.arc_head[arc]]
    topology = pyroutingkit.CCHTopology()
    topology.build(
        graph.turn_from,
        graph.turn_to,
        ((node_lat[tail] + node_lat[head]) / 2).astype(np.float32),
        ((node_lon[tail] + node_lon[head]) / 2).astype(np.float32),
        graph.enode_count,
    )
    return topology


def build_network(pbf_path: str, out_dir: str, *, max_chain_m: float = DEFAULT_MAX_CHAIN_M) -> dict:
    """Parse ``pbf_path`` (.osm.pbf or .osm) and write the prepared network to ``out_dir``.

    Returns a summary: counts per profile, addresses, seconds spent per step and
    bytes on disk.
    """
    started = time.perf_counter()
    os.makedirs(out_dir, exist_ok=True)
    extract = read_osm(pbf_path)
    timings = {"read_osm_s": time.perf_counter() - started}
    np.savez(
        os.path.join(out_dir, "nodes.npz"),
        lat=extract.node_lat,
        lon=extract.node_lon,
        osm_id=extract.node_osm_id,
    )
    profiles = {}
    graphs = {}
    for name in PROFILES:
        step = time.perf_counter()
        graph = graphs[name] = build_profile_graph(extract, name, max_chain_m=max_chain_m)
        graph.save(os.path.join(out_dir, f"{name}.npz"))
        timings[f"{name}_graph_s"] = time.perf_counter() - step

    def order(name: str) -> None:
        step = time.perf_counter()
        cch_dir = os.path.join(out_dir, f"{name}.cch")
        os.makedirs(cch_dir, exist_ok=True)
        build_topology(graphs[name], extract.node_lat, extract.node_lon).save(cch_dir)
        timings[f"{name}_cch_s"] = time.perf_counter() - step

    # The nested-dissection orders are most of the build (Porto: 27 s car, 14 s bike) and
    # RoutingKit releases the GIL while computing one: the profiles' orders run side by side.
    step = time.perf_counter()
    with ThreadPoolExecutor(max_workers=min(len(graphs), os.cpu_count() or 1)) as pool:
        for done in [pool.submit(order, name) for name in graphs]:
            done.result()
    timings["cch_wall_s"] = time.perf_counter() - step
    for name, graph in graphs.items():
        profiles[name] = {
            "nodes": graph.node_count,
            "arcs": graph.arc_count,
            "chains": len(graph.chain_start),
            "turn_nodes": graph.enode_count,
            "turns": graph.turn_count,
            "road_km": round(float(graph.chain_length_m.sum()) / 1000, 1),
        }
    with open(os.path.join(out_dir, "addresses.json"), "w", encoding="utf-8") as handle:
        json.dump(extract.addresses, handle, ensure_ascii=False, separators=(",", ":"))
    timings["total_s"] = time.perf_counter() - started
    summary = {
        "format_version": FORMAT_VERSION,
        "source": os.path.abspath(pbf_path),
        "road_nodes": int(len(extract.node_lat)),
        "addresses": len(extract.addresses),
        "profiles": profiles,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    summary["bytes_on_disk"] = directory_size(out_dir) + 2048  # + the manifest itself
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    return summary


def directory_size(path: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names)


def prepared_is_current(out_dir: str) -> bool:
    """True when ``out_dir`` holds a prepared network this code can load (its format version);
    an older build must be prepared again, e.g. after an upgrade to the turn-aware graph."""
    try:
        with open(os.path.join(out_dir, "manifest.json"), encoding="utf-8") as handle:
            return json.load(handle).get("format_version") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


def load_prepared(out_dir: str):
    """Read a prepared directory: (manifest, nodes dict, {profile: PreparedProfile}, addresses)."""
    manifest_path = os.path.join(out_dir, "manifest.json")
    if not os.path.exists(manifest_path):
        raise PreparedNetworkError(f"no prepared network in {out_dir!r}: run build_network first")
    with open(manifest_path, encoding="utf-8") as handle:
        manifest = json.load(handle)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PreparedNetworkError(
            f"{out_dir!r} has format {manifest.get('format_version')}, expected {FORMAT_VERSION}: rebuild it"
        )
    with np.load(os.path.join(out_dir, "nodes.npz")) as data:
        nodes = {key: data[key] for key in ("lat", "lon", "osm_id")}
    profiles = {}
    for name in manifest["profiles"]:
        try:
            graph = ProfileGraph.load(os.path.join(out_dir, f"{name}.npz"))
        except KeyError as missing:
            raise PreparedNetworkError(f"{out_dir!r}: {name}.npz lacks {missing}: rebuild it") from None
        topology = pyroutingkit.CCHTopology()
        cch_dir = os.path.join(out_dir, f"{name}.cch")
        topology.load(cch_dir)
        if topology.node_count != graph.enode_count:
            raise PreparedNetworkError(f"{name}: CCH topology does not match the graph")
        try:
            order = read_order(cch_dir, graph.enode_count)
        except (OSError, ValueError) as error:
            raise PreparedNetworkError(f"{name}: {error}: rebuild it") from None
        profiles[name] = PreparedProfile(graph, topology, order)
    with open(os.path.join(out_dir, "addresses.json"), encoding="utf-8") as handle:
        addresses = json.load(handle)
    return manifest, nodes, profiles, addresses
