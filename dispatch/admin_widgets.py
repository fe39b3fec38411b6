"""The zone editor of the admin: a map to draw, edit and delete a zone's polygon, and its checks.

The stored value stays the GeoJSON Polygon of Zone.polygon ([lon, lat] positions, outer ring
first): the map writes it into the form's textarea, which a manager may also fill by hand (pasting
a boundary from elsewhere). The map is a dispatch.maps.drawing document in an iframe, as on the dashboard's
pages, so it has the same base layer as every other map of the application; the drawing runs
inside the frame (static/js/admin_zone_map.js) and posts the polygon to the admin page.

Checks beyond Zone.clean (which only needs a readable ring): at least three corners, a closed
ring, no edge crossing another (a bow-tie has no sensible inside: stops would fall in or out of the
zone depending on the ray-casting direction), and every corner inside the delivery region, so that
a zone drawn over the wrong country, or with lat and lon swapped, is refused with its values.
"""

import json
import math
from dataclasses import dataclass

from django import forms
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from config.admin_widgets import ProjectTemplateWidget
from dispatch.maps.drawing import DataLayer, add_depots, add_zones, fit_map, new_map, render_map
from dispatch.models import Depot
from routes.road_network import get_road_network

# A zone may reach this far beyond the road network's extent (a boundary drawn generously around
# the last houses), in kilometres.
REGION_MARGIN_KM = 5
# Without a road network the region is the depots' surroundings: this far from the outermost depot (km).
DEPOT_REACH_KM = 50
KM_PER_DEGREE_LAT = 111.32
# Self-intersection is checked pair by pair over edges sorted by longitude; a ring this long is
# refused rather than checked (a zone is a town or a district, not a coastline).
MAX_CORNERS = 5000


@dataclass(frozen=True)
class DeliveryRegion:
    """A lon/lat box the company delivers in, and what it was taken from (for the error message)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    source: str

    def contains(self, lon: float, lat: float) -> bool:
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat

    def describe(self) -> str:
        return _("lon %(west).3f to %(east).3f, lat %(south).3f to %(north).3f (%(source)s)") % {
            "west": self.min_lon, "east": self.max_lon, "south": self.min_lat, "north": self.max_lat,
            "source": self.source,
        }  # fmt: skip

    @classmethod
    def around(cls, lons, lats, *, km: float, source: str) -> "DeliveryRegion":
        middle_lat = (min(lats) + max(lats)) / 2
        dlat = km / KM_PER_DEGREE_LAT
        dlon = km / (KM_PER_DEGREE_LAT * max(math.cos(math.radians(middle_lat)), 0.01))
        return cls(min(lons) - dlon, min(lats) - dlat, max(lons) + dlon, max(lats) + dlat, source)


def delivery_region() -> DeliveryRegion | None:
    """The loaded road network's extent (plus a margin); without one, around the depots; else None."""

    network = get_road_network(required=False)
    if network is not None and len(network.node_lat):
        return DeliveryRegion.around(
            [float(network.node_lon.min()), float(network.node_lon.max())],
            [float(network.node_lat.min()), float(network.node_lat.max())],
            km=REGION_MARGIN_KM,
            source=_("the road network, with %(km)s km around it") % {"km": REGION_MARGIN_KM},
        )
    depots = list(Depot.objects.values_list("lon", "lat"))
    if depots:
        return DeliveryRegion.around(
            [lon for lon, _lat in depots],
            [lat for _lon, lat in depots],
            km=DEPOT_REACH_KM,
            source=_("%(km)s km around the depots") % {"km": DEPOT_REACH_KM},
        )
    return None


# --- Checks ----------------------------------------------------------------------------------------


def _short(value, limit: int = 120) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _refuse(message: str, code: str, **params) -> forms.ValidationError:
    return forms.ValidationError(message, code=code, params=params)


def _position(value, where: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) < 2:
        raise _refuse(
            _("Polygon: %(where)s is %(value)s, not a [lon, lat] pair."), "position", where=where, value=_short(value)
        )
    try:
        lon, lat = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise _refuse(
            _("Polygon: %(where)s is %(value)s, not two numbers."), "position", where=where, value=_short(value)
        ) from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise _refuse(
            _("Polygon: %(where)s is %(value)s, outside lon -180…180 / lat -90…90 (lon comes first)."),
            "position",
            where=where,
            value=_short(value),
        )
    return lon, lat


def _orientation(a, b, c) -> int:
    cross = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    return 0 if abs(cross) < 1e-18 else (1 if cross > 0 else -1)


