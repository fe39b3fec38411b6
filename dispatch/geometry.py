"""Small planar helpers on WGS84 coordinates for zones (no GIS dependency needed at this scale)."""

import math

EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def polygon_rings(polygon: dict) -> list[list[tuple[float, float]]]:
    """Validate a GeoJSON Polygon and return its rings as (lon, lat) lists."""
    if not isinstance(polygon, dict) or polygon.get("type") != "Polygon":
        raise ValueError('must be a GeoJSON object with "type": "Polygon"')
    rings = polygon.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise ValueError("a Polygon needs at least one ring of coordinates")
    result = []
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4:
            raise ValueError("each ring needs at least 4 positions (closed)")
        points = []
        for position in ring:
            if not isinstance(position, (list, tuple)) or len(position) < 2:
                raise ValueError(f"position {position!r} is not [lon, lat]")
            lon, lat = float(position[0]), float(position[1])
            if not (-180 <= lon <= 180 and -90 <= lat <= 90) or math.isnan(lon) or math.isnan(lat):
                raise ValueError(f"position {position!r} is out of range")
            points.append((lon, lat))
        result.append(points)
    return result


def polygon_bbox(polygon: dict) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of the outer ring."""
    outer = polygon_rings(polygon)[0]
    lons = [p[0] for p in outer]
    lats = [p[1] for p in outer]
    return min(lons), min(lats), max(lons), max(lats)


def _ring_contains(ring: list[tuple[float, float]], lon: float, lat: float) -> bool:
    # Ray casting: count edge crossings of a ray going east from the point.
    inside = False
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


class ZoneLocator:
    """Finds the zone of many points quickly: bbox pre-filter, then ray casting."""

    def __init__(self, zones):
        self._zones = []
        for zone in zones:
            rings = polygon_rings(zone.polygon)
            outer = rings[0]
            lons = [p[0] for p in outer]
            lats = [p[1] for p in outer]
            self._zones.append((zone, rings, (min(lons), min(lats), max(lons), max(lats))))
        # Where zones overlap the most specific (smallest) one wins, e.g. a town centre inside a region.
        self._zones.sort(key=lambda z: (z[2][2] - z[2][0]) * (z[2][3] - z[2][1]))

    def locate(self, lat: float, lon: float):
        for zone, rings, (min_lon, min_lat, max_lon, max_lat) in self._zones:
            if not (min_lon <= lon <= max_lon and min_lat <= lat <= max_lat):
                continue
            if _ring_contains(rings[0], lon, lat) and not any(_ring_contains(h, lon, lat) for h in rings[1:]):
                return zone
        return None
