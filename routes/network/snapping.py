"""Snap (lat, lon) points onto the nearest usable road of a profile graph.

A cKDTree over points sampled every SAMPLE_SPACING_M along every road segment
finds candidate segments; the exact point-to-segment distance picks the winner.
Only chains the caller marks usable (open, inside the largest strongly connected
component of the current closure state) can be snapped to, so a snapped point
always reaches and is reached by every other snapped point unless a later
closure cuts it off.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .geometry import LocalProjection, haversine_m, project_point_on_segments
from .graph import ProfileGraph

# 20 m samples: the sample nearest to a point is at most 10 m further than the
# true road point, so 16 candidates nearly always contain the true nearest segment.
SAMPLE_SPACING_M = 20.0
CANDIDATES = 16


@dataclass(frozen=True)
class Snap:
    """Where a point joins the road network.

    ``distance_m`` is the straight-line gap (metres) between the input point and
    its nearest usable road point; compare it with a limit (e.g. 250 m) to flag
    stops that are probably mis-geocoded. ``node`` is the nearer graph node of
    the snapped chain. Trips leave the point through ``source_node`` (reached
    after ``source_along_m`` metres of road) and arrive through ``target_node``
    (``target_along_m`` metres before the road point); the two differ on one-way
    streets.
    """

    lat: float
    lon: float
    road_lat: float
    road_lon: float
    distance_m: float
    node: int
    chain: int
    segment: int
    fraction: float
    offset_m: float
    way_id: int
    source_node: int
    source_along_m: float
    target_node: int
    target_along_m: float


class Snapper:
    def __init__(self, graph: ProfileGraph, node_lat: np.ndarray, node_lon: np.ndarray):
        self.graph = graph
        self.node_lat = node_lat
        self.node_lon = node_lon
        self.projection = LocalProjection(float(np.median(node_lat)), float(np.median(node_lon)))
        self._tree: cKDTree | None = None
        self._sample_segment: np.ndarray | None = None
        self._lock = threading.Lock()

    def _segment_xy(self, segments: np.ndarray):
        g = self.graph
        a = g.points[g.seg_position[segments]]
        b = g.points[g.seg_position[segments] + 1]
        ax, ay = self.projection.to_xy(self.node_lat[a], self.node_lon[a])
        bx, by = self.projection.to_xy(self.node_lat[b], self.node_lon[b])
        return ax, ay, bx, by

    def _ensure_tree(self) -> cKDTree:
        # Built on first use, not at load: it costs ~0.2 s on Porto and a web
        # worker that only geocodes never needs it.
        with self._lock:
            if self._tree is None:
                segments = np.arange(len(self.graph.seg_position))
                ax, ay, bx, by = self._segment_xy(segments)
                per_segment = np.ceil(self.graph.seg_length_m / SAMPLE_SPACING_M).astype(np.int64)
                per_segment = np.maximum(per_segment, 1) + 1
                owner = np.repeat(segments, per_segment)
                starts = np.cumsum(per_segment) - per_segment
                t = (np.arange(len(owner)) - starts[owner]) / (per_segment[owner] - 1)
                xy = np.column_stack([ax[owner] + t * (bx - ax)[owner], ay[owner] + t * (by - ay)[owner]])
                self._sample_segment = owner.astype(np.int32)
                self._tree = cKDTree(xy, balanced_tree=False, compact_nodes=False)
        return self._tree

    def snap_many(
        self,
        lats: np.ndarray,
        lons: np.ndarray,
        usable_chain: np.ndarray,
        open_forward: np.ndarray,
        open_backward: np.ndarray,
    ) -> list[Snap | None]:
        """Snap each point to its nearest usable segment; None where nothing is usable."""
        tree = self._ensure_tree()
        g = self.graph
        px, py = self.projection.to_xy(np.asarray(lats, float), np.asarray(lons, float))
        results: list[Snap | None] = [None] * len(px)
        pending = np.arange(len(px))
        k = CANDIDATES
        while len(pending) and k <= 4 * len(self._sample_segment):
            _, sample = tree.query(np.column_stack([px[pending], py[pending]]), k=k)
            sample = np.minimum(sample.reshape(len(pending), -1), len(self._sample_segment) - 1)
            segments = self._sample_segment[sample]
            ax, ay, bx, by = self._segment_xy(segments)
            t, dist = project_point_on_segments(px[pending, None], py[pending, None], ax, ay, bx, by)
            dist = np.where(usable_chain[g.seg_chain[segments]], dist, np.inf)
            best = np.argmin(dist, axis=1)
            found = np.isfinite(dist[np.arange(len(pending)), best])
            for row in np.flatnonzero(found):
                segment = int(segments[row, best[row]])
                fraction = float(t[row, best[row]])
                results[pending[row]] = self._make_snap(
                    float(lats[pending[row]]),
                    float(lons[pending[row]]),
                    segment,
                    fraction,
                    open_forward,
                    open_backward,
                )
            pending = pending[~found]
            if k >= len(self._sample_segment):
                break
            k = min(k * 8, len(self._sample_segment))
        return results

    def _make_snap(self, lat, lon, segment, fraction, open_forward, open_backward) -> Snap:
        g = self.graph
        a = g.points[g.seg_position[segment]]
        b = g.points[g.seg_position[segment] + 1]
        road_lat = float(self.node_lat[a] + fraction * (self.node_lat[b] - self.node_lat[a]))
        road_lon = float(self.node_lon[a] + fraction * (self.node_lon[b] - self.node_lon[a]))
        chain = int(g.seg_chain[segment])
        length = float(g.chain_length_m[chain])
        offset = float(g.seg_offset_m[segment]) + fraction * float(g.seg_length_m[segment])
        offset = min(max(offset, 0.0), length)
        start = int(g.chain_start_node[chain])
        end = int(g.chain_end_node[chain])
        # Leave towards the end the open arcs allow (nearer one if both), and
        # arrive from the end whose arc runs towards the point.
        leave = []
        arrive = []
        if open_forward[chain]:
            leave.append((length - offset, end))
            arrive.append((offset, start))
        if open_backward[chain]:
            leave.append((offset, start))
            arrive.append((length - offset, end))
        source_along, source_node = min(leave)
        target_along, target_node = min(arrive)
        gap = float(haversine_m(lat, lon, road_lat, road_lon))
        return Snap(
            lat=lat,
            lon=lon,
            road_lat=road_lat,
            road_lon=road_lon,
            distance_m=gap,
            node=start if offset <= length - offset else end,
            chain=chain,
            segment=int(segment),
            fraction=fraction,
            offset_m=offset,
            way_id=int(g.chain_way_id[chain]),
            source_node=source_node,
            source_along_m=source_along,
            target_node=target_node,
            target_along_m=target_along,
        )