def _on_segment(a, b, p) -> bool:
    return min(a[0], b[0]) <= p[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= p[1] <= max(a[1], b[1])


def segments_cross(a, b, c, d) -> bool:
    """Whether segment a-b and segment c-d share a point (touching counts)."""
    o1, o2, o3, o4 = _orientation(a, b, c), _orientation(a, b, d), _orientation(c, d, a), _orientation(c, d, b)
    if o1 != o2 and o3 != o4:
        return True
    return (
        (o1 == 0 and _on_segment(a, b, c))
        or (o2 == 0 and _on_segment(a, b, d))
        or (o3 == 0 and _on_segment(c, d, a))
        or (o4 == 0 and _on_segment(c, d, b))
    )


def ring_crossing(points: list[tuple[float, float]]) -> tuple[int, int] | None:
    """The first pair of edges (i, j) of a closed ring that cross, or None; edge i runs from point i to i+1.

    Edges sorted by their western end: each edge is compared only with those starting west of its
    eastern end, which keeps a hand-drawn zone to a few hundred comparisons.
    """
    count = len(points) - 1  # the last point repeats the first
    edges = sorted(range(count), key=lambda i: min(points[i][0], points[i + 1][0]))
    for position, i in enumerate(edges):
        a, b = points[i], points[i + 1]
        east = max(a[0], b[0])
        low, high = min(a[1], b[1]), max(a[1], b[1])
        for j in edges[position + 1 :]:
            c, d = points[j], points[j + 1]
            if min(c[0], d[0]) > east:
                break
            if max(c[1], d[1]) < low or min(c[1], d[1]) > high:
                continue
            if abs(i - j) == 1 or abs(i - j) == count - 1:
                continue  # neighbours share a corner; a spike back along a neighbour is caught as zero area
            if segments_cross(a, b, c, d):
                return min(i, j), max(i, j)
    return None


def _ring_area(points: list[tuple[float, float]]) -> float:
    return abs(sum(points[i][0] * points[i + 1][1] - points[i + 1][0] * points[i][1] for i in range(len(points) - 1)))


def _point(p: tuple[float, float]) -> str:
    return f"[{p[0]:.6f}, {p[1]:.6f}]"


def validate_zone_polygon(value, *, region: DeliveryRegion | None) -> dict:
    """The polygon as stored (a GeoJSON Polygon), or a ValidationError naming the field, the place and the value."""
    if not isinstance(value, dict) or value.get("type") != "Polygon":
        raise _refuse(
            _('Polygon: %(value)s is not a GeoJSON Polygon ({"type": "Polygon", "coordinates": [[[lon, lat], …]]}).'),
            "not_polygon",
            value=_short(value),
        )
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise _refuse(
            _("Polygon: coordinates %(value)s hold no ring; draw the zone on the map."), "no_ring", value=_short(rings)
        )
    cleaned_rings = []
    for ring_index, ring in enumerate(rings):
        name = _("the outline") if ring_index == 0 else _("hole %(number)s") % {"number": ring_index}
        if not isinstance(ring, list):
            raise _refuse(
                _("Polygon: %(ring)s is %(value)s, not a list of positions."), "ring", ring=name, value=_short(ring)
            )
        if len(ring) > MAX_CORNERS:
            raise _refuse(
                _("Polygon: %(ring)s has %(count)s positions; at most %(most)s. Simplify it."),
                "too_long",
                ring=name,
                count=len(ring),
                most=MAX_CORNERS,
            )
        points = [
            _position(p, _("position %(number)s of %(ring)s") % {"number": i + 1, "ring": name})
            for i, p in enumerate(ring)
        ]
        corners = set(points)
        if len(corners) < 3:
            raise _refuse(
                _("Polygon: %(ring)s has %(count)s different corner(s), %(value)s; a zone needs at least 3."),
                "too_few_corners",
                ring=name,
                count=len(corners),
                value=_short(ring),
            )
        if points[0] != points[-1]:
            raise _refuse(
                _(
                    "Polygon: %(ring)s is not closed: it starts at %(first)s and ends at %(last)s; the last "
                    "position must repeat the first."
                ),
                "not_closed",
                ring=name,
                first=_point(points[0]),
                last=_point(points[-1]),
            )
        # Double-clicks leave the same corner twice in a row: harmless, dropped before the checks.
        points = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
        crossing = ring_crossing(points)
        if crossing is not None:
            i, j = crossing
            raise _refuse(
                _(
                    "Polygon: %(ring)s crosses itself: the edge from %(a)s to %(b)s crosses the edge from %(c)s "
                    "to %(d)s. Move a corner so that the edges no longer cross."
                ),
                "self_intersecting",
                ring=name,
                a=_point(points[i]),
                b=_point(points[i + 1]),
                c=_point(points[j]),
                d=_point(points[j + 1]),
            )
        if _ring_area(points) == 0:
            raise _refuse(_("Polygon: %(ring)s %(value)s encloses no area."), "no_area", ring=name, value=_short(ring))
        if region is not None:
            for index, (lon, lat) in enumerate(points):
                if not region.contains(lon, lat):
                    raise _refuse(
                        _(
                            "Polygon: corner %(number)s of %(ring)s, %(position)s, lies outside the delivery region "
                            "(%(region)s). Are lon and lat swapped?"
                        ),
                        "outside_region",
                        number=index + 1,
                        ring=name,
                        position=_point((lon, lat)),
                        region=region.describe(),
                    )
        cleaned_rings.append(ring)
    return {"type": "Polygon", "coordinates": cleaned_rings}


# --- The map widget --------------------------------------------------------------------------------


def _parse_polygon(value) -> dict | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, dict) and value.get("type") == "Polygon" and isinstance(value.get("coordinates"), list):
        return value
    return None


