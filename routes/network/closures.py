"""Which chains of a profile graph a set of GeoJSON closures covers.

Rules (both travel directions of a covered chain close, for every profile):

* Polygon / MultiPolygon: a chain closes when any of its segments has an end
  inside the polygon or crosses its boundary.
* LineString / MultiLineString: drawn *along* the closed road. A segment closes
  when enough of it (half, or 20 m) lies within ``LINE_TOLERANCE_M`` of the line
  while running roughly parallel to it (within 35 degrees). The parallel test
  keeps side streets that merely touch the line at a junction open.

A chain is the road between two graph nodes (at most ~300 m), so closing it
closes the street section the closure is on, which is what a dispatcher means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .errors import ClosureError
from .geometry import (
    LocalProjection,
    points_in_rings,
    project_point_on_segments,
    segments_intersect,
)
from .graph import ProfileGraph

LINE_TOLERANCE_M = 15.0
MAX_ANGLE_DEG = 35.0
# Ten samples, each standing for a tenth of the segment's length.
_SAMPLE_FRACTIONS = (np.arange(10) + 0.5) / 10
# A segment closes when this much of it runs along the line: half of it, or
# 20 m of a long one. A road continuing straight past the line's end is
# touched over one tolerance radius (15 m) only, so it stays open.
MIN_COVERED_SHARE = 0.5
MIN_COVERED_M = 20.0


def _lines_and_polygons(geometries: Iterable[Mapping[str, Any]]):
    lines: list[np.ndarray] = []
    polygons: list[list[np.ndarray]] = []
    for geometry in geometries:
        kind = geometry.get("type")
        coords = geometry.get("coordinates")
        if kind == "Feature":
            sub_lines, sub_polygons = _lines_and_polygons([geometry["geometry"]])
            lines += sub_lines
            polygons += sub_polygons
        elif kind == "LineString":
            lines.append(np.asarray(coords, dtype=float))
        elif kind == "MultiLineString":
            lines += [np.asarray(c, dtype=float) for c in coords]
        elif kind == "Polygon":
            polygons.append([np.asarray(ring, dtype=float) for ring in coords])
        elif kind == "MultiPolygon":
            polygons += [[np.asarray(ring, dtype=float) for ring in poly] for poly in coords]
        else:
            raise ClosureError(f"unsupported closure geometry type: {kind!r}")
    for line in lines:
        if line.ndim != 2 or len(line) < 2:
            raise ClosureError("a closure LineString needs at least two [lon, lat] positions")
    return lines, polygons


class ClosureIndex:
    """Projected segment coordinates of one graph, computed once per network load."""

    def __init__(self, graph: ProfileGraph, node_lat: np.ndarray, node_lon: np.ndarray):
        self.graph = graph
        self.projection = LocalProjection(float(np.median(node_lat)), float(np.median(node_lon)))
        a = graph.points[graph.seg_position]
        b = graph.points[graph.seg_position + 1]
        self.ax, self.ay = self.projection.to_xy(node_lat[a], node_lon[a])
        self.bx, self.by = self.projection.to_xy(node_lat[b], node_lon[b])
        self.min_x = np.minimum(self.ax, self.bx)
        self.max_x = np.maximum(self.ax, self.bx)
        self.min_y = np.minimum(self.ay, self.by)
        self.max_y = np.maximum(self.ay, self.by)

    def _candidates(self, xs: np.ndarray, ys: np.ndarray, margin: float) -> np.ndarray:
        return np.flatnonzero(
            (self.max_x >= xs.min() - margin)
            & (self.min_x <= xs.max() + margin)
            & (self.max_y >= ys.min() - margin)
            & (self.min_y <= ys.max() + margin)
        )

    def _line_hits(self, line: np.ndarray) -> np.ndarray:
        lx, ly = self.projection.to_xy(line[:, 1], line[:, 0])
        segs = self._candidates(lx, ly, LINE_TOLERANCE_M)
        if not len(segs):
            return segs
        ax, ay, bx, by = self.ax[segs], self.ay[segs], self.bx[segs], self.by[segs]
        # closure pieces as rows of a broadcast: (candidate, sample, piece)
        cx, cy, dx, dy = lx[:-1], ly[:-1], lx[1:], ly[1:]
        sx = ax[:, None] + _SAMPLE_FRACTIONS * (bx - ax)[:, None]
        sy = ay[:, None] + _SAMPLE_FRACTIONS * (by - ay)[:, None]
        _, dist = project_point_on_segments(sx[..., None], sy[..., None], cx, cy, dx, dy)
        nearest_piece = np.argmin(dist, axis=2)
        near = np.min(dist, axis=2) <= LINE_TOLERANCE_M
        ux, uy = bx - ax, by - ay
        vx, vy = (dx - cx)[nearest_piece], (dy - cy)[nearest_piece]
        with np.errstate(invalid="ignore", divide="ignore"):
            cosine = np.abs(ux[:, None] * vx + uy[:, None] * vy) / (np.hypot(ux, uy)[:, None] * np.hypot(vx, vy))
        parallel = np.nan_to_num(cosine, nan=1.0) >= np.cos(np.radians(MAX_ANGLE_DEG))
        length = np.hypot(ux, uy)
        covered = np.count_nonzero(near & parallel, axis=1) / len(_SAMPLE_FRACTIONS) * length
        return segs[covered >= np.minimum(MIN_COVERED_SHARE * length, MIN_COVERED_M) - 1e-9]

    def _polygon_hits(self, rings: list[np.ndarray]) -> np.ndarray:
        projected = [self.projection.to_xy(r[:, 1], r[:, 0]) for r in rings]
        outer_x, outer_y = projected[0]
        segs = self._candidates(outer_x, outer_y, 0.0)
        if not len(segs):
            return segs
        ax, ay, bx, by = self.ax[segs], self.ay[segs], self.bx[segs], self.by[segs]
        hit = points_in_rings(ax, ay, projected) | points_in_rings(bx, by, projected)
        for rx, ry in projected:
            crosses = segments_intersect(
                ax[:, None], ay[:, None], bx[:, None], by[:, None], rx[:-1], ry[:-1], rx[1:], ry[1:]
            )
            hit |= np.any(crosses, axis=1)
        return segs[hit]

    def closed_chains(self, geometries: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Boolean mask over chains covered by any of ``geometries`` (GeoJSON, lon/lat)."""
        lines, polygons = _lines_and_polygons(geometries)
        closed = np.zeros(len(self.graph.chain_start), dtype=bool)
        for line in lines:
            closed[self.graph.seg_chain[self._line_hits(line)]] = True
        for rings in polygons:
            closed[self.graph.seg_chain[self._polygon_hits(rings)]] = True
        return closed
