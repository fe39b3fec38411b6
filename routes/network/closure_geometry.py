"""Validation of closure geometries before they reach the road network."""

import math

MAX_POSITIONS = 5000


def _position(value, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise ValueError(f"{where}: {value!r} is not a [lon, lat] position")
    try:
        lon, lat = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a pair of numbers") from None
    if math.isnan(lon) or math.isnan(lat) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValueError(f"{where}: {value!r} is out of range")
    return lon, lat


def validate_closure_geometry(geometry) -> dict:
    """Return the geometry if it is a usable GeoJSON LineString or Polygon; raise ValueError saying where not."""
    if not isinstance(geometry, dict):
        raise ValueError("geometry must be a GeoJSON object")
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    if kind == "LineString":
        if not isinstance(coordinates, list) or len(coordinates) < 2:
            raise ValueError("a LineString needs at least 2 positions")
        if len(coordinates) > MAX_POSITIONS:
            raise ValueError(f"at most {MAX_POSITIONS} positions")
        for index, value in enumerate(coordinates):
            _position(value, f"coordinates[{index}]")
    elif kind == "Polygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise ValueError("a Polygon needs at least one ring")
        total = 0
        for ring_index, ring in enumerate(coordinates):
            if not isinstance(ring, list) or len(ring) < 4:
                raise ValueError(f"coordinates[{ring_index}]: a ring needs at least 4 positions")
            total += len(ring)
            points = [_position(v, f"coordinates[{ring_index}][{i}]") for i, v in enumerate(ring)]
            if points[0] != points[-1]:
                raise ValueError(f"coordinates[{ring_index}]: a ring must end where it starts")
        if total > MAX_POSITIONS:
            raise ValueError(f"at most {MAX_POSITIONS} positions")
    else:
        raise ValueError(f'type must be "LineString" or "Polygon", not {kind!r}')
    return {"type": kind, "coordinates": coordinates}