def _polygon_points(polygon: dict | None) -> list[tuple[float, float]]:
    """(lat, lon) of the outer ring's readable positions, for framing the map."""
    points = []
    rings = (polygon or {}).get("coordinates") or [[]]
    for position in rings[0] if isinstance(rings[0], list) else []:
        try:
            lon, lat = float(position[0]), float(position[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90:
            points.append((lat, lon))
    return points


def zone_editor_map_html(*, field_id: str, polygon: dict | None, color: str, depots, other_zones) -> str:
    """The map document of the widget: the other zones and the depots for bearings, the zone being
    edited and Leaflet.draw's polygon tools (static/js/admin_zone_map.js)."""
    depots, other_zones = list(depots), list(other_zones)
    fmap = new_map()
    add_zones(fmap, other_zones)
    add_depots(fmap, depots)
    fmap.add_js_link("leaflet_draw", static("vendor/leaflet-draw/leaflet.draw.js"))
    fmap.add_css_link("leaflet_draw_css", static("vendor/leaflet-draw/leaflet.draw.css"))
    # A module here (it must run after static/js/maps.js); the admin page links it as a classic script.
    fmap.add_module_link("admin_zone_map", static("js/admin_zone_map.js"))
    fmap.add_child(DataLayer("zoneEditor", {"field": field_id, "polygon": polygon, "color": color}))
    points = _polygon_points(polygon)
    if points:
        fit_map(fmap, points, max_zoom=16)
    else:
        points = [(d.lat, d.lon) for d in depots]
        for zone in other_zones:
            points.extend(_polygon_points(zone.polygon))
        fit_map(fmap, points, max_zoom=13)
    return render_map(fmap)


class ZonePolygonWidget(ProjectTemplateWidget):
    """The map, a line saying what is drawn, and the GeoJSON itself (the value the form posts)."""

    template_name = "admin/widgets/zone_polygon.html"

    class Media:
        js = ["js/admin_zone_map.js"]
        css = {"all": ["css/admin_widgets.css"]}

    def __init__(self, attrs=None):
        super().__init__(attrs)
        # Set by the form for each request: what else the map shows, and the zone's colour.
        self.depots = ()
        self.other_zones = ()
        self.color = "#3b82f6"

    def format_value(self, value):
        if value is None or value == "":
            return ""
        return value if isinstance(value, str) else json.dumps(value)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        polygon = _parse_polygon(value)
        field_id = context["widget"]["attrs"].get("id") or f"id_{name}"
        outer = (polygon or {}).get("coordinates") or [[]]
        context.update(
            field_id=field_id,
            map_html=zone_editor_map_html(
                field_id=field_id, polygon=polygon, color=self.color, depots=self.depots, other_zones=self.other_zones
            ),
            polygon=polygon,
            corner_count=max(len(outer[0]) - 1, 0) if polygon else 0,
            # Text that is not a readable polygon is shown open, so the manager sees what is wrong.
            show_text=bool(context["widget"]["value"]) and polygon is None,
        )
        return context


class ZonePolygonField(forms.JSONField):
    """A zone's GeoJSON Polygon, drawn on the map or pasted, checked by `validate_zone_polygon`."""

    widget = ZonePolygonWidget
    default_error_messages = {
        "invalid": _lazy("Polygon: %(value)s is not GeoJSON text (JSON); draw the zone on the map or paste a Polygon."),
        "required": _lazy("Polygon: draw the zone on the map (the polygon tool), or paste a GeoJSON Polygon."),
    }

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        return validate_zone_polygon(value, region=delivery_region())
